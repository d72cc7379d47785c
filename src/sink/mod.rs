//! Where secrets go once read: what each output is, and the sinks that
//! write them (the command's environment, files).

pub mod env;
pub mod file;

use std::fmt;
use std::path::PathBuf;

use crate::reference::Options;

/// One secret's destination, and how it is rendered there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub dest: Dest,
    /// Indexes the secrets read.
    pub secret: usize,
    pub origin: Origin,
    pub options: Options,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An environment variable of the command.
    Env(String),
    /// A file, relative to `Files::dir` (validated: no `..`, not absolute).
    File(PathBuf),
}

impl Dest {
    /// The variable, for a log field.
    pub fn variable(&self) -> Option<&str> {
        match self {
            Dest::Env(var) => Some(var),
            Dest::File(_) => None,
        }
    }

    /// The file, for a log field.
    pub fn file(&self) -> Option<&str> {
        match self {
            Dest::Env(_) => None,
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
}
