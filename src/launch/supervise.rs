//! `--init`: kvinit stays as the command's parent and does tini's job:
//! forwards signals, reaps every zombie, and exits with the command's code.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::signals::{self, Original};
use super::user::{self, Ids};

/// How `--init` behaves.
#[derive(Debug, Clone, Default)]
pub struct Init {
    /// Forward signals to the command's process group (`--group`).
    pub group: bool,
    /// Exit codes reported as 0 (`--remap-exit`).
    pub remap: Vec<i32>,
    /// Sent to the command after a refresh changed files.
    pub refresh_signal: i32,
}

/// Periodic work between signals: `--refresh`. Knows nothing of processes.
pub trait Refresh {
    /// How long until the next round.
    fn next_delay(&mut self) -> Duration;
    /// Does one round; `true` if the command should be told.
    fn run(&mut self) -> bool;
}

/// Starts the command. The `Command`, which holds a copy of every value in
/// the environment, is gone (and its memory wiped) once this returns.
fn spawn(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    init: &Init,
    ids: Option<Ids>,
) -> io::Result<Pid> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).env_clear().envs(env);
    if init.group {
        cmd.process_group(0);
    }
    // SAFETY: the closure runs in the forked child before exec. kvinit is
    // single-threaded here (the start-up guard and the readers have been
    // joined), so even `switch`'s error path, which allocates, cannot meet a
    // lock held by another thread; on success it only makes syscalls.
    unsafe {
        cmd.pre_exec(move || {
            original.restore()?;
            if let Some(ids) = &ids {
                user::switch(ids).map_err(io::Error::other)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // kvinit reaps with waitpid(-1); the std handle must not.
    Ok(Pid::from_raw(child.id() as i32))
}

pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    init: &Init,
    ids: Option<Ids>,
    mut refresh: Option<&mut dyn Refresh>,
) -> io::Result<i32> {
    if std::process::id() != 1 {
        // Orphans of the command are then re-parented to kvinit, not to the
        // real PID 1, so kvinit can reap them.
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log::warn!("cannot become a child subreaper: {e}; orphans will not be reaped by kvinit");
        }
    }
    let pid = spawn(command, env, original, init, ids)?;
    log::debug!("started {:?} as pid {pid}", command[0]);

    let handled = signals::handled();

    let mut next_round = refresh.as_mut().map(|r| Instant::now() + r.next_delay());
    loop {
        let now = Instant::now();
        let timeout = next_round.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now));
        match signals::wait(&handled, timeout.min(Duration::from_secs(1))) {
            None => {}
            Some(sig) if sig == Signal::SIGCHLD as i32 => {}
            Some(sig) => forward(pid, sig, init.group),
        }
        if let Some(code) = reap(pid) {
            return Ok(remap(code, &init.remap));
        }
        if let (Some(at), Some(r)) = (next_round, refresh.as_mut()) {
            if Instant::now() >= at {
                if r.run() {
                    forward(pid, init.refresh_signal, init.group);
                }
                next_round = Some(Instant::now() + r.next_delay());
            }
        }
    }
}

fn forward(pid: Pid, sig: i32, group: bool) {
    let Ok(signal) = Signal::try_from(sig) else { return };
    let result = if group { killpg(pid, signal) } else { kill(pid, signal) };
    match result {
        Ok(()) => {
            log::debug!("forwarded {} to {}{pid}", signal.as_str(), if group { "process group " } else { "" })
        }
        Err(Errno::ESRCH) => {}
        Err(e) => log::warn!("cannot forward {} to {pid}: {e}", signal.as_str()),
    }
}

/// Reaps every exited child. Returns the main child's exit code once it has
/// exited: its own code, or 128+N if signal N killed it.
fn reap(main: Pid) -> Option<i32> {
    let mut main_code = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return main_code,
            Ok(status) => {
                let code = exit_code(status);
                match (status.pid(), code) {
                    (Some(p), Some(code)) if p == main => main_code = Some(code),
                    (Some(p), _) => log::debug!("reaped pid {p}"),
                    _ => {}
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                log::warn!("waitpid: {e}");
                return main_code;
            }
        }
    }
}

/// The shell's convention: the code, or 128+N for death by signal N.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// `--remap-exit CODE`: report CODE as success (tini's `-e`), e.g. 143 for a
/// JVM that exits 143 after SIGTERM.
pub fn remap(code: i32, remapped: &[i32]) -> i32 {
    if remapped.contains(&code) {
        0
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let p = Pid::from_raw(7);
        assert_eq!(exit_code(WaitStatus::Exited(p, 0)), Some(0));
        assert_eq!(exit_code(WaitStatus::Exited(p, 42)), Some(42));
        assert_eq!(exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)), Some(137));
        assert_eq!(exit_code(WaitStatus::Signaled(p, Signal::SIGTERM, true)), Some(143));
        assert_eq!(exit_code(WaitStatus::Stopped(p, Signal::SIGSTOP)), None);
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn remapping() {
        assert_eq!(remap(143, &[143]), 0);
        assert_eq!(remap(143, &[]), 143);
        assert_eq!(remap(1, &[143, 130]), 1);
        assert_eq!(remap(130, &[143, 130]), 0);
    }
}
