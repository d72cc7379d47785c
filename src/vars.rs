//! Every `KVINIT_*` variable kvinit reads, in one place; what each sets.

/// The prefix of every name here: an import never sets one.
pub const PREFIX: &str = "KVINIT_";

/// `--vault`.
pub const VAULT: &str = "KVINIT_VAULT";
/// `--env`, comma- or newline-separated.
pub const ENV: &str = "KVINIT_ENV";
/// `--file`.
pub const FILE: &str = "KVINIT_FILE";
/// `--env-from`.
pub const ENV_FROM: &str = "KVINIT_ENV_FROM";
/// `--template`.
pub const TEMPLATE: &str = "KVINIT_TEMPLATE";
/// `--dir`.
pub const DIR: &str = "KVINIT_DIR";
/// `--file-mode`.
pub const FILE_MODE: &str = "KVINIT_FILE_MODE";
/// `--timeout`.
pub const TIMEOUT: &str = "KVINIT_TIMEOUT";
/// `--cloud`.
pub const CLOUD: &str = "KVINIT_CLOUD";
/// `--identity-source`.
pub const IDENTITY_SOURCE: &str = "KVINIT_IDENTITY_SOURCE";
/// `--allow-vault-host`, comma-separated.
pub const ALLOW_VAULT_HOSTS: &str = "KVINIT_ALLOW_VAULT_HOSTS";
/// `--init`, a boolean.
pub const INIT: &str = "KVINIT_INIT";
/// `--refresh`.
pub const REFRESH: &str = "KVINIT_REFRESH";
/// `--on-change`.
pub const ON_CHANGE: &str = "KVINIT_ON_CHANGE";
/// `--on-change-run`.
pub const ON_CHANGE_RUN: &str = "KVINIT_ON_CHANGE_RUN";
/// the log filter (`RUST_LOG` as well).
pub const LOG: &str = "KVINIT_LOG";
/// `--log-format`.
pub const LOG_FORMAT: &str = "KVINIT_LOG_FORMAT";
