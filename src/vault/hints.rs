//! What to do about a failure, one hint per reason Key Vault gives.

use super::{Error, ErrorKind, Target};
use crate::http;
use crate::reference::VaultUrl;

impl Error {
    /// What the operator can do about it, where we can tell: one hint per
    /// reason Key Vault gives (`innererror.code` for a 403, the `AKVnnnnn`
    /// code of a 401), since each has a different fix.
    pub fn hint(&self) -> Option<String> {
        let (vault, secret_name, listing) = match &self.target {
            Target::Secret(s) => (&s.vault, s.name.as_str(), false),
            Target::List(v) => (v, "", true),
        };
        let (status, inner, message, authority) = match &self.kind {
            ErrorKind::Status { status, inner, message, authority, .. } => {
                (*status, inner.as_deref(), message.as_deref().unwrap_or(""), authority.as_deref())
            }
            ErrorKind::Http(http::Error::HostNotFound) => {
                return Some(format!(
                    "{} does not resolve: the vault name may be wrong (az keyvault list --query \"[].name\"), \
                     or, for a private endpoint, the private DNS zone (privatelink.vaultcore.azure.net) is not \
                     linked to this network",
                    vault.host()
                ))
            }
            ErrorKind::Http(http::Error::Tls(_)) => {
                return Some("if a proxy inspects TLS here, add its CA certificate with SSL_CERT_FILE".into())
            }
            ErrorKind::Http(e) => return e.proxy_hint(),
            ErrorKind::BadResponse(_) => return None,
        };
        Some(match status {
            401 => unauthorized_hint(message, authority),
            403 => forbidden_hint(inner, message, vault, secret_name, listing),
            404 if listing => format!("check that {} is a Key Vault", vault.host()),
            404 => format!(
                "check the name{}: az keyvault secret show --vault-name {} --name {secret_name}",
                if matches!(&self.target, Target::Secret(s) if s.version.is_some()) {
                    " and version"
                } else {
                    ""
                },
                vault_name(vault),
            ),
            429 => "Key Vault kept throttling within --timeout: raise --timeout, or stagger start-ups".into(),
            _ => return None,
        })
    }
}

/// A 403's fix depends on the reason in `innererror.code` (and, for a
/// firewall or a policy, on what the message says).
fn forbidden_hint(
    inner: Option<&str>,
    message: &str,
    vault: &VaultUrl,
    secret: &str,
    listing: bool,
) -> String {
    let name = vault_name(vault);
    let (permission, permissions) = if listing { ("list", "get list") } else { ("get", "get") };
    match inner {
        Some("ForbiddenByRbac") => format!(
            "grant the identity the \"Key Vault Secrets User\" role on the vault (new assignments can take a \
             few minutes to apply): az role assignment create --role \"Key Vault Secrets User\" --assignee \
             <principal id> --scope $(az keyvault show --name {name} --query id -o tsv)"
        ),
        Some("AccessDenied") => format!(
            "the vault uses access policies: give the identity {permission} permission on secrets: az keyvault \
             set-policy --name {name} --object-id <principal id> --secret-permissions {permissions}"
        ),
        Some("ForbiddenByFirewall") if message.contains("NSP rules") => format!(
            "a network security perimeter around the vault refused this client{}: add an inbound access rule \
             for it to the perimeter's profile (az network perimeter profile access-rule create)",
            client_address(message).map(|a| format!(" ({a})")).unwrap_or_default()
        ),
        Some("ForbiddenByFirewall") => {
            let address = client_address(message);
            format!(
                "the vault's firewall refused this client's address{}: allow it with az keyvault network-rule \
                 add --name {name} --ip-address {}, or reach the vault through its private endpoint (check that \
                 {} resolves to a private address here)",
                address.map(|a| format!(" ({a})")).unwrap_or_default(),
                address.unwrap_or("<address>"),
                vault.host()
            )
        }
        Some("ForbiddenByConnection") => format!(
            "the vault refuses public network access: reach it through its private endpoint (check that {} \
             resolves to a private address here), or ask its owner to allow this network",
            vault.host()
        ),
        Some("ForbiddenByPolicy") if message.contains("on-behalf-of") => format!(
            "the vault's access policy for this identity is a compound one (an application acting for a user): \
             give the identity a policy of its own, without --application-id: az keyvault set-policy --name \
             {name} --object-id <principal id> --secret-permissions {permissions}"
        ),
        Some("ForbiddenByPolicy") => "a policy of the vault forbids this operation for this identity (the \
             message says which): ask the vault's owner"
            .into(),
        Some("SecretDisabled") => format!(
            "enable the secret: az keyvault secret set-attributes --vault-name {name} --name {secret} --enabled true"
        ),
        _ => format!(
            "the identity may not {permission} secrets here: on an RBAC vault grant the \"Key Vault Secrets User\" \
             role; with access policies, az keyvault set-policy --name {name} --object-id <principal id> \
             --secret-permissions {permissions}"
        ),
    }
}

/// The vault's name is the first DNS label; an address (an emulator, a
/// private endpoint by IP) names no vault.
fn vault_name(vault: &VaultUrl) -> &str {
    let host = vault.host();
    match host.split_once('.') {
        Some((label, _)) if host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_err() => label,
        _ => "<vault name>",
    }
}

/// A 401's fix depends on its `AKVnnnnn` code (Key Vault's message starts with it).
fn unauthorized_hint(message: &str, authority: Option<&str>) -> String {
    let tenant = authority.map(|a| format!(" (the vault's tenant is {a})")).unwrap_or_default();
    // Before mid-2021 the messages had no code: "Request is missing a Bearer or PoP token."
    let code = match message.get(..8) {
        Some(code) if code.starts_with("AKV") => code,
        _ if message.starts_with("Request is missing a Bearer") => "AKV10000",
        _ => "",
    };
    match code {
        "AKV10000" => "the request reached Key Vault without its token: a proxy or gateway in between may \
             strip the Authorization header"
            .into(),
        "AKV10022" => format!(
            "the token is for another resource{}: check --cloud, or, for a vault behind --allow-vault-host, \
             that it is in the cloud --cloud names",
            match message.split_once("found: ") {
                Some((_, found)) => format!(" ({})", found.trim_end_matches('.')),
                None => String::new(),
            }
        ),
        "AKV10032" => format!(
            "the token comes from another tenant than the vault's{tenant}: use an identity of the vault's tenant"
        ),
        "AKV10046" => "Key Vault could not check the token's signature: it may be from another cloud or \
             forged; check --cloud"
            .into(),
        _ => format!("Key Vault rejected the token{tenant}: is the identity in the vault's tenant?"),
    }
}

/// The address a firewall denial names: `...\r\nClient address: 1.2.3.4\r\n...`.
fn client_address(message: &str) -> Option<&str> {
    let rest = &message[message.find("Client address: ")? + "Client address: ".len()..];
    let address = rest.split(['\r', '\n', ' ']).next()?;
    Some(address).filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit() || b"./:".contains(&b)))
}
