//! The control API, plain HTTP on its own port, for rehearsing failures
//! while kvinit runs:
//!
//! - `PUT /secrets/NAME` with the value as the body: a new current version
//! - `POST /latency?ms=N[&target=vault|identity|all]`
//! - `POST /fail?count=N&status=S[&target=...]`: the next N requests fail
//! - `POST /throttle?rps=R`: at most R vault GETs a second (0 lifts it)
//! - `POST /deny?name=NAME[&reason=R]` / `POST /allow?name=NAME`: the 403 a vault sends for
//!   reason R (rbac, access-policy, firewall, private-link, policy) for that secret (`*`: all,
//!   and the list), or not
//! - `POST /paging?size=N&empty=M`: list pages of at most N items, after M empty ones
//! - `GET /secrets/NAME/versions`: every version id, oldest first, and which is current
//! - `GET /stats`: requests seen and tokens issued, as JSON

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::server::{Handler, Reply, Request, Server};
use crate::{Faults, Target};

pub(crate) fn start(port: u16, faults: Faults) -> io::Result<Server> {
    let handler: Handler = Arc::new(move |req: &Request| {
        handle(req, &faults)
            .unwrap_or_else(|why| Reply::json(400, &serde_json::json!({ "error": why }).to_string()))
    });
    Server::bind(port, None, handler)
}

fn handle(req: &Request, faults: &Faults) -> Result<Reply, String> {
    let target = || req.param("target").unwrap_or("vault").parse::<Target>();
    let number = |name: &str| -> Result<u64, String> {
        let value = req.param(name).ok_or(format!("missing ?{name}="))?;
        value.parse().map_err(|_| format!("{name}={value:?} is not a whole number"))
    };
    let done = Reply::Respond { status: 204, headers: vec![], body: vec![] };
    match (req.method.as_str(), req.path.as_str()) {
        ("PUT", path) if path.starts_with("/secrets/") => {
            let name = &path["/secrets/".len()..];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("{name:?} is not a Key Vault secret name"));
            }
            let value =
                String::from_utf8(req.body.clone()).map_err(|_| "the value is not UTF-8".to_string())?;
            let version = faults.rotate(name, &value);
            Ok(Reply::json(200, &serde_json::json!({ "name": name, "version": version }).to_string()))
        }
        ("POST", "/latency") => {
            faults.set_latency(target()?, Duration::from_millis(number("ms")?));
            Ok(done)
        }
        ("POST", "/fail") => {
            let status = number("status")?;
            if !(400..=599).contains(&status) {
                return Err(format!("status={status} is not an HTTP error status (400-599)"));
            }
            faults.fail_next(target()?, number("count")? as usize, status as u16);
            Ok(done)
        }
        ("POST", "/throttle") => {
            let rps = number("rps")? as usize;
            faults.throttle((rps > 0).then_some(rps));
            Ok(done)
        }
        ("POST", "/deny") => {
            let name = req.param("name").ok_or("missing ?name=")?;
            faults.deny(name, Some(req.param("reason").unwrap_or("rbac").parse()?));
            Ok(done)
        }
        ("POST", "/allow") => {
            faults.deny(req.param("name").ok_or("missing ?name=")?, None);
            Ok(done)
        }
        ("POST", "/paging") => {
            let mut paging = faults.paging.lock().unwrap();
            if req.param("size").is_some() {
                paging.page_size = match number("size")? {
                    n @ 1..=25 => n as usize,
                    n => return Err(format!("size={n} is not between 1 and 25")),
                };
            }
            if req.param("empty").is_some() {
                paging.empty_pages = number("empty")? as usize;
            }
            Ok(done)
        }
        ("GET", path) if path.starts_with("/secrets/") && path.ends_with("/versions") => {
            Ok(versions(faults, &path["/secrets/".len()..path.len() - "/versions".len()]))
        }
        ("GET", "/stats") => {
            let identity: usize = faults.identity.iter().map(|c| c.requests().len()).sum();
            let throttled = faults.throttle.lock().unwrap().as_ref().map_or(0, |t| t.throttled);
            let stats = serde_json::json!({
                "identity_requests": identity,
                "vault_requests": faults.vault.requests().len(),
                "tokens_issued": faults.tokens.all().len(),
                "throttled": throttled,
            });
            Ok(Reply::json(200, &stats.to_string()))
        }
        _ => Ok(Reply::text(
            404,
            "kvinit-emulator control: PUT /secrets/NAME, GET /secrets/NAME/versions, POST /latency?ms=N, POST /fail?count=N&status=S, \
             POST /throttle?rps=R, POST /deny?name=NAME[&reason=R], POST /allow?name=NAME, \
             POST /paging?size=N&empty=M, GET /stats \
             (target=vault|identity|all)",
        )),
    }
}

/// `GET /secrets/NAME/versions`: every version id, oldest first, and which is current.
fn versions(faults: &Faults, name: &str) -> Reply {
    let secrets = faults.secrets.lock().unwrap();
    let Some(stored) = secrets.get(name) else {
        return Reply::json(404, &serde_json::json!({ "error": format!("no secret {name:?}") }).to_string());
    };
    let current = stored.versions.last().map(|(v, _)| v.as_str());
    let versions: Vec<_> = stored
        .versions
        .iter()
        .map(|(v, _)| serde_json::json!({ "version": v, "current": Some(v.as_str()) == current }))
        .collect();
    Reply::json(200, &serde_json::json!({ "name": name, "versions": versions }).to_string())
}
