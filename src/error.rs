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

use crate::logging::{self, Field};
use crate::reference::SecretRef;
use crate::sink::Dest;
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
    NothingImported { vault: String, prefix: String, tags: Vec<(String, String)>, listed: usize },
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

    /// What goes to stderr: one block per failure, each with its `caused
    /// by:` chain and a `hint:` where there is one, then what kvinit did
    /// about it; with `--log-format json`, one JSON line for each.
    pub fn report(&self) -> String {
        let (blocks, closing) = self.blocks();
        if logging::json() {
            return json_report(blocks, closing, self.exit_code());
        }
        let mut out = String::new();
        for b in blocks {
            line(&mut out, "kvinit: error: ", &b.message);
            for cause in &b.causes {
                line(&mut out, "  caused by: ", cause);
            }
            if let Some(hint) = &b.hint {
                line(&mut out, "  hint: ", hint);
            }
        }
        if let Some(closing) = closing {
            let _ = writeln!(out, "kvinit: {closing}");
        }
        out
    }

    /// Each failure, and the closing line, if any.
    fn blocks(&self) -> (Vec<Block>, Option<String>) {
        let one = |b: Block| (vec![b], None);
        match self {
            Error::Config(e) => one(Block::of(e, None)),
            Error::Setup(e) => one(Block::of(e, None)),
            Error::IdentitySetup(e) => one(Block::of(e, None)),
            Error::Identity(e) => one(Block::of(e, e.hint.clone()).with(identity_fields(e))),
            Error::Unreadable { reads, renders } => {
                let mut blocks: Vec<Block> =
                    reads.iter().map(|e| Block::of(e, e.hint()).with(vault_fields(e))).collect();
                blocks.extend(renders.iter().map(|e| Block::of(e, None).with(render_fields(e))));
                let n = blocks.len();
                let s = if n == 1 { "" } else { "s" };
                (blocks, Some(format!("{n} secret{s} could not be read; not starting the command")))
            }
            Error::Listing(e) => (
                vec![Block::of(e, e.hint()).with(vault_fields(e))],
                Some("--all-secrets could not list the vault; not starting the command".into()),
            ),
            Error::NothingImported { vault, prefix, tags, listed } => (
                vec![nothing_imported(vault, prefix, tags, *listed)],
                Some("nothing imported; not starting the command".into()),
            ),
            Error::Launch(e) => one(Block::of(e, None)),
            Error::File(e) => one(Block::of(e, None)),
            Error::User(e) => one(Block::of(e, None)),
        }
    }
}

/// One JSON line per block, and one for the closing line; each carries the exit code.
fn json_report(blocks: Vec<Block>, closing: Option<String>, code: i32) -> String {
    let code = Field::Num(code.unsigned_abs().into());
    let mut out = String::new();
    for b in blocks {
        let mut line = logging::Line::new("error", &b.message);
        if !b.causes.is_empty() {
            line.field("cause", Field::Str(b.causes.join(": ")));
        }
        if let Some(hint) = b.hint {
            line.field("hint", Field::Str(hint));
        }
        for (key, value) in b.fields {
            line.field(key, value);
        }
        out.push_str(&line.field("exit_code", code.clone()).finish());
    }
    if let Some(closing) = closing {
        out.push_str(&logging::Line::new("error", &closing).field("exit_code", code).finish());
    }
    out
}

fn nothing_imported(vault: &str, prefix: &str, tags: &[(String, String)], listed: usize) -> Block {
    let mut which = match prefix.is_empty() {
        true => "of it".to_string(),
        false => format!("whose name starts with {prefix:?}"),
    };
    for (key, value) in tags {
        which.push_str(&format!(" tagged {key}={value}"));
    }
    let (what, query) = match tags.first() {
        None => ("the prefix", "[].name".to_string()),
        Some((key, value)) => {
            ("the tags (--all-secrets-tag) and the prefix", format!("[?tags.{key}=='{value}'].name"))
        }
    };
    Block {
        message: format!(
            "--all-secrets={prefix} imported nothing from vault {vault}: no enabled secret {which} becomes a \
             variable (the vault lists {listed})"
        ),
        causes: Vec::new(),
        hint: Some(format!(
            "check {what}: az keyvault secret list --vault-name <vault name> --query \"{query}\"; if none is \
             fine, say so: --all-secrets={prefix}?optional"
        )),
        fields: vec![("vault", Field::Str(vault.to_string())), ("listed", Field::Num(listed as u64))],
    }
}

/// One failure as reported: what failed, why (outermost first), and what to do.
struct Block {
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
    /// For `--log-format json`: names, codes and counts; never a value.
    fields: Vec<(&'static str, Field)>,
}

impl Block {
    fn of(error: &dyn StdError, hint: Option<String>) -> Block {
        let mut causes = Vec::new();
        let mut cause = error.source();
        while let Some(e) = cause {
            causes.push(e.to_string());
            cause = e.source();
        }
        Block { message: error.to_string(), causes, hint, fields: Vec::new() }
    }

    fn with(mut self, fields: Vec<(&'static str, Field)>) -> Block {
        self.fields = fields;
        self
    }
}

fn vault_fields(e: &vault::Error) -> Vec<(&'static str, Field)> {
    let mut fields = match &e.target {
        vault::Target::Secret(s) => secret_fields(s),
        vault::Target::List(v) => vec![("vault", Field::Str(v.to_string()))],
    };
    if let vault::ErrorKind::Status { status, code, inner, .. } = &e.kind {
        fields.push(("status", Field::Num(u64::from(*status))));
        if let Some(code) = inner.as_ref().or(code.as_ref()) {
            fields.push(("code", Field::Str(code.clone())));
        }
    }
    fields.push(("attempt", Field::Num(u64::from(e.attempts))));
    fields
}

fn identity_fields(e: &identity::Error) -> Vec<(&'static str, Field)> {
    let mut fields = vec![("identity_source", Field::Str(e.source_name.to_string()))];
    if let identity::ErrorKind::Status { status, error, .. } = &e.kind {
        fields.push(("status", Field::Num(u64::from(*status))));
        if let Some(code) = error {
            fields.push(("code", Field::Str(code.clone())));
        }
    }
    fields.push(("attempt", Field::Num(u64::from(e.attempts))));
    fields
}

fn render_fields(e: &RenderError) -> Vec<(&'static str, Field)> {
    let mut fields = secret_fields(&e.secret);
    fields.extend(e.dest.variable().map(|var| ("variable", Field::Str(var.to_string()))));
    fields.extend(e.dest.file().map(|file| ("file", Field::Str(file.to_string()))));
    fields
}

fn secret_fields(s: &SecretRef) -> Vec<(&'static str, Field)> {
    let mut fields = vec![("secret", Field::Str(s.name.clone())), ("vault", Field::Str(s.vault.to_string()))];
    if let Some(version) = &s.version {
        fields.push(("version", Field::Str(version.clone())));
    }
    fields
}

/// A secret was read, but an option (`json=`, `base64`, `part=`), a
/// filter or `--env-from` could not make the output `dest` of it.
#[derive(Debug)]
pub struct RenderError {
    pub dest: Dest,
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

/// A line of a block. Azure's messages can span lines (Key Vault's RBAC and
/// firewall denials do, with `\r\n`); their later lines are indented under
/// the first, so the block stays one block in a log.
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
