//! `--init`'s one supervision policy, for every platform: what a signal, an
//! exit, a refresh round's outcome or the passing of time does. Pure: it
//! decides, and the platform's driver (`supervise.rs` on Unix, `windows.rs`)
//! carries out each [`Action`] and reports each [`Event`]. So restart,
//! stop, kill timers and the hook behave the same everywhere, and are
//! tested here without a process.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use super::rounds::Outcome;
use super::settings::{Init, OnChange};

type Env = Vec<(OsString, OsString)>;

/// What happened.
pub enum Event {
    /// kvinit received signal N (Unix): it is passed on.
    #[cfg_attr(windows, allow(dead_code))]
    Signal(i32),
    /// The command exited with this code (128+N after signal N).
    Exited(i32),
    /// The hook exited (the driver logs its code).
    HookExited,
    /// The hook could not be started (logged by the driver).
    HookNotStarted,
    /// A refresh round ended.
    Round(Outcome),
    /// Time passed; it is now this.
    Tick(Instant),
}

/// What the driver must do, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this signal to the command (its group with `--signal-group`).
    Signal(i32),
    /// Stop the command to start it again with the new values.
    Stop(Stop),
    /// End the command at once: it did not stop within `--stop-timeout`.
    Kill,
    /// Start the command again with this environment (it has exited).
    Respawn(Env),
    /// Run `--on-change-run` with this environment.
    RunHook(Env),
    /// End the hook and what it started at once.
    KillHook,
    /// No more refresh rounds: the command is stopping.
    StopRounds,
    /// kvinit exits with this code.
    Exit(i32),
}

/// How the platform stops a command for a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Send this signal; SIGKILL after the timeout.
    #[cfg_attr(windows, allow(dead_code))]
    Signal(i32),
    /// End it at once (Windows has no signal to ask with).
    #[cfg_attr(unix, allow(dead_code))]
    Kill,
}

/// A restart under way: the command was asked to stop.
struct Restart {
    /// What to start it with; `None` once kvinit itself was told to stop.
    env: Option<Env>,
    kill_at: Instant,
    killed: bool,
}

/// `--on-change-run`: one run at a time; a change while it runs queues one
/// more run, with the newest environment.
#[derive(Default)]
struct Hook {
    /// Running: when it is killed, and whether it was.
    running: Option<(Instant, bool)>,
    /// A change not run for yet: the environment to run with. Nothing is
    /// kept once the hook started with it.
    pending: Option<Env>,
}

pub struct Policy {
    on_change: OnChange,
    refresh_signal: i32,
    stop: Stop,
    stop_timeout: Duration,
    remap: Vec<i32>,
    /// `--on-change-run` given.
    hook_wanted: bool,
    hook: Hook,
    restart: Option<Restart>,
    /// A stop signal during a restart: kvinit exits 128+N, whatever the
    /// command (already being stopped) exits with.
    stopped_by: Option<i32>,
    /// Restarts so far.
    pub restarts: u32,
}

/// The signals that ask a process to stop.
const STOPPING: [i32; 3] = [15, 2, 3];

impl Policy {
    pub fn new(init: &Init, stop: Stop) -> Policy {
        Policy {
            on_change: init.on_change,
            refresh_signal: init.refresh_signal,
            stop,
            stop_timeout: init.stop_timeout,
            remap: init.remap.clone(),
            hook_wanted: init.hook.is_some(),
            hook: Hook::default(),
            restart: None,
            stopped_by: None,
            restarts: 0,
        }
    }

    /// What `event` calls for.
    pub fn on(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Signal(sig) => self.signal(sig),
            Event::Exited(code) => self.exited(code),
            Event::HookExited | Event::HookNotStarted => {
                self.hook.running = None;
                Vec::new()
            }
            Event::Round(outcome) => self.round(outcome),
            Event::Tick(now) => self.tick(now),
        }
    }

    /// Whether the driver must come back soon (a timer runs, or the hook
    /// is due), rather than wait for the next round or signal.
    pub fn busy(&self) -> bool {
        self.restart.is_some() || self.hook.running.is_some() || self.hook.pending.is_some()
    }

    fn signal(&mut self, sig: i32) -> Vec<Action> {
        let mut actions = vec![Action::Signal(sig)];
        if STOPPING.contains(&sig) {
            // The command is stopping: no more rounds, and no refresh
            // signal to a process that is shutting down.
            actions.push(Action::StopRounds);
            // Stopping wins over the restart; its kill timer stays.
            if let Some(r) = self.restart.as_mut().filter(|r| r.env.is_some()) {
                r.env = None;
                self.stopped_by = Some(128 + sig);
            }
        }
        actions
    }

    fn exited(&mut self, code: i32) -> Vec<Action> {
        if let Some(Restart { env: Some(env), .. }) = self.restart.take() {
            self.restarts += 1;
            return vec![Action::Respawn(env)];
        }
        let mut actions = Vec::new();
        if self.hook.running.take().is_some() {
            actions.push(Action::KillHook);
        }
        let code = match self.stopped_by {
            Some(code) => code,
            None if self.remap.contains(&code) => 0,
            None => code,
        };
        actions.push(Action::Exit(code));
        actions
    }

    fn round(&mut self, outcome: Outcome) -> Vec<Action> {
        if self.hook_wanted && outcome.any_change() {
            if let Some(env) = &outcome.env {
                if self.hook.running.is_some() {
                    log::info!("refresh: the --on-change-run command is still running; it runs again when it is done");
                }
                self.hook.pending = Some(env.clone());
            }
        }
        match (self.on_change, outcome) {
            (OnChange::Signal, Outcome { changed: true, .. }) => vec![Action::Signal(self.refresh_signal)],
            (OnChange::Restart, Outcome { env: Some(env), .. }) => match self.restart.as_mut() {
                // A newer environment for a restart already under way (or
                // none, if kvinit is stopping).
                Some(r) => {
                    r.env = r.env.as_ref().map(|_| env);
                    Vec::new()
                }
                None => {
                    let kill_at = Instant::now() + self.stop_timeout;
                    self.restart = Some(Restart { env: Some(env), kill_at, killed: false });
                    vec![Action::Stop(self.stop)]
                }
            },
            _ => Vec::new(),
        }
    }

    fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(r) = self.restart.as_mut().filter(|r| !r.killed && now >= r.kill_at) {
            log::warn!("refresh: the command did not stop within {:?}; killing it", self.stop_timeout);
            r.killed = true;
            actions.push(Action::Kill);
        }
        match &mut self.hook.running {
            Some((kill_at, killed)) if !*killed && now >= *kill_at => {
                log::warn!(
                    "refresh: the --on-change-run command did not finish within {:?}; killing it",
                    self.stop_timeout
                );
                *killed = true;
                actions.push(Action::KillHook);
            }
            Some(_) => {}
            None => {
                if let Some(env) = self.hook.pending.take() {
                    self.hook.running = Some((now + self.stop_timeout, false));
                    actions.push(Action::RunHook(env));
                }
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERM: i32 = 15;
    const HUP: i32 = 1;
    const KILL_AFTER: Duration = Duration::from_secs(10);

    fn init(on_change: OnChange, hook: bool) -> Init {
        Init {
            group: false,
            remap: vec![143],
            refresh: Some(Duration::from_secs(60)),
            refresh_signal: HUP,
            on_change,
            hook: hook.then(|| vec!["reload".into()]),
            stop_signal: TERM,
            stop_timeout: KILL_AFTER,
        }
    }

    fn env(value: &str) -> Env {
        vec![("V".into(), value.into())]
    }

    fn changed(value: &str) -> Event {
        Event::Round(Outcome { changed: true, variables: true, env: Some(env(value)) })
    }

    #[test]
    fn a_change_signals_and_an_exit_is_remapped() {
        let mut p = Policy::new(&init(OnChange::Signal, false), Stop::Signal(TERM));
        assert_eq!(
            p.on(Event::Round(Outcome { changed: true, ..Outcome::default() })),
            [Action::Signal(HUP)]
        );
        assert_eq!(p.on(Event::Round(Outcome { variables: true, ..Outcome::default() })), []);
        assert_eq!(p.on(Event::Exited(143)), [Action::Exit(0)]);
        let mut p = Policy::new(&init(OnChange::None, false), Stop::Signal(TERM));
        assert_eq!(p.on(changed("a")), []);
        assert_eq!(p.on(Event::Exited(3)), [Action::Exit(3)]);
    }

    #[test]
    fn a_restart_stops_then_starts_with_the_newest_environment() {
        let mut p = Policy::new(&init(OnChange::Restart, false), Stop::Signal(TERM));
        assert_eq!(p.on(changed("a")), [Action::Stop(Stop::Signal(TERM))]);
        // A change during the restart: one stop, the newest values.
        assert_eq!(p.on(changed("b")), []);
        assert_eq!(p.on(Event::Exited(143)), [Action::Respawn(env("b"))]);
        assert_eq!(p.restarts, 1);
        assert_eq!(p.on(Event::Exited(143)), [Action::Exit(0)]);
    }

    #[test]
    fn a_command_that_will_not_stop_is_killed_once_after_the_timeout() {
        let mut p = Policy::new(&init(OnChange::Restart, false), Stop::Signal(TERM));
        let start = Instant::now();
        p.on(changed("a"));
        assert_eq!(p.on(Event::Tick(start + KILL_AFTER / 2)), []);
        assert_eq!(p.on(Event::Tick(start + KILL_AFTER * 2)), [Action::Kill]);
        assert_eq!(p.on(Event::Tick(start + KILL_AFTER * 3)), []);
        assert_eq!(p.on(Event::Exited(137)), [Action::Respawn(env("a"))]);
        // Windows: no signal to ask with.
        let mut p = Policy::new(&init(OnChange::Restart, false), Stop::Kill);
        assert_eq!(p.on(changed("a")), [Action::Stop(Stop::Kill)]);
        assert_eq!(p.on(Event::Exited(1)), [Action::Respawn(env("a"))]);
    }

    #[test]
    fn a_stop_signal_during_a_restart_ends_everything_with_its_code() {
        let mut p = Policy::new(&init(OnChange::Restart, false), Stop::Signal(TERM));
        p.on(changed("a"));
        assert_eq!(p.on(Event::Signal(2)), [Action::Signal(2), Action::StopRounds]);
        assert_eq!(p.on(changed("b")), [], "no restart once stopping");
        assert_eq!(p.on(Event::Exited(0)), [Action::Exit(130)]);
        // Other signals are passed on and change nothing.
        let mut p = Policy::new(&init(OnChange::Restart, false), Stop::Signal(TERM));
        assert_eq!(p.on(Event::Signal(10)), [Action::Signal(10)]);
        assert_eq!(p.on(Event::Signal(TERM)), [Action::Signal(TERM), Action::StopRounds]);
        assert_eq!(p.on(Event::Exited(143)), [Action::Exit(0)]);
    }

    #[test]
    fn the_hook_runs_one_at_a_time_and_coalesces_changes() {
        let mut p = Policy::new(&init(OnChange::None, true), Stop::Signal(TERM));
        let now = Instant::now();
        assert_eq!(p.on(Event::Round(Outcome::default())), []);
        assert_eq!(p.on(Event::Tick(now)), [], "nothing changed, nothing to run");
        p.on(changed("a"));
        assert_eq!(p.on(Event::Tick(now)), [Action::RunHook(env("a"))]);
        assert!(p.busy());
        // Two changes while it runs: one more run, with the newest values.
        p.on(changed("b"));
        p.on(changed("c"));
        assert_eq!(p.on(Event::Tick(now)), []);
        assert_eq!(p.on(Event::HookExited), []);
        assert_eq!(p.on(Event::Tick(now)), [Action::RunHook(env("c"))]);
        assert_eq!(p.on(Event::HookNotStarted), []);
        assert!(!p.busy());
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_and_goes_with_kvinit() {
        let mut p = Policy::new(&init(OnChange::Restart, true), Stop::Signal(TERM));
        let now = Instant::now();
        assert_eq!(p.on(changed("a")), [Action::Stop(Stop::Signal(TERM))]);
        // The hook starts beside the restart.
        assert_eq!(p.on(Event::Tick(now)), [Action::RunHook(env("a"))]);
        assert_eq!(p.on(Event::Tick(now + KILL_AFTER * 2)), [Action::Kill, Action::KillHook]);
        assert_eq!(p.on(Event::Tick(now + KILL_AFTER * 3)), []);
        assert_eq!(p.on(Event::Exited(137)), [Action::Respawn(env("a"))]);
        assert_eq!(p.on(Event::Exited(1)), [Action::KillHook, Action::Exit(1)]);
    }
}
