//! Shared test support: the emulator's fake Azure endpoints on 127.0.0.1,
//! and a runner for the kvinit binary that prints everything when an
//! assertion fails.
#![allow(dead_code, unused_imports)]

pub use kvinit_emulator::{azure, server};

pub mod netns;
pub mod proxy;
pub mod recordings;
pub mod require;
pub mod rtt;

pub use require::{is_root, require, Need};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use azure::{FakeImds, FakeTokenEndpoint, FakeVault, Identities, Style, Tokens};
pub use server::{Reply, Request, Server};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("kvinit-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory under /dev/shm (tmpfs), removed on drop.
pub struct Shm(pub PathBuf);

impl Shm {
    pub fn new() -> Shm {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = PathBuf::from(format!("/dev/shm/kvinit-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("/dev/shm is tmpfs on Linux");
        Shm(dir)
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it.
pub fn tls_for_localhost(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let (config, ca_file, _) = tls_with_leaf(dir);
    (config, ca_file)
}

/// As `tls_for_localhost`, also returning the server certificate's SHA-1
/// thumbprint (upper-case hex, as Service Fabric gives it).
pub fn tls_with_leaf(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf, String) {
    let c = kvinit_emulator::tls::localhost(dir).expect("generating test certificates");
    (c.server, c.ca_file, c.thumbprint)
}

/// One fake VM: the emulator, started on free ports, with a
/// system-assigned identity and an empty vault.
pub struct World {
    pub dir: TempDir,
    pub tokens: Tokens,
    pub imds: FakeImds,
    pub vault: FakeVault,
    pub app_service: FakeTokenEndpoint,
    /// What the App Service endpoint wants in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    pub control: Server,
}

impl World {
    pub fn new() -> World {
        World::with_identities(Identities { system_assigned: true, user_assigned: vec![] })
    }

    pub fn with_identities(identities: Identities) -> World {
        let dir = TempDir::new();
        let options = kvinit_emulator::Options {
            identities,
            ..kvinit_emulator::Options::new(dir.path().join("emulator"))
        };
        let identity_header = options.identity_header.clone();
        let kvinit_emulator::Emulator { tokens, imds, vault, app_service, control, .. } =
            kvinit_emulator::Emulator::start(options).expect("starting the emulator");
        World { dir, tokens, imds, vault, app_service, identity_header, control }
    }

    /// A second vault with its own certificate, trusting the same tokens.
    pub fn another_vault(dir: &TempDir, tokens: &Tokens) -> FakeVault {
        let sub = dir.path().join(format!("vault-{}", std::process::id() ^ rand_u32()));
        std::fs::create_dir_all(&sub).unwrap();
        let (tls, ca) = tls_for_localhost(&sub);
        FakeVault::start(tokens.clone(), tls, ca)
    }

    /// kvinit pointed at the fakes, with a clean environment: no variable
    /// of the machine running the tests can leak in.
    pub fn kvinit(&self) -> Kvinit {
        let mut k = Kvinit::new();
        k.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.imds.authority_host())
            .env("SSL_CERT_FILE", &self.vault.ca_file)
            .arg("--vault")
            .arg(self.vault.url())
            .arg("--allow-vault-host")
            .arg(self.vault.host());
        k
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

/// A kvinit command line, built up and then run with a hard time limit.
pub struct Kvinit {
    pub cmd: Command,
}

impl Kvinit {
    pub fn new() -> Kvinit {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvinit"));
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.stdin(Stdio::null());
        Kvinit { cmd }
    }

    /// The Windows build of kvinit at `exe`, run under Wine with a private
    /// prefix and Wine's own variables passed through.
    pub fn wine(exe: &Path) -> Kvinit {
        let mut cmd = Command::new("/usr/lib/wine/wine64");
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for var in ["WINEPREFIX", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("WINEDEBUG", "-all").env("WINEDLLOVERRIDES", "mscoree,mshtml=");
        cmd.arg(exe).stdin(Stdio::null());
        Kvinit { cmd }
    }

    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Kvinit {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Kvinit {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Kvinit {
        self.cmd.env(k, v);
        self
    }

    /// Runs to completion, killing kvinit after `limit` so no test can hang.
    pub fn run_for(&mut self, limit: Duration) -> Run {
        let started = Instant::now();
        let child = self.spawn();
        let pid = child.id();
        let output = wait_killing_after(child, limit);
        Run { command: format!("{:?}", self.cmd), output, pid, elapsed: started.elapsed() }
    }

    /// Starts kvinit and returns at once, for tests that signal it.
    pub fn spawn(&mut self) -> std::process::Child {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn kvinit")
    }

    pub fn run(&mut self) -> Run {
        self.run_for(Duration::from_secs(60))
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory effects.
    let rc = unsafe { libc_kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

/// Waits until `f` holds, polling, for at most `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// Waits for `child`'s output, killing it after `limit` so no test can hang.
fn wait_killing_after(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        if !wait_for(limit, || d.load(std::sync::atomic::Ordering::SeqCst)) {
            // SAFETY: kill(2) has no memory effects; the pid is our child's.
            unsafe { libc_kill(pid as i32, 9) };
        }
    });
    let output = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    output
}

/// A spawned kvinit's end: exit code (or 128+signal) and output.
pub fn finish(child: std::process::Child, limit: Duration) -> (Option<i32>, String, String) {
    let out = wait_killing_after(child, limit);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A finished kvinit run.
pub struct Run {
    pub command: String,
    pub output: Output,
    pub pid: u32,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn explain(&self, what: &str) -> String {
        format!(
            "{what}\ncommand: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "{}", self.explain(&format!("expected exit code {code}")));
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Run {
        self.assert_code(0)
    }

    #[track_caller]
    pub fn assert_stdout(&self, expected: &str) -> &Run {
        assert_eq!(self.stdout(), expected, "{}", self.explain("unexpected stdout"));
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Run {
        assert!(self.stdout().contains(needle), "{}", self.explain(&format!("stdout lacks {needle:?}")));
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Run {
        assert!(self.stderr().contains(needle), "{}", self.explain(&format!("stderr lacks {needle:?}")));
        self
    }

    #[track_caller]
    pub fn assert_output_lacks(&self, needle: &str) -> &Run {
        let all = format!("{}{}", self.stdout(), self.stderr());
        assert!(!all.contains(needle), "{}", self.explain(&format!("output contains {needle:?}")));
        self
    }
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A shell command that fails the test if it ever runs: it leaves a file.
pub fn tripwire(dir: &TempDir) -> (Vec<String>, PathBuf) {
    let marker = dir.path().join("command-ran");
    (vec!["sh".into(), "-c".into(), format!("touch {}", marker.display())], marker)
}
