//! kvinit-emulator: Azure managed identity and Key Vault on 127.0.0.1.
//!
//! The same fakes serve kvinit's own tests (in-process, through this
//! library) and developers (through the `kvinit-emulator` binary). They
//! follow docs/azure-wire.md: paths, parameters, headers, bodies and error
//! shapes as the real services send them.

pub mod azure;
mod control;
pub mod secrets;
pub mod server;
pub mod tls;
mod token;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure::{
    Denial, FakeImds, FakeTokenEndpoint, FakeVault, Identities, StoredSecret, Style, Throttle, Tokens,
};
use server::Server;

pub use azure::TENANT;

/// What to serve, and where.
pub struct Options {
    pub secrets: BTreeMap<String, StoredSecret>,
    /// Where the CA certificate is written (`ca.pem`).
    pub dir: PathBuf,
    /// IMDS on `port`, App Service on `port + 1`, Key Vault on `port + 2`,
    /// control on `port + 3`; 0 picks four free ports.
    pub port: u16,
    /// The `IDENTITY_HEADER` the App Service endpoint expects.
    pub identity_header: String,
    /// The identities the host has.
    pub identities: Identities,
}

impl Options {
    /// No secrets, free ports, and a system-assigned identity.
    pub fn new(dir: PathBuf) -> Options {
        Options {
            secrets: BTreeMap::new(),
            dir,
            port: 0,
            identity_header: format!("emulator-{:016x}", token::unique().wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            identities: Identities { system_assigned: true, user_assigned: vec![] },
        }
    }
}

/// Which managed identity endpoint the printed environment points kvinit at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    Imds,
    AppService,
}

/// Which endpoints a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Vault,
    /// IMDS and the App Service endpoint.
    Identity,
    All,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        match s {
            "vault" => Ok(Target::Vault),
            "identity" => Ok(Target::Identity),
            "all" => Ok(Target::All),
            _ => Err(format!("target {s:?} is not vault, identity or all")),
        }
    }
}

/// Everything running: the identity endpoints, the vault and the control API.
pub struct Emulator {
    pub tokens: Tokens,
    pub imds: FakeImds,
    pub app_service: FakeTokenEndpoint,
    pub vault: FakeVault,
    pub control: Server,
    faults: Faults,
    identity_header: String,
}

impl Emulator {
    pub fn start(options: Options) -> io::Result<Emulator> {
        let Options { secrets, dir, port, identity_header, identities: ids } = options;
        let at = |offset: u16| if port == 0 { Ok(0) } else { port.checked_add(offset).ok_or_else(too_high) };
        let certificates = tls::localhost(&dir)?;
        let tokens = Tokens::default();
        let imds = at(0)
            .and_then(|p| FakeImds::bind(p, tokens.clone(), ids.clone()).map_err(bind_error("IMDS", p)))?;
        let style = Style::AppService { header: identity_header.clone() };
        let app_service = at(1).and_then(|p| {
            FakeTokenEndpoint::bind(p, style, tokens.clone(), ids, None).map_err(bind_error("App Service", p))
        })?;
        let vault = at(2).and_then(|p| {
            FakeVault::bind(p, tokens.clone(), certificates.server, certificates.ca_file)
                .map_err(bind_error("Key Vault", p))
        })?;
        *vault.secrets.lock().unwrap() = secrets;
        let faults = Faults {
            vault: vault.server.control(),
            identity: vec![imds.server.control(), app_service.server.control()],
            secrets: vault.secrets.clone(),
            throttle: vault.throttle.clone(),
            denied: vault.denied.clone(),
            paging: vault.paging.clone(),
            tokens: tokens.clone(),
        };
        let control =
            at(3).and_then(|p| control::start(p, faults.clone()).map_err(bind_error("control", p)))?;
        Ok(Emulator { tokens, imds, app_service, vault, control, faults, identity_header })
    }

    /// The variables that point kvinit at this emulator, in print order.
    pub fn env(&self, identity: Identity) -> Vec<(&'static str, String)> {
        let mut env = match identity {
            Identity::Imds => vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.imds.authority_host())],
            Identity::AppService => vec![
                ("IDENTITY_ENDPOINT", self.app_service.url("http", "/msi/token")),
                ("IDENTITY_HEADER", self.identity_header.clone()),
            ],
        };
        env.extend([
            ("SSL_CERT_FILE", self.vault.ca_file.display().to_string()),
            ("KVINIT_VAULT", self.vault.url()),
            ("KVINIT_ALLOW_VAULT_HOSTS", self.vault.host()),
            ("KVINIT_EMULATOR_CONTROL", format!("http://127.0.0.1:{}", self.control.port())),
        ]);
        env
    }

    pub fn set_latency(&self, target: Target, latency: Duration) {
        self.faults.set_latency(target, latency)
    }

    pub fn fail_next(&self, target: Target, count: usize, status: u16) {
        self.faults.fail_next(target, count, status)
    }

    /// Limits the vault to `per_second` GETs a second (429 over it); `None` lifts the limit.
    pub fn throttle(&self, per_second: Option<usize>) {
        self.faults.throttle(per_second)
    }

    /// Answers reads of `name` (`*`: every secret and the list) with the
    /// 403 a vault sends for `why`.
    pub fn deny(&self, name: &str, why: Denial) {
        self.faults.deny(name, Some(why))
    }

    /// Adds a new current version of `name` (creating it if need be); returns its id.
    pub fn rotate(&self, name: &str, value: &str) -> String {
        self.faults.rotate(name, value)
    }
}

/// "binding 127.0.0.1:8082 for Key Vault: Address already in use".
fn bind_error(what: &'static str, port: u16) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("binding 127.0.0.1:{port} for {what}: {e}"))
}

fn too_high() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "--port leaves no room for the four ports after it")
}

/// The handles that faults and rotation work through, shared with the control API.
#[derive(Clone)]
struct Faults {
    vault: server::Control,
    identity: Vec<server::Control>,
    secrets: Arc<Mutex<BTreeMap<String, StoredSecret>>>,
    throttle: Arc<Mutex<Option<Throttle>>>,
    denied: Arc<Mutex<Vec<(String, Denial)>>>,
    paging: Arc<Mutex<azure::Paging>>,
    tokens: Tokens,
}

impl Faults {
    fn each(&self, target: Target, mut f: impl FnMut(&server::Control, bool)) {
        if matches!(target, Target::Vault | Target::All) {
            f(&self.vault, true);
        }
        if matches!(target, Target::Identity | Target::All) {
            self.identity.iter().for_each(|c| f(c, false));
        }
    }

    fn set_latency(&self, target: Target, latency: Duration) {
        self.each(target, |c, _| c.set_latency(latency));
    }

    fn fail_next(&self, target: Target, count: usize, status: u16) {
        self.each(target, |c, vault| {
            c.fail_next(count, if vault { azure::vault_fault(status) } else { azure::identity_fault(status) })
        });
    }

    fn throttle(&self, per_second: Option<usize>) {
        *self.throttle.lock().unwrap() = per_second.map(|n| Throttle::new(n, Duration::from_secs(1)));
    }

    /// `None` allows `name` again.
    fn deny(&self, name: &str, why: Option<Denial>) {
        let mut list = self.denied.lock().unwrap();
        list.retain(|(n, _)| n != name);
        list.extend(why.map(|why| (name.to_string(), why)));
    }

    fn rotate(&self, name: &str, value: &str) -> String {
        azure::add_version(&self.secrets, name, value)
    }
}
