//! The 2017-09-01 MSI endpoint: `secret` header, `clientid`, and a
//! date-string expiry.

use crate::server::{Reply, Request};

use crate::azure::{imds_error, Identities, Tokens};

pub fn reply(req: &Request, secret: &str, tokens: &Tokens, ids: &Identities) -> Reply {
    if req.header("secret") != Some(secret) {
        return Reply::json(
            401,
            r#"{"error":"unauthorized","error_description":"secret header missing or invalid"}"#,
        );
    }
    if req.param("api-version") != Some("2017-09-01") {
        return Reply::json(400, r#"{"error":"invalid_request","error_description":"api-version"}"#);
    }
    let Some(resource) = req.param("resource") else {
        return imds_error(400, "invalid_request", "resource required");
    };
    if !super::find_identity(ids, req.param("clientid").map(|v| ("client", v))) {
        return imds_error(400, "invalid_request", "Identity not found");
    }
    let token = tokens.issue(resource);
    // The legacy format: a US-style date string, 1 hour after a fixed future time.
    Reply::json(
        200,
        &format!(
            r#"{{"access_token":"{token}","expires_on":"06/20/2099 02:57:58 +00:00","resource":"{resource}","token_type":"Bearer"}}"#
        ),
    )
}
