//! Private namespaces. A network namespace, for replays at Azure's real
//! addresses: IMDS at 169.254.169.254:80 and a vault at its real name on
//! port 443, with kvinit run under its own `/etc/hosts`; a mount namespace,
//! for files kvinit looks for at fixed paths. Needs root; nothing is left
//! behind, since the namespaces end with the last socket and process in them.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::Kvinit;

/// Whether a private network can be had here: root and ip(8); on CI, it
/// must.
pub fn available() -> bool {
    super::require(&[super::Need::Root, super::Need::Ip])
}

/// Runs `f` on a thread of its own in a new network namespace whose
/// loopback is up and also holds 169.254.169.254. Servers that `f` binds
/// live in that namespace, and so do the processes it starts; `f` must drop
/// its servers before it returns.
pub fn run<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: unshare(2) with CLONE_NEWNET moves only this thread
                // into a new network namespace; it touches no memory of ours.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(format!("unshare(CLONE_NEWNET): {}", io::Error::last_os_error()));
                }
                ip(&["link", "set", "lo", "up"])?;
                ip(&["addr", "add", "169.254.169.254/32", "dev", "lo"])?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A private network that could not be made although root and ip(8) are
/// here: on CI that fails the test; elsewhere it says why and returns.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI runs every test, and no private network could be made here: {why}");
    }
    eprintln!("skipped: {why}");
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))),
    }
}

impl Kvinit {
    /// Runs kvinit in a mount namespace of its own where `hosts` is `/etc/hosts`.
    pub fn with_hosts(&mut self, hosts: &Path) -> &mut Kvinit {
        self.with_bind(hosts, Path::new("/etc/hosts"))
    }

    /// Runs kvinit in a mount namespace of its own where `source` is
    /// mounted on `target` (which must exist). Needs root; the mount ends
    /// with kvinit, so nothing is left on the host.
    pub fn with_bind(&mut self, source: &Path, target: &Path) -> &mut Kvinit {
        let source = CString::new(source.as_os_str().as_encoded_bytes()).unwrap();
        let (root, target) =
            (CString::new("/").unwrap(), CString::new(target.as_os_str().as_encoded_bytes()).unwrap());
        // SAFETY: between fork and exec only system calls run, on strings
        // made before the fork: no allocation, no lock.
        unsafe {
            self.cmd.pre_exec(move || {
                let ok = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
                ok(libc::unshare(libc::CLONE_NEWNS))?;
                let none = std::ptr::null();
                ok(libc::mount(none, root.as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, none as _))?;
                ok(libc::mount(source.as_ptr(), target.as_ptr(), none, libc::MS_BIND, none as _))
            });
        }
        self
    }
}
