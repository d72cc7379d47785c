//! Azure's own recorded exchanges (`tests/recordings`, each file naming its
//! source) served back as recorded: status, headers and body bytes.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::{Reply, Request, Server};

/// One recorded request and Azure's answer to it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub uri: String,
    pub status: u16,
    /// As recorded, in recorded order, less the framing ones
    /// (`Content-Length`, `Transfer-Encoding`, `Connection`).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Exchange {
    /// The recorded answer, byte for byte.
    pub fn reply(&self) -> Reply {
        Reply::Respond {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.as_bytes().to_vec(),
        }
    }

    /// The request's path, without scheme, host, query or trailing `/`.
    pub fn path(&self) -> &str {
        let rest = self.uri.split_once("://").map_or(self.uri.as_str(), |(_, r)| r);
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        path.split('?').next().unwrap_or("").trim_end_matches('/')
    }

    /// A query parameter of the recorded request.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.uri.split_once('?')?.1;
        super::server::parse_query(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The body's `error.message` (or IMDS's `error_description`).
    pub fn message(&self) -> String {
        let json: Value = serde_json::from_str(&self.body).expect("a JSON body");
        let text = json.pointer("/error/message").or_else(|| json.get("error_description"));
        text.and_then(Value::as_str).expect("an error message").to_string()
    }

    /// The body as JSON, for reading what the test expects from it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// Headers that describe how the recorded body was framed on the wire; the
/// server frames what it sends itself.
const FRAMING: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

/// Loads `tests/recordings/<name>`: its exchanges, in recorded order.
pub fn load(name: &str) -> Vec<Exchange> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/recordings").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let exchanges = file["exchanges"].as_array().unwrap_or_else(|| panic!("{name}: no exchanges"));
    exchanges
        .iter()
        .map(|e| Exchange {
            method: e["request"]["method"].as_str().unwrap().to_string(),
            // Quoted answers (from issues) may have no request.
            uri: e["request"]["uri"].as_str().unwrap_or_default().to_string(),
            status: e["response"]["status"].as_u64().unwrap() as u16,
            headers: e["response"]["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_str().unwrap().to_string()))
                .filter(|(k, _)| !FRAMING.iter().any(|f| k.eq_ignore_ascii_case(f)))
                .collect(),
            body: e["response"]["body"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The only exchange of a one-exchange recording.
pub fn one(name: &str) -> Exchange {
    let mut all = load(name);
    assert_eq!(all.len(), 1, "{name} has {} exchanges", all.len());
    all.remove(0)
}

/// A vault that answers each request with the recorded exchange for it:
/// a secret by its path, a list page by its `$skiptoken`. A request that
/// nothing was recorded for gets a plain-text 501 that names it, so a test
/// fails on what kvinit asked rather than on what it was served.
pub struct Replay {
    pub exchanges: Vec<Exchange>,
    /// A recorded origin (`https://v.vault.azure.net:443`) replaced in every
    /// body served by `https://` and the request's `Host`: the recorded links,
    /// moved to where the replay runs.
    pub rewrite: Option<String>,
}

impl Replay {
    pub fn new(exchanges: Vec<Exchange>) -> Replay {
        Replay { exchanges, rewrite: None }
    }

    fn answer(&self, req: &Request) -> Reply {
        let wanted = req.path.trim_end_matches('/');
        let found = self.exchanges.iter().find(|e| {
            e.method == req.method
                && e.path().eq_ignore_ascii_case(wanted)
                && e.param("$skiptoken").as_deref() == req.param("$skiptoken")
        });
        let Some(exchange) = found else {
            return Reply::text(501, &format!("no recorded exchange for {} {}", req.method, req.path));
        };
        let mut reply = exchange.reply();
        if let (Some(from), Reply::Respond { body, .. }) = (&self.rewrite, &mut reply) {
            let to = format!("https://{}", req.header("host").unwrap_or_default());
            *body = String::from_utf8_lossy(body).replace(from.as_str(), &to).into_bytes();
        }
        reply
    }

    /// Serves the replay with `tls` at `addr`.
    pub fn serve(self, addr: std::net::SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let replay = Arc::new(self);
        Server::bind_addr(addr, tls, Arc::new(move |req: &Request| replay.answer(req)))
            .expect("bind the replay")
    }
}
