//! Why the command line or the environment was rejected.

use std::fmt;
use std::path::PathBuf;

use crate::identity::Kind;
use crate::reference::{RefError, VaultUrl};
use crate::template;
use crate::trust::authority;

/// Why the command line or environment was rejected (exit code 2).
#[derive(Debug)]
pub enum ConfigError {
    /// A vault or secret reference did not parse; `what` says where it came from.
    Reference { what: String, source: RefError },
    /// A template that does not parse; the error has the column.
    Template { what: String, source: template::Error },
    /// A `--template` item that is not `SRC=DEST`.
    TemplateItem(String),
    /// A `--template` file that cannot be read, is over 1 MiB, or is not UTF-8.
    TemplateFile { path: PathBuf, why: String },
    /// An `--env` / `KVINIT_ENV` item that is not `VAR=REF`.
    EnvItem(String),
    /// A `--file` path that is absolute, empty, or contains `..`.
    FilePath(String),
    /// The same file requested twice.
    DuplicateFile(String),
    /// A `--file-mode` that is not octal, or lets others write.
    FileMode(String),
    /// An `--owner` or `--user` that is not `ID[:ID]` or `NAME[:GROUP]`.
    User { flag: &'static str, value: String },
    /// `--all-secrets` without a default vault.
    ImportNeedsVault,
    /// `--all-secrets PREFIX`: the prefix taken for the command.
    ImportPrefix(String),
    /// An `--all-secrets-tag` that is not `KEY=VALUE`.
    Tag(String),
    /// `--all-secrets-tag` without `--all-secrets`.
    TagNeedsImport,
    /// `--all-secrets=PREFIX?...` with an option other than `optional`.
    ImportOption(String),
    /// A boolean variable that is not 1/0, true/false, yes/no or on/off.
    Boolean { var: &'static str, value: String },
    /// `--group`, `--remap-exit`, `--refresh` or `--refresh-signal` without `--init`.
    NeedsInit(&'static str),
    /// A `--timeout`, `--refresh` or `--stop-timeout` (or the variable named
    /// in `what`) that is not a duration between 1ms and 24h, or a
    /// `--refresh` under a second; `why` says which.
    Duration { what: &'static str, value: String, why: &'static str },
    /// A `--refresh-signal` or `--stop-signal` that names no signal.
    Signal { flag: &'static str, value: String },
    /// An `--on-change` (or `KVINIT_ON_CHANGE`) that is not signal, restart or none.
    OnChange(String),
    /// `--on-change`, `--on-change-run` or `--refresh-sentinel` without `--refresh`.
    NeedsRefresh(&'static str),
    /// An `--on-change-run` (or `KVINIT_ON_CHANGE_RUN`) that does not split into words.
    Hook { what: &'static str, line: String, why: crate::words::Error },
    /// A flag that would send a signal, on Windows, which has none.
    NoSignals(&'static str),
    /// A variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    VarName(String),
    /// The same variable requested twice by flags.
    DuplicateVar(String),
    /// A secret on a host outside the Key Vault domains, not allowed by
    /// `--allow-vault-host`: sending it a token would hand the token away.
    ForeignHost { what: String, vault: VaultUrl },
    /// An `--allow-vault-host` item that is not `HOST[:PORT]`.
    AllowHost(String),
    /// A `--cloud` that is not public, china or usgov.
    Cloud(String),
    /// An `--identity-source` that names no known source.
    IdentitySource(String),
    /// No COMMAND and no `--check`.
    NoCommand,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Reference { what, .. } => write!(f, "{what}"),
            ConfigError::Template { what, .. } => write!(f, "{what}"),
            ConfigError::TemplateItem(item) => write!(f, "--template {item:?} is not SRC=DEST"),
            ConfigError::Tag(item) => write!(f, "--all-secrets-tag {item:?} is not KEY=VALUE"),
            ConfigError::TagNeedsImport => f.write_str("--all-secrets-tag needs --all-secrets"),
            ConfigError::TemplateFile { path, why } => write!(f, "--template {}: {why}", path.display()),
            ConfigError::EnvItem(item) => write!(f, "{item:?} is not VAR=REF (or PATH=REF for --file)"),
            ConfigError::FilePath(p) => write!(
                f,
                "--file path {p:?} must be relative to --dir, without \"..\" (e.g. --file tls/key.pem=REF)"
            ),
            ConfigError::DuplicateFile(p) => write!(f, "file {p} is given twice with --file"),
            ConfigError::FileMode(m) => {
                write!(
                    f,
                    "--file-mode {m:?} is not an octal mode without group/other write, setuid, setgid or sticky bits \
                     (e.g. 0400, 0440)"
                )
            }
            ConfigError::User { flag, value } => {
                write!(f, "{flag} {value:?} is not UID[:GID] or NAME[:GROUP]")
            }
            ConfigError::ImportNeedsVault => write!(f, "--all-secrets needs --vault (or KVINIT_VAULT)"),
            ConfigError::ImportPrefix(p) => write!(
                f,
                "--all-secrets takes its prefix after '=': {p:?} was read as the command, and no such command \
                 exists; did you mean --all-secrets={p} -- COMMAND?"
            ),
            ConfigError::ImportOption(v) => {
                write!(f, "--all-secrets={v}: the only option is ?optional (--all-secrets=PREFIX?optional)")
            }
            ConfigError::Boolean { var, value } => {
                write!(f, "{var}={value:?} is not a boolean: use 1/0, true/false, yes/no or on/off")
            }
            ConfigError::NeedsInit(flag) => write!(f, "{flag} needs --init (or KVINIT_INIT=1)"),
            ConfigError::Duration { what, value, why } => write!(f, "{what} {value:?} {why}"),
            ConfigError::Signal { flag, value } => write!(f, "{flag} {value:?} is not a signal name or number"),
            ConfigError::OnChange(value) => write!(f, "--on-change {value:?} is not signal, restart or none"),
            ConfigError::NeedsRefresh(flag) => write!(f, "{flag} needs --refresh"),
            ConfigError::Hook { what, line, why } => write!(f, "{what} {line:?} {why}"),
            ConfigError::NoSignals(flag) => write!(
                f,
                "{flag} is not available on Windows, which has no signals; a change can restart COMMAND \
                 (--on-change restart) or run a command (--on-change-run)"
            ),
            ConfigError::VarName(var) => write!(
                f,
                "{var:?} is not a valid variable name (letters, digits and _, not starting with a digit)"
            ),
            ConfigError::DuplicateVar(var) => write!(f, "variable {var} is given twice with --env"),
            ConfigError::ForeignHost { what, vault } => write!(
                f,
                "{what}: refusing to send a Key Vault token to {vault}, which is outside the Key Vault \
                 domains; if you trust this host, pass --allow-vault-host {}",
                authority(vault)
            ),
            ConfigError::AllowHost(h) => write!(f, "--allow-vault-host {h:?} is not HOST or HOST:PORT"),
            ConfigError::Cloud(c) => write!(f, "--cloud {c:?} is not one of public, china, usgov"),
            ConfigError::IdentitySource(s) => {
                write!(
                    f,
                    "--identity-source {s:?} is not one of auto, {}",
                    Kind::ALL.map(Kind::name).join(", ")
                )
            }
            ConfigError::NoCommand => {
                write!(f, "no command to run: kvinit [OPTIONS] -- COMMAND [ARG]... (or --check)")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Reference { source, .. } => Some(source),
            ConfigError::Template { source, .. } => Some(source),
            _ => None,
        }
    }
}
