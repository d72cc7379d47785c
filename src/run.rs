//! The job, step by step: resolve the user, prepare the secrets directory,
//! read the secrets, render and write them, then check, exec or supervise.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::config::{Dest, Import, Origin, Output, Plan};
use crate::error::{Error, RenderError};
use crate::http::{Client, Roots};
use crate::identity::{self, TokenSource};
use crate::launch::{self, signals, user};
use crate::retry::Deadline;
#[cfg(unix)]
use crate::retry::Rng;
use crate::secret::{AccessToken, SecretBytes};
use crate::vault::{self, Fetched, PlannedSecret};
use crate::{sink, transform};

/// Runs the plan. Returns the exit code: `--check`'s, or the command's when
/// kvinit waits for it (`--init`, Windows). Otherwise success replaces this
/// process, so it returns only on failure.
pub fn run(mut plan: Plan, original: signals::Original) -> Result<i32, Error> {
    let started = Instant::now();
    let guard = signals::StartupGuard::start();
    let deadline = Deadline::after(plan.timeout);
    let ids = plan.user.as_ref().map(user::resolve).transpose().map_err(Error::User)?;
    let owner = file_owner(&plan, ids.as_ref());
    let dir = match has_files(&plan.outputs) {
        true => Some(sink::file::Dir::prepare(&plan.files, owner).map_err(Error::File)?),
        false => None,
    };
    let ((secrets, outputs, fetched), session) = read_secrets(&mut plan, deadline)?;
    let rendered = match render(&secrets, &outputs, &fetched) {
        Ok(rendered) => rendered,
        Err((reads, renders)) => return Err(unreadable(fetched, &reads, renders)),
    };
    if plan.check {
        print_check(&secrets, &rendered);
        return Ok(0);
    }
    if let Some(dir) = &dir {
        write_files(dir, &rendered)?;
    }
    let env = child_env(&plan, ids.as_ref(), &rendered);
    guard.stop();
    match &plan.init {
        None => {
            if let Some(ids) = &ids {
                user::switch(ids).map_err(Error::User)?;
            }
            report_success(&plan, &secrets, &rendered, started);
            launch::run(&plan.command, env, original).map_err(Error::Launch)
        }
        Some(init) => {
            report_success(&plan, &secrets, &rendered, started);
            let values = rendered.into_iter().map(|r| r.value).collect();
            // Refresh compares rendered values; the bundles as read go now.
            drop(fetched);
            supervise(&plan, init, env, original, ids, dir, session.map(|s| (s, secrets, outputs, values)))
        }
    }
}

#[cfg(unix)]
fn supervise(
    plan: &Plan,
    init: &crate::config::InitPlan,
    env: Vec<(OsString, OsString)>,
    original: signals::Original,
    ids: Option<user::Ids>,
    dir: Option<sink::file::Dir>,
    state: Option<RefreshState>,
) -> Result<i32, Error> {
    if ids.is_some() && !nix::unistd::geteuid().is_root() {
        return Err(Error::User(user::Error::NotRoot));
    }
    let refresher = match (init.refresh, state) {
        (Some(every), Some((session, secrets, outputs, values))) => {
            let timeout = plan.timeout;
            Some(Refresher {
                timeout,
                session,
                secrets,
                outputs,
                values,
                dir,
                every,
                slow: 0,
                rng: Rng::new(),
            })
        }
        _ => None,
    };
    let options =
        launch::Init { group: init.group, remap: init.remap.clone(), refresh_signal: init.refresh_signal };
    let refresh = refresher.map(|r| Box::new(r) as Box<dyn launch::Refresh>);
    launch::supervise(&plan.command, env, original, &options, ids, refresh).map_err(|e| match e {
        launch::SuperviseError::Launch(e) => Error::Launch(e),
        launch::SuperviseError::User(e) => Error::User(e),
    })
}

/// Windows always waits for the command; `--init` adds nothing there.
#[cfg(not(unix))]
fn supervise(
    plan: &Plan,
    init: &crate::config::InitPlan,
    env: Vec<(OsString, OsString)>,
    original: signals::Original,
    _ids: Option<user::Ids>,
    _dir: Option<sink::file::Dir>,
    _state: Option<RefreshState>,
) -> Result<i32, Error> {
    if init.refresh.is_some() {
        log::warn!("--refresh is not supported on Windows yet; secrets are read once");
    }
    launch::run(&plan.command, env, original).map_err(Error::Launch)
}

/// Everything a refresh round starts from: the session, what is read, and
/// the value each output has now.
type RefreshState = (Session, Vec<PlannedSecret>, Vec<Output>, Vec<Option<SecretBytes>>);

/// What it takes to read secrets again: the identity and its tokens.
#[cfg_attr(not(unix), allow(dead_code))] // --refresh reads it, and is Unix-only
struct Session {
    source: Box<dyn TokenSource>,
    web: Client,
    tokens: BTreeMap<&'static str, AccessToken>,
}

/// Tokens are renewed this long before they expire.
#[cfg(unix)]
const TOKEN_MARGIN: u64 = 5 * 60;

/// `--refresh`: re-reads every secret each round, rewrites files whose value
/// changed, and warns about changed variables (a running process cannot see
/// them). A failed round changes nothing and is retried next round, later
/// when Key Vault throttles.
#[cfg(unix)]
struct Refresher {
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

#[cfg(unix)]
impl Refresher {
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

#[cfg(unix)]
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

#[cfg(unix)]
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

fn has_files(outputs: &[Output]) -> bool {
    outputs.iter().any(|o| matches!(o.dest, Dest::File(_)))
}

/// What was asked for (imports included), and what each read came to.
type Reads = (Vec<PlannedSecret>, Vec<Output>, Vec<Result<Fetched, vault::Error>>);

/// Reads every planned secret, and with `--all-secrets` every enabled
/// secret of the vault not already requested. Fails closed: any failure
/// that `?optional` does not excuse stops here.
fn read_secrets(plan: &mut Plan, deadline: Deadline) -> Result<(Reads, Option<Session>), Error> {
    let mut secrets = plan.secrets.clone();
    let mut outputs = plan.outputs.clone();
    if secrets.is_empty() && plan.import.is_none() {
        plan.env.forget_credentials();
        log::warn!(
            "no secrets requested (no --env, --file, --all-secrets, KVINIT_ENV or Key Vault references)"
        );
        return Ok(((secrets, outputs, Vec::new()), None));
    }
    let roots = Roots::new(plan.ssl_cert_file.as_deref()).map_err(Error::Setup)?;
    // Refresh rounds are minutes apart: an idle connection would only keep
    // a token and values in its buffers between them.
    let keep_alive = plan.init.as_ref().is_none_or(|init| init.refresh.is_none());
    let (direct, web) = identity::clients(&roots, keep_alive).map_err(Error::Setup)?;
    preconnect(&web, &secrets, plan.import.as_ref(), deadline);
    let source = choose_identity(plan, direct, web.clone());
    plan.env.forget_credentials();
    let source = source?;
    let mut resources: Vec<&'static str> = secrets.iter().map(|s| s.resource).collect();
    resources.extend(plan.import.as_ref().map(|i| i.resource));
    let tokens = get_tokens(&*source, &resources, deadline)?;
    if let Some(import) = &plan.import {
        let listed =
            vault::list(&web, &import.vault, &tokens[import.resource], deadline).map_err(Error::Listing)?;
        plan_import(import, &plan.child_env, listed, &mut secrets, &mut outputs);
    }
    let results = vault::read_all(&web, &secrets, &|resource| &tokens[resource], deadline);
    web.close_preconnected();
    Ok(((secrets, outputs, results), Some(Session { source, web, tokens })))
}

/// Opens the connections the reads will use while the token is fetched: one
/// per secret (up to the reads' concurrency) to each vault, one for a list.
fn preconnect(web: &Client, secrets: &[PlannedSecret], import: Option<&Import>, deadline: Deadline) {
    let mut vaults: Vec<(&str, u16, usize)> = Vec::new();
    let wanted = secrets.iter().map(|s| &s.reference.vault).chain(import.map(|i| &i.vault));
    for vault in wanted {
        let port = vault.port().unwrap_or(443);
        match vaults.iter_mut().find(|(h, p, _)| *h == vault.host() && *p == port) {
            Some((_, _, n)) => *n += 1,
            None => vaults.push((vault.host(), port, 1)),
        }
    }
    let timeout = deadline.remaining().min(Duration::from_secs(10));
    for (host, port, n) in vaults {
        web.preconnect(host, port, n.min(vault::CONCURRENCY), timeout);
    }
}

/// Adds the imported secrets as environment outputs. The name becomes the
/// variable: prefix stripped, upper-cased, `-` as `_`. Explicit outputs win;
/// names that are not valid variables, or that two secrets map to, are
/// skipped with a warning.
fn plan_import(
    import: &crate::config::Import,
    inherited: &[(OsString, OsString)],
    listed: Vec<vault::Listed>,
    secrets: &mut Vec<PlannedSecret>,
    outputs: &mut Vec<Output>,
) {
    let mut by_var: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in listed.into_iter().filter(|i| i.enabled && !i.managed) {
        let Some(rest) = item.name.strip_prefix(import.prefix.as_str()) else { continue };
        let var = rest.to_ascii_uppercase().replace('-', "_");
        by_var.entry(var).or_default().push(item.name);
    }
    for (var, names) in by_var {
        let valid = var.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !valid {
            log::warn!(
                "--all-secrets: skipping {} (\"{var}\" is not a valid variable name)",
                names.join(", ")
            );
            continue;
        }
        if names.len() > 1 {
            log::warn!("--all-secrets: skipping {}: they all map to {var}", names.join(", "));
            continue;
        }
        if outputs.iter().any(|o| o.dest == Dest::Env(var.clone())) {
            continue;
        }
        if sink::env::changes_how_programs_run(&var) {
            log::warn!(
                "--all-secrets: skipping {}: {var} changes how programs run; to set it, name it: --env {var}={}",
                names[0],
                names[0]
            );
            continue;
        }
        if inherited.iter().any(|(k, _)| k == var.as_str()) {
            log::warn!(
                "--all-secrets: skipping {}: {var} is already set; to replace it, name it: --env {var}={}",
                names[0],
                names[0]
            );
            continue;
        }
        let reference = crate::reference::SecretRef {
            vault: import.vault.clone(),
            name: names[0].clone(),
            version: None,
        };
        let secret = match secrets.iter().position(|s| s.reference == reference) {
            Some(i) => i,
            None => {
                secrets.push(PlannedSecret { reference, resource: import.resource });
                secrets.len() - 1
            }
        };
        outputs.push(Output {
            dest: Dest::Env(var),
            secret,
            origin: Origin::Import,
            options: Default::default(),
        });
    }
}

/// The forced source, or the one the environment points to.
fn choose_identity(plan: &Plan, direct: Client, web: Client) -> Result<Box<dyn TokenSource>, Error> {
    let (kind, why) = match plan.identity_source {
        Some(kind) => (kind, "--identity-source".to_string()),
        None => identity::choose(&plan.env, cfg!(windows)),
    };
    log::debug!("identity source: {} ({why})", kind.name());
    let cx = identity::Context {
        env: &plan.env,
        user_assigned: plan.user_assigned.as_ref(),
        user_assigned_by: plan.user_assigned_by,
        cloud: plan.cloud,
        direct,
        web,
    };
    identity::build(kind, &cx).map_err(Error::IdentitySetup)
}

/// One token per resource, however many secrets and vaults share it.
fn get_tokens(
    source: &dyn TokenSource,
    resources: &[&'static str],
    deadline: Deadline,
) -> Result<BTreeMap<&'static str, AccessToken>, Error> {
    let mut tokens = BTreeMap::new();
    for &resource in resources {
        if !tokens.contains_key(resource) {
            let token = source.token(resource, deadline).map_err(Error::Identity)?;
            match token.expires_on.and_then(|t| t.checked_sub(unix_now())) {
                Some(left) => {
                    log::debug!("got a token for {resource} from {}, valid for {left} s", source.name())
                }
                None => log::debug!("got a token for {resource} from {}", source.name()),
            }
            tokens.insert(resource, token);
        }
    }
    Ok(tokens)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One output's final value, or `None` when an optional secret is missing.
struct Rendered<'a> {
    output: &'a Output,
    fetched: Option<&'a Fetched>,
    value: Option<SecretBytes>,
}

/// Applies each output's options to its secret. Every failure is collected
/// (each unreadable secret once, by index), so one run reports them all.
fn render<'a>(
    secrets: &[PlannedSecret],
    outputs: &'a [Output],
    fetched: &'a [Result<Fetched, vault::Error>],
) -> Result<Vec<Rendered<'a>>, (Vec<usize>, Vec<RenderError>)> {
    let mut rendered = Vec::with_capacity(outputs.len());
    let mut failed_reads: Vec<usize> = Vec::new();
    let mut failed_renders = Vec::new();
    for output in outputs {
        match &fetched[output.secret] {
            Ok(f) => {
                match transform::apply(&f.value, &output.options).and_then(|v| checked_for(&output.dest, v)) {
                    Ok(value) => rendered.push(Rendered { output, fetched: Some(f), value: Some(value) }),
                    Err(source) => failed_renders.push(RenderError {
                        dest: output.dest.to_string(),
                        secret: secrets[output.secret].reference.clone(),
                        source,
                    }),
                }
            }
            Err(e) if output.options.optional && e.is_missing() => {
                log::warn!(
                    "{}: {} is missing; skipped (optional)",
                    output.dest,
                    secrets[output.secret].reference
                );
                rendered.push(Rendered { output, fetched: None, value: None });
            }
            Err(_) if failed_reads.contains(&output.secret) => {}
            Err(_) => failed_reads.push(output.secret),
        }
    }
    if failed_reads.is_empty() && failed_renders.is_empty() {
        Ok(rendered)
    } else {
        Err((failed_reads, failed_renders))
    }
}

fn unreadable(
    fetched: Vec<Result<Fetched, vault::Error>>,
    reads: &[usize],
    renders: Vec<RenderError>,
) -> Error {
    let reads = fetched
        .into_iter()
        .enumerate()
        .filter(|(i, _)| reads.contains(i))
        .filter_map(|(_, r)| r.err())
        .collect();
    Error::Unreadable { reads, renders }
}

/// Environment values cannot hold NUL (nor, on Windows, non-UTF-8).
fn checked_for(dest: &Dest, value: SecretBytes) -> Result<SecretBytes, transform::Error> {
    match dest {
        Dest::Env(_) if sink::env::to_os(&value).is_none() => Err(transform::Error::NotEnvSafe),
        _ => Ok(value),
    }
}

/// `--owner`, else `--user`'s ids, else kvinit's own (no chown).
fn file_owner(plan: &Plan, ids: Option<&user::Ids>) -> Option<(u32, u32)> {
    match (plan.files.owner, ids) {
        (Some((uid, gid)), _) => Some((uid, gid.unwrap_or(uid))),
        (None, Some(ids)) => Some((ids.uid, ids.gid)),
        (None, None) => None,
    }
}

fn write_files(dir: &sink::file::Dir, rendered: &[Rendered<'_>]) -> Result<(), Error> {
    let files: Vec<_> = rendered
        .iter()
        .filter_map(|r| match (&r.output.dest, &r.value) {
            (Dest::File(path), Some(value)) => Some((path.as_path(), value)),
            _ => None,
        })
        .collect();
    dir.write_all(&files).map_err(Error::File)
}

fn child_env(plan: &Plan, ids: Option<&user::Ids>, rendered: &[Rendered<'_>]) -> Vec<(OsString, OsString)> {
    let mut items: Vec<(&str, OsString)> = rendered
        .iter()
        .filter_map(|r| match (&r.output.dest, &r.value) {
            (Dest::Env(var), Some(value)) => sink::env::to_os(value).map(|v| (var.as_str(), v)),
            _ => None,
        })
        .collect();
    if let Some(home) = ids.and_then(|ids| ids.home.as_ref()) {
        items.push(("HOME", home.clone().into_os_string()));
    }
    let mut base = plan.child_env.clone();
    // An optional secret that is missing leaves its variable unset, even if
    // kvinit's environment held an App Service reference for it.
    base.retain(|(k, _)| {
        !rendered
            .iter()
            .any(|r| r.value.is_none() && matches!(&r.output.dest, Dest::Env(v) if k == v.as_str()))
    });
    sink::env::build(base, &items)
}

fn print_check(secrets: &[PlannedSecret], rendered: &[Rendered<'_>]) {
    let mut out = std::io::stdout().lock();
    for r in rendered {
        let reference = &secrets[r.output.secret].reference;
        let origin = match r.output.origin {
            Origin::Flag => "flag",
            Origin::AppServiceReference => "reference",
            Origin::Import => "all-secrets",
        };
        let Some(f) = r.fetched else {
            let _ = writeln!(
                out,
                "{} secret={} missing (optional) vault={}",
                r.output.dest, reference.name, reference.vault
            );
            continue;
        };
        let content_type = f.content_type.as_deref().map(|t| format!(" type={t}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{} secret={} version={} vault={} from={origin}{content_type}",
            r.output.dest,
            reference.name,
            f.version(),
            reference.vault
        );
    }
}

fn report_success(plan: &Plan, secrets: &[PlannedSecret], rendered: &[Rendered<'_>], started: Instant) {
    let n = secrets.len();
    if n == 0 {
        return;
    }
    let mut vaults: Vec<_> = secrets.iter().map(|s| &s.reference.vault).collect();
    vaults.sort();
    vaults.dedup();
    let v = vaults.len();
    let files =
        rendered.iter().filter(|r| matches!(r.output.dest, Dest::File(_)) && r.value.is_some()).count();
    let files = if files > 0 {
        format!(", {files} file{}", if files == 1 { "" } else { "s" })
    } else {
        String::new()
    };
    log::info!(
        "{n} secret{} from {v} vault{}{files} in {} ms; starting {}",
        if n == 1 { "" } else { "s" },
        if v == 1 { "" } else { "s" },
        started.elapsed().as_millis(),
        plan.command[0].to_string_lossy()
    );
}
