//! `--init` and what it brings: refresh, change actions, the hook.

use std::ffi::OsString;
use std::time::Duration;

use super::values::{boolean, duration, named};
use super::ConfigError;
use crate::cli::Args;
use crate::identity::Env;
use crate::launch::{signals, Init, OnChange};
use crate::vars;

/// `--init` and the flags that need it.
pub(super) fn init_plan(args: &Args, env: &Env) -> Result<Option<Init>, ConfigError> {
    let init_on = args.init || boolean(env, vars::INIT)?.unwrap_or(false);
    let refresh = match named(&args.refresh, "--refresh", env.get(vars::REFRESH), vars::REFRESH) {
        None => None,
        Some((what, r)) => match duration(r) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d),
            Ok(_) => Err("is under the minimum of 1s"),
            Err(why) => Err(why),
        }
        .map_err(|why| ConfigError::Duration { what, value: r.to_string(), why })
        .map(Some)?,
    };
    let action = args.on_change.as_deref().or(env.get(vars::ON_CHANGE));
    refuse_signals(args, action, cfg!(windows))?;
    let refresh_signal = match args.refresh_signal.as_deref() {
        None => signals::parse("HUP").unwrap_or(1),
        Some(s) => signals::parse(s)
            .ok_or_else(|| ConfigError::Signal { flag: "--refresh-signal", value: s.to_string() })?,
    };
    let on_change = match action {
        None if cfg!(windows) => OnChange::None,
        None | Some("signal") => OnChange::Signal,
        Some("restart") => OnChange::Restart,
        Some("none") => OnChange::None,
        Some(other) => return Err(ConfigError::OnChange(other.to_string())),
    };
    let stop_signal = match args.stop_signal.as_deref() {
        None => signals::parse("TERM").unwrap_or(15),
        Some(s) => signals::parse(s)
            .ok_or_else(|| ConfigError::Signal { flag: "--stop-signal", value: s.to_string() })?,
    };
    let stop_timeout = match args.stop_timeout.as_deref() {
        None => Duration::from_secs(10),
        Some(t) => duration(t).map_err(|why| ConfigError::Duration {
            what: "--stop-timeout",
            value: t.to_string(),
            why,
        })?,
    };
    let hook = hook_plan(args, env)?;
    let needs_refresh = [
        (args.on_change.is_some() || env.get(vars::ON_CHANGE).is_some(), "--on-change"),
        (hook.is_some(), "--on-change-run"),
        (args.refresh_sentinel.is_some(), "--refresh-sentinel"),
    ];
    if let Some((_, flag)) = needs_refresh.iter().find(|(given, _)| *given && refresh.is_none()) {
        return Err(ConfigError::NeedsRefresh(flag));
    }
    if init_on {
        return Ok(Some(Init {
            group: args.group,
            remap: args.remap_exit.iter().map(|c| i32::from(*c)).collect(),
            refresh,
            refresh_signal,
            on_change,
            hook,
            stop_signal,
            stop_timeout,
        }));
    }
    for (given, flag) in [
        (args.group, "--signal-group"),
        (!args.remap_exit.is_empty(), "--remap-exit"),
        (refresh.is_some(), "--refresh"),
        (args.refresh_signal.is_some(), "--refresh-signal"),
        (args.stop_signal.is_some(), "--stop-signal"),
        (args.stop_timeout.is_some(), "--stop-timeout"),
    ] {
        if given {
            return Err(ConfigError::NeedsInit(flag));
        }
    }
    Ok(None)
}

/// `--on-change-run`: its words.
fn hook_plan(args: &Args, env: &Env) -> Result<Option<Vec<OsString>>, ConfigError> {
    let var = env.get(vars::ON_CHANGE_RUN);
    let Some((what, line)) = named(&args.on_change_run, "--on-change-run", var, vars::ON_CHANGE_RUN) else {
        return Ok(None);
    };
    let words =
        crate::words::split(line).map_err(|why| ConfigError::Hook { what, line: line.to_string(), why })?;
    Ok(Some(words.into_iter().map(OsString::from).collect()))
}

/// Windows has no signals: what would send one is refused there, with what
/// to use instead, rather than ignored.
pub(super) fn refuse_signals(args: &Args, action: Option<&str>, windows: bool) -> Result<(), ConfigError> {
    if !windows {
        return Ok(());
    }
    let given = [
        (action == Some("signal"), "--on-change signal"),
        (args.refresh_signal.is_some(), "--refresh-signal"),
        (args.stop_signal.is_some(), "--stop-signal"),
        (args.group, "--signal-group"),
    ];
    match given.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(ConfigError::NoSignals(flag)),
        None => Ok(()),
    }
}
