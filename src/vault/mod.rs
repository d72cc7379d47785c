//! Reading secrets from Key Vault, concurrently: the API (`mod.rs`), what
//! its answers mean (`wire.rs`), its failures (`error.rs`) and what to do
//! about each (`hints.rs`).

mod error;
mod hints;
mod wire;

pub use error::{Error, ErrorKind, Target};
pub(crate) use wire::{next_page, parse_page, parse_secret, status_error};
pub use wire::{Fetched, Listed};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::http::{self, Client};
use crate::reference::{Collection, SecretRef, VaultUrl};
use crate::request::{self, Call, Failed, Policy};
use crate::retry::{Deadline, Failure};
use crate::secret::AccessToken;

const API_VERSION: &str = "7.4";

/// Values are at most 25 KiB; JSON escaping can grow that six-fold.
const BODY_LIMIT: u64 = 1024 * 1024;

/// A secret to read, with the token resource its vault needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSecret {
    pub reference: SecretRef,
    pub resource: &'static str,
}

/// Requests in flight at once: enough that a typical app's secrets cost one
/// round trip, few enough to be polite to a vault that allows 4,000 GETs per
/// 10 s shared by the whole fleet.
pub const CONCURRENCY: usize = 32;

/// A listing of 25 secrets a page (`wire::PAGE_SIZE`) stops after 1000
/// pages: 25,000 secrets at most are held.
const MAX_PAGES: usize = 1000;

/// Throttling (429) is retried up to 8 times, waiting as `Retry-After` says
/// or 1, 2, 4, 8, 16 s (with jitter); 5xx and broken connections 3 times.
const POLICY: Policy = Policy {
    retryable: |s| (500..=599).contains(&s),
    base: Duration::from_secs(1),
    cap: Duration::from_secs(16),
    max_retries: 8 + 3,
    max_transient: 3,
    attempt_timeout: Duration::from_secs(30),
};

/// Opens the connections the reads will use while the token is fetched:
/// one per secret (up to `CONCURRENCY`) to each vault named in `vaults`.
pub fn preconnect<'v>(web: &Client, vaults: impl Iterator<Item = &'v VaultUrl>, deadline: Deadline) {
    let mut wanted: Vec<(&str, u16, usize)> = Vec::new();
    for vault in vaults {
        let port = vault.port().unwrap_or(443);
        match wanted.iter_mut().find(|(h, p, _)| *h == vault.host() && *p == port) {
            Some((_, _, n)) => *n += 1,
            None => wanted.push((vault.host(), port, 1)),
        }
    }
    let timeout = deadline.remaining().min(Duration::from_secs(10));
    for (host, port, n) in wanted {
        web.preconnect(host, port, n.min(CONCURRENCY), timeout);
    }
}

/// Reads every secret, `CONCURRENCY` at a time. `token_for` gives the token
/// for a resource. Results are in the order of `secrets`.
pub fn read_all<'t>(
    client: &Client,
    secrets: &[PlannedSecret],
    token_for: &(dyn Fn(&str) -> &'t AccessToken + Sync),
    deadline: Deadline,
) -> Vec<Result<Fetched, Error>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Fetched, Error>>>> =
        secrets.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(s) = secrets.get(i) else { break };
        let result = read(client, &s.reference, token_for(s.resource), deadline);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    };
    std::thread::scope(|scope| {
        let mut readers = Vec::new();
        for _ in 0..CONCURRENCY.min(secrets.len()) {
            // Threads may run out (a full pids cgroup); fewer is slower, not wrong.
            match std::thread::Builder::new().name("kvinit-read".into()).spawn_scoped(scope, work) {
                Ok(reader) => readers.push(reader),
                Err(_) => break,
            }
        }
        if readers.is_empty() {
            work();
        }
        // Joined here, not left to the scope: a scope only waits for the
        // closures, and a thread that is still exiting must not be alive
        // when `--init` forks.
        for reader in readers {
            let _ = reader.join();
        }
    });
    results
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every slot is filled"))
        .collect()
}

/// Reads one secret, retrying throttling and transient failures.
pub fn read(
    client: &Client,
    secret: &SecretRef,
    token: &AccessToken,
    deadline: Deadline,
) -> Result<Fetched, Error> {
    let url = secret.url();
    let what = format!("reading {} {} from {}", secret.collection.noun(), secret, secret.vault);
    let call = Call { what: &what, query: &[("api-version", API_VERSION)], ..call(&url, token) };
    let parse = match secret.collection {
        Collection::Secrets => wire::parse_secret,
        Collection::Certificates => wire::parse_certificate,
        Collection::Keys => wire::parse_key,
    };
    request::send(client, &call, &POLICY, deadline, |r| parse(&r.body))
        .map_err(|failure| Error::new(Target::Secret(secret.clone()), failure))
}

/// Lists every secret of `vault`, following `nextLink` from page to page.
/// A `nextLink` to any other host is refused: the token must not follow it.
pub fn list(
    client: &Client,
    vault: &VaultUrl,
    token: &AccessToken,
    deadline: Deadline,
) -> Result<Vec<Listed>, Error> {
    let target = || Target::List(vault.clone());
    let fail = |error, attempts| Error::new(target(), Failure { error, attempts });
    let what = format!("listing secrets of {vault}");
    let first = format!("{vault}/secrets?api-version={API_VERSION}&maxresults={}", wire::PAGE_SIZE);
    let mut next = Some(first);
    let mut listed = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(fail(
                ErrorKind::BadResponse(format!(
                    "the listing goes on past {MAX_PAGES} pages; kvinit stops there"
                )),
                1,
            ));
        }
        let call = Call { what: &what, ..call(&url, token) };
        let (items, link) = request::send(client, &call, &POLICY, deadline, |r| parse_page(&r.body))
            .map_err(|f| Error::new(target(), f))?;
        listed.extend(items);
        next = link.map(|link| next_page(vault, &link)).transpose().map_err(|kind| fail(kind, 1))?;
    }
    Ok(listed)
}

/// A Key Vault GET of `url` with `token`.
fn call<'a>(url: &'a str, token: &'a AccessToken) -> Call<'a> {
    Call {
        headers: &[("Accept", "application/json")],
        authorization: Some(("Bearer", &token.token)),
        ..Call::get(url, BODY_LIMIT)
    }
}

impl Failed for ErrorKind {
    fn http(e: http::Error) -> ErrorKind {
        ErrorKind::Http(e)
    }

    fn status(r: &http::Response) -> ErrorKind {
        wire::status_error(r)
    }
}
