//! Reading secrets from Key Vault, concurrently, and explaining failures.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::http::{self, Client};
use crate::reference::{Collection, SecretRef, VaultUrl};
use crate::request::{self, Call, Failed, Policy};
use crate::retry::{Deadline, Failure};
use crate::secret::{AccessToken, Secret};

const API_VERSION: &str = "7.4";

/// Values are at most 25 KiB; JSON escaping can grow that six-fold.
const BODY_LIMIT: u64 = 1024 * 1024;

/// A secret to read, with the token resource its vault needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSecret {
    pub reference: SecretRef,
    pub resource: &'static str,
}

/// Requests in flight at once: enough that a typical app's secrets cost one
/// round trip, few enough to be polite to a vault that allows 4,000 GETs per
/// 10 s shared by the whole fleet.
pub const CONCURRENCY: usize = 32;

/// A listing asks for pages of 25 (`maxresults`), which Key Vault never
/// exceeds; with at most 1000 pages, 25,000 secrets at most are held.
const PAGE_SIZE: usize = 25;
const MAX_PAGES: usize = 1000;

/// Throttling (429) is retried up to 8 times, waiting as `Retry-After` says
/// or 1, 2, 4, 8, 16 s (with jitter); 5xx and broken connections 3 times.
const POLICY: Policy = Policy {
    retryable: |s| (500..=599).contains(&s),
    base: Duration::from_secs(1),
    cap: Duration::from_secs(16),
    max_retries: 8 + 3,
    max_transient: 3,
    attempt_timeout: Duration::from_secs(30),
};

/// A secret as Key Vault returned it.
#[derive(Debug)]
pub struct Fetched {
    pub value: Secret,
    /// The full identifier, with the version that was current.
    pub id: String,
    pub content_type: Option<String>,
}

impl Fetched {
    /// The version segment of `id`.
    pub fn version(&self) -> &str {
        self.id.trim_end_matches('/').rsplit('/').next().unwrap_or("")
    }
}

/// Opens the connections the reads will use while the token is fetched:
/// one per secret (up to `CONCURRENCY`) to each vault named in `vaults`.
pub fn preconnect<'v>(web: &Client, vaults: impl Iterator<Item = &'v VaultUrl>, deadline: Deadline) {
    let mut wanted: Vec<(&str, u16, usize)> = Vec::new();
    for vault in vaults {
        let port = vault.port().unwrap_or(443);
        match wanted.iter_mut().find(|(h, p, _)| *h == vault.host() && *p == port) {
            Some((_, _, n)) => *n += 1,
            None => wanted.push((vault.host(), port, 1)),
        }
    }
    let timeout = deadline.remaining().min(Duration::from_secs(10));
    for (host, port, n) in wanted {
        web.preconnect(host, port, n.min(CONCURRENCY), timeout);
    }
}

/// Reads every secret, `CONCURRENCY` at a time. `token_for` gives the token
/// for a resource. Results are in the order of `secrets`.
pub fn read_all<'t>(
    client: &Client,
    secrets: &[PlannedSecret],
    token_for: &(dyn Fn(&str) -> &'t AccessToken + Sync),
    deadline: Deadline,
) -> Vec<Result<Fetched, Error>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Fetched, Error>>>> =
        secrets.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(s) = secrets.get(i) else { break };
        let result = read(client, &s.reference, token_for(s.resource), deadline);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    };
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for _ in 0..CONCURRENCY.min(secrets.len()) {
            // Threads may run out (a full pids cgroup); fewer is slower, not wrong.
            match std::thread::Builder::new().name("kvinit-read".into()).spawn_scoped(scope, work) {
                Ok(reader) => readers.push(reader),
                Err(_) => break,
            }
        }
        if readers.is_empty() {
            work();
        }
        // Joined here, not left to the scope: a scope only waits for the
        // closures, and a thread that is still exiting must not be alive
        // when `--init` forks.
        for reader in readers {
            let _ = reader.join();
        }
    });
    results
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every slot is filled"))
        .collect()
}

/// Reads one secret, retrying throttling and transient failures.
pub fn read(
    client: &Client,
    secret: &SecretRef,
    token: &AccessToken,
    deadline: Deadline,
) -> Result<Fetched, Error> {
    let url = secret.url();
    let what = format!("reading {} {} from {}", secret.collection.noun(), secret, secret.vault);
    let call = Call { what: &what, query: &[("api-version", API_VERSION)], ..call(&url, token) };
    let parse = match secret.collection {
        Collection::Secrets => parse_secret,
        Collection::Certificates => parse_certificate,
        Collection::Keys => parse_key,
    };
    request::send(client, &call, &POLICY, deadline, |r| parse(&r.body))
        .map_err(|failure| Error::new(Target::Secret(secret.clone()), failure))
}

/// A secret as the list API shows it: no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub enabled: bool,
    /// Backs a Key Vault certificate.
    pub managed: bool,
    /// The secret's tags whose values are strings.
    pub tags: Vec<(String, String)>,
}

/// Lists every secret of `vault`, following `nextLink` from page to page.
/// A `nextLink` to any other host is refused: the token must not follow it.
pub fn list(
    client: &Client,
    vault: &VaultUrl,
    token: &AccessToken,
    deadline: Deadline,
) -> Result<Vec<Listed>, Error> {
    let target = || Target::List(vault.clone());
    let fail = |error, attempts| Error::new(target(), Failure { error, attempts });
    let what = format!("listing secrets of {vault}");
    let first = format!("{vault}/secrets?api-version={API_VERSION}&maxresults={PAGE_SIZE}");
    let mut next = Some(first);
    let mut listed = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(fail(
                ErrorKind::BadResponse(format!(
                    "the listing goes on past {MAX_PAGES} pages; kvinit stops there"
                )),
                1,
            ));
        }
        let call = Call { what: &what, ..call(&url, token) };
        let (items, link) = request::send(client, &call, &POLICY, deadline, |r| parse_page(&r.body))
            .map_err(|f| Error::new(target(), f))?;
        listed.extend(items);
        next = link.map(|link| next_page(vault, &link)).transpose().map_err(|kind| fail(kind, 1))?;
    }
    Ok(listed)
}

/// A Key Vault GET of `url` with `token`.
fn call<'a>(url: &'a str, token: &'a AccessToken) -> Call<'a> {
    Call {
        headers: &[("Accept", "application/json")],
        authorization: Some(("Bearer", &token.token)),
        ..Call::get(url, BODY_LIMIT)
    }
}

impl Failed for ErrorKind {
    fn http(e: http::Error) -> ErrorKind {
        ErrorKind::Http(e)
    }

    fn status(r: &http::Response) -> ErrorKind {
        status_error(r)
    }
}

/// The URL of the page a `nextLink` names, on `vault` itself. Key Vault
/// spells the default port (`https://v.vault.azure.net:443/secrets?...`), so
/// the link is compared by host and effective port, not as text; a link to
/// anywhere else is refused, since the token would follow it.
pub(crate) fn next_page(vault: &VaultUrl, link: &str) -> Result<String, ErrorKind> {
    match VaultUrl::split_link(link) {
        Some((to, rest))
            if to == *vault && rest.starts_with('/') && rest.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(format!("{vault}{rest}"))
        }
        Some((to, _)) => Err(ErrorKind::BadResponse(format!("nextLink leads away from {vault}, to {to}"))),
        None => Err(ErrorKind::BadResponse(format!("nextLink is not an https link on {vault}"))),
    }
}

pub(crate) fn parse_page(body: &[u8]) -> Result<(Vec<Listed>, Option<String>), ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the list is not JSON"))?;
    let items =
        json.get("value").and_then(Value::as_array).ok_or_else(|| bad("the list has no value array"))?;
    if items.len() > PAGE_SIZE {
        return Err(bad(&format!(
            "a page lists {} secrets; Key Vault sends at most {PAGE_SIZE}",
            items.len()
        )));
    }
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| bad("a listed secret has no id"))?;
        // `https://<vault>/secrets/<name>`: list items carry no version.
        let name = id.split_once("/secrets/").map_or("", |(_, name)| name.trim_end_matches('/')).to_string();
        if !crate::reference::is_secret_name(&name) {
            return Err(bad(&format!(
                "the list names a secret Key Vault could not have: {:?}",
                crate::text::printable_line(&name.chars().take(130).collect::<String>())
            )));
        }
        let enabled = item.pointer("/attributes/enabled").and_then(Value::as_bool).unwrap_or(true);
        let managed = item.get("managed").and_then(Value::as_bool).unwrap_or(false);
        let tags = item.get("tags").and_then(Value::as_object).map_or_else(Vec::new, |tags| {
            tags.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
        });
        listed.push(Listed { name, enabled, managed, tags });
    }
    let next = json.get("nextLink").and_then(Value::as_str).filter(|l| !l.is_empty()).map(str::to_string);
    Ok((listed, next))
}

pub(crate) fn parse_secret(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let mut json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let Some(obj) = json.as_object_mut() else { return Err(bad("the body is not a JSON object")) };
    let value = match obj.get_mut("value").map(Value::take) {
        Some(Value::String(v)) => Secret::new(v),
        Some(_) => return Err(bad("value is not a string")),
        None => return Err(bad("no value field")),
    };
    let id = match obj.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => return Err(bad("no id field")),
    };
    let content_type = obj.get("contentType").and_then(Value::as_str).map(str::to_string);
    Ok(Fetched { value, id, content_type })
}

/// A certificate bundle: the public certificate (`cer`, base64 DER), as PEM.
pub(crate) fn parse_certificate(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let cer = json.get("cer").and_then(Value::as_str).ok_or_else(|| bad("no cer field"))?;
    let id = json.get("id").and_then(Value::as_str).ok_or_else(|| bad("no id field"))?.to_string();
    let pem = crate::cert::certificate_pem(cer.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    Ok(Fetched { value: pem, id, content_type: Some("application/x-pem-file".into()) })
}

/// A key bundle: the public key of its JWK, as SubjectPublicKeyInfo PEM.
pub(crate) fn parse_key(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let jwk = json.get("key").ok_or_else(|| bad("no key field"))?;
    let id = jwk.get("kid").and_then(Value::as_str).ok_or_else(|| bad("no key.kid field"))?.to_string();
    let pem = crate::cert::public_key_pem(jwk).map_err(|e| bad(&e.to_string()))?;
    Ok(Fetched { value: pem, id, content_type: Some("application/x-pem-file".into()) })
}

pub(crate) fn status_error(r: &http::Response) -> ErrorKind {
    let json: Option<Value> = serde_json::from_slice(&r.body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = |v: Option<&Value>, clean: fn(&str) -> String| v.and_then(Value::as_str).map(clean);
    let code = text(error.and_then(|e| e.get("code")), crate::text::printable_line);
    let message = text(error.and_then(|e| e.get("message")), crate::text::printable);
    let inner = text(
        error.and_then(|e| e.get("innererror")).and_then(|i| i.get("code")),
        crate::text::printable_line,
    );
    let body = if code.is_none() && message.is_none() { r.snippet(200) } else { String::new() };
    let authority = r.www_authenticate.as_deref().and_then(challenge_authority);
    ErrorKind::Status { status: r.status, code, inner, message, body, authority }
}

/// `Bearer authorization="https://login.windows.net/{tenant}", resource="..."` → the authorization URL.
fn challenge_authority(challenge: &str) -> Option<String> {
    let start = challenge.find("authorization=")? + "authorization=".len();
    let rest = challenge[start..].trim_start_matches('"');
    let end = rest.find(['"', ',', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|a| !a.is_empty())
}

/// Why one secret could not be read, or a vault not listed.
#[derive(Debug)]
pub struct Error {
    pub target: Target,
    pub kind: ErrorKind,
    pub attempts: u32,
}

#[derive(Debug, Clone)]
pub enum Target {
    Secret(SecretRef),
    /// `--all-secrets` listing.
    List(VaultUrl),
}

#[derive(Debug)]
pub enum ErrorKind {
    /// Key Vault answered with an error status and (usually) its error body.
    Status {
        status: u16,
        code: Option<String>,
        inner: Option<String>,
        message: Option<String>,
        body: String,
        /// From a 401's challenge: the vault's tenant, e.g. `https://login.windows.net/<tenant>`.
        authority: Option<String>,
    },
    /// No usable answer came back.
    Http(http::Error),
    /// A 200 answer that is not a secret bundle.
    BadResponse(String),
}

impl Error {
    fn new(target: Target, Failure { error, attempts }: Failure<ErrorKind>) -> Error {
        Error { target, kind: error, attempts }
    }

    /// A 404, or a disabled secret: what `?optional` tolerates.
    pub fn is_missing(&self) -> bool {
        match &self.kind {
            ErrorKind::Status { status: 404, .. } => true,
            ErrorKind::Status { status: 403, inner: Some(code), .. } => code == "SecretDisabled",
            _ => false,
        }
    }

    /// A 403 for a disabled secret.
    pub fn is_disabled(&self) -> bool {
        matches!(&self.kind, ErrorKind::Status { status: 403, inner: Some(code), .. } if code == "SecretDisabled")
    }

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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Secret(s) => write!(f, "reading {} {s} from vault {}", s.collection.noun(), s.vault)?,
            Target::List(v) => write!(f, "listing the secrets of vault {v}")?,
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Status { status, code, inner, message, body, .. } => {
                write!(f, "Key Vault answered {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if let Some(inner) = inner {
                    write!(f, " ({inner})")?;
                }
                match message {
                    Some(m) => write!(f, ": {m}"),
                    None if !body.is_empty() => write!(f, ": {body}"),
                    None => Ok(()),
                }
            }
            ErrorKind::Http(e) => write!(f, "{e}"),
            ErrorKind::BadResponse(why) => write!(f, "unusable answer from Key Vault: {why}"),
        }
    }
}

impl std::error::Error for ErrorKind {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_bundle() {
        let body = br#"{"value":"s3cr3t","id":"https://kv.vault.azure.net/secrets/db/0123abcd","contentType":"text/plain","attributes":{"enabled":true}}"#;
        let f = parse_secret(body).unwrap();
        assert_eq!(f.value.expose(), "s3cr3t");
        assert_eq!(f.version(), "0123abcd");
        assert_eq!(f.content_type.as_deref(), Some("text/plain"));
        assert!(!format!("{f:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_bundles_are_explained_without_the_body() {
        for (body, why) in [
            (&b"not json s3cr3t"[..], "not JSON"),
            (br#"{"value":"s3cr3t""#, "not JSON"),
            (br#"{"id":"x"}"#, "no value"),
            (br#"{"value":7,"id":"x"}"#, "not a string"),
            (br#"{"value":"s3cr3t"}"#, "no id"),
        ] {
            let e = parse_secret(body).unwrap_err().to_string();
            assert!(e.contains(why) && !e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn error_bodies() {
        let r = http::Response {
            status: 403,
            retry_after: None,
            www_authenticate: None,
            body: br#"{"error":{"code":"Forbidden","message":"Caller is not authorized","innererror":{"code":"ForbiddenByRbac"}}}"#.to_vec(),
        };
        let kind = status_error(&r);
        assert_eq!(
            kind.to_string(),
            "Key Vault answered 403 Forbidden (ForbiddenByRbac): Caller is not authorized"
        );
        let e = Error {
            target: Target::Secret(SecretRef::parse_url("https://kv.vault.azure.net/secrets/db").unwrap()),
            kind,
            attempts: 1,
        };
        assert!(e.hint().unwrap().contains("Key Vault Secrets User"));
        assert!(e.hint().unwrap().contains("az keyvault show --name kv "), "{:?}", e.hint());
        assert_eq!(e.to_string(), "reading secret db from vault https://kv.vault.azure.net");
        let by_address = Error {
            target: Target::Secret(SecretRef::parse_url("https://10.1.2.3:8443/secrets/db").unwrap()),
            ..e
        };
        assert!(by_address.hint().unwrap().contains("--name <vault name>"), "{:?}", by_address.hint());
    }

    #[test]
    fn list_pages() {
        let body =
            br#"{"value":[{"id":"https://kv.vault.azure.net/secrets/db-pass","attributes":{"enabled":true}},
            {"id":"https://kv.vault.azure.net/secrets/old","attributes":{"enabled":false}},
            {"id":"https://kv.vault.azure.net/secrets/tls","managed":true}],
            "nextLink":"https://kv.vault.azure.net/secrets?api-version=7.4&$skiptoken=abc"}"#;
        let (items, next) = parse_page(body).unwrap();
        assert_eq!(items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["db-pass", "old", "tls"]);
        assert_eq!(
            items.iter().map(|i| (i.enabled, i.managed)).collect::<Vec<_>>(),
            [(true, false), (false, false), (true, true)]
        );
        assert!(next.unwrap().contains("skiptoken"));
        let (_, next) = parse_page(br#"{"value":[],"nextLink":null}"#).unwrap();
        assert_eq!(next, None);
        assert!(parse_page(b"{}").is_err());
        for hostile in ["a=b", "x y", "line\\nkvinit: error: fake", "", "\\u001b[31m"] {
            let body = format!(r#"{{"value":[{{"id":"https://kv.vault.azure.net/secrets/{hostile}"}}]}}"#);
            let e = parse_page(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("could not have") && !e.contains('\n') && !e.contains('\x1b'), "{e}");
        }
    }

    #[test]
    fn next_links_stay_on_the_vault_whatever_its_port_is_spelled() {
        let vault = VaultUrl::parse("https://kv.vault.azure.net", crate::reference::Cloud::Public).unwrap();
        let recorded =
            "https://kv.vault.azure.net:443/secrets?api-version=7.2&$skiptoken=eyJOZXh0&maxresults=25";
        assert_eq!(
            next_page(&vault, recorded).unwrap(),
            "https://kv.vault.azure.net/secrets?api-version=7.2&$skiptoken=eyJOZXh0&maxresults=25"
        );
        assert!(next_page(&vault, "HTTPS://KV.vault.azure.net/secrets?x=1").is_ok());
        for away in [
            "https://kv.vault.azure.net:8443/secrets?x=1",
            "https://kv.vault.azure.net.attacker.example/secrets",
            "https://attacker.example/secrets?$skiptoken=1",
            "http://kv.vault.azure.net/secrets",
            "https://user@kv.vault.azure.net/secrets",
            "https://kv.vault.azure.net",
            "/secrets?$skiptoken=1",
            "https://kv.vault.azure.net/secrets?x=1 y",
            "https://kv.vault.azure.net/secrets?x=1\r\nHost: evil",
        ] {
            let e = next_page(&vault, away).unwrap_err().to_string();
            assert!(e.contains("nextLink"), "{away}: {e}");
        }
        let on_a_port = VaultUrl::parse("https://127.0.0.1:8443", crate::reference::Cloud::Public).unwrap();
        assert!(next_page(&on_a_port, "https://127.0.0.1:8443/secrets?x=1").is_ok());
        assert!(next_page(&on_a_port, "https://127.0.0.1/secrets?x=1").is_err());
    }

    #[test]
    fn the_tenant_from_a_challenge() {
        let c = r#"Bearer authorization="https://login.windows.net/72f988bf-86f1", resource="https://vault.azure.net""#;
        assert_eq!(challenge_authority(c).as_deref(), Some("https://login.windows.net/72f988bf-86f1"));
        assert_eq!(challenge_authority("Bearer"), None);
    }
}
