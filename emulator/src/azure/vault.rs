//! Key Vault: `GET /secrets/{name}[/{version}]` and the paged list, with the
//! recorded error bodies, challenge, headers and paging.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Script, Tokens, TENANT};
use crate::server::{Handler, Reply, Request, Server};
use crate::token;

/// What Key Vault answers when it fails with `status`.
pub fn vault_fault(status: u16) -> Reply {
    match status {
        401 => kv_error(401, "Unauthorized", &invalid_issuer(), None),
        403 => kv_error(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.",
            Some("ForbiddenByRbac"),
        ),
        404 => kv_error(404, "SecretNotFound", "A secret with (name/id) was not found in this key vault.", None),
        429 => kv_error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            None,
        )
        .with_header("Retry-After", "1"),
        s if s >= 500 => kv_error(s, "InternalServerError", "An unexpected error occurred.", None),
        s => kv_error(s, "BadParameter", "Injected by kvinit-emulator.", None),
    }
}

/// Key Vault's answer to a token from another tenant (recorded shape: no
/// colon after "found").
fn invalid_issuer() -> String {
    format!(
        "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{TENANT}/, found \
         https://sts.windows.net/00000000-0000-0000-0000-000000000000/."
    )
}

/// Adds a new current version of `name` to `secrets`, creating it if need be.
pub fn add_version(secrets: &Mutex<BTreeMap<String, StoredSecret>>, name: &str, value: &str) -> String {
    let version = new_version();
    let mut secrets = secrets.lock().unwrap();
    let entry = secrets.entry(name.to_string()).or_insert(StoredSecret {
        versions: vec![],
        enabled: true,
        content_type: None,
        tags: Default::default(),
    });
    entry.versions.push((version.clone(), value.to_string()));
    version
}

/// A new version id: 32 hex digits, as Key Vault's.
pub fn new_version() -> String {
    format!("{:032x}", u128::from(token::unique()).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

/// How the list API pages, as a real vault does (docs/azure-wire.md,
/// recorded wire facts): at most 25 items a page, and pages that can be empty
/// yet carry a `nextLink`, the first page included.
#[derive(Clone, Copy, Debug)]
pub struct Paging {
    /// Items a page at most (1 to 25); a smaller `maxresults` wins.
    pub page_size: usize,
    /// Empty pages served, each with a `nextLink`, before the first item.
    /// Recordings show 0 and 2; the default, 1, makes every client of the
    /// emulator meet one.
    pub empty_pages: usize,
}

impl Default for Paging {
    fn default() -> Paging {
        Paging { page_size: 25, empty_pages: 1 }
    }
}

/// `GET /secrets[?maxresults=N][&$skiptoken=K]`: a page of ids and attributes
/// (never values), and while more remain an absolute `nextLink` that spells
/// the port, 443 included, and carries an opaque `$skiptoken`; the last page
/// has `"nextLink": null`.
fn list_page(req: &Request, host: &str, secrets: &BTreeMap<String, StoredSecret>, paging: Paging) -> Reply {
    // A Host without a port means the client came to the default one.
    let origin = match host.rsplit_once(':') {
        Some((_, port)) if port.bytes().all(|b| b.is_ascii_digit()) => format!("https://{host}"),
        _ => format!("https://{host}:443"),
    };
    let requested: Option<usize> = req.param("maxresults").and_then(|m| m.parse().ok());
    let page_size = requested.unwrap_or(25).min(paging.page_size).clamp(1, 25);
    let Some((empties, skip)) = req.param("$skiptoken").map_or(Some((0, 0)), skiptoken::decode) else {
        return kv_error(400, "BadParameter", "The skip token is not valid.", None);
    };
    let (take, next) = if empties < paging.empty_pages {
        (0, Some((empties + 1, skip)))
    } else {
        (page_size, (skip + page_size < secrets.len()).then_some((empties, skip + page_size)))
    };
    let items: Vec<_> = secrets
        .iter()
        .skip(skip)
        .take(take)
        .map(|(name, s)| {
            let mut item = serde_json::json!({
                "id": format!("https://{host}/secrets/{name}"),
                "attributes": {"enabled": s.enabled, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
                "tags": s.tags,
            });
            if let Some(ct) = &s.content_type {
                item["contentType"] = ct.clone().into();
            }
            if s.content_type.as_deref() == Some("application/x-pkcs12") {
                item["managed"] = true.into();
            }
            item
        })
        .collect();
    let api_version = req.param("api-version").unwrap_or("7.4");
    let next = next.map(|(empties, skip)| {
        let max = requested.map(|n| format!("&maxresults={n}")).unwrap_or_default();
        format!(
            "{origin}/secrets?api-version={api_version}&$skiptoken={}{max}",
            skiptoken::encode(empties, skip)
        )
    });
    Reply::json(200, &serde_json::json!({ "value": items, "nextLink": next }).to_string())
}

/// Key Vault's `$skiptoken` is base64url (no padding) of
/// `{"NextMarker":"...","TargetLocation":0}`; ours keeps the empty pages
/// served and the items skipped in the marker.
mod skiptoken {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(empties: usize, skip: usize) -> String {
        let json = format!(r#"{{"NextMarker":"2!{empties}!{skip}","TargetLocation":0}}"#);
        let mut out = String::new();
        for chunk in json.as_bytes().chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    pub fn decode(token: &str) -> Option<(usize, usize)> {
        let mut bytes = Vec::new();
        let (mut n, mut bits) = (0u32, 0);
        for c in token.bytes() {
            n = n << 6 | ALPHABET.iter().position(|a| *a == c)? as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                bytes.push((n >> bits) as u8);
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let marker = json.get("NextMarker")?.as_str()?;
        let mut parts = marker.strip_prefix("2!")?.split('!').map(|p| p.parse().ok());
        Some((parts.next()??, parts.next()??))
    }

    #[test]
    fn round_trip() {
        for (e, s) in [(0, 0), (1, 0), (0, 25), (3, 1000)] {
            let t = encode(e, s);
            assert!(t.bytes().all(|b| ALPHABET.contains(&b)), "{t}");
            assert_eq!(decode(&t), Some((e, s)));
        }
        assert_eq!(decode("!!"), None);
        assert_eq!(decode("e30"), None);
    }
}

/// One secret in the fake vault.
#[derive(Clone, Debug)]
pub struct StoredSecret {
    /// (version, value), oldest first; the last is current.
    pub versions: Vec<(String, String)>,
    pub enabled: bool,
    pub content_type: Option<String>,
    /// Shown by the list API (and the GET) as `"tags": {...}`.
    pub tags: BTreeMap<String, String>,
}

pub struct FakeVault {
    pub server: Server,
    pub script: Script,
    pub secrets: Arc<Mutex<BTreeMap<String, StoredSecret>>>,
    /// Secret names this identity may not read, and why (`*`: every secret
    /// and the list).
    pub denied: Arc<Mutex<Vec<(String, Denial)>>>,
    /// The PEM file of the CA that signed this vault's certificate.
    pub ca_file: std::path::PathBuf,
    /// Key Vault's service limit, scaled down: at most N GETs per window.
    pub throttle: Arc<Mutex<Option<Throttle>>>,
    pub paging: Arc<Mutex<Paging>>,
    /// Certificate and key bundles, by `certificates/NAME` or `keys/NAME`.
    pub public: Arc<Mutex<BTreeMap<String, serde_json::Value>>>,
}

/// The headers every recorded Key Vault reply carries besides its
/// `Content-Type` (azure-sdk-for-net and -cpp recordings, 2021-2023).
fn with_recorded_headers(reply: Reply, req: &Request) -> Reply {
    let mut reply = reply
        .with_header("Cache-Control", "no-cache")
        .with_header("Pragma", "no-cache")
        .with_header("Expires", "-1")
        .with_header("Strict-Transport-Security", "max-age=31536000;includeSubDomains")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;")
        .with_header("x-ms-keyvault-region", "westus")
        .with_header("x-ms-keyvault-service-version", "1.9.1071.1")
        .with_header("x-ms-request-id", &request_id());
    if let Some(id) = req.header("x-ms-client-request-id") {
        reply = reply.with_header("x-ms-client-request-id", id);
    }
    reply
}

/// A GUID-shaped request id.
fn request_id() -> String {
    let v = new_version();
    format!("{}-{}-{}-{}-{}", &v[..8], &v[8..12], &v[12..16], &v[16..20], &v[20..])
}

/// A fixed-window request limit, like Key Vault's 4,000 GETs per 10 s per
/// vault. Over it, 429 `Throttled`, with `Retry-After` on every other answer
/// (the real service does not always send it).
#[derive(Debug)]
pub struct Throttle {
    pub limit: usize,
    pub window: std::time::Duration,
    started: std::time::Instant,
    used: usize,
    pub throttled: usize,
}

impl Throttle {
    pub fn new(limit: usize, window: std::time::Duration) -> Throttle {
        Throttle { limit, window, started: std::time::Instant::now(), used: 0, throttled: 0 }
    }

    fn admit(&mut self) -> Option<Reply> {
        if self.started.elapsed() >= self.window {
            self.started = std::time::Instant::now();
            self.used = 0;
        }
        if self.used < self.limit {
            self.used += 1;
            return None;
        }
        self.throttled += 1;
        let reply = kv_error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
            None,
        );
        let left = self.window.saturating_sub(self.started.elapsed()).as_secs() + 1;
        Some(if self.throttled % 2 == 0 {
            reply.with_header("Retry-After", &left.to_string())
        } else {
            reply
        })
    }
}

impl FakeVault {
    pub fn start(tokens: Tokens, tls: Arc<rustls::ServerConfig>, ca_file: std::path::PathBuf) -> FakeVault {
        FakeVault::bind(0, tokens, tls, ca_file).expect("bind 127.0.0.1:0")
    }

    /// Serves on 127.0.0.1:`port`; 0 picks a free port.
    pub fn bind(
        port: u16,
        tokens: Tokens,
        tls: Arc<rustls::ServerConfig>,
        ca_file: std::path::PathBuf,
    ) -> std::io::Result<FakeVault> {
        let script = Script::default();
        let secrets: Arc<Mutex<BTreeMap<String, StoredSecret>>> = Default::default();
        let denied: Arc<Mutex<Vec<(String, Denial)>>> = Default::default();
        let throttle: Arc<Mutex<Option<Throttle>>> = Default::default();
        let paging: Arc<Mutex<Paging>> = Default::default();
        let public: Arc<Mutex<BTreeMap<String, serde_json::Value>>> = Default::default();
        let bundles = public.clone();
        let (s, store, deny, limit, pages) =
            (script.clone(), secrets.clone(), denied.clone(), throttle.clone(), paging.clone());
        let handler: Handler = Arc::new(move |req: &Request| {
            if let Some(reply) = s.next() {
                return reply;
            }
            let reply = match limit.lock().unwrap().as_mut().and_then(Throttle::admit) {
                Some(reply) => reply,
                None => match public_reply(req, &tokens, &bundles.lock().unwrap()) {
                    Some(reply) => reply,
                    None => {
                        let paging = *pages.lock().unwrap();
                        vault_reply(req, &tokens, &store.lock().unwrap(), &deny.lock().unwrap(), paging)
                    }
                },
            };
            with_recorded_headers(reply, req)
        });
        let server = Server::bind(port, Some(tls), handler)?;
        Ok(FakeVault { server, script, secrets, denied, ca_file, throttle, paging, public })
    }

    /// Sets how the list API pages from now on.
    pub fn set_paging(&self, paging: Paging) {
        *self.paging.lock().unwrap() = paging;
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port())
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    /// Adds a new current version of `name`, creating it if need be; returns its id.
    pub fn put(&self, name: &str, value: &str) -> String {
        add_version(&self.secrets, name, value)
    }

    pub fn set_content_type(&self, name: &str, content_type: &str) {
        self.secrets.lock().unwrap().get_mut(name).unwrap().content_type = Some(content_type.to_string());
    }

    /// Requests for pages of the list API.
    pub fn list_requests(&self) -> Vec<Request> {
        self.server.requests().into_iter().filter(|r| r.path == "/secrets").collect()
    }

    pub fn tag(&self, name: &str, key: &str, value: &str) {
        self.secrets.lock().unwrap().get_mut(name).unwrap().tags.insert(key.to_string(), value.to_string());
    }

    /// Generates a root → intermediate → leaf chain for `name` and stores it
    /// as Key Vault does a PEM certificate: the secret `name`
    /// (`application/x-pem-file`: key, leaf, intermediate, root) and the
    /// certificate `name`. Returns the root, to verify the chain with.
    pub fn put_generated_certificate(&self, name: &str) -> String {
        let chain = crate::tls::chain(name).expect("generating a certificate chain");
        let pem = format!("{}{}{}{}", chain.key_pem, chain.leaf_pem, chain.intermediate_pem, chain.root_pem);
        self.put(name, &pem);
        self.set_content_type(name, "application/x-pem-file");
        self.put_certificate(name, &crate::token::base64(&chain.leaf_der));
        chain.root_pem
    }

    /// Stores certificate `name` with `der` as its public certificate.
    pub fn put_certificate(&self, name: &str, cer_base64: &str) {
        let id = format!("https://{}/certificates/{name}/{}", self.host(), new_version());
        let bundle = serde_json::json!({
            "id": id,
            "kid": id.replace("/certificates/", "/keys/"),
            "sid": id.replace("/certificates/", "/secrets/"),
            "cer": cer_base64,
            "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
        });
        self.public.lock().unwrap().insert(format!("certificates/{name}"), bundle);
    }

    /// Stores key `name` as the JWK `key` (its `kid` is added).
    pub fn put_key(&self, name: &str, mut key: serde_json::Value) {
        key["kid"] = format!("https://{}/keys/{name}/{}", self.host(), new_version()).into();
        let bundle = serde_json::json!({
            "key": key,
            "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
        });
        self.public.lock().unwrap().insert(format!("keys/{name}"), bundle);
    }

    pub fn disable(&self, name: &str) {
        self.secrets.lock().unwrap().get_mut(name).unwrap().enabled = false;
    }

    /// Answers reads of `name` (`*`: everything, the list included) with 403 `ForbiddenByRbac`.
    pub fn deny(&self, name: &str) {
        self.deny_because(name, Denial::Rbac);
    }

    pub fn deny_because(&self, name: &str, why: Denial) {
        self.denied.lock().unwrap().push((name.to_string(), why));
    }

    /// Requests for secrets (not other paths).
    pub fn secret_requests(&self) -> Vec<Request> {
        self.server.requests().into_iter().filter(|r| r.path.starts_with("/secrets/")).collect()
    }
}

fn kv_error(status: u16, code: &str, message: &str, inner: Option<&str>) -> Reply {
    let inner = inner.map(|c| format!(r#","innererror":{{"code":"{c}"}}"#)).unwrap_or_default();
    let message = serde_json::to_string(message).unwrap();
    Reply::json(status, &format!(r#"{{"error":{{"code":"{code}","message":{message}{inner}}}}}"#))
}

/// Why a vault refuses a caller: each is a 403 `Forbidden` whose
/// `innererror.code` and message are the recorded ones (tests/recordings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// `ForbiddenByRbac`: no role assignment covers the action.
    Rbac,
    /// `AccessDenied`: the vault's access policies lack the permission.
    AccessPolicy,
    /// `ForbiddenByFirewall`: the client's address is outside the network rules.
    Firewall,
    /// `ForbiddenByConnection`: public network access is disabled.
    PrivateLink,
    /// `ForbiddenByPolicy`: a vault policy forbids the call.
    Policy,
}

impl std::str::FromStr for Denial {
    type Err = String;

    fn from_str(s: &str) -> Result<Denial, String> {
        Ok(match s {
            "rbac" => Denial::Rbac,
            "access-policy" => Denial::AccessPolicy,
            "firewall" => Denial::Firewall,
            "private-link" => Denial::PrivateLink,
            "policy" => Denial::Policy,
            _ => return Err(format!("{s:?} is not rbac, access-policy, firewall, private-link or policy")),
        })
    }
}

/// The 403 a vault named `vault` sends for `operation` (`get` or `list`).
fn denial(why: Denial, vault: &str, operation: &str) -> Reply {
    const CALLER: &str = "appid=00000000-0000-0000-0000-000000000000;oid=00000000-0000-0000-0000-000000000000;iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
    let action = if operation == "list" { "readMetadata/action" } else { "getSecret/action" };
    let (message, code) = match why {
        Denial::Rbac => (format!("Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: {CALLER}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/{action}'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.keyvault/vaults/{vault}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {vault};location=westus\r\n"), "ForbiddenByRbac"),
        Denial::AccessPolicy => (format!("The user, group or application '{CALLER}' does not have secrets {operation} permission on key vault '{vault};location=westus'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"), "AccessDenied"),
        Denial::Firewall => (format!("Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7\r\nCaller: {CALLER}\r\nVault: {vault};location=westus"), "ForbiddenByFirewall"),
        Denial::PrivateLink => (format!("Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: {CALLER}\r\nVault: {vault};location=westus"), "ForbiddenByConnection"),
        Denial::Policy => (format!("The policy requires the caller '{CALLER}' to use on-behalf-of (OBO) flow. For more information on OBO, please see https://go.microsoft.com/fwlink/?linkid=2152310"), "ForbiddenByPolicy"),
    };
    kv_error(403, "Forbidden", &message, Some(code))
}

fn vault_reply(
    req: &Request,
    tokens: &Tokens,
    secrets: &BTreeMap<String, StoredSecret>,
    denied: &[(String, Denial)],
    paging: Paging,
) -> Reply {
    if let Err(refused) = authorize(req, tokens) {
        return refused;
    }
    let host = req.header("host").unwrap_or("127.0.0.1");
    // The vault's name is its first DNS label; an address names none.
    let vault = host.split(['.', ':']).next().filter(|l| l.parse::<u8>().is_err()).unwrap_or("emulator");
    let refusal = |name: &str| denied.iter().find(|(d, _)| d == name || d == "*").map(|(_, why)| *why);
    if req.path.trim_end_matches('/') == "/secrets" {
        if let Some(why) = refusal("*") {
            return denial(why, vault, "list");
        }
        return list_page(req, host, secrets, paging);
    }
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').collect();
    let (name, version) = match segments.as_slice() {
        ["", "secrets", name] => (*name, None),
        ["", "secrets", name, version] => (*name, Some(*version)),
        _ => return kv_error(400, "BadParameter", "Method GET does not allow operation on this path.", None),
    };
    if req.method != "GET" {
        return kv_error(405, "MethodNotAllowed", "Method not allowed.", None);
    }
    if let Some(why) = refusal(name) {
        return denial(why, vault, "get");
    }
    get_secret(host, name, version, secrets)
}

/// `GET /certificates/NAME[/VERSION]` and `/keys/NAME[/VERSION]`: the
/// stored bundle (its current version), or the 404 Key Vault sends.
fn public_reply(
    req: &Request,
    tokens: &Tokens,
    bundles: &BTreeMap<String, serde_json::Value>,
) -> Option<Reply> {
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').collect();
    let (collection, name) = match segments.as_slice() {
        ["", c @ ("certificates" | "keys"), name] | ["", c @ ("certificates" | "keys"), name, _] => {
            (*c, *name)
        }
        _ => return None,
    };
    if let Err(refused) = authorize(req, tokens) {
        return Some(refused);
    }
    Some(match bundles.get(&format!("{collection}/{name}")) {
        Some(bundle) => Reply::json(200, &bundle.to_string()),
        None if collection == "keys" => kv_error(
            404,
            "KeyNotFound",
            &format!("A key with (name/id) {name} was not found in this key vault."),
            None,
        ),
        None => kv_error(
            404,
            "CertificateNotFound",
            &format!("A certificate with (name/id) {name} was not found in this key vault."),
            None,
        ),
    })
}

/// The recorded 401s (with the `login.windows.net` challenge) for a missing
/// token, one for another audience, or one from another tenant; the 400 of
/// an api-version the service does not know.
fn authorize(req: &Request, tokens: &Tokens) -> Result<(), Reply> {
    let challenge = format!(
        r#"Bearer authorization="https://login.windows.net/{TENANT}", resource="https://vault.azure.net""#
    );
    let unauthorized = |message: &str| {
        Err(kv_error(401, "Unauthorized", message, None).with_header("WWW-Authenticate", &challenge))
    };
    let Some(auth) = req.header("authorization") else {
        return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
    };
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    match tokens.resource_of(token) {
        Some(r) if r == "https://vault.azure.net" => {}
        Some(r) => {
            return unauthorized(&format!(
                "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {r}."
            ))
        }
        None => return unauthorized(&invalid_issuer()),
    }
    match req.param("api-version") {
        Some("7.4" | "7.5" | "7.6" | "2025-07-01" | "2026-04-01") => Ok(()),
        Some(v) => Err(kv_error(
            400,
            "BadParameter",
            &format!("The specified version ({v}) is not recognized."),
            None,
        )),
        None => Err(kv_error(400, "BadParameter", "The api-version query parameter is missing.", None)),
    }
}

/// A secret bundle, as the recorded GETs return it.
fn get_secret(
    host: &str,
    name: &str,
    version: Option<&str>,
    secrets: &BTreeMap<String, StoredSecret>,
) -> Reply {
    let not_found = || {
        let id = version.map(|v| format!("{name}/{v}")).unwrap_or(name.to_string());
        kv_error(404, "SecretNotFound", &format!("A secret with (name/id) {id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"), None)
    };
    let Some(stored) = secrets.get(name) else { return not_found() };
    let found = match version {
        None => stored.versions.last(),
        Some(v) => stored.versions.iter().find(|(ver, _)| ver == v),
    };
    let Some((ver, value)) = found else { return not_found() };
    if !stored.enabled {
        return kv_error(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        );
    }
    let mut body = serde_json::json!({
        "value": value,
        "id": format!("https://{host}/secrets/{name}/{ver}"),
        "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
        "tags": {}
    });
    if let Some(ct) = &stored.content_type {
        body["contentType"] = ct.clone().into();
    }
    Reply::json(200, &body.to_string())
}
