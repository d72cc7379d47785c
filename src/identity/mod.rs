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

use crate::http::{self, Client, Roots};
use crate::reference::Cloud;

mod detect;
mod env;
mod error;
mod source;
mod token;

pub use detect::{choose, Kind};
pub use env::{Env, CREDENTIALS};
pub(crate) use error::error_status;
pub use error::{Error, ErrorKind, SetupError};
pub(crate) use source::{endpoint, fetch_token, DEFAULT_POLICY, TOKEN_BODY_LIMIT};
pub use source::{Context, TokenSource, UserAssigned};
pub(crate) use token::parse_token;

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
