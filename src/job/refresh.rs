//! `--refresh`: the rounds that re-read every secret while the command runs
//! (`--init`), rewrite the files whose value changed, and say which
//! variables did (a running process cannot see them change). Rendering and
//! writing are start-up's own (`render`).

use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::error::one_line;
use crate::launch::{self, Outcome};
use crate::retry::{Deadline, Rng};
use crate::secret::SecretBytes;
use crate::sink::{Dest, Output};
use crate::vault::{self, Fetched};

use super::read::{unix_now, Reads, Running};
use super::render::{self, Problem};

/// Tokens are renewed this long before they expire.
const TOKEN_MARGIN: u64 = 5 * 60;

/// `--refresh`: re-reads every secret each round, rewrites files whose value
/// changed, and warns about changed variables (a running process cannot see
/// them). A failed round changes nothing and is retried next round, later
/// when Key Vault throttles.
pub struct Refresher {
    running: Running,
    every: Duration,
    /// `--timeout`, for each round.
    timeout: Duration,
    /// Rounds are spaced 2^slow times `every` after throttling.
    slow: u32,
    rng: Rng,
    /// By secret: deleted or disabled since it was last read (its last
    /// value kept), so that this is said once, not every round.
    gone: Vec<bool>,
    /// `--refresh-sentinel` could not be read last round: said once too.
    sentinel_failing: bool,
}

/// A tenth of Key Vault's limit (4,000 GETs per 10 s per vault) shared by
/// a fleet of 100 containers: the GETs an hour one container may make.
const FAIR_GETS_PER_HOUR: u64 = 4_000 * 360 / 10 / 100;

impl Refresher {
    pub fn new(running: Running, every: Duration, timeout: Duration) -> Refresher {
        let per_round = if running.sentinel.is_some() { 1 } else { running.reads.secrets.len() as u64 };
        let per_hour = per_round * 3600 / every.as_secs().max(1);
        log::info!(gets_per_hour = per_hour; "refresh: {per_round} GET(s) every {}s, about {per_hour} an hour", every.as_secs());
        if per_hour > FAIR_GETS_PER_HOUR {
            let or = if running.sentinel.is_some() {
                ""
            } else {
                ", or read only a --refresh-sentinel each round"
            };
            log::warn!(
                "refresh: 100 containers like this one would use more than a tenth of Key Vault's limit of 4,000 \
                 GETs per 10 s per vault; refresh less often{or}"
            );
        }
        let gone = vec![false; running.reads.secrets.len()];
        Refresher { running, every, timeout, slow: 0, rng: Rng::new(), gone, sentinel_failing: false }
    }

    /// With `--refresh-sentinel`: reads it, and `true` if the round should
    /// read every secret (its version changed, or it could not be read for
    /// a token Key Vault rejected, which the full read renews).
    fn sentinel_changed(&mut self, deadline: Deadline) -> bool {
        let running = &mut self.running;
        let Some((sentinel, seen)) = &mut running.sentinel else { return true };
        let token = &running.session.tokens[sentinel.resource];
        let read = vault::read(&running.session.web, &sentinel.reference, token, deadline);
        self.sentinel_failing &= read.is_err();
        match read {
            Ok(f) if seen.as_deref() == Some(f.id.as_str()) => {
                log::debug!("refresh: {} is unchanged", sentinel.reference);
                false
            }
            Ok(f) => {
                log::info!("refresh: {} changed; reading every secret", sentinel.reference);
                *seen = Some(f.id.clone());
                true
            }
            Err(e) if matches!(e.kind, vault::ErrorKind::Status { status: 401, .. }) => true,
            Err(_) if std::mem::replace(&mut self.sentinel_failing, true) => false,
            Err(e) => {
                log::error!(
                    "refresh: {}; keeping the current secrets (said once until it is read again)",
                    one_line(&e)
                );
                false
            }
        }
    }

    /// Gets new tokens for those about to expire, or for all with `all`.
    fn renew_tokens(&mut self, deadline: Deadline, all: bool) -> Result<(), crate::identity::Error> {
        let session = &mut self.running.session;
        let now = unix_now();
        for (resource, token) in session.tokens.iter_mut() {
            let fresh = token.expires_on.is_some_and(|t| t > now.saturating_add(TOKEN_MARGIN));
            if all || !fresh {
                *token = session.source.token(resource, deadline)?;
                log::debug!("renewed the token for {resource}");
            }
        }
        Ok(())
    }

    /// Reads every secret; a token Key Vault rejects (revoked, the identity
    /// changed) is renewed once, and the secrets read again.
    fn read(&mut self, deadline: Deadline) -> Option<Vec<Result<Fetched, vault::Error>>> {
        let read = |r: &Running| {
            let tokens = &r.session.tokens;
            vault::read_all(&r.session.web, &r.reads.secrets, &|resource| &tokens[resource], deadline)
        };
        let renewed = |s: &mut Self, all| match s.renew_tokens(deadline, all) {
            Ok(()) => true,
            Err(e) => {
                log::error!("refresh: {}; keeping the current secrets", one_line(&e));
                false
            }
        };
        if !renewed(self, false) || !self.sentinel_changed(deadline) {
            return None;
        }
        let results = read(&self.running);
        let rejected = |e: &vault::Error| matches!(e.kind, vault::ErrorKind::Status { status: 401, .. });
        if !results.iter().any(|r| r.as_ref().is_err_and(rejected)) {
            return Some(results);
        }
        log::info!("refresh: Key Vault rejected the token; getting a new one");
        renewed(self, true).then(|| read(&self.running))
    }
}

impl launch::Refresh for Refresher {
    fn next_delay(&mut self) -> Duration {
        self.rng.jitter(self.every * (1 << self.slow), 0.1)
    }

    fn run(&mut self) -> Outcome {
        let deadline = Deadline::after(self.timeout);
        let Some(results) = self.read(deadline) else { return Outcome::default() };
        let (previous, throttled) = self.merge(results);
        self.slow = if throttled { (self.slow + 1).min(3) } else { 0 };
        let changed = |o: &Output| o.slots().any(|s| previous[s.secret].is_some());
        let outputs: Vec<usize> = (0..self.running.reads.outputs.len())
            .filter(|&i| changed(&self.running.reads.outputs[i]))
            .collect();
        if outputs.is_empty() {
            return Outcome::default();
        }
        // A round is applied whole or not at all: a new version that does
        // not render (no longer JSON, a broken certificate) keeps every
        // value as it was, and is tried again next round. Each certificate
        // is parsed once, for the files and the environment alike.
        let until = Instant::now() + deadline.remaining();
        let certs = render::Certs::new(self.running.reads.secrets.len(), until);
        let rendered = self.render(&outputs, &certs);
        let env = match (&rendered, &self.running.rerender) {
            (Some(_), Some(_)) => self.environment(&certs),
            _ => None,
        };
        let (Some(rendered), true) = (rendered, env.is_some() || self.running.rerender.is_none()) else {
            self.revert(previous);
            return Outcome::default();
        };
        let files = self.write(rendered);
        let Some(files) = files else {
            self.revert(previous);
            return Outcome::default();
        };
        self.log_changes(&outputs, &previous);
        let variables = outputs.iter().any(|&i| !matches!(self.running.reads.outputs[i].dest, Dest::File(_)));
        Outcome { changed: files, variables, env }
    }
}

impl Refresher {
    /// Lays this round's reads over the last: a secret read anew replaces
    /// its value if it changed (version, value or content type), and one
    /// that could not be read keeps it, whatever the reason: a secret
    /// deleted or disabled while the command runs keeps its last value in
    /// every output, as a vault that cannot be reached does. Returns, by
    /// secret, the value replaced (`Some` for a change), and whether Key
    /// Vault throttled.
    fn merge(
        &mut self,
        results: Vec<Result<Fetched, vault::Error>>,
    ) -> (Vec<Option<Result<Fetched, vault::Error>>>, bool) {
        let mut throttled = false;
        let reads = &mut self.running.reads;
        let mut previous: Vec<Option<Result<Fetched, vault::Error>>> = Vec::with_capacity(results.len());
        for (i, result) in results.into_iter().enumerate() {
            let reference = &reads.secrets[i].reference;
            let held = &mut reads.fetched[i];
            let replaced = match (result, &*held) {
                (Ok(new), Ok(old)) if same(&new, old) => {
                    if std::mem::take(&mut self.gone[i]) {
                        let message = format_args!("refresh: {reference} can be read again");
                        render::log_secret(log::Level::Info, reference, None, message);
                    }
                    None
                }
                (Ok(new), _) => {
                    self.gone[i] = false;
                    Some(std::mem::replace(held, Ok(new)))
                }
                (Err(e), Ok(_)) if e.is_missing() => {
                    if !std::mem::replace(&mut self.gone[i], true) {
                        let what = if e.is_disabled() { "disabled" } else { "deleted or missing" };
                        let dests = destinations(reads, i);
                        let message = format_args!(
                            "refresh: {reference} is now {what} in Key Vault; keeping its last value in {dests}"
                        );
                        render::log_secret(log::Level::Warn, reference, None, message);
                    }
                    None
                }
                // An optional secret that is still absent.
                (Err(e), Err(_)) if e.is_missing() => None,
                (Err(e), _) => {
                    throttled |= matches!(e.kind, vault::ErrorKind::Status { status: 429, .. });
                    let (why, dests) = (one_line(&e), destinations(reads, i));
                    render::log_secret(
                        log::Level::Error,
                        reference,
                        None,
                        format_args!("refresh: {why}; keeping {dests}"),
                    );
                    None
                }
            };
            previous.push(replaced);
        }
        (previous, throttled)
    }

    /// Puts back the values `merge` replaced.
    fn revert(&mut self, previous: Vec<Option<Result<Fetched, vault::Error>>>) {
        for (i, old) in previous.into_iter().enumerate() {
            if let Some(old) = old {
                self.running.reads.fetched[i] = old;
            }
        }
    }

    /// The new value of each output in `outputs`, or `None` (logged) if
    /// one cannot be rendered.
    fn render(&self, outputs: &[usize], certs: &render::Certs) -> Option<Vec<(usize, Option<SecretBytes>)>> {
        let reads = &self.running.reads;
        let mut values = Vec::with_capacity(outputs.len());
        for &i in outputs {
            let output = &reads.outputs[i];
            match render::value(output, &reads.fetched, certs).value {
                Ok(value) => values.push((i, value)),
                Err(Problem::Failed(secret, e)) => {
                    let reference = &reads.secrets[secret].reference;
                    let dest = &output.dest;
                    let message =
                        format_args!("refresh: {reference} for {dest}: {e}; keeping every current value");
                    render::log_secret(log::Level::Error, reference, Some(dest), message);
                    return None;
                }
                // Every secret was read at start-up, or is optional.
                Err(Problem::Unreadable(_)) => return None,
            }
        }
        Some(values)
    }

    /// With `--on-change restart` or `--on-change-run`: the command's
    /// environment from the values now held, rendered as at start-up;
    /// `None` (logged) when it cannot be.
    fn environment(&self, certs: &render::Certs) -> Option<Vec<(OsString, OsString)>> {
        let (base, home) = self.running.rerender.as_ref()?;
        let (rendered, failures) =
            render::render(&self.running.reads, base, render::Scope::Environment, certs);
        if failures.is_some() {
            log::error!("refresh: not every secret could be rendered; keeping every current value");
            return None;
        }
        Some(render::child_env(base, home.as_deref(), &rendered))
    }

    /// Writes the changed files together, all or none; whether any was
    /// written, or `None` (logged) if they could not be.
    fn write(&self, rendered: Vec<(usize, Option<SecretBytes>)>) -> Option<bool> {
        let outputs = &self.running.reads.outputs;
        let files: Vec<_> = rendered
            .iter()
            .filter_map(|(i, value)| Some((&outputs[*i], value.as_ref()?)))
            .filter(|(output, _)| matches!(output.dest, Dest::File(_)))
            .collect();
        if let (Some(dir), false) = (&self.running.dir, files.is_empty()) {
            if let Err(e) = render::write_files(dir, files.iter().copied()) {
                log::error!("refresh: {}; keeping the current files", one_line(&e));
                return None;
            }
        }
        Some(!files.is_empty())
    }

    /// One line per changed output: what changed, and what it takes for
    /// the command to see it.
    fn log_changes(&self, outputs: &[usize], previous: &[Option<Result<Fetched, vault::Error>>]) {
        let restart = self.running.restarts;
        let reads = &self.running.reads;
        for &i in outputs {
            let output = &reads.outputs[i];
            let mut names: Vec<String> = output
                .slots()
                .filter(|s| previous[s.secret].is_some())
                .map(|s| reads.secrets[s.secret].reference.to_string())
                .collect();
            names.dedup();
            let names = names.join(", ");
            let dest = &output.dest;
            let changed = format!("refresh: {names} changed in Key Vault");
            let (level, text) = match dest {
                Dest::File(_) => (log::Level::Info, format!("{changed}; rewrote {dest}")),
                Dest::Env(var) if restart => (log::Level::Info, format!("{changed}; {var} changes with a restart")),
                Dest::EnvFrom(_) if restart => {
                    (log::Level::Info, format!("{changed}; its variables change with a restart"))
                }
                Dest::Env(var) => (
                    log::Level::Warn,
                    format!(
                        "{changed}, but {var} of the running command cannot change; restart it to pick up the new value"
                    ),
                ),
                Dest::EnvFrom(_) => (
                    log::Level::Warn,
                    format!(
                        "{changed}, but the variables it gives the running command cannot change; restart it to \
                         pick up the new values"
                    ),
                ),
            };
            let (variable, file) = (dest.variable(), dest.file());
            log::log!(level, secret = names.as_str(), variable, file; "{text}");
        }
    }
}

/// Whether two reads of a secret are the same: a new version, value or
/// content type is a change; a new encoding of the same (a PFX kvinit
/// writes with a fresh salt each time) is not.
fn same(new: &Fetched, old: &Fetched) -> bool {
    new.id == old.id && new.content_type == old.content_type && new.value.expose() == old.value.expose()
}

/// Where secret `i` goes, for a log line: "DB_PASSWORD, file:tls.key".
fn destinations(reads: &Reads, i: usize) -> String {
    let uses = |o: &&Output| o.slots().any(|s| s.secret == i);
    let dests: Vec<String> = reads.outputs.iter().filter(uses).map(|o| o.dest.to_string()).collect();
    match dests.is_empty() {
        true => "its last value".into(),
        false => dests.join(", "),
    }
}
