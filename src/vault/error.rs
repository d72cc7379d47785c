//! Why a read or a listing failed, as Key Vault said it.

use std::fmt;

use crate::http;
use crate::reference::{SecretRef, VaultUrl};
use crate::retry::Failure;

/// Why one secret could not be read, or a vault not listed.
#[derive(Debug)]
pub struct Error {
    pub target: Target,
    pub kind: ErrorKind,
    pub attempts: u32,
}

#[derive(Debug, Clone)]
pub enum Target {
    Secret(SecretRef),
    /// `--all-secrets` listing.
    List(VaultUrl),
}

#[derive(Debug)]
pub enum ErrorKind {
    /// Key Vault answered with an error status and (usually) its error body.
    Status {
        status: u16,
        code: Option<String>,
        inner: Option<String>,
        message: Option<String>,
        body: String,
        /// From a 401's challenge: the vault's tenant, e.g. `https://login.windows.net/<tenant>`.
        authority: Option<String>,
    },
    /// No usable answer came back.
    Http(http::Error),
    /// A 200 answer that is not a secret bundle.
    BadResponse(String),
}

impl Error {
    pub(super) fn new(target: Target, Failure { error, attempts }: Failure<ErrorKind>) -> Error {
        Error { target, kind: error, attempts }
    }

    /// A 404, or a disabled secret: what `?optional` tolerates.
    pub fn is_missing(&self) -> bool {
        match &self.kind {
            ErrorKind::Status { status: 404, .. } => true,
            ErrorKind::Status { status: 403, inner: Some(code), .. } => code == "SecretDisabled",
            _ => false,
        }
    }

    /// A 403 for a disabled secret.
    pub fn is_disabled(&self) -> bool {
        matches!(&self.kind, ErrorKind::Status { status: 403, inner: Some(code), .. } if code == "SecretDisabled")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Secret(s) => write!(f, "reading {} {s} from vault {}", s.collection.noun(), s.vault)?,
            Target::List(v) => write!(f, "listing the secrets of vault {v}")?,
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Status { status, code, inner, message, body, .. } => {
                write!(f, "Key Vault answered {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if let Some(inner) = inner {
                    write!(f, " ({inner})")?;
                }
                match message {
                    Some(m) => write!(f, ": {m}"),
                    None if !body.is_empty() => write!(f, ": {body}"),
                    None => Ok(()),
                }
            }
            ErrorKind::Http(e) => write!(f, "{e}"),
            ErrorKind::BadResponse(why) => write!(f, "unusable answer from Key Vault: {why}"),
        }
    }
}

impl std::error::Error for ErrorKind {}
