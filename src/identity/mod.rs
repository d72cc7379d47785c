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

use std::time::Duration;

use crate::http::{self, Client, Roots};
use crate::reference::Cloud;
use crate::request::{self, Call, Failed, Policy};
use crate::retry::Deadline;
use crate::secret::AccessToken;

/// Token bodies are a few KiB; anything far larger is not a token endpoint.
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

mod detect;
mod env;
mod error;
mod token;

pub use detect::{choose, Kind};
pub use env::{Env, CREDENTIALS};
pub(crate) use error::error_status;
pub use error::{Error, ErrorKind, SetupError};
pub(crate) use token::parse_token;

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
