//! `--init`: kvinit stays as the command's parent and does tini's job:
//! forwards signals, reaps every zombie, and exits with the command's code.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};

use super::rounds::{hook_exited, Outcome, Refresh, Rounds};
use super::signals::{self, Original};
use super::user::{self, Ids};
use super::{Init, OnChange};

/// A restart under way: the command was sent the stop signal.
struct Restart {
    /// What to start it with; `None` once kvinit itself was told to stop.
    env: Option<Vec<(OsString, OsString)>>,
    /// When SIGKILL follows, if the command has not exited.
    kill_at: Instant,
    killed: bool,
}

/// Why the command was not started.
#[derive(Debug)]
pub enum StartError {
    /// It could not be executed.
    Exec(io::Error),
    /// The child could not become `--user`.
    User(user::Error),
}

/// Starts the command. The `Command`, which holds a copy of every value in
/// the environment, is gone (and its memory wiped) once this returns.
fn spawn(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    group: bool,
    ids: Option<Ids>,
) -> Result<Pid, StartError> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).env_clear().envs(env);
    if group {
        cmd.process_group(0);
    }
    let switch = ids.as_ref().map(user::Switch::new);
    // The child tells which step of the switch failed through this pipe;
    // the exec error std reports would only say "Invalid argument".
    let (report, reported) = pipe2(OFlag::O_CLOEXEC).map_err(|e| StartError::Exec(e.into()))?;
    let report_fd = reported.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe work is sound: it makes system calls only (the
    // switch was prepared above, `Failed` is two integers, the report is
    // one write(2)). kvinit's own threads are joined by now (the start-up
    // guard, the readers, the preconnect threads), though a DNS lookup that
    // timed out may leave one behind; with no allocation and no lock taken
    // here, that cannot matter.
    unsafe {
        cmd.pre_exec(move || {
            original.restore()?;
            if let Some(switch) = &switch {
                if let Err(failed) = switch.apply() {
                    let mut message = [failed.step, 0, 0, 0, 0];
                    message[1..].copy_from_slice(&failed.errno.to_le_bytes());
                    libc::write(report_fd, message.as_ptr().cast(), message.len());
                    return Err(io::Error::from_raw_os_error(if failed.errno == 0 {
                        libc::EPERM
                    } else {
                        failed.errno
                    }));
                }
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(reported);
    let child = spawned.map_err(|e| {
        let mut message = [0u8; 5];
        match nix::unistd::read(&report, &mut message) {
            Ok(5) => StartError::User(
                user::Failed {
                    step: message[0],
                    errno: i32::from_le_bytes([message[1], message[2], message[3], message[4]]),
                }
                .into_error(),
            ),
            _ => StartError::Exec(e),
        }
    })?;
    // kvinit reaps with waitpid(-1); the std handle must not.
    Ok(Pid::from_raw(child.id() as i32))
}

pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    init: &Init,
    ids: Option<Ids>,
    refresh: Option<Box<dyn Refresh>>,
) -> Result<i32, StartError> {
    become_subreaper();
    let mut hook = init.hook.as_deref().map(|command| Hook::new(command, init.stop_timeout));
    let mut pid = spawn(command, env, original, init.group, ids.clone())?;
    log::debug!(pid = pid.as_raw(); "started {:?} as pid {pid}", command[0]);

    let handled = signals::handled();
    let mut rounds = Rounds::new(refresh);
    let mut restart: Option<Restart> = None;
    // A stop signal during a restart: kvinit exits 128+N, whatever the
    // command (already being stopped) exits with.
    let mut stopped_by: Option<i32> = None;
    let mut restarts = 0u32;
    loop {
        let ticking = restart.is_some() || hook.as_ref().is_some_and(Hook::running);
        let wait = if ticking { Duration::from_millis(50) } else { rounds.wait_at_most() };
        match signals::wait(&handled, wait) {
            None => {}
            Some(sig) if sig == Signal::SIGCHLD as i32 => {}
            Some(sig) => {
                forward(pid, sig, init.group);
                // The command is stopping: no more rounds, and no refresh
                // signal to a process that is shutting down.
                if [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT].iter().any(|s| *s as i32 == sig) {
                    rounds.stop();
                    // Stopping wins over the restart; its kill timer stays.
                    if let Some(r) = restart.as_mut().filter(|r| r.env.is_some()) {
                        r.env = None;
                        stopped_by = Some(128 + sig);
                    }
                }
            }
        }
        let reaped = reap(pid, hook.as_ref().and_then(Hook::pid));
        if let (Some(hook), Some(code)) = (hook.as_mut(), reaped.hook) {
            hook.exited(code);
        }
        // A round still running is abandoned: kvinit exits with the command.
        if let Some(code) = reaped.main {
            let Some(Restart { env: Some(env), .. }) = restart.take() else {
                if let Some(hook) = hook.as_mut() {
                    hook.abandon();
                }
                return Ok(stopped_by.unwrap_or_else(|| remap(code, &init.remap)));
            };
            pid = spawn(command, env, original, init.group, ids.clone())?;
            restarts += 1;
            log::info!(pid = pid.as_raw(), restarts; "refresh: restarted {:?} as pid {pid}", command[0]);
            continue;
        }
        if let Some(r) = restart.as_mut().filter(|r| !r.killed && Instant::now() >= r.kill_at) {
            log::warn!("refresh: {pid} did not stop within {:?}; killing it", init.stop_timeout);
            forward(pid, Signal::SIGKILL as i32, init.group);
            r.killed = true;
        }
        if let Some(outcome) = rounds.poll() {
            if let Some(hook) = hook.as_mut() {
                hook.request(&outcome);
            }
            react(outcome, init, &command[0], pid, &mut restart);
        }
        if let Some(hook) = hook.as_mut() {
            hook.tick(original, ids.as_ref());
        }
    }
}

/// Orphans of the command are then re-parented to kvinit, not to the real
/// PID 1, so kvinit can reap them.
fn become_subreaper() {
    if std::process::id() != 1 {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log::warn!("cannot become a child subreaper: {e}; orphans will not be reaped by kvinit");
        }
    }
}

/// What a refresh round's outcome does to the command, as `--on-change` says.
fn react(outcome: Outcome, init: &Init, program: &OsString, pid: Pid, restart: &mut Option<Restart>) {
    match (init.on_change, outcome) {
        (OnChange::Signal, Outcome { changed: true, .. }) => forward(pid, init.refresh_signal, init.group),
        (OnChange::Restart, Outcome { env: Some(env), .. }) => match restart.as_mut() {
            // A newer environment for a restart already under way.
            Some(r) => r.env = Some(env),
            None => {
                log::info!("refresh: stopping {program:?} (pid {pid}) to start it with the new values");
                forward(pid, init.stop_signal, init.group);
                let kill_at = Instant::now() + init.stop_timeout;
                *restart = Some(Restart { env: Some(env), kill_at, killed: false });
            }
        },
        _ => {}
    }
}

/// `--on-change-run`: run once per change, one at a time, in a process
/// group of its own so that the timeout's SIGKILL reaches what it started.
/// A change while it runs runs it again once it is done. It never affects
/// the command: its failure is logged.
struct Hook<'a> {
    command: &'a [OsString],
    timeout: Duration,
    /// The hook running: its pid, when it is killed, and whether it was.
    running: Option<(Pid, Instant, bool)>,
    /// A change not run for yet: the environment to run with, the newest
    /// round's. Nothing is kept once the hook started with it, so that
    /// kvinit holds no copy of the values besides refresh's own.
    pending: Option<Vec<(OsString, OsString)>>,
}

impl<'a> Hook<'a> {
    fn new(command: &'a [OsString], timeout: Duration) -> Hook<'a> {
        Hook { command, timeout, running: None, pending: None }
    }

    /// Whether the loop must come back soon: to kill or to start it.
    fn running(&self) -> bool {
        self.running.is_some() || self.pending.is_some()
    }

    fn pid(&self) -> Option<Pid> {
        self.running.map(|(pid, ..)| pid)
    }

    /// After a round: due to run if anything changed.
    fn request(&mut self, outcome: &Outcome) {
        let (true, Some(env)) = (outcome.any_change(), &outcome.env) else { return };
        if self.running.is_some() {
            log::info!("refresh: {:?} is still running; it runs again when it is done", self.command[0]);
        }
        self.pending = Some(env.clone());
    }

    /// Kills a hook past its timeout, or starts one that is due.
    fn tick(&mut self, original: Original, ids: Option<&Ids>) {
        if let Some((pid, kill_at, killed)) = self.running.as_mut() {
            if !*killed && Instant::now() >= *kill_at {
                log::warn!(
                    "refresh: {:?} (pid {pid}) did not finish within {:?}; killing it",
                    self.command[0],
                    self.timeout
                );
                forward(*pid, Signal::SIGKILL as i32, true);
                *killed = true;
            }
            return;
        }
        let Some(env) = self.pending.take() else { return };
        match spawn(self.command, env, original, true, ids.cloned()) {
            Ok(pid) => {
                log::info!(pid = pid.as_raw(); "refresh: running {:?} as pid {pid}", self.command[0]);
                self.running = Some((pid, Instant::now() + self.timeout, false));
            }
            Err(StartError::Exec(e)) => {
                log::error!("refresh: cannot run {:?}: {e}; COMMAND goes on", self.command[0])
            }
            Err(StartError::User(e)) => {
                log::error!("refresh: cannot run {:?}: {e}; COMMAND goes on", self.command[0])
            }
        }
    }

    fn exited(&mut self, code: i32) {
        self.running = None;
        hook_exited(&self.command[0], code);
    }

    /// kvinit is exiting: a hook still running goes with it.
    fn abandon(&mut self) {
        if let Some((pid, ..)) = self.running.take() {
            forward(pid, Signal::SIGKILL as i32, true);
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

/// The exit codes of the children kvinit waits for, among those reaped:
/// their own code, or 128+N if signal N killed them.
#[derive(Default)]
struct Reaped {
    main: Option<i32>,
    hook: Option<i32>,
}

/// Reaps every exited child.
fn reap(main: Pid, hook: Option<Pid>) -> Reaped {
    let mut reaped = Reaped::default();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return reaped,
            Ok(status) => match (status.pid(), exit_code(status)) {
                (Some(p), Some(code)) if p == main => reaped.main = Some(code),
                (Some(p), Some(code)) if Some(p) == hook => reaped.hook = Some(code),
                (Some(p), _) => log::debug!("reaped pid {p}"),
                _ => {}
            },
            Err(Errno::EINTR) => {}
            Err(e) => {
                log::warn!("waitpid: {e}");
                return reaped;
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
