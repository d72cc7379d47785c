//! Name resolution for the clients. An address needs no lookup, and a name's
//! addresses are reused for a minute: ureq's resolver runs every lookup on a
//! thread of its own (to time it out), so twenty parallel reads would
//! otherwise start twenty threads and send twenty DNS queries for one vault.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs};
use ureq::unversioned::transport::NextTimeout;

const REUSE_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Resolver {
    lookup: DefaultResolver,
    recent: Mutex<Vec<(String, Vec<SocketAddr>, Instant)>>,
}

impl Resolver {
    fn addrs(&self, list: &[SocketAddr]) -> ResolvedSocketAddrs {
        use ureq::unversioned::resolver::Resolver as _;
        let mut addrs = self.empty();
        list.iter().for_each(|a| addrs.push(*a));
        addrs
    }
}

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let default_port = if uri.scheme_str() == Some("http") { 80 } else { 443 };
        let port = uri.port_u16().unwrap_or(default_port);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(self.addrs(&[SocketAddr::new(ip, port)]));
        }
        let key = format!("{host}:{port}");
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.retain(|(_, _, at)| at.elapsed() < REUSE_FOR);
            if let Some((_, list, _)) = recent.iter().find(|(k, _, _)| *k == key) {
                return Ok(self.addrs(list));
            }
        }
        let found = self.lookup.resolve(uri, config, timeout).map_err(definite)?;
        let list = found.iter().copied().collect();
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).push((key, list, Instant::now()));
        Ok(found)
    }
}

/// A lookup that says the name does not exist (NXDOMAIN, no address) is an
/// answer, not an outage: `HostNotFound`, which is not retried. std gives
/// getaddrinfo's failures only as text, glibc's or musl's.
fn definite(e: ureq::Error) -> ureq::Error {
    const NO_SUCH_NAME: [&str; 5] = [
        "Name or service not known",
        "No address associated with hostname",
        "Name does not resolve",
        "Name has no usable address",
        "nodename nor servname provided",
    ];
    match e {
        ureq::Error::Io(io) if NO_SUCH_NAME.iter().any(|m| io.to_string().contains(m)) => {
            ureq::Error::HostNotFound
        }
        other => other,
    }
}
