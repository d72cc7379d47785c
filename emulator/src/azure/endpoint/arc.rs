//! Azure Arc: a 401 challenge naming the key file, then Basic auth with
//! its contents.

use std::path::Path;

use crate::server::{Reply, Request};
use crate::token::now;

use crate::azure::{imds_error, Tokens};

pub fn reply(req: &Request, key_file: &Path, key: &str, tokens: &Tokens) -> Reply {
    let now = now();
    if req.header("metadata") != Some("true") {
        return imds_error(400, "invalid_request", "Required metadata header not specified");
    }
    if req.param("api-version") != Some("2020-06-01") {
        return imds_error(400, "invalid_request", "Invalid api version");
    }
    let Some(resource) = req.param("resource") else {
        return imds_error(400, "invalid_request", "resource required");
    };
    match req.header("authorization") {
        None => Reply::json(
            401,
            r#"{"error":"unauthorized","error_description":"Authorization header required"}"#,
        )
        .with_header("WWW-Authenticate", &format!("Basic realm={}", key_file.display())),
        Some(a) if a == format!("Basic {key}") => {
            let token = tokens.issue(resource);
            Reply::json(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_in":"3599","expires_on":"{}","not_before":"{now}","resource":"{resource}","token_type":"Bearer"}}"#,
                    now + 3599
                ),
            )
        }
        Some(_) => imds_error(401, "unauthorized", "invalid key"),
    }
}
