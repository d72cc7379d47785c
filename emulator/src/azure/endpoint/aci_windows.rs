//! ACI Windows containers: the `secret` header and `principalId`.

use crate::server::{Reply, Request};
use crate::token::now;

use crate::azure::{Identities, Tokens};

pub fn reply(req: &Request, header: &str, tokens: &Tokens, ids: &Identities) -> Reply {
    let now = now();
    if req.header("secret") != Some(header) {
        return Reply::text(400, "Bad Request: missing or invalid secret header");
    }
    let Some(resource) = req.param("resource") else {
        return Reply::text(400, "Bad Request: resource");
    };
    if !super::find_identity(ids, req.param("principalId").map(|v| ("object", v))) {
        return Reply::json(400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#);
    }
    let token = tokens.issue(resource);
    Reply::json(
        200,
        &format!(
            r#"{{"access_token":"{token}","expires_on":"{}","resource":"{resource}","token_type":"Bearer"}}"#,
            now + 3599
        ),
    )
}
