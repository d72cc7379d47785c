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

use super::rounds::{hook_exited, Refresh, Rounds};
use super::{Init, OnChange};

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

    /// Ends the command and its children, and waits for the command.
    fn end(&mut self) {
        // SAFETY: the job handle is open while `self` lives.
        let ended =
            self.job.as_ref().is_some_and(|job| unsafe { TerminateJobObject(job.as_raw_handle(), 1) } != 0);
        if !ended {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts the command and waits for it, doing the rounds, restarts and
/// hook runs meanwhile. Returns its exit code.
pub fn supervise(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    init: &Init,
    refresh: Option<Box<dyn Refresh>>,
) -> io::Result<i32> {
    super::imp::outlive_console_events();
    let mut app = Tree::start(command, env)?;
    let mut hook = init.hook.as_deref().map(|c| Hook {
        command: c,
        timeout: init.stop_timeout,
        running: None,
        pending: None,
    });
    let mut rounds = Rounds::new(refresh);
    let mut restarts = 0u32;
    loop {
        let busy = hook.as_ref().is_some_and(|h| h.running.is_some() || h.pending.is_some());
        let wait = if busy { Duration::from_millis(50) } else { rounds.wait_at_most() };
        if let Some(code) = app.wait(wait)? {
            if let Some(Hook { running: Some((tree, _)), .. }) = hook.as_mut() {
                tree.end();
            }
            return Ok(code);
        }
        if let Some(outcome) = rounds.poll() {
            if let (Some(hook), true, Some(env)) = (hook.as_mut(), outcome.any_change(), &outcome.env) {
                hook.pending = Some(env.clone());
            }
            if let (OnChange::Restart, Some(env)) = (init.on_change, outcome.env) {
                log::info!("refresh: ending {:?} to start it with the new values", command[0]);
                app.end();
                app = Tree::start(command, env)?;
                restarts += 1;
                log::info!(restarts; "refresh: restarted {:?}", command[0]);
            }
        }
        if let Some(hook) = hook.as_mut() {
            hook.tick()?;
        }
    }
}

/// `--on-change-run`, as on Unix: one at a time, ended with its children
/// after the timeout, its failure logged and nothing more.
struct Hook<'a> {
    command: &'a [OsString],
    timeout: Duration,
    running: Option<(Tree, Instant)>,
    pending: Option<Vec<(OsString, OsString)>>,
}

impl Hook<'_> {
    fn tick(&mut self) -> io::Result<()> {
        if let Some((tree, kill_at)) = self.running.as_mut() {
            let code = match tree.wait(Duration::ZERO)? {
                Some(code) => code,
                None if Instant::now() < *kill_at => return Ok(()),
                None => {
                    log::warn!(
                        "refresh: {:?} did not finish within {:?}; ending it",
                        tree.program,
                        self.timeout
                    );
                    tree.end();
                    1
                }
            };
            hook_exited(&tree.program, code);
            self.running = None;
        }
        if let Some(env) = self.pending.take() {
            match Tree::start(self.command, env) {
                Ok(tree) => {
                    log::info!("refresh: running {:?}", self.command[0]);
                    self.running = Some((tree, Instant::now() + self.timeout));
                }
                Err(e) => log::error!("refresh: cannot run {:?}: {e}; COMMAND goes on", self.command[0]),
            }
        }
        Ok(())
    }
}
