//! The only module that knows ureq: agents, TLS roots, proxies, timeouts and
//! body limits. Callers describe a request and get bytes and a status back;
//! every non-2xx status is a normal response here, not an error.

mod preconnect;
mod resolve;
mod tls;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector as _, TcpConnector};
use ureq::{Agent, ProxyProtocol};

use crate::secret::wipe;

const USER_AGENT: &str = concat!("kvinit/", env!("CARGO_PKG_VERSION"));

/// Per-connection buffers, and the largest response head accepted.
const BUFFER_SIZE: usize = 8 * 1024;

/// Whether a client may go through `HTTPS_PROXY`/`HTTP_PROXY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    /// Honour the proxy variables (and `NO_PROXY`), as Azure SDKs do for
    /// Key Vault and Entra ID.
    FromEnv,
    /// Never use a proxy: link-local endpoints such as IMDS must be reached
    /// directly, and a proxy must never see their tokens.
    Never,
}

/// Trusted roots: Mozilla's, built in as trust anchors so kvinit works in a
/// `scratch` image, plus any PEM bundle named by `SSL_CERT_FILE`.
#[derive(Clone)]
pub struct Roots(Arc<RootCertStore>);

impl Roots {
    pub fn new(extra: Option<&Path>) -> Result<Roots, SetupError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = extra {
            let pem = std::fs::read(path).map_err(|e| SetupError::ReadRoots(path.to_path_buf(), e))?;
            let before = roots.len();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| SetupError::ParseRoots(path.to_path_buf(), e.to_string()))?;
                roots.add(cert).map_err(|e| SetupError::ParseRoots(path.to_path_buf(), e.to_string()))?;
            }
            if roots.len() == before {
                return Err(SetupError::ParseRoots(path.to_path_buf(), "no certificates in it".into()));
            }
            log::debug!("trusting {} extra root(s) from {}", roots.len() - before, path.display());
        }
        Ok(Roots(Arc::new(roots)))
    }
}

/// A failure to set up HTTP before any request is made.
#[derive(Debug)]
pub enum SetupError {
    /// `SSL_CERT_FILE` names a file that cannot be read.
    ReadRoots(PathBuf, io::Error),
    /// `SSL_CERT_FILE` is not a PEM bundle of certificates.
    ParseRoots(PathBuf, String),
    /// A proxy variable names something other than an HTTP CONNECT proxy.
    Proxy(&'static str, String),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::ReadRoots(p, _) => write!(f, "reading SSL_CERT_FILE {}", p.display()),
            SetupError::ParseRoots(p, why) => write!(f, "SSL_CERT_FILE {}: {why}", p.display()),
            SetupError::Proxy(name, why) => write!(f, "{name} is {why}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::ReadRoots(_, e) => Some(e),
            SetupError::ParseRoots(..) | SetupError::Proxy(..) => None,
        }
    }
}

/// A connection pool with one proxy policy. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    agent: Agent,
    /// Connections opened ahead of need; only without a proxy.
    warm: Option<preconnect::Warm>,
    /// How messages name the agent's proxy, if it has one.
    proxy_name: Option<ProxyName>,
}

/// A proxy as messages name it: its address and the variable that set it,
/// never its credentials.
#[derive(Debug, Clone)]
pub struct ProxyName {
    pub address: String,
    pub variable: &'static str,
}

impl fmt::Display for ProxyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.address, self.variable)
    }
}

impl Client {
    /// A client that verifies servers against `roots`. Fails only on a
    /// proxy variable that kvinit cannot honour: going around the proxy
    /// instead would surprise whoever set it. With `keep_alive` false, every
    /// connection is closed after its response: a long-lived kvinit
    /// (`--refresh`) then holds no idle connection, and no buffer of one,
    /// with a token or a value in it between rounds.
    pub fn new(proxy: Proxy, roots: &Roots, keep_alive: bool) -> Result<Client, SetupError> {
        // Never proxied means a local endpoint (IMDS, the App Service and
        // Arc agents): it connects at once or not at all, and a dropped SYN
        // (IMDS's address off Azure) should not cost a whole attempt.
        let connect = matches!(proxy, Proxy::Never).then_some(LOCAL_CONNECT_TIMEOUT);
        let proxy = match proxy {
            Proxy::FromEnv => proxy_from_env()?,
            Proxy::Never => None,
        };
        let tls = tls::Connector::verified(roots.0.clone());
        if proxy.is_some() {
            return Ok(Client::with_tls(proxy, tls, keep_alive, None));
        }
        let warm = preconnect::Warm::new(tls.clone());
        let connector = ().chain(warm.clone()).chain(TcpConnector::default()).chain(tls);
        Ok(Client {
            agent: Agent::with_parts(
                config(None, keep_alive, connect),
                connector,
                resolve::Resolver::default(),
            ),
            warm: Some(warm),
            proxy_name: None,
        })
    }

    /// Starts opening `n` TLS connections to `host:port` in the background,
    /// for requests that will follow: their handshakes then overlap whatever
    /// the caller does meanwhile (getting a token). Does nothing through a proxy.
    pub fn preconnect(&self, host: &str, port: u16, n: usize, timeout: Duration) {
        if let Some(warm) = &self.warm {
            warm.open(host, port, n, timeout);
        }
    }

    /// Closes preconnected connections that no request took, so that a
    /// long-lived kvinit (`--init`) does not hold them.
    pub fn close_preconnected(&self) {
        if let Some(warm) = &self.warm {
            warm.close();
        }
    }

    /// A client for one server whose certificate is trusted only if its SHA-1
    /// thumbprint is `thumbprint` (Service Fabric's `IDENTITY_SERVER_THUMBPRINT`):
    /// clusters use self-signed certificates that no root vouches for.
    pub fn pinned(thumbprint: [u8; 20]) -> Client {
        Client::with_tls(None, tls::Connector::pinned(thumbprint), false, Some(LOCAL_CONNECT_TIMEOUT))
    }

    fn with_tls(
        proxy: Option<(ureq::Proxy, ProxyName)>,
        tls: tls::Connector,
        keep_alive: bool,
        connect: Option<Duration>,
    ) -> Client {
        // ureq's default chain, with our TLS in place of its rustls feature:
        // that one needs whole root certificates, about 200 KiB of them.
        let connector = ().chain(ConnectProxyConnector::default()).chain(TcpConnector::default()).chain(tls);
        let (proxy, proxy_name) = proxy.unzip();
        Client {
            agent: Agent::with_parts(
                config(proxy, keep_alive, connect),
                connector,
                resolve::Resolver::default(),
            ),
            warm: None,
            proxy_name,
        }
    }

    /// Sends one request. `timeout` bounds the whole exchange, body included.
    pub fn send(&self, req: &Request<'_>) -> Result<Response, Error> {
        let timeout = Some(req.timeout.max(Duration::from_millis(1)));
        let result = match req.form {
            None => {
                let mut b = self.agent.get(req.url);
                for (k, v) in req.query {
                    b = b.query(*k, *v);
                }
                for (k, v) in req.headers {
                    b = b.header(*k, *v);
                }
                b.config().timeout_global(timeout).build().call()
            }
            Some(form) => {
                let mut b = self.agent.post(req.url);
                for (k, v) in req.query {
                    b = b.query(*k, *v);
                }
                for (k, v) in req.headers {
                    b = b.header(*k, *v);
                }
                b.config().timeout_global(timeout).build().send_form(form.iter().copied())
            }
        };
        let mut response = result.map_err(|e| self.error(req.url, e))?;
        let status = response.status().as_u16();
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = header("retry-after");
        let www_authenticate = header("www-authenticate");
        let body =
            response.body_mut().with_config().limit(req.body_limit).read_to_vec().map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::BodyTooLarge(req.body_limit),
                other => Error::from(other),
            })?;
        Ok(Response { status, retry_after, www_authenticate, body })
    }

    /// Through a proxy, the target is neither resolved nor connected to
    /// here: a DNS or connect failure is the proxy's, and saying so spares
    /// the operator a hunt for a fault in a host that was never looked up.
    fn error(&self, url: &str, e: ureq::Error) -> Error {
        let (Some(proxy), Some(name)) = (self.agent.config().proxy(), &self.proxy_name) else {
            return e.into();
        };
        if let ureq::Error::ConnectProxyFailed(reason) = &e {
            return Error::ProxyRefused(name.clone(), proxy_status(reason));
        }
        let exempt = url.parse::<ureq::http::Uri>().is_ok_and(|uri| proxy.is_no_proxy(&uri));
        match Error::from(e) {
            e @ (Error::HostNotFound | Error::Connect(_)) if !exempt => {
                Error::ProxyUnreachable(name.clone(), Box::new(e))
            }
            e => e,
        }
    }
}

/// How long a local endpoint may take to accept a connection.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn config(proxy: Option<ureq::Proxy>, keep_alive: bool, connect: Option<Duration>) -> ureq::config::Config {
    let idle = if keep_alive { 32 } else { 0 };
    Agent::config_builder()
        .timeout_connect(connect)
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(USER_AGENT)
        .proxy(proxy)
        .max_idle_connections_per_host(idle)
        .max_idle_connections(idle)
        // ureq's defaults (128 KiB each way per connection) cost megabytes
        // across 32 parallel connections, and a TLS connection has two
        // layers of them, each filled with zeros when first used: 8 KiB
        // took 640 KiB off the peak RSS of 20 secrets. Token and secret
        // exchanges are a few KiB (the largest response head recorded from
        // Azure in tests/recordings is under 1 KiB), and bodies are read
        // past the buffer anyway.
        .input_buffer_size(BUFFER_SIZE)
        .output_buffer_size(BUFFER_SIZE)
        .max_response_header_size(BUFFER_SIZE)
        .build()
}

/// The proxy for https URLs, as curl and the Azure SDKs choose it: the
/// first of `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`, with
/// `NO_PROXY`. `HTTP_PROXY` is for http URLs and is not consulted. (ureq's
/// own lookup prefers `ALL_PROXY`, also takes `HTTP_PROXY`, and skips a
/// value it cannot parse, connecting directly instead.)
fn proxy_from_env() -> Result<Option<(ureq::Proxy, ProxyName)>, SetupError> {
    let found = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(|v| (*name, v)));
    let Some((name, value)) = found else { return Ok(None) };
    // The value may hold credentials: errors name the variable, never the value.
    let bad = |why: &str| SetupError::Proxy(name, why.to_string());
    let parsed = ureq::Proxy::new(value.trim()).map_err(|_| bad("not a proxy URL (http://host:port)"))?;
    if !matches!(parsed.protocol(), ProxyProtocol::Http | ProxyProtocol::Https) {
        return Err(bad("a SOCKS proxy; kvinit supports HTTP CONNECT proxies (http://host:port)"));
    }
    let mut proxy = ureq::Proxy::builder(parsed.protocol()).host(parsed.host()).port(parsed.port());
    if let Some(user) = parsed.username() {
        proxy = proxy.username(user);
    }
    if let Some(password) = parsed.password() {
        proxy = proxy.password(password);
    }
    let no_proxy = std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy")).unwrap_or_default();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        proxy = proxy.no_proxy(entry);
    }
    let named = ProxyName { address: format!("{}:{}", parsed.host(), parsed.port()), variable: name };
    proxy.build().map(|p| Some((p, named))).map_err(|e| bad(&e.to_string()))
}

/// One request, described without ureq's types.
pub struct Request<'a> {
    pub url: &'a str,
    /// Percent-encoded by the client.
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    /// A form body; makes the request a POST.
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub timeout: Duration,
    /// Bodies longer than this are refused rather than buffered.
    pub body_limit: u64,
}

/// A complete response. The body may hold secret material and is wiped on drop.
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// `Retry-After` in seconds (Key Vault and Entra send seconds).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.as_deref()?.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// The first `limit` characters of a body for an error message, with
    /// control characters replaced. Only for bodies of error responses.
    pub fn snippet(&self, limit: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut out = crate::text::printable_line(&text.chars().take(limit).collect::<String>());
        if text.chars().nth(limit).is_some() {
            out.push_str("...");
        }
        out.trim().to_string()
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.body));
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Why no response came back.
#[derive(Debug)]
pub enum Error {
    /// The request's time ran out: connect, send or receive.
    Timeout,
    /// DNS found no address for the host.
    HostNotFound,
    /// No TCP connection could be made (refused, unreachable).
    Connect(io::Error),
    /// The TLS handshake failed, e.g. an untrusted certificate.
    Tls(String),
    /// The body was longer than the request's limit.
    BodyTooLarge(u64),
    /// The server broke HTTP: a malformed or truncated response.
    Protocol(String),
    /// The HTTP proxy could not be reached (DNS or connect); through a
    /// proxy, the target is neither resolved nor connected to here.
    ProxyUnreachable(ProxyName, Box<Error>),
    /// The HTTP proxy would not open a tunnel: its status, or `None` if it
    /// did not answer the CONNECT.
    ProxyRefused(ProxyName, Option<u16>),
    /// Any other I/O failure mid-exchange.
    Io(io::Error),
}

impl Error {
    /// Transient failures worth another try.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout | Error::Connect(_) | Error::Io(_) | Error::Protocol(_) => true,
            // A 407 or 403 is the proxy's configuration and will not change;
            // a 502 or 504 is the proxy failing to reach the host, which may.
            Error::ProxyRefused(_, status) => status.is_none_or(|s| s >= 500),
            Error::ProxyUnreachable(_, cause) => cause.is_transient(),
            _ => false,
        }
    }

    /// What to do about a proxy's refusal; the same for every host behind it.
    pub fn proxy_hint(&self) -> Option<String> {
        let (proxy, status) = match self {
            Error::ProxyRefused(proxy, status) => (proxy, *status),
            Error::ProxyUnreachable(proxy, _) => (proxy, None),
            _ => return None,
        };
        let variable = proxy.variable;
        Some(match status {
            Some(407) => format!(
                "the proxy wants credentials: set {variable}=http://user:password@host:port, \
                 or exempt this host with NO_PROXY"
            ),
            Some(403) => "the proxy refuses this host: allow it there (for Key Vault, *.vault.azure.net), \
                          or exempt it with NO_PROXY"
                .to_string(),
            _ => format!("check the proxy that {variable} names, or exempt this host with NO_PROXY"),
        })
    }
}

impl From<ureq::Error> for Error {
    fn from(e: ureq::Error) -> Error {
        use io::ErrorKind::*;
        match e {
            ureq::Error::Timeout(_) => Error::Timeout,
            ureq::Error::HostNotFound => Error::HostNotFound,
            ureq::Error::ConnectionFailed => Error::Connect(io::Error::other("connection failed")),
            ureq::Error::Io(e) if matches!(e.kind(), TimedOut | WouldBlock) => Error::Timeout,
            ureq::Error::Io(e) if e.kind() == UnexpectedEof => {
                Error::Protocol("the connection closed before the response was complete".into())
            }
            // rustls reports handshake and certificate failures as InvalidData.
            ureq::Error::Io(e) if e.kind() == InvalidData => Error::Tls(e.to_string()),
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    ConnectionRefused | ConnectionReset | NotConnected | AddrNotAvailable
                ) || e.raw_os_error().is_some_and(is_unreachable) =>
            {
                Error::Connect(e)
            }
            ureq::Error::Io(e) => Error::Io(e),
            ureq::Error::BodyExceedsLimit(n) => Error::BodyTooLarge(n),
            ureq::Error::Tls(s) => Error::Tls(s.to_string()),
            ureq::Error::Protocol(e) => Error::Protocol(e.to_string()),
            other => Error::Protocol(other.to_string()),
        }
    }
}

/// ureq says "proxy server responded 407/407"; anything else is no answer.
fn proxy_status(reason: &str) -> Option<u16> {
    let rest = reason.strip_prefix("proxy server responded ")?;
    rest.split('/').next()?.parse().ok()
}

fn is_unreachable(code: i32) -> bool {
    // ENETUNREACH and EHOSTUNREACH on Linux; elsewhere the kinds above cover it.
    cfg!(target_os = "linux") && (code == 101 || code == 113)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("timed out"),
            Error::HostNotFound => f.write_str("host not found (DNS)"),
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::BodyTooLarge(n) => write!(f, "response body is larger than {n} bytes"),
            Error::Protocol(e) => write!(f, "bad HTTP response: {e}"),
            Error::ProxyUnreachable(proxy, cause) => write!(f, "cannot reach the proxy {proxy}: {cause}"),
            Error::ProxyRefused(proxy, Some(status)) => {
                write!(f, "the proxy {proxy} answered {status} instead of opening a tunnel")
            }
            Error::ProxyRefused(proxy, None) => {
                write!(f, "the proxy {proxy} did not answer the CONNECT request")
            }
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}
