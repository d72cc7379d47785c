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

use super::policy::{Action, Event, Policy, Stop};
use super::rounds::{hook_exited, Refresh, Rounds};
use super::settings::Init;
use super::signals::{self, Original};
use super::user::{self, Ids};

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

/// The Unix driver of the supervision policy: signals in, processes out.
pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    init: &Init,
    ids: Option<Ids>,
    refresh: Option<Box<dyn Refresh>>,
) -> Result<i32, StartError> {
    become_subreaper();
    let mut pid = spawn(command, env, original, init.group, ids.clone())?;
    log::debug!(pid = pid.as_raw(); "started {:?} as pid {pid}", command[0]);
    let handled = signals::handled();
    let mut rounds = Rounds::new(refresh);
    let mut policy = Policy::new(init, Stop::Signal(init.stop_signal));
    let mut hook: Option<Pid> = None;
    // A handful at a time: a Vec taken from the front, not a VecDeque,
    // which would cost the binary a collection of its own.
    let mut events: Vec<Event> = Vec::new();
    loop {
        let wait = if policy.busy() { Duration::from_millis(50) } else { rounds.wait_at_most() };
        match signals::wait(&handled, wait) {
            None => {}
            Some(sig) if sig == Signal::SIGCHLD as i32 => {}
            Some(sig) => events.push(Event::Signal(sig)),
        }
        let reaped = reap(pid, hook);
        if let (Some(code), Some(program)) = (reaped.hook, init.hook.as_ref().map(|h| &h[0])) {
            hook = None;
            hook_exited(program, code);
            events.push(Event::HookExited);
        }
        // A round still running is abandoned: kvinit exits with the command.
        events.extend(reaped.main.map(Event::Exited));
        events.extend(rounds.poll().map(Event::Round));
        events.push(Event::Tick(Instant::now()));
        while !events.is_empty() {
            let event = events.remove(0);
            for action in policy.on(event) {
                match action {
                    Action::Signal(sig) => forward(pid, sig, init.group),
                    Action::Stop(stop) => {
                        log::info!(
                            "refresh: stopping {:?} (pid {pid}) to start it with the new values",
                            command[0]
                        );
                        let sig = match stop {
                            Stop::Signal(sig) => sig,
                            Stop::Kill => Signal::SIGKILL as i32,
                        };
                        forward(pid, sig, init.group);
                    }
                    Action::Kill => forward(pid, Signal::SIGKILL as i32, init.group),
                    Action::Respawn(env) => {
                        pid = spawn(command, env, original, init.group, ids.clone())?;
                        let restarts = policy.restarts;
                        log::info!(pid = pid.as_raw(), restarts; "refresh: restarted {:?} as pid {pid}", command[0]);
                    }
                    Action::RunHook(env) => {
                        let program = init.hook.as_deref().unwrap_or_default();
                        hook = run_hook(program, env, original, ids.as_ref());
                        if hook.is_none() {
                            events.push(Event::HookNotStarted);
                        }
                    }
                    Action::KillHook => {
                        if let Some(hook) = hook {
                            forward(hook, Signal::SIGKILL as i32, true);
                        }
                    }
                    Action::StopRounds => rounds.stop(),
                    Action::Exit(code) => return Ok(code),
                }
            }
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

/// Starts `--on-change-run` as COMMAND's user, in a process group of its
/// own so that a kill reaches what it started; `None` (logged) if it
/// cannot be started.
fn run_hook(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    original: Original,
    ids: Option<&Ids>,
) -> Option<Pid> {
    let program = command.first()?;
    match spawn(command, env, original, true, ids.cloned()) {
        Ok(pid) => {
            log::info!(pid = pid.as_raw(); "refresh: running {program:?} as pid {pid}");
            Some(pid)
        }
        Err(StartError::Exec(e)) => {
            log::error!("refresh: cannot run {program:?}: {e}; COMMAND goes on");
            None
        }
        Err(StartError::User(e)) => {
            log::error!("refresh: cannot run {program:?}: {e}; COMMAND goes on");
            None
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
}
