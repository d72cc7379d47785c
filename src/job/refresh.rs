//! `--refresh`: the rounds that re-read every secret while the command runs
//! (`--init`), rewrite the files whose value changed, and say which
//! variables did (a running process cannot see them change). Rendering and
//! writing are start-up's own (`render`).

use std::ffi::OsString;
use std::time::Duration;

use crate::error::one_line;
use crate::launch::{self, Outcome};
use crate::retry::{Deadline, Rng};
use crate::secret::SecretBytes;
use crate::sink::Dest;
use crate::vault;

use super::read::{unix_now, Reads, Running};
use super::render::{self, Problem, Rendering};

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
}

/// A tenth of Key Vault's limit (4,000 GETs per 10 s per vault) shared by
/// a fleet of 100 containers: the GETs an hour one container may make.
const FAIR_GETS_PER_HOUR: u64 = 4_000 * 360 / 10 / 100;

impl Refresher {
    pub fn new(running: Running, every: Duration, timeout: Duration) -> Refresher {
        let per_round = if running.sentinel.is_some() { 1 } else { running.secrets.len() as u64 };
        let per_hour = per_round * 3600 / every.as_secs().max(1);
        log::info!(gets_per_hour = per_hour; "refresh: {per_round} GET(s) every {}s, about {per_hour} an hour", every.as_secs());
        if per_hour > FAIR_GETS_PER_HOUR {
            log::warn!(
                "refresh: 100 containers like this one would use more than a tenth of Key Vault's limit of 4,000 \
                 GETs per 10 s per vault; refresh less often, or read only a --refresh-sentinel each round"
            );
        }
        Refresher { running, every, timeout, slow: 0, rng: Rng::new() }
    }

    /// With `--refresh-sentinel`: reads it, and `true` if the round should
    /// read every secret (its version changed, or it could not be read for
    /// a token Key Vault rejected, which the full read renews).
    fn sentinel_changed(&mut self, deadline: Deadline) -> bool {
        let running = &mut self.running;
        let Some((sentinel, seen)) = &mut running.sentinel else { return true };
        let token = &running.session.tokens[sentinel.resource];
        match vault::read(&running.session.web, &sentinel.reference, token, deadline) {
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
            Err(e) => {
                log::error!("refresh: {}; keeping the current secrets", one_line(&e));
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
    fn read(&mut self, deadline: Deadline) -> Option<Vec<Result<vault::Fetched, vault::Error>>> {
        let read = |r: &Running| {
            let tokens = &r.session.tokens;
            vault::read_all(&r.session.web, &r.secrets, &|resource| &tokens[resource], deadline)
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
        let Some(results) = self.read(Deadline::after(self.timeout)) else { return Outcome::default() };
        let running = &mut self.running;
        let mut throttled = false;
        let mut changed: Vec<(usize, SecretBytes)> = Vec::new();
        for (i, output) in running.outputs.iter().enumerate() {
            let Rendering { value, .. } = render::value(output, &results);
            let value = match value {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(Problem::Unreadable(failed)) => {
                    for (secret, e) in failed {
                        let reference = &running.secrets[secret].reference;
                        throttled |= matches!(e.kind, vault::ErrorKind::Status { status: 429, .. });
                        log::error!(
                            secret = reference.name.as_str(), vault = reference.vault.to_string().as_str(),
                            variable = output.dest.variable(), file = output.dest.file();
                            "refresh: {}; keeping {}", one_line(e), output.dest
                        );
                    }
                    continue;
                }
                Err(Problem::Failed(secret, e)) => {
                    let reference = &running.secrets[secret].reference;
                    log::error!(
                        secret = reference.name.as_str(), vault = reference.vault.to_string().as_str(),
                        variable = output.dest.variable(), file = output.dest.file();
                        "refresh: {reference} for {}: {e}; keeping the current value", output.dest
                    );
                    continue;
                }
            };
            if running.values[i].as_ref() != Some(&value) {
                changed.push((i, value));
            }
        }
        self.slow = if throttled { (self.slow + 1).min(3) } else { 0 };
        let (wrote, applied) = self.apply(changed);
        let env = match applied {
            true => self.environment(results),
            false => None,
        };
        Outcome { changed: wrote, env }
    }
}

impl Refresher {
    /// With `--on-change restart` or `--on-change-run`: the command's
    /// environment from this round's values, rendered as at start-up; `None`
    /// otherwise, or when a value cannot be rendered (the running command
    /// is kept).
    fn environment(
        &self,
        fetched: Vec<Result<vault::Fetched, vault::Error>>,
    ) -> Option<Vec<(OsString, OsString)>> {
        let (base, home) = self.running.rerender.as_ref()?;
        let reads =
            Reads { secrets: self.running.secrets.clone(), outputs: self.running.outputs.clone(), fetched };
        let (rendered, failures) = render::render(&reads);
        if failures.is_some() {
            log::error!("refresh: not every secret could be rendered; keeping the running command");
            return None;
        }
        Some(super::start::child_env(base, home.as_deref(), &rendered))
    }

    /// Writes the changed files together, all or none, and logs the changed
    /// variables; whether a file was written, and whether anything changed.
    fn apply(&mut self, changed: Vec<(usize, SecretBytes)>) -> (bool, bool) {
        let restart = self.running.restarts;
        let running = &mut self.running;
        let files: Vec<_> =
            changed.iter().filter(|(i, _)| matches!(running.outputs[*i].dest, Dest::File(_))).collect();
        if let (Some(dir), false) = (&running.dir, files.is_empty()) {
            let values = files.iter().map(|(i, value)| (&running.outputs[*i], value));
            if let Err(e) = render::write_files(dir, values) {
                log::error!("refresh: {}; keeping the current files", one_line(&e));
                return (false, false);
            }
        }
        let wrote = !files.is_empty();
        let applied = !changed.is_empty();
        for (i, value) in changed {
            let output = &running.outputs[i];
            let names: Vec<String> =
                output.slots().map(|s| running.secrets[s.secret].reference.to_string()).collect();
            let names = names.join(", ");
            match &output.dest {
                Dest::File(_) => log::info!(
                    secret = names.as_str(), file = output.dest.file();
                    "refresh: {names} changed in Key Vault; rewrote {}", output.dest
                ),
                Dest::Env(var) if restart => log::info!(
                    secret = names.as_str(), variable = var.as_str();
                    "refresh: {names} changed in Key Vault; {var} changes with a restart"
                ),
                Dest::EnvFrom(_) if restart => log::info!(
                    secret = names.as_str();
                    "refresh: {names} changed in Key Vault; its variables change with a restart"
                ),
                Dest::Env(var) => log::warn!(
                    secret = names.as_str(), variable = var.as_str();
                    "refresh: {names} changed in Key Vault, but {var} of the running command cannot change; \
                     restart it to pick up the new value"
                ),
                Dest::EnvFrom(_) => log::warn!(
                    secret = names.as_str();
                    "refresh: {names} changed in Key Vault, but the variables it gives the running command \
                     cannot change; restart it to pick up the new values"
                ),
            }
            running.values[i] = Some(value);
        }
        (wrote, applied)
    }
}
