//! kvinit's environment, as the identity sources read it.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Variables that let a process mint tokens as this identity; the app does
/// not get them unless asked (`--keep-identity-env`).
pub const CREDENTIALS: &[&str] = &[
    "IDENTITY_HEADER",
    "MSI_SECRET",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
];

/// A snapshot of kvinit's environment. Empty values count as unset, as the
/// Azure SDKs treat them.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<OsString, OsString>,
}

impl Env {
    pub fn from_process() -> Env {
        Env { vars: std::env::vars_os().collect() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(OsStr::new(name)).and_then(|v| v.to_str()).filter(|v| !v.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsString, &OsString)> {
        self.vars.iter()
    }

    /// Drops the credential variables, once the identity source holds what
    /// it needs (their memory is wiped as it is freed).
    pub fn forget_credentials(&mut self) {
        self.vars.retain(|k, _| !CREDENTIALS.iter().any(|c| OsStr::new(c) == k));
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Env {
        Env { vars: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}
