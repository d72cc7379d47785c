//! IMDS: `GET /metadata/identity/oauth2/token`, as a VM's metadata service
//! answers (the recorded 200 and its errors).

use std::sync::Arc;

use super::{imds_error, Identities, Script, Tokens};
use crate::server::{Handler, Reply, Request, Server};
use crate::token::now;

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

/// What a managed-identity endpoint answers when it fails with `status`
/// (docs/azure-wire.md: IMDS throttles with 429 and is briefly 5xx while
/// the identity is updated).
pub fn identity_fault(status: u16) -> Reply {
    match status {
        429 => imds_error(429, "invalid_request", "Temporarily throttled, too many requests"),
        s if s >= 500 => imds_error(s, "server_error", "The identity is being updated. Retry later."),
        s => imds_error(s, "invalid_request", "Injected by kvinit-emulator."),
    }
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
