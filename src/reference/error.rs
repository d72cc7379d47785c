//! Why a vault or secret reference was rejected.

use std::fmt;

/// Why a vault or secret reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// A vault name Azure would not accept: 3–24 letters, digits and single
    /// hyphens, starting with a letter and not ending with a hyphen.
    BadVaultName(String),
    /// An `http://` URL: Key Vault only speaks TLS, and a token must never
    /// travel in clear.
    NotHttps(String),
    /// A URL that is malformed, or not of the expected shape.
    BadUrl { url: String, why: &'static str },
    /// A secret name outside Key Vault's 1–127 letters, digits and hyphens.
    BadSecretName(String),
    /// A secret version that is not 1–64 letters and digits.
    BadVersion(String),
    /// A bare secret name where no default vault (`--vault`) is set.
    NoVault(String),
    /// An `@Microsoft.KeyVault(...)` value that does not follow App Service's
    /// documented forms.
    BadAppServiceReference { value: String, why: String },
    /// A `?option` kvinit does not know, or one given a bad value.
    BadOption { option: String, why: &'static str },
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::BadVaultName(n) => write!(
                f,
                "invalid vault name {n:?}: a vault name is 3-24 letters, digits and single \
                 hyphens, starts with a letter and does not end with a hyphen"
            ),
            RefError::NotHttps(u) => write!(f, "{u}: Key Vault URLs must use https://"),
            RefError::BadUrl { url, why } => write!(f, "invalid URL {url:?}: {why}"),
            RefError::BadSecretName(n) => {
                write!(f, "invalid secret name {n:?}: a secret name is 1-127 letters, digits and hyphens")
            }
            RefError::BadVersion(v) => {
                write!(f, "invalid secret version {v:?}: a version is letters and digits")
            }
            RefError::NoVault(r) => write!(
                f,
                "secret {r:?} names no vault: pass --vault (or KVINIT_VAULT), \
                 or use a full URL like https://myvault.vault.azure.net/secrets/{r}"
            ),
            RefError::BadAppServiceReference { value, why } => {
                write!(f, "invalid Key Vault reference {value:?}: {why}")
            }
            RefError::BadOption { option, why } => write!(
                f,
                "reference option {option:?}: {why}; the options are json=/POINTER, base64, optional and part=KIND"
            ),
        }
    }
}

impl std::error::Error for RefError {}
