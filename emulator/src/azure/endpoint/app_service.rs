//! App Service, Functions and Container Apps: `X-IDENTITY-HEADER`,
//! api-version 2019-08-01, and a vague 500 for an unknown identity.

use crate::server::{Reply, Request};
use crate::token::now;

use crate::azure::{Identities, Tokens};

pub fn reply(req: &Request, header: &str, tokens: &Tokens, ids: &Identities) -> Reply {
    let now = now();
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
    if selectors.len() > 1 || !super::find_identity(ids, selectors.first().copied()) {
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
