//! Starting the real entrypoint. Knows processes, not Azure.
//!
//! On Unix the command replaces kvinit (`execvp`), so it becomes PID 1 and
//! receives signals directly. Windows has no exec: kvinit starts the command,
//! stays out of its way on Ctrl+C / Ctrl+Break (the console delivers those
//! to the command itself), waits, and exits with its code.

#[cfg(unix)]
mod find;
mod policy;
mod rounds;
pub mod signals;
#[cfg(unix)]
mod supervise;
pub mod user;
#[cfg(windows)]
mod windows;

pub use rounds::{Outcome, Refresh};

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::time::Duration;

/// The command and how it is started.
#[derive(Debug)]
pub struct Job {
    /// The program and its arguments; never empty unless only checking.
    pub command: Vec<OsString>,
    /// kvinit's environment minus what the command must not inherit; the
    /// secrets are laid over it.
    pub env: Vec<(OsString, OsString)>,
    /// `--user`: who runs the command.
    pub user: Option<user::UserSpec>,
    /// `--init`, with its options; `None`: exec.
    pub init: Option<Init>,
}

/// How `--init` behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// Forward signals to the command's process group (`--group`).
    pub group: bool,
    /// Exit codes reported as 0 (`--remap-exit`).
    pub remap: Vec<i32>,
    /// How often the caller's refresh rounds run (`--refresh`).
    pub refresh: Option<Duration>,
    /// Sent to the command after a refresh changed files.
    pub refresh_signal: i32,
    /// What a change found by a refresh does to the command.
    pub on_change: OnChange,
    /// `--on-change-run`: run after each change, as well as the action.
    pub hook: Option<Vec<OsString>>,
    /// How a restart stops the command: this signal, then SIGKILL after the timeout.
    pub stop_signal: i32,
    pub stop_timeout: Duration,
}

/// `--on-change`: what the command sees of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// Files are rewritten, then the refresh signal is sent once.
    Signal,
    /// The command is stopped and started again with the new environment.
    Restart,
    /// Files are rewritten; nothing else.
    None,
}

/// The command could not be started.
#[derive(Debug)]
pub struct Error {
    pub program: OsString,
    pub source: io::Error,
}

impl Error {
    /// 127 when the program does not exist, 126 when it exists but cannot
    /// be executed: the shell's convention, which tini follows too.
    pub fn exit_code(&self) -> i32 {
        if self.source.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot execute {:?}", self.program)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Runs `command` with exactly `env`, in kvinit's place, with the signal
/// mask kvinit started with. On Unix this returns only on failure; on
/// Windows it returns the command's exit code. `command` must not be empty.
pub fn run(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: signals::Original,
) -> Result<i32, Error> {
    imp::run(command, env, original).map_err(|source| Error { program: command[0].clone(), source })
}

/// Finds `command` as exec will, before anything is fetched: a missing
/// or unexecutable command fails at once with exec's own error.
#[cfg(unix)]
pub fn find(
    command: &[OsString],
    env: &[(OsString, OsString)],
    ids: Option<&user::Ids>,
) -> Result<(), Error> {
    find::find(&command[0], env, ids).map_err(|source| Error { program: command[0].clone(), source })
}

/// Windows looks commands up its own way (`PATHEXT`, the current
/// directory first); it is left to the start itself.
#[cfg(not(unix))]
pub fn find(
    _command: &[OsString],
    _env: &[(OsString, OsString)],
    _ids: Option<&user::Ids>,
) -> Result<(), Error> {
    Ok(())
}

/// `--init`: starts `command` as a child and supervises it until it exits;
/// `ids` is switched to in the child, `refresh` runs between signals.
#[cfg(unix)]
pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: signals::Original,
    init: &Init,
    ids: Option<user::Ids>,
    refresh: Option<Box<dyn Refresh>>,
) -> Result<i32, SuperviseError> {
    supervise::supervise(command, env, original, init, ids, refresh).map_err(|e| match e {
        supervise::StartError::Exec(source) => {
            SuperviseError::Launch(Error { program: command[0].clone(), source })
        }
        supervise::StartError::User(e) => SuperviseError::User(e),
    })
}

/// `--init` on Windows: runs the command, restarting it and running the
/// hook as `--refresh` finds changes, until it exits.
#[cfg(windows)]
pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    _original: signals::Original,
    init: &Init,
    _ids: Option<user::Ids>,
    refresh: Option<Box<dyn Refresh>>,
) -> Result<i32, SuperviseError> {
    windows::supervise(command, env, init, refresh)
        .map_err(|source| SuperviseError::Launch(Error { program: command[0].clone(), source }))
}

/// Why `--init` could not start the command.
#[derive(Debug)]
pub enum SuperviseError {
    Launch(Error),
    /// The child could not become `--user` (exit code 5, like a switch in exec mode).
    #[cfg_attr(not(unix), allow(dead_code))]
    User(user::Error),
}

#[cfg(unix)]
mod imp {
    use std::ffi::OsString;
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use crate::launch::signals::Original;

    /// `execvp` semantics: a bare name is looked up in the new environment's
    /// PATH. std restores SIGPIPE's default; the mask is restored here.
    pub fn run(command: &[OsString], env: Vec<(OsString, OsString)>, original: Original) -> io::Result<i32> {
        crate::launch::signals::drop_pending();
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]).env_clear().envs(env);
        // SAFETY: the closure runs just before execve in this process, and
        // only calls pthread_sigmask, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || original.restore());
        }
        Err(cmd.exec())
    }
}

#[cfg(windows)]
mod imp {
    use std::ffi::OsString;
    use std::io;
    use std::process::Command;

    const CTRL_C_EVENT: u32 = 0;
    const CTRL_BREAK_EVENT: u32 = 1;

    #[link(name = "kernel32")]
    extern "system" {
        fn SetConsoleCtrlHandler(handler: Option<unsafe extern "system" fn(u32) -> i32>, add: i32) -> i32;
    }

    /// Ctrl+C and Ctrl+Break reach the command through the shared console;
    /// kvinit only has to survive them. On close, logoff or shutdown (what
    /// `docker stop` sends) the handler blocks, so that kvinit is still
    /// there to exit with the command's code once the command has exited,
    /// until Windows' own grace period ends both.
    unsafe extern "system" fn on_console_event(event: u32) -> i32 {
        if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        1
    }

    pub fn run(
        command: &[OsString],
        env: Vec<(OsString, OsString)>,
        _original: crate::launch::signals::Original,
    ) -> io::Result<i32> {
        let mut child = Command::new(&command[0]).args(&command[1..]).env_clear().envs(env).spawn()?;
        outlive_console_events();
        let status = child.wait()?;
        Ok(status.code().unwrap_or(1))
    }

    pub fn outlive_console_events() {
        // SAFETY: the handler is a plain function with the signature Windows
        // expects, touching no state of ours; registering it has no other effect.
        if unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) } == 0 {
            log::warn!("cannot install a console handler: {}", io::Error::last_os_error());
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::ffi::OsString;
    use std::io;

    pub fn run(
        _command: &[OsString],
        _env: Vec<(OsString, OsString)>,
        _original: crate::launch::signals::Original,
    ) -> io::Result<i32> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "starting a command is not supported on this platform",
        ))
    }
}
