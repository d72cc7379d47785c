//! Where access tokens come from. Each platform's token endpoint is one
//! `TokenSource` in a file of its own; `choose` picks one from the
//! environment in the Azure SDKs' order, and `build` checks what it needs.

mod aci_windows;
mod app_service;
mod arc;
mod cloud_shell;
mod entra;
mod imds;
mod msi_legacy;
mod service_fabric;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{self, Client, Roots};
use crate::reference::Cloud;
use crate::request::{self, Call, Failed, Policy};
use crate::retry::{Deadline, Failure};
use crate::secret::{AccessToken, Secret};

/// Token bodies are a few KiB; anything far larger is not a token endpoint.
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

mod env;
pub use env::{Env, CREDENTIALS};

/// A user-assigned identity, by whichever id the operator had at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // named as the flags and the Azure parameters are
pub enum UserAssigned {
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

/// A platform's way of turning its identity into access tokens.
pub trait TokenSource: Send {
    /// A short name for messages, e.g. "IMDS".
    fn name(&self) -> &'static str;

    /// Gets a token for `resource` (e.g. `https://vault.azure.net`), retrying
    /// as the platform's guidance says, within `deadline`.
    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error>;

    /// What the operator can do about a failure, where the source can tell.
    fn hint(&self, _failure: &ErrorKind) -> Option<String> {
        None
    }
}

/// The token sources kvinit knows, by their `--identity-source` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Imds,
    AppService,
    AciWindows,
    Arc,
    Workload,
    ClientSecret,
    CloudShell,
    MsiLegacy,
    ServiceFabric,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Imds,
        Kind::AppService,
        Kind::AciWindows,
        Kind::Arc,
        Kind::Workload,
        Kind::ClientSecret,
        Kind::CloudShell,
        Kind::MsiLegacy,
        Kind::ServiceFabric,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Imds => "imds",
            Kind::AppService => "app-service",
            Kind::AciWindows => "aci-windows",
            Kind::Arc => "arc",
            Kind::Workload => "workload",
            Kind::ClientSecret => "client-secret",
            Kind::CloudShell => "cloud-shell",
            Kind::MsiLegacy => "msi-legacy",
            Kind::ServiceFabric => "service-fabric",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.trim().to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The variables this source cannot work without.
    fn required(self) -> &'static [&'static str] {
        match self {
            Kind::Imds => &[],
            Kind::AppService | Kind::AciWindows => &["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
            Kind::Arc => &["IDENTITY_ENDPOINT"],
            Kind::Workload => &["AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"],
            Kind::ClientSecret => &["AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"],
            Kind::CloudShell => &["MSI_ENDPOINT"],
            Kind::MsiLegacy => &["MSI_ENDPOINT", "MSI_SECRET"],
            Kind::ServiceFabric => &["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"],
        }
    }
}

/// Picks the source for this environment, as the Azure SDKs do
/// (docs/azure-wire.md section 1), and says why in variable names only.
///
/// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` mean App Service, Functions,
/// Container Apps or Automation, or an ACI Windows container. App Service sets
/// `WEBSITE_SITE_NAME` and Container Apps `CONTAINER_APP_NAME`; ACI sets
/// neither and has no IMDS on Windows. So: either marker means App Service;
/// neither, on Windows, means ACI Windows; neither elsewhere means App Service.
/// Both speak to the same variables and kvinit sends both headers, so a wrong
/// guess costs a clear error, not a silent success as someone else.
pub fn choose(env: &Env, windows: bool) -> (Kind, String) {
    let set = |names: &[&str]| names.iter().all(|n| env.get(n).is_some());
    let list = |names: &[&str]| names.join(" + ");
    let by_vars = |kind: Kind| (kind, format!("{} set", list(kind.required())));
    if set(Kind::ServiceFabric.required()) {
        return by_vars(Kind::ServiceFabric);
    }
    if set(Kind::AppService.required()) {
        let marker = ["WEBSITE_SITE_NAME", "CONTAINER_APP_NAME"].into_iter().find(|m| env.get(m).is_some());
        return match (marker, windows) {
            (Some(m), _) => (Kind::AppService, format!("IDENTITY_ENDPOINT + IDENTITY_HEADER and {m} set")),
            (None, true) => (
                Kind::AciWindows,
                "IDENTITY_ENDPOINT + IDENTITY_HEADER set on Windows, without WEBSITE_SITE_NAME or CONTAINER_APP_NAME"
                    .to_string(),
            ),
            (None, false) => (Kind::AppService, "IDENTITY_ENDPOINT + IDENTITY_HEADER set".to_string()),
        };
    }
    if set(&["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]) {
        return (Kind::Arc, "IDENTITY_ENDPOINT + IMDS_ENDPOINT set, IDENTITY_HEADER unset".to_string());
    }
    if set(Kind::MsiLegacy.required()) {
        return by_vars(Kind::MsiLegacy);
    }
    if set(Kind::CloudShell.required()) {
        return (Kind::CloudShell, "MSI_ENDPOINT set, MSI_SECRET unset".to_string());
    }
    if set(Kind::ClientSecret.required()) {
        return by_vars(Kind::ClientSecret);
    }
    if set(Kind::Workload.required()) {
        return by_vars(Kind::Workload);
    }
    (Kind::Imds, "no platform identity variables set".to_string())
}

/// Everything a source needs from outside: the environment, which identity,
/// which cloud, and HTTP clients.
/// Which identity to use, as the operator asked.
#[derive(Debug)]
pub struct Choice {
    /// `None`: detect from the environment.
    pub source: Option<Kind>,
    pub user_assigned: Option<UserAssigned>,
    /// What named the user-assigned identity: a flag or `AZURE_CLIENT_ID`.
    pub user_assigned_by: &'static str,
    pub cloud: Cloud,
    /// kvinit's environment, for detection and the sources' settings.
    pub env: Env,
}

/// The forced source, or the one the environment points to, built.
pub fn source(choice: &Choice, direct: Client, web: Client) -> Result<Box<dyn TokenSource>, SetupError> {
    let (kind, why) = match choice.source {
        Some(kind) => (kind, "--identity-source".to_string()),
        None => choose(&choice.env, cfg!(windows)),
    };
    let cx = Context {
        env: &choice.env,
        user_assigned: choice.user_assigned.as_ref(),
        user_assigned_by: choice.user_assigned_by,
        cloud: choice.cloud,
        direct,
        web,
    };
    let source = build(kind, &cx)?;
    log::debug!(identity_source = source.name(); "identity source: {} ({why})", kind.name());
    Ok(source)
}

pub struct Context<'a> {
    pub env: &'a Env,
    pub user_assigned: Option<&'a UserAssigned>,
    /// What named the user-assigned identity, for messages.
    pub user_assigned_by: &'static str,
    pub cloud: Cloud,
    /// For link-local and platform endpoints: never through a proxy.
    pub direct: Client,
    /// For Entra ID: honours HTTPS_PROXY.
    pub web: Client,
}

impl Context<'_> {
    /// A required variable (checked by `build` before any source is made).
    fn var(&self, name: &str) -> &str {
        self.env.get(name).unwrap_or_default()
    }

    fn unsupported(&self, kind: Kind, takes: &'static str) -> SetupError {
        SetupError::UserAssigned { kind, by: self.user_assigned_by, takes }
    }
}

/// Makes the source of `kind`, or says what is missing. No I/O.
pub fn build(kind: Kind, cx: &Context<'_>) -> Result<Box<dyn TokenSource>, SetupError> {
    let missing: Vec<_> = kind.required().iter().copied().filter(|v| cx.env.get(v).is_none()).collect();
    if !missing.is_empty() {
        return Err(SetupError::Missing { kind, vars: missing });
    }
    Ok(match kind {
        Kind::Imds => Box::new(imds::Imds::new(cx)),
        Kind::AppService => Box::new(app_service::AppService::new(cx)?),
        Kind::AciWindows => Box::new(aci_windows::AciWindows::new(cx)?),
        Kind::Arc => Box::new(arc::Arc::new(cx)?),
        Kind::Workload => Box::new(entra::Entra::workload(cx)?),
        Kind::ClientSecret => Box::new(entra::Entra::client_secret(cx)?),
        Kind::CloudShell => Box::new(cloud_shell::CloudShell::new(cx)?),
        Kind::MsiLegacy => Box::new(msi_legacy::MsiLegacy::new(cx)?),
        Kind::ServiceFabric => Box::new(service_fabric::ServiceFabric::new(cx)?),
    })
}

/// The two clients a `Context` needs: `direct` (never proxied) and `web`.
pub fn clients(roots: &Roots, keep_alive: bool) -> Result<(Client, Client), http::SetupError> {
    Ok((
        Client::new(http::Proxy::Never, roots, keep_alive)?,
        Client::new(http::Proxy::FromEnv, roots, keep_alive)?,
    ))
}

/// Why a source cannot be used as configured (exit code 2, before any request).
#[derive(Debug)]
pub enum SetupError {
    /// A source was forced with `--identity-source` but its variables are unset.
    Missing { kind: Kind, vars: Vec<&'static str> },
    /// A user-assigned identity was named for a source that cannot select one
    /// that way; `takes` says what it can take.
    UserAssigned { kind: Kind, by: &'static str, takes: &'static str },
    /// An endpoint variable that is not an http(s) URL, or not https where
    /// a credential would travel.
    Endpoint { var: &'static str, value: String, why: &'static str },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Missing { kind, vars } => {
                write!(f, "identity source {} needs {} (unset or empty)", kind.name(), vars.join(", "))
            }
            SetupError::UserAssigned { kind, by: "AZURE_CLIENT_ID", takes } => write!(
                f,
                "AZURE_CLIENT_ID is set, but identity source {} {takes}; unset AZURE_CLIENT_ID \
                 rather than have kvinit silently use another identity",
                kind.name()
            ),
            SetupError::UserAssigned { kind, by, takes } => {
                write!(f, "{by} was given, but identity source {} {takes}", kind.name())
            }
            SetupError::Endpoint { var, value, why } => write!(f, "{var}={value:?}: {why}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// Checks that an endpoint variable is an http or https URL.
fn endpoint(var: &'static str, value: &str) -> Result<String, SetupError> {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(value.to_string())
    } else {
        Err(SetupError::Endpoint { var, value: value.to_string(), why: "not an http:// or https:// URL" })
    }
}

/// The Azure SDKs' default for managed identity endpoints other than IMDS,
/// and for Entra ID: 429 and 5xx, a few times.
pub(crate) const DEFAULT_POLICY: Policy = Policy {
    retryable: |s| s == 429 || (500..=599).contains(&s),
    base: Duration::from_millis(800),
    cap: Duration::from_secs(16),
    max_retries: 5,
    max_transient: 5,
    attempt_timeout: Duration::from_secs(20),
};

/// Sends `call` (a source's token request) until it yields a token or a
/// final error, retrying as `policy` says.
pub(crate) fn fetch_token(
    source: &dyn TokenSource,
    resource: &str,
    client: &Client,
    call: Call<'_>,
    policy: &Policy,
    deadline: Deadline,
) -> Result<AccessToken, Error> {
    let what = format!("{} token for {resource}", source.name());
    let call = Call { what: &what, ..call };
    request::send(client, &call, policy, deadline, |r| parse_token(&r.body))
        .map_err(|failure| Error::from_failure(source, call.url, failure))
}

impl Failed for ErrorKind {
    fn http(e: http::Error) -> ErrorKind {
        ErrorKind::Http(e)
    }

    fn status(r: &http::Response) -> ErrorKind {
        error_status(r)
    }
}

/// Strips the query string for messages (it may name an identity, nothing
/// secret, but the endpoint reads better without it).
fn display_endpoint(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Why no token was had.
#[derive(Debug)]
pub struct Error {
    /// The source's name, e.g. "IMDS".
    pub source_name: &'static str,
    /// The endpoint asked (no query string, nothing secret).
    pub endpoint: String,
    pub kind: ErrorKind,
    /// How many requests were made.
    pub attempts: u32,
    /// Something the operator can do, where the failure suggests it.
    pub hint: Option<String>,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// The endpoint answered with an error status.
    Status {
        status: u16,
        error: Option<String>,
        description: Option<String>,
        body: String,
        /// Entra ID's numeric AADSTS codes, when it sends them.
        codes: Vec<u64>,
    },
    /// No usable answer came back.
    Http(http::Error),
    /// A 2xx answer that is not a token response.
    BadResponse(String),
    /// A local file the source needs could not be used (Arc's key file,
    /// the federated token file).
    File(String),
}

impl Error {
    pub(crate) fn from_failure(
        source: &dyn TokenSource,
        endpoint: &str,
        failure: Failure<ErrorKind>,
    ) -> Error {
        Error {
            source_name: source.name(),
            endpoint: display_endpoint(endpoint).to_string(),
            hint: source.hint(&failure.error).or_else(|| match &failure.error {
                ErrorKind::Http(e) => e.proxy_hint(),
                _ => None,
            }),
            kind: failure.error,
            attempts: failure.attempts,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "getting an access token from {} ({})", self.source_name, self.endpoint)?;
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
            ErrorKind::Status { status, error, description, body, .. } => {
                write!(f, "HTTP {status}")?;
                match (error, description) {
                    (Some(e), Some(d)) => write!(f, " {e}: {d}"),
                    (Some(e), None) => write!(f, " {e}"),
                    (None, Some(d)) => write!(f, ": {d}"),
                    (None, None) if !body.is_empty() => write!(f, ": {body}"),
                    (None, None) => Ok(()),
                }
            }
            ErrorKind::Http(e) => write!(f, "{e}"),
            ErrorKind::BadResponse(why) => write!(f, "unusable token response: {why}"),
            ErrorKind::File(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ErrorKind {}

/// Reads an error answer of a token endpoint: `{"error","error_description"}`
/// from IMDS and Entra, `{"error":{"code","message"}}` from some others, or
/// plain text (ACI's IMDS answers a bad request in text).
pub(crate) fn error_status(response: &http::Response) -> ErrorKind {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    // Codes on one line, as Key Vault's are; descriptions may span lines.
    let code = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::text::printable_line);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::text::printable);
    let (error, description) = match &json {
        Some(Value::Object(o)) => match o.get("error") {
            Some(Value::Object(inner)) => (code(inner.get("code")), text(inner.get("message"))),
            e => (code(e), text(o.get("error_description")).or_else(|| text(o.get("message")))),
        },
        _ => (None, None),
    };
    let body = if error.is_none() && description.is_none() { response.snippet(200) } else { String::new() };
    let codes = json
        .as_ref()
        .and_then(|j| j.get("error_codes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    ErrorKind::Status { status: response.status, error, description, body, codes }
}

/// The longest a token is taken to be valid, whatever its source says.
const MAX_TOKEN_LIFETIME: u64 = 24 * 3600;

/// Reads a token response, however the source spells its expiry:
/// `expires_on` or `expires_in`, as a number or a string of digits, or a
/// date like `06/20/2019 02:57:58 +00:00`.
pub(crate) fn parse_token(body: &[u8]) -> Result<AccessToken, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let mut json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let Some(obj) = json.as_object_mut() else { return Err(bad("the body is not a JSON object")) };
    let token = match obj.get_mut("access_token").map(Value::take) {
        Some(Value::String(t)) if !t.is_empty() => Secret::new(t),
        Some(Value::String(_)) => return Err(bad("access_token is empty")),
        Some(_) => return Err(bad("access_token is not a string")),
        None => return Err(bad("no access_token field")),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let expires_on = obj
        .get("expires_on")
        .and_then(parse_expiry_instant)
        .or_else(|| obj.get("expires_in").and_then(as_u64).map(|n| now.saturating_add(n)))
        // No Azure token lives longer than a day; a later expiry is a
        // server's mistake, and would keep a dead token in use.
        .map(|t| t.min(now.saturating_add(MAX_TOKEN_LIFETIME)));
    Ok(AccessToken { token, expires_on })
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_expiry_instant(v: &Value) -> Option<u64> {
    as_u64(v).or_else(|| v.as_str().and_then(parse_msi_date))
}

/// `MM/DD/YYYY HH:MM:SS +HH:MM`, as the 2017-09-01 MSI endpoints send.
fn parse_msi_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let (date, time, offset) = (parts.next()?, parts.next()?, parts.next().unwrap_or("+00:00"));
    let num = |s: &str| s.parse::<i64>().ok();
    let d: Vec<i64> = date.split('/').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let (sign, off) = match offset.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let (month, day, year) = (d[0], d[1], d[2]);
    let (oh, om) = (num(oh)?, num(om)?);
    let fields_ok = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && t.iter().all(|n| *n >= 0)
        && t[0] <= 23
        && t[1] <= 59
        && t[2] <= 60
        && (0..=23).contains(&oh)
        && (0..=59).contains(&om);
    if !fields_ok {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
        - sign * (oh * 3600 + om * 60);
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_the_sdk_order() {
        let x = "VALUE-9f3";
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, Kind);
        let cases: &[Case] = &[
            (&[], false, Kind::Imds),
            (&[], true, Kind::Imds),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("IDENTITY_SERVER_THUMBPRINT", x)],
                false,
                Kind::ServiceFabric,
            ),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x)], false, Kind::AppService),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x)], true, Kind::AciWindows),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("WEBSITE_SITE_NAME", x)],
                true,
                Kind::AppService,
            ),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("CONTAINER_APP_NAME", x)],
                true,
                Kind::AppService,
            ),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("IMDS_ENDPOINT", x)],
                false,
                Kind::AppService,
            ),
            (&[("IDENTITY_ENDPOINT", x), ("IMDS_ENDPOINT", x)], false, Kind::Arc),
            (&[("IDENTITY_ENDPOINT", x)], false, Kind::Imds),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", "")], false, Kind::Imds),
            (&[("MSI_ENDPOINT", x), ("MSI_SECRET", x)], false, Kind::MsiLegacy),
            (&[("MSI_ENDPOINT", x)], false, Kind::CloudShell),
            (&[("MSI_ENDPOINT", x), ("MSI_SECRET", "")], false, Kind::CloudShell),
            (
                &[("AZURE_FEDERATED_TOKEN_FILE", x), ("AZURE_TENANT_ID", x), ("AZURE_CLIENT_ID", x)],
                false,
                Kind::Workload,
            ),
            (&[("AZURE_FEDERATED_TOKEN_FILE", x), ("AZURE_CLIENT_ID", x)], false, Kind::Imds),
            (
                &[("AZURE_CLIENT_SECRET", x), ("AZURE_TENANT_ID", x), ("AZURE_CLIENT_ID", x)],
                false,
                Kind::ClientSecret,
            ),
            (&[("AZURE_CLIENT_ID", x)], false, Kind::Imds),
            (
                &[
                    ("MSI_ENDPOINT", x),
                    ("AZURE_FEDERATED_TOKEN_FILE", x),
                    ("AZURE_TENANT_ID", x),
                    ("AZURE_CLIENT_ID", x),
                ],
                false,
                Kind::CloudShell,
            ),
        ];
        for (vars, windows, expected) in cases {
            let env: Env = vars.iter().map(|(k, v)| (*k, *v)).collect();
            let (kind, why) = choose(&env, *windows);
            assert_eq!(kind, *expected, "{vars:?} windows={windows}: {why}");
            assert!(!why.contains(x), "the reason names variables, never values: {why}");
        }
    }

    #[test]
    fn source_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("App-Service"), Some(Kind::AppService));
        assert_eq!(Kind::parse("auto"), None);
    }

    #[test]
    fn expiry_in_every_spelling() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let on = |body: &str| parse_token(body.as_bytes()).unwrap().expires_on;
        assert_eq!(on(r#"{"access_token":"t","expires_on":"1506484173"}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":1506484173}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 02:57:58 +00:00"}"#), Some(1560999478));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 04:57:58 +02:00"}"#), Some(1560999478));
        let e = on(r#"{"access_token":"t","expires_in":3599}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        let e = on(r#"{"access_token":"t","expires_in":"3599"}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        assert_eq!(on(r#"{"access_token":"t"}"#), None);
        assert_eq!(on(r#"{"access_token":"t","expires_on":"soon"}"#), None);
    }

    /// Absurd expiries neither overflow nor keep a token forever: a day at most.
    #[test]
    fn absurd_expiries_are_clamped() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let on = |body: &str| parse_token(body.as_bytes()).unwrap().expires_on;
        let day = |e: Option<u64>| e.is_some_and(|e| (now + 86_399..=now + 86_405).contains(&e));
        assert!(day(on(r#"{"access_token":"t","expires_in":18446744073709551615}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_in":"18446744073709551615"}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_on":"99999999999"}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_in":1e300}"#)));
        for date in ["01/01/99999999999999 00:00:00 +00:00", "01/01/2030 00:00:00 +99999999999999:00"] {
            assert_eq!(on(&format!(r#"{{"access_token":"t","expires_on":"{date}"}}"#)), None, "{date}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn bad_token_bodies_say_why_without_echoing() {
        for (body, why) in [
            ("", "not JSON"),
            ("<html>gateway</html>", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"token_type":"Bearer"}"#, "no access_token"),
            (r#"{"access_token":""}"#, "empty"),
            (r#"{"access_token":42}"#, "not a string"),
            (r#"{"access_token":"abc"#, "not JSON"),
        ] {
            let err = parse_token(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }

    fn response(status: u16, body: &str) -> http::Response {
        http::Response { status, retry_after: None, www_authenticate: None, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let shown = |status, body| error_status(&response(status, body)).to_string();
        assert_eq!(
            shown(400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#),
            "HTTP 400 invalid_request: Identity not found"
        );
        assert_eq!(
            shown(500, r#"{"error":{"code":"Boom","message":"it broke"}}"#),
            "HTTP 500 Boom: it broke"
        );
        assert_eq!(shown(400, "Bad Request\r\n"), "HTTP 400: Bad Request");
        assert_eq!(shown(503, ""), "HTTP 503");
    }
}
