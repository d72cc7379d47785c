//! Where a token may go: under the Key Vault domains of its cloud, or to a
//! host the operator named with `--allow-vault-host`. Nowhere else, so that
//! a typo, a lookalike or a planted app setting cannot collect a token.

use crate::reference::{self, Cloud, VaultUrl};

/// Key Vault DNS suffixes and the token resource each one belongs to
/// (docs/azure-wire.md section 5). A token for a resource is only ever sent
/// to hosts under that resource's suffix, or to hosts the operator allowed.
const KNOWN_SUFFIXES: &[(&str, &str)] = &[
    (".vault.azure.net", "https://vault.azure.net"),
    (".vault.azure.cn", "https://vault.azure.cn"),
    (".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net"),
    (".managedhsm.azure.net", "https://managedhsm.azure.net"),
];

/// The token resource a vault host belongs to, by its Key Vault domain.
pub fn known_resource(vault: &VaultUrl) -> Option<&'static str> {
    KNOWN_SUFFIXES
        .iter()
        .find(|(suffix, _)| vault.host().len() > suffix.len() && vault.host().ends_with(suffix))
        .map(|(_, resource)| *resource)
}

/// `HOST[:PORT]`, as `--allow-vault-host` takes it.
pub fn authority(vault: &VaultUrl) -> String {
    let host =
        if vault.host().contains(':') { format!("[{}]", vault.host()) } else { vault.host().to_string() };
    match vault.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// A host the operator trusts with tokens: `--allow-vault-host HOST[:PORT]`.
#[derive(Debug)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    pub fn parse(item: &str) -> Option<AllowedHost> {
        reference::split_authority(item.trim()).map(|(host, port)| AllowedHost { host, port })
    }

    fn matches(&self, vault: &VaultUrl) -> bool {
        self.host == vault.host() && self.port.is_none_or(|p| p == vault.port().unwrap_or(443))
    }
}

/// Where tokens of `cloud` may go.
#[derive(Debug)]
pub struct Trust {
    pub allowed: Vec<AllowedHost>,
    pub cloud: Cloud,
}

impl Trust {
    /// The token resource for `vault`, if tokens may go there.
    pub fn resource_of(&self, vault: &VaultUrl) -> Option<&'static str> {
        match known_resource(vault) {
            Some(resource) => Some(resource),
            None if self.allowed.iter().any(|a| a.matches(vault)) => Some(self.cloud.resource()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_follow_the_dns_suffix() {
        let cases = [
            ("https://a.vault.azure.net", Some("https://vault.azure.net")),
            ("https://a.vault.azure.cn", Some("https://vault.azure.cn")),
            ("https://a.vault.usgovcloudapi.net", Some("https://vault.usgovcloudapi.net")),
            ("https://a.managedhsm.azure.net", Some("https://managedhsm.azure.net")),
            ("https://vault.azure.net", None),
            ("https://a.vault.azure.net.evil.com", None),
            ("https://evilvault.azure.net", None),
            ("https://127.0.0.1:8443", None),
        ];
        for (url, resource) in cases {
            assert_eq!(known_resource(&VaultUrl::parse(url, Cloud::Public).unwrap()), resource, "{url}");
        }
    }

    #[test]
    fn allowed_hosts_match_host_and_port() {
        let trust =
            Trust { allowed: vec![AllowedHost::parse("127.0.0.1:8443").unwrap()], cloud: Cloud::China };
        let at = |url| trust.resource_of(&VaultUrl::parse(url, Cloud::Public).unwrap());
        assert_eq!(at("https://127.0.0.1:8443"), Some("https://vault.azure.cn"));
        assert_eq!(at("https://127.0.0.1:9443"), None);
        assert_eq!(at("https://kv.vault.azure.net"), Some("https://vault.azure.net"));
        let any_port =
            Trust { allowed: vec![AllowedHost::parse("kv.internal").unwrap()], cloud: Cloud::Public };
        assert!(any_port
            .resource_of(&VaultUrl::parse("https://kv.internal:1234", Cloud::Public).unwrap())
            .is_some());
    }
}
