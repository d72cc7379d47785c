//! Parsers for single values: booleans, modes, ids, users, durations,
//! and how a flag and its variable combine.

use std::time::Duration;

use super::ConfigError;
use crate::identity::Env;
use crate::launch::user::{IdOrName, UserSpec};

/// A boolean variable: 1/0, true/false, yes/no, on/off, in any case. Unset
/// (or empty) is `None`; anything else is refused, never guessed.
pub(super) fn boolean(env: &Env, var: &'static str) -> Result<Option<bool>, ConfigError> {
    let Some(value) = env.get(var) else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError::Boolean { var, value: value.to_string() }),
    }
}

/// Octal, at most 0o777, and never writable by group or others.
pub(super) fn parse_mode(s: &str) -> Option<u32> {
    let s = s.trim();
    let mode = u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8).ok()?;
    // No group/other write, and no setuid, setgid or sticky bit: a secret
    // file is data, never a program or a shared directory.
    (mode <= 0o777 && mode & 0o022 == 0).then_some(mode)
}

/// `UID` or `UID:GID`, numeric.
pub(super) fn parse_ids(s: &str) -> Option<(u32, Option<u32>)> {
    match s.split_once(':') {
        Some((u, g)) => Some((u.parse().ok()?, Some(g.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

pub(super) fn parse_user(s: &str) -> Option<UserSpec> {
    let id_or_name = |p: &str| -> Option<IdOrName> {
        if p.is_empty() {
            None
        } else if let Ok(id) = p.parse() {
            Some(IdOrName::Id(id))
        } else if p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$')) {
            Some(IdOrName::Name(p.to_string()))
        } else {
            None
        }
    };
    match s.split_once(':') {
        Some((u, g)) => Some(UserSpec { user: id_or_name(u)?, group: Some(id_or_name(g)?) }),
        None => Some(UserSpec { user: id_or_name(s)?, group: None }),
    }
}

/// A repeatable flag's items, then its variable's (comma- or
/// newline-separated), trimmed, empty ones left out.
pub(super) fn listed<'a>(flags: &'a [String], var: Option<&'a str>) -> impl Iterator<Item = &'a str> {
    let from_var = var.unwrap_or("").split([',', '\n']);
    flags.iter().map(String::as_str).chain(from_var).map(str::trim).filter(|i| !i.is_empty())
}

/// A flag's value, else its variable's, with the name of whichever gave it.
pub(super) fn named<'a>(
    flag: &'a Option<String>,
    flag_name: &'static str,
    var: Option<&'a str>,
    var_name: &'static str,
) -> Option<(&'static str, &'a str)> {
    match flag {
        Some(value) => Some((flag_name, value)),
        None => var.map(|value| (var_name, value)),
    }
}

/// `500ms`, `90s`, `2m`, `1h`, or a bare number of seconds, more than zero
/// and at most 24h; or why `s` is not one (a message's end).
pub(super) fn duration(s: &str) -> Result<Duration, &'static str> {
    const NOT: &str = "is not a duration like 90s, 500ms or 2m";
    const MAX_NANOS: u128 = 86_400 * 1_000_000_000;
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let per_unit: u128 = match unit.trim() {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(NOT),
    };
    // Decimal by hand, in nanoseconds: parsing an f64 would link the float
    // parser and its tables (about 12 KiB of the static binary).
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(NOT);
    }
    let fraction = &fraction[..fraction.len().min(9)];
    let digits = |text: &str| {
        text.bytes().try_fold(0u128, |n, d| n.checked_mul(10)?.checked_add(u128::from(d - b'0')))
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let nanos = digits(whole)
        .and_then(|w| w.checked_mul(scale)?.checked_add(digits(fraction)?))
        .and_then(|n| n.checked_mul(per_unit))
        .map(|n| n / scale);
    match nanos {
        Some(0) => Err("must be more than zero"),
        Some(n) if n <= MAX_NANOS => Ok(Duration::from_nanos(n as u64)),
        _ => Err("is over the maximum of 24h"),
    }
}
