//! `--init` on Windows. kvinit waits for the command there anyway; with
//! `--refresh` it also runs the rounds, restarts the command (`--on-change
//! restart`) and runs the hook (`--on-change-run`). Windows has no signals
//! to ask a process to stop: a stop ends the command and everything it
//! started at once, through a job object (a process group's equivalent).

use std::ffi::{c_void, OsString};
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::policy::{Action, Event, Policy, Stop};
use super::rounds::{hook_exited, Refresh, Rounds};
use super::settings::Init;

#[link(name = "kernel32")]
extern "system" {
    fn CreateJobObjectW(attributes: *mut c_void, name: *const u16) -> RawHandle;
    fn AssignProcessToJobObject(job: RawHandle, process: RawHandle) -> i32;
    fn TerminateJobObject(job: RawHandle, exit_code: u32) -> i32;
    fn WaitForSingleObject(handle: RawHandle, milliseconds: u32) -> u32;
}

/// A started command, and the job object that holds it and its children.
struct Tree {
    program: OsString,
    child: Child,
    /// `None` if the job could not be made: then only the command itself
    /// is ended.
    job: Option<OwnedHandle>,
}

impl Tree {
    fn start(command: &[OsString], env: Vec<(OsString, OsString)>) -> io::Result<Tree> {
        let child = Command::new(&command[0]).args(&command[1..]).env_clear().envs(env).spawn()?;
        // SAFETY: no attributes and no name are valid arguments; the handle
        // returned, if any, is ours alone and closed by OwnedHandle.
        let job = unsafe {
            let raw = CreateJobObjectW(std::ptr::null_mut(), std::ptr::null());
            (!raw.is_null()).then(|| OwnedHandle::from_raw_handle(raw))
        };
        // SAFETY: both handles are open and owned by this value.
        let job = job.filter(
            |job| unsafe { AssignProcessToJobObject(job.as_raw_handle(), child.as_raw_handle()) } != 0,
        );
        if job.is_none() {
            log::warn!(
                "cannot put {:?} in a job object: {}; a stop ends it but not what it started",
                command[0],
                io::Error::last_os_error()
            );
        }
        Ok(Tree { program: command[0].clone(), child, job })
    }

    /// Waits up to `timeout` for the command to exit; its exit code if it did.
    fn wait(&mut self, timeout: Duration) -> io::Result<Option<i32>> {
        let ms = timeout.as_millis().min(u128::from(u32::MAX - 1)) as u32;
        // SAFETY: the process handle is open while `child` lives.
        unsafe { WaitForSingleObject(self.child.as_raw_handle(), ms) };
        Ok(self.child.try_wait()?.map(|status| status.code().unwrap_or(1)))
    }

    /// Ends the command and its children, waits for the command, and
    /// returns its exit code.
    fn end(&mut self) -> i32 {
        // SAFETY: the job handle is open while `self` lives.
        let ended =
            self.job.as_ref().is_some_and(|job| unsafe { TerminateJobObject(job.as_raw_handle(), 1) } != 0);
        if !ended {
            let _ = self.child.kill();
        }
        self.child.wait().ok().and_then(|status| status.code()).unwrap_or(1)
    }
}

/// The Windows driver of the supervision policy: starts the command and
/// waits for it, doing the rounds, restarts and hook runs meanwhile.
/// Returns the exit code kvinit exits with.
pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    init: &Init,
    refresh: Option<Box<dyn Refresh>>,
) -> io::Result<i32> {
    super::imp::outlive_console_events();
    let mut app = Tree::start(command, env)?;
    let mut hook: Option<Tree> = None;
    let mut rounds = Rounds::new(refresh);
    let mut policy = Policy::new(init, Stop::Kill);
    // A handful at a time: a Vec taken from the front, not a VecDeque,
    // which would cost the binary a collection of its own.
    let mut events: Vec<Event> = Vec::new();
    loop {
        let wait = if policy.busy() { Duration::from_millis(50) } else { rounds.wait_at_most() };
        events.extend(app.wait(wait)?.map(Event::Exited));
        if let Some(tree) = hook.as_mut() {
            if let Some(code) = tree.wait(Duration::ZERO)? {
                hook_exited(&tree.program, code);
                hook = None;
                events.push(Event::HookExited);
            }
        }
        events.extend(rounds.poll().map(Event::Round));
        events.push(Event::Tick(Instant::now()));
        while !events.is_empty() {
            let event = events.remove(0);
            for action in policy.on(event) {
                match action {
                    // Windows has no signals; config refuses what would send one.
                    Action::Signal(_) | Action::StopRounds => {}
                    Action::Stop(_) | Action::Kill => {
                        log::info!("refresh: ending {:?} to start it with the new values", command[0]);
                        events.push(Event::Exited(app.end()));
                    }
                    Action::Respawn(env) => {
                        app = Tree::start(command, env)?;
                        let restarts = policy.restarts;
                        log::info!(restarts; "refresh: restarted {:?}", command[0]);
                    }
                    Action::RunHook(env) => {
                        let program = init.hook.as_deref().unwrap_or_default();
                        match Tree::start(program, env) {
                            Ok(tree) => {
                                log::info!("refresh: running {:?}", program[0]);
                                hook = Some(tree);
                            }
                            Err(e) => {
                                log::error!("refresh: cannot run {:?}: {e}; COMMAND goes on", program[0]);
                                events.push(Event::HookNotStarted);
                            }
                        }
                    }
                    Action::KillHook => {
                        if let Some(mut tree) = hook.take() {
                            let code = tree.end();
                            hook_exited(&tree.program, code);
                            events.push(Event::HookExited);
                        }
                    }
                    Action::Exit(code) => return Ok(code),
                }
            }
        }
    }
}
