//! `kvinit-emulator`: serve fake Azure managed identity and Key Vault on
//! 127.0.0.1, print the environment that points kvinit at them, and either
//! serve until stopped or run one command with that environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use kvinit_emulator::azure::{Denial, Paging, StoredSecret};
use kvinit_emulator::{Emulator, Identity, Options, Target};

const USAGE: &str = "\
usage: kvinit-emulator [OPTIONS] [-- COMMAND [ARG]...]

Serves Azure managed identity (IMDS, App Service) and Key Vault on 127.0.0.1
and prints the environment that points kvinit at them. With COMMAND, runs it
with that environment and exits with its status; otherwise serves until
stopped. Exit status: COMMAND's (128+N if signal N ended it), 2 for bad
options or a bad secrets file, 1 if the emulator cannot start.

options:
  --secrets FILE       secrets to serve: {\"name\": \"value\"} or
                       {\"name\": {\"versions\": [...], \"contentType\": ..., \"enabled\": ...}}
  --identity KIND      imds (default) or app-service: which endpoint the
                       printed environment names
  --print-env          print `export` lines for eval, then detach stdout:
                         eval \"$(kvinit-emulator --secrets s.json --print-env &)\"
  --port N             IMDS on N, App Service N+1, Key Vault N+2, control N+3
                       (default: free ports)
  --dir DIR            where to write the CA certificate (default: a new
                       directory under the temporary directory)
  --latency MS         delay every reply by MS milliseconds
  --fail-next N:STATUS fail the next N Key Vault requests with STATUS
  --throttle RPS       allow Key Vault RPS requests a second, 429 over it
  --deny NAME[:REASON] answer reads of secret NAME (*: every secret and the
                       list) with the 403 a vault sends for REASON: rbac
                       (default), access-policy, firewall, private-link or
                       policy (repeatable)
  --certificate NAME   generate a root -> intermediate -> leaf chain and serve
                       it as certificate NAME and as its PEM secret, as Key
                       Vault does (repeatable); the root goes to DIR/NAME-root.pem
  --list-page-size N   list pages hold at most N secrets (1-25, default 25)
  --list-empty-pages M serve M empty list pages, each with a nextLink, before
                       the first secret (default 1; Azure was recorded with 0
                       and with 2)
  -h, --help           this help
  -V, --version        the version

The control API at $KVINIT_EMULATOR_CONTROL changes faults while running:
  curl -X PUT --data-binary new-value $KVINIT_EMULATOR_CONTROL/secrets/NAME
  curl -X POST \"$KVINIT_EMULATOR_CONTROL/fail?count=3&status=503&target=vault\"
  curl -X POST \"$KVINIT_EMULATOR_CONTROL/latency?ms=200&target=all\"
  curl -X POST \"$KVINIT_EMULATOR_CONTROL/throttle?rps=5\"     (rps=0 lifts it)
  curl -X POST \"$KVINIT_EMULATOR_CONTROL/deny?name=NAME&reason=firewall\"  (/allow?name=NAME)
  curl -X POST \"$KVINIT_EMULATOR_CONTROL/paging?size=2&empty=3\"
  curl $KVINIT_EMULATOR_CONTROL/secrets/NAME/versions       (ids, oldest first)
  curl $KVINIT_EMULATOR_CONTROL/stats

With --print-env, stop it and clear the variables it set with:
  kill $KVINIT_EMULATOR_PID; unset $KVINIT_EMULATOR_VARS";

struct Args {
    secrets: Option<PathBuf>,
    identity: Identity,
    print_env: bool,
    port: u16,
    dir: Option<PathBuf>,
    latency: Option<Duration>,
    fail_next: Option<(usize, u16)>,
    throttle: Option<usize>,
    deny: Vec<(String, Denial)>,
    certificates: Vec<String>,
    paging: Paging,
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("kvinit-emulator {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("kvinit-emulator: error: {why}\nFor the options, try 'kvinit-emulator --help'.");
            return ExitCode::from(2);
        }
    };
    let secrets = match &args.secrets {
        Some(path) => match read_secrets(path) {
            Ok(secrets) => secrets,
            Err(why) => {
                eprintln!("kvinit-emulator: error: {why}");
                return ExitCode::from(2);
            }
        },
        None => Default::default(),
    };
    match run(args, secrets) {
        Ok(code) => code,
        Err(why) => {
            eprintln!("kvinit-emulator: error: {why}");
            ExitCode::from(1)
        }
    }
}

fn read_secrets(path: &std::path::Path) -> Result<BTreeMap<String, StoredSecret>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    kvinit_emulator::secrets::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: Args, secrets: BTreeMap<String, StoredSecret>) -> Result<ExitCode, String> {
    // Before any thread starts, so that every thread inherits the mask and
    // the stop signals reach only `wait_for_stop`.
    let stop = stop_signals::block();
    let count = secrets.len();
    // A directory of our own is removed on the way out; one given with --dir is not.
    let own_dir = args
        .dir
        .is_none()
        .then(|| std::env::temp_dir().join(format!("kvinit-emulator-{}", std::process::id())));
    let dir = args.dir.clone().or_else(|| own_dir.clone()).unwrap_or_default();
    let result = serve(args, secrets, count, dir, stop);
    if let Some(own) = own_dir {
        let _ = std::fs::remove_dir_all(own);
    }
    result
}

fn serve(
    args: Args,
    secrets: BTreeMap<String, StoredSecret>,
    count: usize,
    dir: PathBuf,
    stop: stop_signals::Mask,
) -> Result<ExitCode, String> {
    let options = Options { secrets, port: args.port, ..Options::new(dir.clone()) };
    let emulator = Emulator::start(options).map_err(|e| format!("starting: {e}"))?;
    if let Some(latency) = args.latency {
        emulator.set_latency(Target::All, latency);
    }
    if let Some((n, status)) = args.fail_next {
        emulator.fail_next(Target::Vault, n, status);
    }
    emulator.throttle(args.throttle);
    args.deny.iter().for_each(|(name, why)| emulator.deny(name, *why));
    for name in &args.certificates {
        let root = emulator.vault.put_generated_certificate(name);
        let _ = std::fs::write(dir.join(format!("{name}-root.pem")), root);
    }
    emulator.vault.set_paging(args.paging);
    let env = emulator.env(args.identity);
    eprintln!(
        "kvinit-emulator: {count} secret(s); IMDS {}, App Service {}, Key Vault {}, control http://127.0.0.1:{}",
        emulator.imds.authority_host(),
        emulator.app_service.url("http", "/msi/token"),
        emulator.vault.url(),
        emulator.control.port(),
    );

    if !args.command.is_empty() {
        let mut command = Command::new(&args.command[0]);
        command.args(&args.command[1..]).envs(env.iter().map(|(k, v)| (k, v)));
        stop_signals::unblock_in(&mut command, &stop);
        return match command.status() {
            Ok(status) => Ok(ExitCode::from(exit_code(status))),
            // The shell's codes, as kvinit's: 127 not found, 126 not executable.
            Err(e) => {
                eprintln!("kvinit-emulator: error: running {}: {e}", args.command[0]);
                Ok(ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }))
            }
        };
    }
    if args.print_env {
        for (k, v) in &env {
            say(&format!("export {k}={}", quote(v)));
        }
        say(&format!("export KVINIT_EMULATOR_PID={}", std::process::id()));
        // `unset $KVINIT_EMULATOR_VARS` after the kill: a later shell must
        // not point kvinit at a stopped emulator and its deleted CA file.
        let names: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
        say(&format!(
            "export KVINIT_EMULATOR_VARS='{} KVINIT_EMULATOR_PID KVINIT_EMULATOR_VARS'",
            names.join(" ")
        ));
        detach_stdout();
    } else {
        for (k, v) in &env {
            say(&format!("{k}={v}"));
        }
        eprintln!("kvinit-emulator: serving; stop with Ctrl-C");
    }
    let signal = stop_signals::wait(&stop);
    eprintln!("kvinit-emulator: stopped by signal {signal}");
    Ok(ExitCode::SUCCESS)
}

/// SIGINT, SIGTERM and SIGHUP end a serving emulator through its main
/// thread, so that it removes its directory on the way out.
#[cfg(unix)]
mod stop_signals {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    pub struct Mask(libc::sigset_t);

    pub fn block() -> Mask {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before
        // use; pthread_sigmask only reads the set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Mask(set)
        }
    }

    /// The command gets the usual dispositions, not our blocked mask.
    pub fn unblock_in(command: &mut Command, mask: &Mask) {
        let set = mask.0;
        // SAFETY: pthread_sigmask is async-signal-safe, so it may run between
        // fork and exec; `set` is a copy owned by the closure.
        unsafe {
            command.pre_exec(move || {
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }

    pub fn wait(mask: &Mask) -> i32 {
        let mut signal = 0;
        // SAFETY: the set is initialised and `signal` outlives the call.
        while unsafe { libc::sigwait(&mask.0, &mut signal) } != 0 {}
        signal
    }
}

#[cfg(not(unix))]
mod stop_signals {
    pub struct Mask;

    pub fn block() -> Mask {
        Mask
    }

    pub fn unblock_in(_: &mut std::process::Command, _: &Mask) {}

    /// Ctrl-C ends the process; there is nothing to clean up by hand.
    pub fn wait(_: &Mask) -> i32 {
        loop {
            std::thread::park();
        }
    }
}

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
    Version,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut args = Args {
        secrets: None,
        identity: Identity::Imds,
        print_env: false,
        port: 0,
        dir: None,
        latency: None,
        fail_next: None,
        throttle: None,
        deny: Vec::new(),
        certificates: Vec::new(),
        paging: Paging::default(),
        command: Vec::new(),
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next()).ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--print-env" => args.print_env = true,
            "--secrets" => args.secrets = Some(value()?.into()),
            "--dir" => args.dir = Some(value()?.into()),
            "--identity" => {
                args.identity = match value()?.as_str() {
                    "imds" => Identity::Imds,
                    "app-service" => Identity::AppService,
                    other => return Err(format!("--identity {other:?} is not imds or app-service")),
                }
            }
            "--port" => args.port = number(&flag, &value()?)?,
            "--latency" => args.latency = Some(Duration::from_millis(number(&flag, &value()?)?)),
            "--certificate" => args.certificates.push(value()?),
            "--deny" => {
                let v = value()?;
                let (name, why) = v.split_once(':').unwrap_or((&v, "rbac"));
                args.deny.push((name.to_string(), why.parse().map_err(|e| format!("--deny: {e}"))?));
            }
            "--list-page-size" => match number(&flag, &value()?)? {
                n @ 1..=25 => args.paging.page_size = n,
                n => return Err(format!("--list-page-size {n} is not between 1 and 25")),
            },
            "--list-empty-pages" => args.paging.empty_pages = number(&flag, &value()?)?,
            "--throttle" => args.throttle = Some(number(&flag, &value()?)?).filter(|&n| n > 0),
            "--fail-next" => {
                let v = value()?;
                let (n, status) = v.split_once(':').ok_or(format!("--fail-next {v:?} is not N:STATUS"))?;
                let status: u16 = number(&flag, status)?;
                if !(400..=599).contains(&status) {
                    return Err(format!("--fail-next status {status} is not an HTTP error status (400-599)"));
                }
                args.fail_next = Some((number(&flag, n)?, status));
            }
            "--" => {
                args.command = it.by_ref().collect();
                if args.command.is_empty() {
                    return Err("-- needs a command after it".into());
                }
                break;
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if args.print_env && !args.command.is_empty() {
        return Err("--print-env and a command do not go together".into());
    }
    Ok(Parsed::Run(args))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag} {value:?} is not a valid number"))
}

/// One line to stdout. A reader that went away (`| head -1`) is no reason
/// to stop serving.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Single-quoted for sh.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The command's code, or 128+N if a signal ended it, as a shell reports it.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return (128 + signal) as u8;
    }
    status.code().unwrap_or(1) as u8
}

/// Points stdout at /dev/null so that `$(kvinit-emulator --print-env &)`
/// sees end-of-file and returns while the emulator keeps serving.
fn detach_stdout() {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let _ = std::io::stdout().flush();
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: dup2 on two open descriptors; stdout is flushed and
            // nothing writes to it after this.
            unsafe { libc::dup2(null.as_raw_fd(), 1) };
        }
    }
}
