//! `--refresh`: the rounds that re-read every secret while the command runs
//! (`--init`), rewrite the files whose value changed, and say which
//! variables did (a running process cannot see them change). Rendering and
//! writing are start-up's own (`render`).

use std::time::Duration;

use crate::error::one_line;
use crate::launch;
use crate::retry::{Deadline, Rng};
use crate::secret::SecretBytes;
use crate::sink::Dest;
use crate::vault;

use super::read::{unix_now, Running};
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

impl Refresher {
    pub fn new(running: Running, every: Duration, timeout: Duration) -> Refresher {
        Refresher { running, every, timeout, slow: 0, rng: Rng::new() }
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
        if !renewed(self, false) {
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

    fn run(&mut self) -> bool {
        let Some(results) = self.read(Deadline::after(self.timeout)) else { return false };
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
        self.apply(changed)
    }
}

impl Refresher {
    /// Writes the changed files together, all or none, and warns about
    /// changed variables; `true` if any file changed.
    fn apply(&mut self, changed: Vec<(usize, SecretBytes)>) -> bool {
        let running = &mut self.running;
        let files: Vec<_> =
            changed.iter().filter(|(i, _)| matches!(running.outputs[*i].dest, Dest::File(_))).collect();
        if let (Some(dir), false) = (&running.dir, files.is_empty()) {
            let values = files.iter().map(|(i, value)| (&running.outputs[*i], value));
            if let Err(e) = render::write_files(dir, values) {
                log::error!("refresh: {}; keeping the current files", one_line(&e));
                return false;
            }
        }
        let wrote = !files.is_empty();
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
        wrote
    }
}
