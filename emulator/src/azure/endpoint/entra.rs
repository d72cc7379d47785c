//! Entra ID's token endpoint for one tenant and app: a client assertion
//! (workload identity) or a client secret, and AADSTS errors.

use crate::server::{Reply, Request};

use crate::azure::Tokens;

/// The app registration the endpoint knows.
pub struct App<'a> {
    pub tenant: &'a str,
    pub client_id: &'a str,
    /// The federated token it accepts as a client assertion.
    pub assertion: Option<&'a str>,
    pub secret: Option<&'a str>,
}

pub fn reply(req: &Request, app: App<'_>, tokens: &Tokens) -> Reply {
    let form = crate::server::parse_query(&String::from_utf8_lossy(&req.body));
    let form_get = |k: &str| super::form_value(&form, k);
    let App { tenant, client_id, assertion, secret } = app;
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
        return aad(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    if form_get("client_id") != Some(client_id) {
        return aad(400, "unauthorized_client", 700016, "Application was not found in the directory.");
    }
    let Some(resource) = form_get("scope").and_then(|s| s.strip_suffix("/.default")) else {
        return aad(400, "invalid_scope", 1002012, "The provided value for scope is not valid.");
    };
    let ok =
        match (form_get("client_assertion_type"), form_get("client_assertion"), form_get("client_secret")) {
            (Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), Some(a), None) => {
                assertion == Some(a)
            }
            (None, None, Some(s)) => secret == Some(s),
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
