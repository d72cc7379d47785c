//! Where secrets go once read: what each output is, and the sinks that
//! write them (the command's environment, files).

pub mod env;
pub mod file;

use std::fmt;
use std::path::PathBuf;

use crate::reference::Options;
use crate::template::Filter;

/// A destination, and what is rendered there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub dest: Dest,
    pub origin: Origin,
    pub source: Source,
}

/// What an output's value is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One secret, after its options.
    Secret(Slot),
    /// Text with placeholders (`--env VAR=...{{ REF }}...`).
    Template(Vec<Segment>),
}

/// One secret's place in an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Indexes the secrets read.
    pub secret: usize,
    pub options: Options,
    pub filters: Vec<Filter>,
}

/// A piece of a template output: literal text, or a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Slot(Slot),
}

impl Output {
    /// One secret, with its options and no filters.
    pub fn secret(dest: Dest, origin: Origin, secret: usize, options: Options) -> Output {
        Output { dest, origin, source: Source::Secret(Slot { secret, options, filters: Vec::new() }) }
    }

    /// The secrets this output uses, in order.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        let (one, parts) = match &self.source {
            Source::Secret(slot) => (Some(slot), &[][..]),
            Source::Template(parts) => (None, &parts[..]),
        };
        one.into_iter().chain(parts.iter().filter_map(|p| match p {
            Segment::Slot(slot) => Some(slot),
            Segment::Text(_) => None,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An environment variable of the command.
    Env(String),
    /// A file, relative to `Files::dir` (validated: no `..`, not absolute).
    File(PathBuf),
    /// `--env-from`: each key of the secret (JSON or dotenv) a variable,
    /// after this prefix.
    EnvFrom(String),
}

impl Dest {
    /// The variable, for a log field.
    pub fn variable(&self) -> Option<&str> {
        match self {
            Dest::Env(var) => Some(var),
            Dest::File(_) | Dest::EnvFrom(_) => None,
        }
    }

    /// The file, for a log field.
    pub fn file(&self) -> Option<&str> {
        match self {
            Dest::Env(_) | Dest::EnvFrom(_) => None,
            // Paths come from the command line as text.
            Dest::File(path) => path.to_str(),
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Env(var) => write!(f, "env:{var}"),
            Dest::File(path) => write!(f, "file:{}", path.display()),
            Dest::EnvFrom(prefix) if prefix.is_empty() => f.write_str("env-from"),
            Dest::EnvFrom(prefix) => write!(f, "env-from:{prefix}*"),
        }
    }
}

/// What asked for an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--env` or `KVINIT_ENV`.
    Flag,
    /// An `@Microsoft.KeyVault(...)` value in kvinit's environment.
    AppServiceReference,
    /// `--all-secrets`.
    Import,
    /// `--template`.
    Template,
}
