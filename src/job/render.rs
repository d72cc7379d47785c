//! The render-and-write pipeline that start-up and every `--refresh` round
//! share: each output's value from what was read (a secret after its
//! options, or a template's text and placeholders after their filters), and
//! the files written together, all or none.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Instant;

use crate::cert;
use crate::error::{Error, RenderError};
use crate::reference::SecretRef;
use crate::secret::SecretBytes;
use crate::sink::{self, Dest, Output, Segment, Slot, Source};
use crate::transform;
use crate::vault::{self, Fetched};

use super::read::Reads;

/// What one output comes to.
pub struct Rendering<'a> {
    /// The value; `None` for a lone optional secret that is absent.
    pub value: Result<Option<SecretBytes>, Problem<'a>>,
    /// Optional secrets left out, by index: "missing" or "disabled".
    pub absent: Vec<(usize, &'static str)>,
}

pub enum Problem<'a> {
    /// Reads that failed and that `?optional` does not excuse, by index.
    Unreadable(Vec<(usize, &'a vault::Error)>),
    /// A secret was read, but its options or filters could not be applied.
    Failed(usize, transform::Error),
}

/// Certificates parsed during one render, each at most once however many
/// `part=` take from it, by secret; dropped (and wiped) with the render.
pub struct Certs {
    parsed: Vec<OnceCell<Result<cert::Bundle, cert::Error>>>,
    until: Instant,
}

impl Certs {
    /// For `secrets` secrets, parsed before `until` (`--timeout`).
    pub fn new(secrets: usize, until: Instant) -> Certs {
        Certs { parsed: (0..secrets).map(|_| OnceCell::new()).collect(), until }
    }

    fn of(&self, secret: usize) -> transform::Certificate<'_> {
        transform::Certificate { parsed: &self.parsed[secret], until: self.until }
    }
}

/// Renders `output` from `fetched`, the results of every read.
pub fn value<'a>(
    output: &Output,
    fetched: &'a [Result<Fetched, vault::Error>],
    certs: &Certs,
) -> Rendering<'a> {
    let mut absent = Vec::new();
    let mut unreadable = Vec::new();
    let mut slot_value = |slot: &Slot| match &fetched[slot.secret] {
        Ok(f) => {
            let value =
                transform::apply(&f.value, f.content_type.as_deref(), &slot.options, certs.of(slot.secret))
                    .and_then(|v| slot.filters.iter().try_fold(v, |v, filter| transform::filter(v, *filter)));
            value.map(Some).map_err(|e| (slot.secret, e))
        }
        Err(e) if slot.options.optional && e.is_missing() => {
            absent.push((slot.secret, if e.is_disabled() { "disabled" } else { "missing" }));
            Ok(None)
        }
        Err(e) => {
            unreadable.push((slot.secret, e));
            Ok(None)
        }
    };
    let value = match &output.source {
        Source::Secret(slot) => slot_value(slot),
        Source::Template(parts) => {
            let mut text = Vec::new();
            let mut failed = None;
            for part in parts {
                match part {
                    Segment::Text(t) => text.extend_from_slice(t.as_bytes()),
                    Segment::Slot(slot) => match slot_value(slot) {
                        Ok(value) => text.extend_from_slice(value.as_ref().map_or(&[][..], |v| v.expose())),
                        Err(e) => failed = failed.or(Some(e)),
                    },
                }
            }
            failed.map_or(Ok(Some(SecretBytes::new(text))), Err)
        }
    };
    let value = match value {
        _ if !unreadable.is_empty() => Err(Problem::Unreadable(unreadable)),
        Err((secret, e)) => Err(Problem::Failed(secret, e)),
        Ok(Some(v)) => match checked_for(&output.dest, v) {
            Ok(v) => Ok(Some(v)),
            // Only a secret can bring a NUL; config refuses a template without one.
            Err(e) => Err(Problem::Failed(output.slots().next().map_or(0, |s| s.secret), e)),
        },
        Ok(None) => Ok(None),
    };
    Rendering { value, absent }
}

/// Environment values cannot hold NUL (nor, on Windows, non-UTF-8).
fn checked_for(dest: &Dest, value: SecretBytes) -> Result<SecretBytes, transform::Error> {
    match dest {
        Dest::Env(_) if sink::env::to_os(&value).is_none() => Err(transform::Error::NotEnvSafe),
        _ => Ok(value),
    }
}

/// One output's final value at start-up, or `None` when an optional secret
/// is absent.
pub struct Rendered<'a> {
    pub output: &'a Output,
    pub value: Option<SecretBytes>,
    /// `--env-from`'s variables, prefixed and checked.
    pub vars: Vec<(String, SecretBytes)>,
}

/// Every failure of a start-up render: each unreadable secret once (by
/// index), and each output that could not be rendered.
pub struct Failures {
    reads: Vec<usize>,
    renders: Vec<RenderError>,
}

impl Failures {
    pub fn into_error(self, reads: Reads) -> Error {
        let failed = |(i, r): (usize, Result<Fetched, vault::Error>)| {
            self.reads.contains(&i).then(|| r.err()).flatten()
        };
        let reads = reads.fetched.into_iter().enumerate().filter_map(failed).collect();
        Error::Unreadable { reads, renders: self.renders }
    }
}

/// One log line about secret `reference`, and about the output `dest` where
/// there is one, with their names as fields; never a value. One call site
/// for all of them, as each `log!` with fields costs its own code.
pub fn log_secret(
    level: log::Level,
    reference: &SecretRef,
    dest: Option<&Dest>,
    message: std::fmt::Arguments<'_>,
) {
    let vault = reference.vault.to_string();
    let (variable, file) = (dest.and_then(Dest::variable), dest.and_then(Dest::file));
    log::log!(level, secret = reference.name.as_str(), vault = vault.as_str(), variable, file; "{message}");
}

/// Which outputs a render is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// The command's environment only (a restart, a hook): no file.
    Environment,
}

/// Renders every output it can; any failure means failing closed, with
/// every failure reported.
pub fn render<'r>(
    reads: &'r Reads,
    inherited: &'r [(OsString, OsString)],
    scope: Scope,
    certs: &Certs,
) -> (Vec<Rendered<'r>>, Option<Failures>) {
    let mut rendered = Vec::with_capacity(reads.outputs.len());
    let mut failed_reads: Vec<usize> = Vec::new();
    let mut renders = Vec::new();
    let explicit = reads.outputs.iter().filter_map(|o| o.dest.variable()).collect();
    let mut taken = Taken { inherited, explicit, by_env_from: BTreeMap::new() };
    let in_scope = |o: &&Output| scope == Scope::All || !matches!(o.dest, Dest::File(_));
    for output in reads.outputs.iter().filter(in_scope) {
        let Rendering { value, absent } = value(output, &reads.fetched, certs);
        for (secret, why) in absent {
            let reference = &reads.secrets[secret].reference;
            let what = if matches!(output.source, Source::Template(_)) { "left empty" } else { "skipped" };
            let dest = &output.dest;
            log_secret(
                log::Level::Warn,
                reference,
                Some(dest),
                format_args!("{dest}: {reference} is {why}; {what} (optional)"),
            );
        }
        let vars = match (&output.dest, &value) {
            (Dest::EnvFrom(prefix), Ok(Some(v))) => {
                let secret = output.slots().next().map_or(0, |s| s.secret);
                match env_from_vars(prefix, v, secret, reads, &mut taken) {
                    Ok(vars) => vars,
                    Err(source) => {
                        let secret = reads.secrets[secret].reference.clone();
                        renders.push(RenderError { dest: output.dest.clone(), secret, source });
                        continue;
                    }
                }
            }
            _ => Vec::new(),
        };
        match value {
            Ok(value) => rendered.push(Rendered { output, value, vars }),
            Err(Problem::Unreadable(failed)) => {
                for (i, _) in failed {
                    if !failed_reads.contains(&i) {
                        failed_reads.push(i);
                    }
                }
            }
            Err(Problem::Failed(secret, source)) => renders.push(RenderError {
                dest: output.dest.clone(),
                secret: reads.secrets[secret].reference.clone(),
                source,
            }),
        }
    }
    let failures = (!failed_reads.is_empty() || !renders.is_empty())
        .then_some(Failures { reads: failed_reads, renders });
    (rendered, failures)
}

/// `--env-from`'s variables from one secret: the prefix laid on each key,
/// which must then be a variable name. An `--env` for the same variable
/// wins; another `--env-from` giving it is an error; one that changes how
/// programs run, or that kvinit's environment already has, is left out, as
/// `--all-secrets` leaves it out.
fn env_from_vars(
    prefix: &str,
    value: &SecretBytes,
    secret: usize,
    reads: &Reads,
    taken: &mut Taken,
) -> Result<Vec<(String, SecretBytes)>, transform::Error> {
    let bad = |why: String| transform::Error::EnvFrom(why);
    let reference = &reads.secrets[secret].reference;
    let (format, pairs) = transform::env_pairs(value)?;
    let mut vars = Vec::new();
    for (key, value) in pairs {
        let var = format!("{prefix}{key}");
        if !sink::env::is_name(&var) {
            let key = transform::shown_key(&key);
            return Err(bad(format!("key {key} does not make a variable name (with the prefix {prefix:?})")));
        }
        if taken.explicit.contains(&var.as_str()) {
            continue;
        }
        if let Some(other) = taken.by_env_from.get(&var) {
            return Err(bad(format!("{var} is also given by {}", reads.secrets[*other].reference)));
        }
        if let Some(refusal) = sink::env::import_refusal(&var, taken.inherited) {
            let fix = match format {
                transform::EnvFormat::Json => format!("--env {var}={reference}?json={}", json_pointer(&key)),
                transform::EnvFormat::Dotenv => format!("--env {var}=..."),
            };
            let why = refusal.why();
            let message = format_args!(
                "--env-from: skipping {var} from {reference}: {var} {why}; to set it, name it: {fix}"
            );
            log_secret(log::Level::Warn, reference, Some(&Dest::Env(var.clone())), message);
            continue;
        }
        if sink::env::to_os(&value).is_none() {
            return Err(bad(format!("the value of {var} cannot be an environment variable (a NUL byte)")));
        }
        taken.by_env_from.insert(var.clone(), secret);
        vars.push((var, value));
    }
    Ok(vars)
}

/// The variables `--env-from` may not give, and those it gave.
struct Taken<'a> {
    /// kvinit's own environment: never replaced by an import.
    inherited: &'a [(OsString, OsString)],
    /// `--env` names: they win.
    explicit: Vec<&'a str>,
    /// Variables already given, and by which secret.
    by_env_from: BTreeMap<String, usize>,
}

/// RFC 6901: `~` as `~0`, `/` as `~1`.
fn json_pointer(key: &str) -> String {
    format!("/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// The command's environment: kvinit's own (minus credentials), the
/// secrets over it, and `--user`'s HOME.
pub fn child_env(
    base: &[(OsString, OsString)],
    home: Option<&std::path::Path>,
    rendered: &[Rendered<'_>],
) -> Vec<(OsString, OsString)> {
    let from_env_from = rendered
        .iter()
        .flat_map(|r| &r.vars)
        .filter_map(|(var, value)| sink::env::to_os(value).map(|v| (var.as_str(), v)));
    let mut items: Vec<(&str, OsString)> = from_env_from
        .chain(rendered.iter().filter_map(|r| match (&r.output.dest, &r.value) {
            (Dest::Env(var), Some(value)) => sink::env::to_os(value).map(|v| (var.as_str(), v)),
            _ => None,
        }))
        .collect();
    if let Some(home) = home {
        items.push(("HOME", home.as_os_str().to_os_string()));
    }
    let mut base = base.to_vec();
    // An optional secret that is missing leaves its variable unset, even if
    // kvinit's environment held an App Service reference for it.
    let unset = |var: &str| {
        rendered.iter().any(|r| r.value.is_none() && matches!(&r.output.dest, Dest::Env(v) if v == var))
    };
    base.retain(|(k, _)| !k.to_str().is_some_and(unset));
    sink::env::build(base, &items)
}

/// Writes the files among `values` (an output and its value) together.
pub fn write_files<'a>(
    dir: &sink::file::Dir,
    values: impl Iterator<Item = (&'a Output, &'a SecretBytes)>,
) -> Result<(), sink::file::Error> {
    let files: Vec<_> = values
        .filter_map(|(output, value)| match &output.dest {
            Dest::File(path) => Some((path.as_path(), value)),
            Dest::Env(_) | Dest::EnvFrom(_) => None,
        })
        .collect();
    dir.write_all(&files)
}
