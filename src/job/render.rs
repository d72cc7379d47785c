//! The render-and-write pipeline that start-up and every `--refresh` round
//! share: each output's value from what was read, and the files written
//! together, all or none.

use crate::error::{Error, RenderError};
use crate::secret::SecretBytes;
use crate::sink::{self, Dest, Output};
use crate::transform;
use crate::vault::{self, Fetched};

use super::read::Reads;

/// What one output comes to.
pub enum Value<'a> {
    Ready(SecretBytes),
    /// An optional secret that is "missing" or "disabled".
    Missing(&'static str),
    /// The read failed (reported once per secret, not per output).
    Unreadable(#[cfg_attr(not(unix), allow(dead_code))] &'a vault::Error), // --refresh logs it; Unix-only
    /// The read succeeded but the output's options could not be applied.
    Failed(transform::Error),
}

/// Applies `output`'s options to what was read for it.
pub fn value<'a>(output: &Output, fetched: &'a Result<Fetched, vault::Error>) -> Value<'a> {
    match fetched {
        Ok(f) => match transform::apply(&f.value, &output.options).and_then(|v| checked_for(&output.dest, v))
        {
            Ok(value) => Value::Ready(value),
            Err(e) => Value::Failed(e),
        },
        Err(e) if output.options.optional && e.is_missing() => {
            Value::Missing(if e.is_disabled() { "disabled" } else { "missing" })
        }
        Err(e) => Value::Unreadable(e),
    }
}

/// Environment values cannot hold NUL (nor, on Windows, non-UTF-8).
fn checked_for(dest: &Dest, value: SecretBytes) -> Result<SecretBytes, transform::Error> {
    match dest {
        Dest::Env(_) if sink::env::to_os(&value).is_none() => Err(transform::Error::NotEnvSafe),
        _ => Ok(value),
    }
}

/// One output's final value at start-up, or `None` when an optional secret
/// is missing.
pub struct Rendered<'a> {
    pub output: &'a Output,
    pub fetched: Option<&'a Fetched>,
    pub value: Option<SecretBytes>,
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

/// Renders every output it can; any failure means failing closed, with
/// every failure reported.
pub fn render(reads: &Reads) -> (Vec<Rendered<'_>>, Option<Failures>) {
    let mut rendered = Vec::with_capacity(reads.outputs.len());
    let mut failed_reads: Vec<usize> = Vec::new();
    let mut renders = Vec::new();
    for output in &reads.outputs {
        let fetched = &reads.fetched[output.secret];
        let reference = &reads.secrets[output.secret].reference;
        match value(output, fetched) {
            Value::Ready(value) => {
                rendered.push(Rendered { output, fetched: fetched.as_ref().ok(), value: Some(value) })
            }
            Value::Missing(why) => {
                log::warn!(
                    secret = reference.name.as_str(), vault = reference.vault.to_string().as_str(), variable = output.dest.variable(),
                    file = output.dest.file();
                    "{}: {reference} is {why}; skipped (optional)", output.dest
                );
                rendered.push(Rendered { output, fetched: None, value: None });
            }
            Value::Unreadable(_) if failed_reads.contains(&output.secret) => {}
            Value::Unreadable(_) => failed_reads.push(output.secret),
            Value::Failed(source) => {
                renders.push(RenderError { dest: output.dest.to_string(), secret: reference.clone(), source })
            }
        }
    }
    let failures = (!failed_reads.is_empty() || !renders.is_empty())
        .then_some(Failures { reads: failed_reads, renders });
    (rendered, failures)
}

/// Writes the files among `values` (an output and its value) together.
pub fn write_files<'a>(
    dir: &sink::file::Dir,
    values: impl Iterator<Item = (&'a Output, &'a SecretBytes)>,
) -> Result<(), sink::file::Error> {
    let files: Vec<_> = values
        .filter_map(|(output, value)| match &output.dest {
            Dest::File(path) => Some((path.as_path(), value)),
            Dest::Env(_) => None,
        })
        .collect();
    dir.write_all(&files)
}
