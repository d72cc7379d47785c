//! kvinit's failures, their exit codes, and how they are printed.
//!
//! | code | meaning |
//! |------|---------|
//! | 2    | usage or configuration error (identity variables included); nothing was fetched |
//! | 3    | no access token could be had from the identity source |
//! | 4    | at least one secret could not be read or rendered; the command was not started |
//! | 5    | secret files could not be written, or `--user` could not be switched to |
//! | 126  | the command exists but could not be executed |
//! | 127  | the command was not found |

use std::error::Error as StdError;
use std::fmt::Write;

use crate::reference::SecretRef;
use crate::{config, http, identity, launch, sink, transform, vault};

pub const EXIT_USAGE: i32 = 2;
pub const EXIT_IDENTITY: i32 = 3;
pub const EXIT_SECRET: i32 = 4;
pub const EXIT_OUTPUT: i32 = 5;

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
    /// These secrets could not be read, or their options not applied (never
    /// both empty).
    Unreadable { reads: Vec<vault::Error>, renders: Vec<RenderError> },
    /// `--all-secrets` could not list the vault, so no secret was read.
    Listing(vault::Error),
    /// `--all-secrets` found nothing to import, and `?optional` was not given.
    NothingImported { vault: String, prefix: String, listed: usize },
    /// A secret file could not be written.
    File(sink::file::Error),
    /// `--user` could not be resolved or switched to.
    User(launch::user::Error),
    /// The command could not be executed.
    Launch(launch::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Setup(_) | Error::IdentitySetup(_) => EXIT_USAGE,
            Error::Identity(_) => EXIT_IDENTITY,
            Error::Unreadable { .. } | Error::Listing(_) | Error::NothingImported { .. } => EXIT_SECRET,
            Error::File(_) => EXIT_OUTPUT,
            Error::User(launch::user::Error::Unknown { .. }) => EXIT_USAGE,
            Error::User(_) => EXIT_OUTPUT,
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
            Error::Unreadable { reads, renders } => {
                for e in reads {
                    block(&mut out, e, e.hint().as_deref());
                }
                for e in renders {
                    block(&mut out, e, None);
                }
                let n = reads.len() + renders.len();
                let _ = writeln!(
                    out,
                    "kvinit: {n} secret{} could not be read; not starting the command",
                    if n == 1 { "" } else { "s" }
                );
            }
            Error::Listing(e) => {
                block(&mut out, e, e.hint().as_deref());
                let _ =
                    writeln!(out, "kvinit: --all-secrets could not list the vault; not starting the command");
            }
            Error::NothingImported { vault, prefix, listed } => {
                let _ = writeln!(
                    out,
                    "kvinit: error: --all-secrets={prefix} imported nothing from vault {vault}: no enabled secret \
                     {} becomes a variable (the vault lists {listed})\n  hint: check the prefix: az keyvault \
                     secret list --vault-name <vault name> --query \"[].name\"; if none is fine, say so: \
                     --all-secrets={prefix}?optional\nkvinit: nothing imported; not starting the command",
                    if prefix.is_empty() { "of it".to_string() } else { format!("whose name starts with {prefix:?}") }
                );
            }
            Error::Launch(e) => block(&mut out, e, None),
            Error::File(e) => block(&mut out, e, None),
            Error::User(e) => block(&mut out, e, None),
        }
        out
    }
}

/// A secret was read, but an option (`json=`, `base64`) could not be applied.
#[derive(Debug)]
pub struct RenderError {
    pub dest: String,
    pub secret: SecretRef,
    pub source: transform::Error,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "preparing secret {} from vault {} for {}", self.secret, self.secret.vault, self.dest)
    }
}

impl StdError for RenderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// An error and its `source()` chain on one log line: "what: why: why".
#[cfg_attr(not(unix), allow(dead_code))] // only --refresh, Unix-only, uses it
pub fn one_line(error: &dyn StdError) -> String {
    let mut parts = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        let lines: Vec<&str> = text.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect();
        parts.push(lines.join(" "));
        next = e.source();
    }
    parts.join(": ")
}

/// One failure as an indented block. Azure's messages can span lines (Key
/// Vault's RBAC and firewall denials do, with `\r\n`); their later lines
/// are indented under the first, so the block stays one block in a log.
fn block(out: &mut String, error: &dyn StdError, hint: Option<&str>) {
    line(out, "kvinit: error: ", &error.to_string());
    let mut cause = error.source();
    while let Some(e) = cause {
        line(out, "  caused by: ", &e.to_string());
        cause = e.source();
    }
    if let Some(hint) = hint {
        line(out, "  hint: ", hint);
    }
}

fn line(out: &mut String, label: &str, text: &str) {
    let mut lines = text.split(['\r', '\n']).map(str::trim_end).filter(|l| !l.trim().is_empty());
    let _ = writeln!(out, "{label}{}", lines.next().unwrap_or_default());
    for more in lines {
        let _ = writeln!(out, "      {}", more.trim_start());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_messages_stay_in_one_indented_block() {
        let mut out = String::new();
        line(&mut out, "  caused by: ", "denied.\r\nIf role assignments changed\r\n\r\nAction: 'get'\r\n");
        line(&mut out, "  hint: ", "one line");
        assert_eq!(
            out,
            "  caused by: denied.\n      If role assignments changed\n      Action: 'get'\n  hint: one line\n"
        );
    }
}
