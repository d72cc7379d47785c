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
        429 => imds_error(429, "too_many_requests", "Too many requests. Retry after some time."),
        s if s >= 500 => imds_error(s, "server_error", "The identity is being updated. Retry later."),
        s => imds_error(s, "invalid_request", "Injected by kvinit-emulator."),
    }
}

/// What Key Vault answers when it fails with `status`.
pub fn vault_fault(status: u16) -> Reply {
    match status {
        401 => kv_error(401, "Unauthorized", "AKV10032: Invalid issuer.", None),
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
    Reply::json(
        200,
        &format!(
            r#"{{"access_token":"{token}","refresh_token":"","expires_in":"3599","expires_on":"{}","not_before":"{now}","resource":"{resource}","token_type":"Bearer"}}"#,
            now + 3599
        ),
    )
}

/// `GET /secrets?maxresults=N[&$skiptoken=K]`: a page of ids and
/// attributes (never values), and a `nextLink` while more remain.
fn list_page(req: &Request, host: &str, secrets: &BTreeMap<String, StoredSecret>) -> Reply {
    let page_size: usize = req.param("maxresults").and_then(|m| m.parse().ok()).unwrap_or(25).clamp(1, 25);
    let skip: usize = req.param("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let items: Vec<_> = secrets
        .iter()
        .skip(skip)
        .take(page_size)
        .map(|(name, s)| {
            let mut item = serde_json::json!({
                "id": format!("https://{host}/secrets/{name}"),
                "attributes": {"enabled": s.enabled, "created": 1_700_000_000, "updated": 1_700_000_000},
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
    let next = (skip + page_size < secrets.len()).then(|| {
        format!(
            "https://{host}/secrets?api-version=7.4&maxresults={page_size}&$skiptoken={}",
            skip + page_size
        )
    });
    Reply::json(200, &serde_json::json!({ "value": items, "nextLink": next }).to_string())
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
    /// Secret names this identity's role does not cover (403 ForbiddenByRbac).
    pub denied: Arc<Mutex<Vec<String>>>,
    /// The PEM file of the CA that signed this vault's certificate.
    pub ca_file: std::path::PathBuf,
    /// Key Vault's service limit, scaled down: at most N GETs per window.
    pub throttle: Arc<Mutex<Option<Throttle>>>,
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
        let denied: Arc<Mutex<Vec<String>>> = Default::default();
        let throttle: Arc<Mutex<Option<Throttle>>> = Default::default();
        let (s, store, deny, limit) = (script.clone(), secrets.clone(), denied.clone(), throttle.clone());
        let handler: Handler = Arc::new(move |req: &Request| {
            if let Some(reply) = s.next() {
                return reply;
            }
            if let Some(reply) = limit.lock().unwrap().as_mut().and_then(Throttle::admit) {
                return reply;
            }
            vault_reply(req, &tokens, &store.lock().unwrap(), &deny.lock().unwrap())
        });
        let server = Server::bind(port, Some(tls), handler)?;
        Ok(FakeVault { server, script, secrets, denied, ca_file, throttle })
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

    pub fn deny(&self, name: &str) {
        self.denied.lock().unwrap().push(name.to_string());
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

fn vault_reply(
    req: &Request,
    tokens: &Tokens,
    secrets: &BTreeMap<String, StoredSecret>,
    denied: &[String],
) -> Reply {
    let challenge = format!(
        r#"Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net""#
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
            return kv_error(401, "Unauthorized", "AKV10032: Invalid issuer.", None)
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
    if req.path.trim_end_matches('/') == "/secrets" {
        return list_page(req, host, secrets);
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
    if denied.iter().any(|d| d == name) {
        return kv_error(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nAssignment: (not found)\r\n",
            Some("ForbiddenByRbac"),
        );
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
