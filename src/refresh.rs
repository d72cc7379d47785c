//! `--refresh`: the rounds that re-read every secret while the command runs
//! (`--init`), rewrite the files whose value changed, and say which
//! variables did (a running process cannot see them change).

use std::time::Duration;

use crate::config::{Dest, Output};
use crate::launch;
use crate::retry::{Deadline, Rng};
use crate::run::{unix_now, RefreshState, Session};
use crate::secret::SecretBytes;
use crate::vault::{self, PlannedSecret};
use crate::{sink, transform};

/// Tokens are renewed this long before they expire.
const TOKEN_MARGIN: u64 = 5 * 60;

/// `--refresh`: re-reads every secret each round, rewrites files whose value
/// changed, and warns about changed variables (a running process cannot see
/// them). A failed round changes nothing and is retried next round, later
/// when Key Vault throttles.
pub struct Refresher {
    /// `--timeout`, for each round.
    timeout: Duration,
    session: Session,
    secrets: Vec<PlannedSecret>,
    outputs: Vec<Output>,
    /// The value each output has now; `None` for a missing optional secret.
    values: Vec<Option<SecretBytes>>,
    /// The secrets directory, opened before the command started.
    dir: Option<sink::file::Dir>,
    every: Duration,
    /// Rounds are spaced 2^slow times `every` after throttling.
    slow: u32,
    rng: Rng,
}

impl Refresher {
    pub fn new(
        state: RefreshState,
        dir: Option<sink::file::Dir>,
        every: Duration,
        timeout: Duration,
    ) -> Refresher {
        let (session, secrets, outputs, values) = state;
        Refresher { timeout, session, secrets, outputs, values, dir, every, slow: 0, rng: Rng::new() }
    }

    /// Gets new tokens for those about to expire, or for all with `all`.
    fn renew_tokens(&mut self, deadline: Deadline, all: bool) -> Result<(), crate::identity::Error> {
        let now = unix_now();
        for (resource, token) in self.session.tokens.iter_mut() {
            let fresh = token.expires_on.is_some_and(|t| t > now.saturating_add(TOKEN_MARGIN));
            if all || !fresh {
                *token = self.session.source.token(resource, deadline)?;
                log::debug!("renewed the token for {resource}");
            }
        }
        Ok(())
    }
}

impl launch::Refresh for Refresher {
    fn next_delay(&mut self) -> Duration {
        self.rng.jitter(self.every * (1 << self.slow), 0.1)
    }

    fn run(&mut self) -> bool {
        let deadline = Deadline::after(self.timeout);
        if let Err(e) = self.renew_tokens(deadline, false) {
            log::error!("refresh: {}; keeping the current secrets", crate::error::one_line(&e));
            return false;
        }
        let read = |s: &Self| {
            let tokens = &s.session.tokens;
            vault::read_all(&s.session.web, &s.secrets, &|r| &tokens[r], deadline)
        };
        let mut results = read(self);
        // A token can stop working before it says it expires (revoked, the
        // identity changed): renew once, and read again.
        let rejected = |e: &vault::Error| matches!(e.kind, vault::ErrorKind::Status { status: 401, .. });
        if results.iter().any(|r| r.as_ref().is_err_and(rejected)) {
            log::info!("refresh: Key Vault rejected the token; getting a new one");
            if let Err(e) = self.renew_tokens(deadline, true) {
                log::error!("refresh: {}; keeping the current secrets", crate::error::one_line(&e));
                return false;
            }
            results = read(self);
        }
        let mut throttled = false;
        let mut rewrites: Vec<(usize, SecretBytes)> = Vec::new();
        for (i, output) in self.outputs.iter().enumerate() {
            let reference = &self.secrets[output.secret].reference;
            let value = match &results[output.secret] {
                Ok(f) => transform::apply(&f.value, &output.options),
                Err(e) => {
                    throttled |= matches!(e.kind, vault::ErrorKind::Status { status: 429, .. });
                    if !(output.options.optional && e.is_missing()) {
                        log::error!("refresh: {}; keeping {}", crate::error::one_line(e), output.dest);
                    }
                    continue;
                }
            };
            let value = match value {
                Ok(v) => v,
                Err(e) => {
                    log::error!("refresh: {reference} for {}: {e}; keeping the current value", output.dest);
                    continue;
                }
            };
            if self.values[i].as_ref() == Some(&value) {
                continue;
            }
            match &output.dest {
                Dest::File(_) => rewrites.push((i, value)),
                Dest::Env(var) => {
                    log::warn!(
                        "refresh: {reference} changed in Key Vault, but {var} of the running command cannot \
                         change; restart it to pick up the new value"
                    );
                    self.values[i] = Some(value);
                }
            }
        }
        let changed_files = self.rewrite(rewrites);
        self.slow = if throttled { (self.slow + 1).min(3) } else { 0 };
        changed_files > 0
    }
}

impl Refresher {
    /// Writes the changed files together, all or none; returns how many.
    fn rewrite(&mut self, rewrites: Vec<(usize, SecretBytes)>) -> usize {
        let Some(dir) = &self.dir else { return 0 };
        if rewrites.is_empty() {
            return 0;
        }
        let path = |i: usize| match &self.outputs[i].dest {
            Dest::File(path) => path.as_path(),
            Dest::Env(_) => unreachable!("only files are rewritten"),
        };
        let files: Vec<_> = rewrites.iter().map(|(i, value)| (path(*i), value)).collect();
        if let Err(e) = dir.write_all(&files) {
            log::error!("refresh: {}; keeping the current files", crate::error::one_line(&e));
            return 0;
        }
        let written = files.len();
        for (i, value) in rewrites {
            let output = &self.outputs[i];
            log::info!(
                "refresh: {} changed in Key Vault; rewrote {}",
                self.secrets[output.secret].reference,
                output.dest
            );
            self.values[i] = Some(value);
        }
        written
    }
}
