//! Fakes of IMDS and Key Vault that follow azure-reference.md: the same
//! paths, parameters, headers, bodies and error shapes as the real services.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::server::{Handler, Reply, Request, Server};
use crate::token::{self, now};

/// Tokens the fake IMDS issued, and for which resource.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Mutex<Vec<(String, String)>>>);

impl Tokens {
    fn issue(&self, resource: &str) -> String {
        let token = token::mint(resource, TENANT);
        self.0.lock().unwrap().push((token.clone(), resource.to_string()));
        token
    }

    fn resource_of(&self, token: &str) -> Option<String> {
        self.0.lock().unwrap().iter().find(|(t, _)| t == token).map(|(_, r)| r.clone())
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }
}

/// Scripted replies served before the normal behaviour, in order.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<VecDeque<Reply>>>);

impl Script {
    pub fn push(&self, reply: Reply) {
        self.0.lock().unwrap().push_back(reply);
    }

    fn next(&self) -> Option<Reply> {
        self.0.lock().unwrap().pop_front()
    }
}

/// Which identities the fake VM has.
#[derive(Clone, Debug)]
pub struct Identities {
    pub system_assigned: bool,
    /// (client_id, object_id, msi_res_id) of each user-assigned identity.
    pub user_assigned: Vec<(String, String, String)>,
}

pub struct FakeImds {
    pub server: Server,
    pub script: Script,
    pub tokens: Tokens,
}

impl FakeImds {
    pub fn start(tokens: Tokens, identities: Identities) -> FakeImds {
        FakeImds::bind(0, tokens, identities).expect("bind 127.0.0.1:0")
    }

    /// Serves on 127.0.0.1:`port`; 0 picks a free port.
    pub fn bind(port: u16, tokens: Tokens, identities: Identities) -> std::io::Result<FakeImds> {
        let script = Script::default();
        let (s, t) = (script.clone(), tokens.clone());
        let handler: Handler =
            Arc::new(move |req: &Request| s.next().unwrap_or_else(|| imds_reply(req, &t, &identities)));
        Ok(FakeImds { server: Server::bind(port, None, handler)?, script, tokens })
    }

    /// The value for AZURE_POD_IDENTITY_AUTHORITY_HOST.
    pub fn authority_host(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }
}

fn imds_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, &format!(r#"{{"error":"{error}","error_description":"{description}"}}"#))
}

/// What a managed-identity endpoint answers when it fails with `status`
/// (azure-reference.md: IMDS throttles with 429 and is briefly 5xx while
/// the identity is updated).
pub fn identity_fault(status: u16) -> Reply {
    match status {
        429 => imds_error(429, "invalid_request", "Temporarily throttled, too many requests"),
        s if s >= 500 => imds_error(s, "server_error", "The identity is being updated. Retry later."),
        s => imds_error(s, "invalid_request", "Injected by kvinit-emulator."),
    }
}

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
    });
    entry.versions.push((version.clone(), value.to_string()));
    version
}

/// A new version id: 32 hex digits, as Key Vault's.
pub fn new_version() -> String {
    format!("{:032x}", u128::from(token::unique()).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

fn imds_reply(req: &Request, tokens: &Tokens, ids: &Identities) -> Reply {
    if req.path != "/metadata/identity/oauth2/token" {
        return Reply::text(404, "Not Found");
    }
    if req.method != "GET" {
        return Reply::text(405, "Method Not Allowed");
    }
    if req.header("x-forwarded-for").is_some() {
        return imds_error(400, "invalid_request", "Request contains X-Forwarded-For header");
    }
    if req.header("metadata") != Some("true") {
        return imds_error(400, "invalid_request", "Required metadata header not specified");
    }
    if req.param("api-version").is_none() {
        return imds_error(400, "invalid_request", "Required queryparameter api-version not specified");
    }
    let Some(resource) = req.param("resource") else {
        return imds_error(400, "invalid_request", "Required queryparameter resource not specified");
    };
    let selectors: Vec<_> = ["client_id", "object_id", "msi_res_id"]
        .iter()
        .filter_map(|k| req.param(k).map(|v| (*k, v)))
        .collect();
    let found = match selectors.as_slice() {
        [] => ids.system_assigned,
        [("client_id", v)] => ids.user_assigned.iter().any(|u| u.0 == *v),
        [("object_id", v)] => ids.user_assigned.iter().any(|u| u.1 == *v),
        [("msi_res_id", v)] => ids.user_assigned.iter().any(|u| u.2.eq_ignore_ascii_case(v)),
        _ => return imds_error(400, "invalid_request", "Multiple identity selectors specified"),
    };
    if !found {
        return imds_error(400, "invalid_request", "Identity not found");
    }
    let token = tokens.issue(resource);
    let now = now();
    // The recorded shape: keys in this order, every number a string.
    let client_id = req.param("client_id").unwrap_or("615e6319-bf4f-4279-937c-b9eb198e511f");
    let (client_id, resource) = (json_string(client_id), json_string(resource));
    Reply::json(
        200,
        &format!(
            r#"{{"access_token":"{token}","client_id":{client_id},"expires_in":"86399","expires_on":"{}","ext_expires_in":"86399","not_before":"{now}","resource":{resource},"token_type":"Bearer"}}"#,
            now + 86399
        ),
    )
    .with_header("Server", "IMDS/150.870.65.1015")
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// How the list API pages, as a real vault does (azure-reference.md,
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
                "tags": {}
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

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

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
        let (s, store, deny, limit, pages) =
            (script.clone(), secrets.clone(), denied.clone(), throttle.clone(), paging.clone());
        let handler: Handler = Arc::new(move |req: &Request| {
            if let Some(reply) = s.next() {
                return reply;
            }
            let reply = match limit.lock().unwrap().as_mut().and_then(Throttle::admit) {
                Some(reply) => reply,
                None => {
                    let paging = *pages.lock().unwrap();
                    vault_reply(req, &tokens, &store.lock().unwrap(), &deny.lock().unwrap(), paging)
                }
            };
            with_recorded_headers(reply, req)
        });
        let server = Server::bind(port, Some(tls), handler)?;
        Ok(FakeVault { server, script, secrets, denied, ca_file, throttle, paging })
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
    let challenge = format!(
        r#"Bearer authorization="https://login.windows.net/{TENANT}", resource="https://vault.azure.net""#
    );
    let Some(auth) = req.header("authorization") else {
        return kv_error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", None)
            .with_header("WWW-Authenticate", &challenge);
    };
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    match tokens.resource_of(token) {
        Some(r) if r == "https://vault.azure.net" => {}
        Some(r) => {
            return kv_error(
                401,
                "Unauthorized",
                &format!("AKV10022: Invalid audience. Expected https://vault.azure.net, found: {r}."),
                None,
            )
            .with_header("WWW-Authenticate", &challenge)
        }
        None => {
            return kv_error(401, "Unauthorized", &invalid_issuer(), None)
                .with_header("WWW-Authenticate", &challenge)
        }
    }
    match req.param("api-version") {
        Some("7.4" | "7.5" | "7.6" | "2025-07-01" | "2026-04-01") => {}
        Some(v) => {
            return kv_error(
                400,
                "BadParameter",
                &format!("The specified version ({v}) is not recognized."),
                None,
            )
        }
        None => return kv_error(400, "BadParameter", "The api-version query parameter is missing.", None),
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

/// The other token endpoints, each checking requests the way its real
/// counterpart does (azure-reference.md sections 3 and 4) and answering in
/// its own format.
#[derive(Clone, Debug)]
pub enum Style {
    /// App Service / Functions / Container Apps, api-version 2019-08-01.
    AppService { header: String },
    /// ACI Windows containers: `secret` header, `principalId`.
    AciWindows { header: String },
    /// Azure Arc: 401 challenge naming `key_file`, then Basic auth with its contents.
    Arc { key_file: std::path::PathBuf, key: String },
    /// Cloud Shell: POST form.
    CloudShell,
    /// 2017-09-01 MSI: `secret` header, `clientid`, date-string expiry.
    MsiLegacy { secret: String },
    /// Service Fabric: `secret` header, api-version 2019-07-01-preview.
    ServiceFabric { header: String },
    /// Entra ID token endpoint for one tenant and app, accepting either a
    /// client assertion or a client secret.
    Entra { tenant: String, client_id: String, assertion: Option<String>, secret: Option<String> },
}

pub struct FakeTokenEndpoint {
    pub server: Server,
    pub script: Script,
}

impl FakeTokenEndpoint {
    pub fn start(
        style: Style,
        tokens: Tokens,
        ids: Identities,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        FakeTokenEndpoint::bind(0, style, tokens, ids, tls).expect("bind 127.0.0.1:0")
    }

    /// Serves on 127.0.0.1:`port`; 0 picks a free port.
    pub fn bind(
        port: u16,
        style: Style,
        tokens: Tokens,
        ids: Identities,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        let script = Script::default();
        let s = script.clone();
        let handler: Handler = Arc::new(move |req: &Request| {
            s.next().unwrap_or_else(|| token_reply(&style, req, &tokens, &ids))
        });
        Ok(FakeTokenEndpoint { server: Server::bind(port, tls, handler)?, script })
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.server.port())
    }
}

fn find_identity(ids: &Identities, selector: Option<(&str, &str)>) -> bool {
    match selector {
        None => ids.system_assigned,
        Some(("client", v)) => ids.user_assigned.iter().any(|u| u.0 == v),
        Some(("object", v)) => ids.user_assigned.iter().any(|u| u.1 == v),
        Some(("resource", v)) => ids.user_assigned.iter().any(|u| u.2.eq_ignore_ascii_case(v)),
        Some(_) => false,
    }
}

fn token_reply(style: &Style, req: &Request, tokens: &Tokens, ids: &Identities) -> Reply {
    let now = now();
    let form = super::server::parse_query(&String::from_utf8_lossy(&req.body));
    let form_get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match style {
        Style::AppService { header } => {
            if req.header("x-identity-header") != Some(header) {
                return Reply::json(401, r#"{"statusCode":401,"message":"Unauthorized"}"#);
            }
            if req.param("api-version") != Some("2019-08-01") {
                return Reply::json(400, r#"{"statusCode":400,"message":"Invalid api-version"}"#);
            }
            let Some(resource) = req.param("resource") else {
                return Reply::json(400, r#"{"statusCode":400,"message":"resource is required"}"#);
            };
            let selectors: Vec<_> = [
                ("client_id", "client"),
                ("principal_id", "object"),
                ("object_id", "object"),
                ("mi_res_id", "resource"),
            ]
            .iter()
            .filter_map(|(p, k)| req.param(p).map(|v| (*k, v)))
            .collect();
            if selectors.len() > 1 || !find_identity(ids, selectors.first().copied()) {
                // App Service's notorious vague answer for an unknown identity.
                return Reply::json(
                    500,
                    r#"{"statusCode":500,"message":"An unexpected error occured while fetching the AAD Token.","correlationId":"1a2b"}"#,
                );
            }
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_on":"{}","resource":"{resource}","token_type":"Bearer","client_id":"11111111-0000-0000-0000-000000000000"}}"#,
                    now + 86_399
                ),
            )
        }
        Style::AciWindows { header } => {
            if req.header("secret") != Some(header) {
                return Reply::text(400, "Bad Request: missing or invalid secret header");
            }
            let Some(resource) = req.param("resource") else {
                return Reply::text(400, "Bad Request: resource");
            };
            if !find_identity(ids, req.param("principalId").map(|v| ("object", v))) {
                return Reply::json(
                    400,
                    r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                );
            }
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_on":"{}","resource":"{resource}","token_type":"Bearer"}}"#,
                    now + 3599
                ),
            )
        }
        Style::Arc { key_file, key } => {
            if req.header("metadata") != Some("true") {
                return imds_error(400, "invalid_request", "Required metadata header not specified");
            }
            if req.param("api-version") != Some("2020-06-01") {
                return imds_error(400, "invalid_request", "Invalid api version");
            }
            let Some(resource) = req.param("resource") else {
                return imds_error(400, "invalid_request", "resource required");
            };
            match req.header("authorization") {
                None => Reply::json(
                    401,
                    r#"{"error":"unauthorized","error_description":"Authorization header required"}"#,
                )
                .with_header("WWW-Authenticate", &format!("Basic realm={}", key_file.display())),
                Some(a) if a == format!("Basic {key}") => {
                    let token = tokens.issue(resource);
                    Reply::json(
                        200,
                        &format!(
                            r#"{{"access_token":"{token}","expires_in":"3599","expires_on":"{}","not_before":"{now}","resource":"{resource}","token_type":"Bearer"}}"#,
                            now + 3599
                        ),
                    )
                }
                Some(_) => imds_error(401, "unauthorized", "invalid key"),
            }
        }
        Style::CloudShell => {
            if req.method != "POST" || req.header("metadata") != Some("true") {
                return imds_error(400, "invalid_request", "POST with Metadata: true required");
            }
            let Some(resource) = form_get("resource") else {
                return imds_error(400, "invalid_request", "resource required");
            };
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_in":"3599","expires_on":"{}","resource":"{resource}","token_type":"Bearer"}}"#,
                    now + 3599
                ),
            )
        }
        Style::MsiLegacy { secret } => {
            if req.header("secret") != Some(secret) {
                return Reply::json(
                    401,
                    r#"{"error":"unauthorized","error_description":"secret header missing or invalid"}"#,
                );
            }
            if req.param("api-version") != Some("2017-09-01") {
                return Reply::json(400, r#"{"error":"invalid_request","error_description":"api-version"}"#);
            }
            let Some(resource) = req.param("resource") else {
                return imds_error(400, "invalid_request", "resource required");
            };
            if !find_identity(ids, req.param("clientid").map(|v| ("client", v))) {
                return imds_error(400, "invalid_request", "Identity not found");
            }
            let token = tokens.issue(resource);
            // The legacy format: a US-style date string, 1 hour after a fixed future time.
            Reply::json(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_on":"06/20/2099 02:57:58 +00:00","resource":"{resource}","token_type":"Bearer"}}"#
                ),
            )
        }
        Style::ServiceFabric { header } => {
            if req.header("secret") != Some(header) {
                return Reply::json(
                    401,
                    r#"{"error":{"code":"SecretHeaderNotFound","message":"Secret is not found in the request headers."}}"#,
                );
            }
            if req.param("api-version") != Some("2019-07-01-preview") {
                return Reply::json(
                    400,
                    r#"{"error":{"code":"InvalidApiVersion","message":"The api-version is invalid."}}"#,
                );
            }
            let Some(resource) = req.param("resource") else {
                return Reply::json(400, r#"{"error":{"code":"MissingResource","message":"resource"}}"#);
            };
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"token_type":"Bearer","access_token":"{token}","expires_on":{},"resource":"{resource}"}}"#,
                    now + 3599
                ),
            )
        }
        Style::Entra { tenant, client_id, assertion, secret } => {
            let aad = |status: u16, error: &str, code: u64, text: &str| {
                Reply::json(
                    status,
                    &format!(
                        r#"{{"error":"{error}","error_description":"AADSTS{code}: {text} Trace ID: 0000","error_codes":[{code}],"timestamp":"2026-11-28 00:00:00Z","trace_id":"0000","correlation_id":"1111"}}"#
                    ),
                )
            };
            if req.method != "POST" || req.path != format!("/{tenant}/oauth2/v2.0/token") {
                return aad(400, "invalid_request", 90002, "Tenant not found.");
            }
            if form_get("grant_type") != Some("client_credentials") {
                return aad(
                    400,
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                );
            }
            if form_get("client_id") != Some(client_id) {
                return aad(
                    400,
                    "unauthorized_client",
                    700016,
                    "Application was not found in the directory.",
                );
            }
            let Some(resource) = form_get("scope").and_then(|s| s.strip_suffix("/.default")) else {
                return aad(400, "invalid_scope", 1002012, "The provided value for scope is not valid.");
            };
            let ok = match (
                form_get("client_assertion_type"),
                form_get("client_assertion"),
                form_get("client_secret"),
            ) {
                (Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), Some(a), None) => {
                    assertion.as_deref() == Some(a)
                }
                (None, None, Some(s)) => secret.as_deref() == Some(s),
                _ => {
                    return aad(
                        400,
                        "invalid_request",
                        900144,
                        "The request body must contain a client credential.",
                    )
                }
            };
            if !ok {
                return match assertion {
                    Some(_) => aad(
                        400,
                        "invalid_client",
                        70021,
                        "No matching federated identity record found for presented assertion.",
                    ),
                    None => aad(401, "invalid_client", 7000215, "Invalid client secret provided."),
                };
            }
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}}"#
                ),
            )
        }
    }
}
