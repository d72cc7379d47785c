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
mod settings;
pub mod signals;
#[cfg(unix)]
mod supervise;
pub mod user;
#[cfg(windows)]
mod windows;

pub use rounds::{Outcome, Refresh};
pub use settings::{Init, Launch, OnChange};

#[cfg(unix)]
#[path = "exec/unix.rs"]
mod imp;
#[cfg(windows)]
#[path = "exec/windows.rs"]
mod imp;
#[cfg(not(any(unix, windows)))]
#[path = "exec/other.rs"]
mod imp;

use std::ffi::OsString;
use std::fmt;
use std::io;

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
