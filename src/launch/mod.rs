//! Starting the real entrypoint. Knows processes, not Azure.

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

/// Replaces this process with `command`, run with exactly `env`. Returns only
/// on failure. `command` must not be empty.
pub fn exec(command: &[OsString], env: Vec<(OsString, OsString)>) -> Error {
    let source = imp::exec(command, env);
    Error { program: command[0].clone(), source }
}

#[cfg(unix)]
mod imp {
    use std::ffi::OsString;
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// `execvp` semantics: a bare name is looked up in the new environment's
    /// PATH. std also restores SIGPIPE and the signal mask for the program.
    pub fn exec(command: &[OsString], env: Vec<(OsString, OsString)>) -> io::Error {
        Command::new(&command[0]).args(&command[1..]).env_clear().envs(env).exec()
    }
}

#[cfg(not(unix))]
mod imp {
    use std::ffi::OsString;
    use std::io;

    pub fn exec(_command: &[OsString], _env: Vec<(OsString, OsString)>) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, "starting a command is only implemented on Unix so far")
    }
}
