//! Cloud Shell: a form POST with `Metadata: true`.

use crate::server::{Reply, Request};
use crate::token::now;

use crate::azure::{imds_error, Tokens};

pub fn reply(req: &Request, tokens: &Tokens) -> Reply {
    let now = now();
    let form = crate::server::parse_query(&String::from_utf8_lossy(&req.body));
    let form_get = |k: &str| super::form_value(&form, k);
    if req.method != "POST" || req.header("metadata") != Some("true") {
        return imds_error(400, "invalid_request", "POST with Metadata: true required");
    }
    let Some(resource) = form_get("resource") else {
        return imds_error(400, "invalid_request", "resource required");
    };
    let token = tokens.issue(resource);
    Reply::json(
        200,
        &format!(
            r#"{{"access_token":"{token}","expires_in":"3599","expires_on":"{}","resource":"{resource}","token_type":"Bearer"}}"#,
            now + 3599
        ),
    )
}
