//! kvinit's failures, their exit codes, and how they are printed.
//!
//! | code | meaning |
//! |------|---------|
//! | 2    | usage or configuration error (identity variables included); nothing was fetched |
//! | 3    | no access token could be had from the identity source |
//! | 4    | at least one secret could not be read; the command was not started |
//! | 126  | the command exists but could not be executed |
//! | 127  | the command was not found |

use std::error::Error as StdError;
use std::fmt::Write;

use crate::{config, http, identity, launch, vault};

pub const EXIT_USAGE: i32 = 2;
pub const EXIT_IDENTITY: i32 = 3;
pub const EXIT_SECRET: i32 = 4;

#[derive(Debug)]
pub enum Error {
    /// The command line or environment is invalid.
    Config(config::ConfigError),
    /// HTTP could not be set up (e.g. an unreadable `SSL_CERT_FILE`).
    Setup(http::SetupError),
    /// The identity source lacks what it needs, or cannot take the given id.
    IdentitySetup(identity::SetupError),
    /// The identity source gave no token.
    Identity(identity::Error),
    /// These secrets could not be read (never empty).
    Secrets(Vec<vault::Error>),
    /// The command could not be executed.
    Launch(launch::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Setup(_) | Error::IdentitySetup(_) => EXIT_USAGE,
            Error::Identity(_) => EXIT_IDENTITY,
            Error::Secrets(_) => EXIT_SECRET,
            Error::Launch(e) => e.exit_code(),
        }
    }

    /// The text for stderr: one `error:` block per failure, each with its
    /// `caused by:` chain and a `hint:` where there is one.
    pub fn report(&self) -> String {
        let mut out = String::new();
        match self {
            Error::Config(e) => block(&mut out, e, None),
            Error::Setup(e) => block(&mut out, e, None),
            Error::IdentitySetup(e) => block(&mut out, e, None),
            Error::Identity(e) => block(&mut out, e, e.hint.as_deref()),
            Error::Secrets(errors) => {
                for e in errors {
                    block(&mut out, e, e.hint().as_deref());
                }
                let n = errors.len();
                let _ = writeln!(
                    out,
                    "kvinit: {n} secret{} could not be read; not starting the command",
                    if n == 1 { "" } else { "s" }
                );
            }
            Error::Launch(e) => block(&mut out, e, None),
        }
        out
    }
}

fn block(out: &mut String, error: &dyn StdError, hint: Option<&str>) {
    let _ = writeln!(out, "kvinit: error: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        let _ = writeln!(out, "  caused by: {e}");
        cause = e.source();
    }
    if let Some(hint) = hint {
        let _ = writeln!(out, "  hint: {hint}");
    }
}
