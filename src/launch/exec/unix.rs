//! Unix: the command replaces kvinit.

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
