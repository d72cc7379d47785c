//! Service Fabric: `secret` header, api-version 2019-07-01-preview.

use crate::server::{Reply, Request};
use crate::token::now;

use crate::azure::Tokens;

pub fn reply(req: &Request, header: &str, tokens: &Tokens) -> Reply {
    let now = now();
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
