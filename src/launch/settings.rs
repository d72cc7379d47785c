//! What config decides about the command: what it is, its environment
//! and user, and how `--init` supervises it.

use std::ffi::OsString;
use std::time::Duration;

use super::user;

/// The command and how it is started.
#[derive(Debug)]
pub struct Launch {
    /// The program and its arguments; never empty unless only checking.
    pub command: Vec<OsString>,
    /// kvinit's environment minus what the command must not inherit; the
    /// secrets are laid over it.
    pub env: Vec<(OsString, OsString)>,
    /// `--user`: who runs the command.
    pub user: Option<user::UserSpec>,
    /// `--init`, with its options; `None`: exec.
    pub init: Option<Init>,
}

/// How `--init` behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// Forward signals to the command's process group (`--group`).
    pub group: bool,
    /// Exit codes reported as 0 (`--remap-exit`).
    pub remap: Vec<i32>,
    /// How often the caller's refresh rounds run (`--refresh`).
    pub refresh: Option<Duration>,
    /// Sent to the command after a refresh changed files.
    pub refresh_signal: i32,
    /// What a change found by a refresh does to the command.
    pub on_change: OnChange,
    /// `--on-change-run`: run after each change, as well as the action.
    pub hook: Option<Vec<OsString>>,
    /// How a restart stops the command: this signal, then SIGKILL after the timeout.
    pub stop_signal: i32,
    pub stop_timeout: Duration,
}

/// `--on-change`: what the command sees of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// Files are rewritten, then the refresh signal is sent once.
    Signal,
    /// The command is stopped and started again with the new environment.
    Restart,
    /// Files are rewritten; nothing else.
    None,
}
