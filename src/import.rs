//! `--all-secrets`: a vault's listing becomes environment outputs.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::reference::{SecretRef, VaultUrl};
use crate::sink::{self, Dest, Origin, Output};
use crate::vault::{self, PlannedSecret};

/// `--all-secrets`: which vault to list, and which of its secrets to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub vault: VaultUrl,
    pub resource: &'static str,
    pub prefix: String,
    /// `--all-secrets=PREFIX?optional`: importing nothing is fine.
    pub optional: bool,
    /// `--all-secrets-tag KEY=VALUE`: only secrets with every one of these tags.
    pub tags: Vec<(String, String)>,
}

/// What an import came to, for the error when it came to nothing.
pub struct Imported {
    /// Secrets the vault listed.
    pub listed: usize,
    /// Variables set, or already set by an explicit `--env` for a match.
    pub imported: usize,
}

/// Adds the imported secrets as environment outputs. The name becomes the
/// variable: prefix stripped, upper-cased, `-` as `_`. Explicit outputs win;
/// names that are not valid variables, or that two secrets map to, are
/// skipped with a warning.
pub fn plan(
    import: &Import,
    inherited: &[(OsString, OsString)],
    listed: Vec<vault::Listed>,
    secrets: &mut Vec<PlannedSecret>,
    outputs: &mut Vec<Output>,
) -> Imported {
    let mut summary = Imported { listed: listed.len(), imported: 0 };
    let mut by_var: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let tagged = |i: &vault::Listed| import.tags.iter().all(|t| i.tags.contains(t));
    for item in listed.into_iter().filter(|i| i.enabled && !i.managed && tagged(i)) {
        let Some(rest) = item.name.strip_prefix(import.prefix.as_str()) else { continue };
        let var = rest.to_ascii_uppercase().replace('-', "_");
        by_var.entry(var).or_default().push(item.name);
    }
    for (var, names) in by_var {
        let valid = var.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !valid {
            log::warn!(
                "--all-secrets: skipping {} (\"{var}\" is not a valid variable name)",
                names.join(", ")
            );
            continue;
        }
        if names.len() > 1 {
            log::warn!("--all-secrets: skipping {}: they all map to {var}", names.join(", "));
            continue;
        }
        if outputs.iter().any(|o| o.dest == Dest::Env(var.clone())) {
            summary.imported += 1;
            continue;
        }
        if let Some(refusal) = sink::env::import_refusal(&var, inherited) {
            let (name, why) = (&names[0], refusal.why());
            log::warn!(
                variable = var.as_str();
                "--all-secrets: skipping {name}: {var} {why}; to set it, name it: --env {var}={name}"
            );
            continue;
        }
        let reference = SecretRef {
            vault: import.vault.clone(),
            name: names[0].clone(),
            version: None,
            collection: Default::default(),
        };
        let secret = match secrets.iter().position(|s| s.reference == reference) {
            Some(i) => i,
            None => {
                secrets.push(PlannedSecret { reference, resource: import.resource });
                secrets.len() - 1
            }
        };
        outputs.push(Output::secret(Dest::Env(var), Origin::Import, secret, Default::default()));
        summary.imported += 1;
    }
    summary
}
