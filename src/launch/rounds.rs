//! `--refresh` rounds as the supervision loop sees them: a round runs on a
//! thread of its own, so that however long it takes (a vault that hangs)
//! the loop goes on forwarding signals, reaping, and timing out.

use std::ffi::OsString;
use std::time::{Duration, Instant};

/// Periodic work between signals: `--refresh`. Knows nothing of processes.
pub trait Refresh: Send {
    /// How long until the next round.
    fn next_delay(&mut self) -> Duration;
    /// Does one round.
    fn run(&mut self) -> Outcome;
}

/// What a refresh round found.
#[derive(Default)]
pub struct Outcome {
    /// Files the command reads were rewritten.
    pub changed: bool,
    /// A variable the command was started with has a new value.
    pub variables: bool,
    /// With `--on-change restart` or `--on-change-run`, when anything
    /// changed: the command's environment with the new values. Held only
    /// until the restart or the hook starts with it.
    pub env: Option<Vec<(OsString, OsString)>>,
}

impl Outcome {
    /// Whether anything the command uses changed: what `--on-change-run` runs after.
    pub fn any_change(&self) -> bool {
        self.changed || self.variables
    }
}

/// `--on-change-run`'s exit, on every platform: its failure is logged, and
/// nothing more.
pub fn hook_exited(program: &OsString, code: i32) {
    match code {
        0 => log::info!(code; "refresh: {program:?} exited with 0"),
        _ => log::warn!(code; "refresh: {program:?} exited with {code}; COMMAND goes on"),
    }
}

/// Refresh rounds, each on a thread of its own so that the loop above goes
/// on forwarding signals and reaping while a round waits on a slow vault.
pub struct Rounds {
    /// Between rounds: the refresher, and when the next round starts.
    idle: Option<(Box<dyn Refresh>, Instant)>,
    /// During one: the thread, which hands the refresher back.
    running: Option<std::thread::JoinHandle<(Box<dyn Refresh>, Outcome)>>,
    /// After a stop signal: a round still running is left to be cut short
    /// by kvinit's exit, and its outcome ignored.
    stopped: bool,
}

impl Rounds {
    pub fn new(refresh: Option<Box<dyn Refresh>>) -> Rounds {
        let idle = refresh.map(|mut r| {
            let at = Instant::now() + r.next_delay();
            (r, at)
        });
        Rounds { idle, running: None, stopped: false }
    }

    /// A stop signal came (Windows has none).
    #[cfg(unix)]
    pub fn stop(&mut self) {
        self.stopped = true;
        self.idle = None;
    }

    /// How long the loop may wait for a signal before calling `poll`.
    pub fn wait_at_most(&self) -> Duration {
        match (&self.idle, &self.running) {
            (_, Some(_)) => Duration::from_millis(100),
            (Some((_, at)), None) => at.saturating_duration_since(Instant::now()).min(Duration::from_secs(1)),
            (None, None) => Duration::from_secs(1),
        }
    }

    /// Starts a round that is due, or collects one that ended.
    pub fn poll(&mut self) -> Option<Outcome> {
        if self.stopped {
            return None;
        }
        if self.running.as_ref().is_some_and(|t| t.is_finished()) {
            let finished = self.running.take().and_then(|t| t.join().ok());
            if let Some((mut r, outcome)) = finished {
                let at = Instant::now() + r.next_delay();
                self.idle = Some((r, at));
                return Some(outcome);
            }
            log::error!("refresh: a round failed unexpectedly; no more rounds");
            return None;
        }
        if self.idle.as_ref().is_some_and(|(_, at)| Instant::now() >= *at) {
            if let Some((r, _)) = self.idle.take() {
                self.start(r);
            }
        }
        None
    }

    /// A thread that cannot be had (a full pids cgroup) skips the round,
    /// rather than bring PID 1 down.
    fn start(&mut self, r: Box<dyn Refresh>) {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(r)));
        let theirs = shared.clone();
        let spawned = std::thread::Builder::new().name("kvinit-refresh".into()).spawn(move || {
            let mut r = theirs.lock().unwrap_or_else(|e| e.into_inner()).take().expect("handed over once");
            let outcome = r.run();
            (r, outcome)
        });
        match spawned {
            Ok(thread) => self.running = Some(thread),
            Err(e) => {
                log::error!("refresh: cannot start a round: {e}; trying again later");
                if let Some(mut r) = shared.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let at = Instant::now() + r.next_delay();
                    self.idle = Some((r, at));
                }
            }
        }
    }
}
