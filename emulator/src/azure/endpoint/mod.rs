//! The token endpoints other than IMDS, one file per dialect, each checking
//! requests the way its real counterpart does (docs/azure-wire.md sections
//! 3 and 4) and answering in its own format.

mod aci_windows;
mod app_service;
mod arc;
mod cloud_shell;
mod entra;
mod msi_legacy;
mod service_fabric;

use std::sync::Arc;

use super::{Identities, Script, Tokens};
use crate::server::{Handler, Reply, Request, Server};

/// Which endpoint to fake, with what it checks requests against.
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

pub(crate) fn find_identity(ids: &Identities, selector: Option<(&str, &str)>) -> bool {
    match selector {
        None => ids.system_assigned,
        Some(("client", v)) => ids.user_assigned.iter().any(|u| u.0 == v),
        Some(("object", v)) => ids.user_assigned.iter().any(|u| u.1 == v),
        Some(("resource", v)) => ids.user_assigned.iter().any(|u| u.2.eq_ignore_ascii_case(v)),
        Some(_) => false,
    }
}

fn token_reply(style: &Style, req: &Request, tokens: &Tokens, ids: &Identities) -> Reply {
    match style {
        Style::AppService { header } => app_service::reply(req, header, tokens, ids),
        Style::AciWindows { header } => aci_windows::reply(req, header, tokens, ids),
        Style::Arc { key_file, key } => arc::reply(req, key_file, key, tokens),
        Style::CloudShell => cloud_shell::reply(req, tokens),
        Style::MsiLegacy { secret } => msi_legacy::reply(req, secret, tokens, ids),
        Style::ServiceFabric { header } => service_fabric::reply(req, header, tokens),
        Style::Entra { tenant, client_id, assertion, secret } => entra::reply(
            req,
            entra::App { tenant, client_id, assertion: assertion.as_deref(), secret: secret.as_deref() },
            tokens,
        ),
    }
}

/// A form body's value for `key`.
pub(crate) fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| n == key).map(|(_, v)| v.as_str())
}
