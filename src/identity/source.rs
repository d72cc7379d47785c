//! What every token source is made of: the trait, the context it is built
//! from, and the one way each sends its token request.

use std::time::Duration;

use super::detect::Kind;
use super::env::Env;
use super::error::{Error, ErrorKind, SetupError};
use super::token::parse_token;
use crate::http::Client;
use crate::reference::Cloud;
use crate::request::{self, Call, Policy};
use crate::retry::Deadline;
use crate::secret::AccessToken;

/// Token bodies are a few KiB; anything far larger is not a token endpoint.
pub(crate) const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

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
    pub(crate) fn var(&self, name: &str) -> &str {
        self.env.get(name).unwrap_or_default()
    }

    pub(crate) fn unsupported(&self, kind: Kind, takes: &'static str) -> SetupError {
        SetupError::UserAssigned { kind, by: self.user_assigned_by, takes }
    }
}

/// Checks that an endpoint variable is an http or https URL.
pub(crate) fn endpoint(var: &'static str, value: &str) -> Result<String, SetupError> {
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
        .map_err(|failure| Error::from_failure(source.name(), |e| source.hint(e), call.url, failure))
}
