//! Clouds and vault addresses: `NAME`, or `https://HOST[:PORT][/]`.

use std::fmt;

use super::error::RefError;

/// An Azure cloud: where bare vault names live, which resource their tokens
/// are for, and which Entra ID authority issues tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Public,
    China,
    UsGov,
}

impl Cloud {
    pub fn parse(name: &str) -> Option<Cloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "public" | "azurecloud" | "azurepubliccloud" => Some(Cloud::Public),
            "china" | "azurechinacloud" => Some(Cloud::China),
            "usgov" | "azureusgovernment" | "azureusgovernmentcloud" => Some(Cloud::UsGov),
            _ => None,
        }
    }

    pub fn vault_suffix(self) -> &'static str {
        match self {
            Cloud::Public => "vault.azure.net",
            Cloud::China => "vault.azure.cn",
            Cloud::UsGov => "vault.usgovcloudapi.net",
        }
    }

    /// The token resource for this cloud's vaults.
    pub fn resource(self) -> &'static str {
        match self {
            Cloud::Public => "https://vault.azure.net",
            Cloud::China => "https://vault.azure.cn",
            Cloud::UsGov => "https://vault.usgovcloudapi.net",
        }
    }

    /// The Entra ID authority host, for service principals and workload identity.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com/",
            Cloud::China => "https://login.chinacloudapi.cn/",
            Cloud::UsGov => "https://login.microsoftonline.us/",
        }
    }
}

/// The address of a vault: always https, host lower-cased, port 443 implied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultUrl {
    host: String,
    port: Option<u16>,
}

impl VaultUrl {
    /// Parses `--vault`: a bare vault name (in `cloud`) or an https URL with no path.
    pub fn parse(input: &str, cloud: Cloud) -> Result<VaultUrl, RefError> {
        let input = input.trim();
        if has_scheme(input) {
            let (vault, path) = split_url(input)?;
            if !path.is_empty() && path != "/" {
                return Err(RefError::BadUrl {
                    url: input.to_string(),
                    why: "a vault URL has no path (to name a secret, use --env VAR=SECRET)",
                });
            }
            Ok(vault)
        } else if input.contains('.') {
            // A bare host, `myvault.vault.azure.net`, as the portal shows it.
            let url = format!("https://{input}");
            let (vault, path) = split_url(&url)?;
            match path {
                "" | "/" => Ok(vault),
                _ => Err(RefError::BadVaultName(input.to_string())),
            }
        } else {
            VaultUrl::from_name(input, cloud)
        }
    }

    /// `myvault` → `https://myvault.vault.azure.net` (in the public cloud).
    pub fn from_name(name: &str, cloud: Cloud) -> Result<VaultUrl, RefError> {
        if !is_vault_name(name) {
            return Err(RefError::BadVaultName(name.to_string()));
        }
        Ok(VaultUrl { host: format!("{}.{}", name.to_ascii_lowercase(), cloud.vault_suffix()), port: None })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Splits an absolute https link, such as a list page's `nextLink`, into
    /// the vault it points at and the rest (path and query). `None` for
    /// anything else: another scheme, credentials, a fragment, a bad host.
    pub fn split_link(link: &str) -> Option<(VaultUrl, &str)> {
        let (scheme, rest) = link.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("https") || rest.contains('#') {
            return None;
        }
        let (authority, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_authority(authority)?;
        Some((VaultUrl { host, port: port.filter(|p| *p != 443) }, rest))
    }
}

impl fmt::Display for VaultUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = self.host.contains(':');
        match (bracket, self.port) {
            (false, None) => write!(f, "https://{}", self.host),
            (false, Some(p)) => write!(f, "https://{}:{p}", self.host),
            (true, None) => write!(f, "https://[{}]", self.host),
            (true, Some(p)) => write!(f, "https://[{}]:{p}", self.host),
        }
    }
}

pub(super) fn has_scheme(s: &str) -> bool {
    s.contains("://")
}

/// Splits `https://authority/path` into the vault and the path.
pub(super) fn split_url(input: &str) -> Result<(VaultUrl, &str), RefError> {
    let bad = |why| RefError::BadUrl { url: input.to_string(), why };
    let (scheme, rest) = input.split_once("://").ok_or_else(|| bad("no scheme"))?;
    if scheme.eq_ignore_ascii_case("http") {
        return Err(RefError::NotHttps(input.to_string()));
    }
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("only https:// URLs are supported"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("a query string or fragment is not allowed here"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not allowed"));
    }
    let (host, port) = split_authority(authority).ok_or_else(|| bad("invalid host or port"))?;
    Ok((VaultUrl { host, port: port.filter(|p| *p != 443) }, path))
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → lower-cased host and port.
pub fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && (host.contains(':') || host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !host_ok {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>().ok()? {
            0 => return None,
            p => Some(p),
        },
    };
    Some((host, port))
}

fn is_vault_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=24).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1] != b'-'
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !name.contains("--")
}
