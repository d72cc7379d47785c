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
use crate::import;
use crate::launch::{self, signals, user};
#[cfg(unix)]
use crate::refresh::Refresher;
use crate::retry::Deadline;
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
    if !plan.check {
        find_command(&plan, ids.as_ref())?;
    }
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
            let state = session.map(|s| (s, secrets, outputs, values));
            supervise(&plan, init, Start { env, original, ids, dir, state })
        }
    }
}

/// What `--init` starts the command with and keeps while it runs.
struct Start {
    env: Vec<(OsString, OsString)>,
    original: signals::Original,
    #[cfg_attr(not(unix), allow(dead_code))] // --user is Unix-only
    ids: Option<user::Ids>,
    #[cfg_attr(not(unix), allow(dead_code))] // --refresh writes through it, and is Unix-only
    dir: Option<sink::file::Dir>,
    #[cfg_attr(not(unix), allow(dead_code))]
    state: Option<RefreshState>,
}

#[cfg(unix)]
fn supervise(plan: &Plan, init: &crate::config::InitPlan, start: Start) -> Result<i32, Error> {
    let Start { env, original, ids, dir, state } = start;
    if ids.is_some() && !nix::unistd::geteuid().is_root() {
        return Err(Error::User(user::Error::NotRoot));
    }
    let refresher = match (init.refresh, state) {
        (Some(every), Some(state)) => Some(Refresher::new(state, dir, every, plan.timeout)),
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
fn supervise(plan: &Plan, init: &crate::config::InitPlan, start: Start) -> Result<i32, Error> {
    if init.refresh.is_some() {
        log::warn!("--refresh is not supported on Windows yet; secrets are read once");
    }
    launch::run(&plan.command, start.env, start.original).map_err(Error::Launch)
}

/// Everything a refresh round starts from: the session, what is read, and
/// the value each output has now.
pub(crate) type RefreshState = (Session, Vec<PlannedSecret>, Vec<Output>, Vec<Option<SecretBytes>>);

/// What it takes to read secrets again: the identity and its tokens.
#[cfg_attr(not(unix), allow(dead_code))] // --refresh reads it, and is Unix-only
pub(crate) struct Session {
    pub source: Box<dyn TokenSource>,
    pub web: Client,
    pub tokens: BTreeMap<&'static str, AccessToken>,
}

/// The command must exist before a token is asked for. A bare
/// `--all-secrets` followed by what looks like a prefix rather than a
/// command is the `=` forgotten: said so, with the fix.
fn find_command(plan: &Plan, ids: Option<&user::Ids>) -> Result<(), Error> {
    // A PATH that comes from a secret is known only once it is read.
    if plan.outputs.iter().any(|o| matches!(&o.dest, Dest::Env(var) if var == "PATH")) {
        return Ok(());
    }
    let Err(e) = launch::find(&plan.command, &plan.child_env, ids) else { return Ok(()) };
    let word = plan.command[0].to_string_lossy();
    let bare_import = plan.import.as_ref().is_some_and(|i| i.prefix.is_empty());
    if bare_import && e.exit_code() == 127 && crate::reference::is_secret_name(&word) {
        return Err(Error::Config(crate::config::ConfigError::ImportPrefix(word.into_owned())));
    }
    Err(Error::Launch(e))
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
        let summary = import::plan(import, &plan.child_env, listed, &mut secrets, &mut outputs);
        // A mistyped prefix would otherwise start the app with none of its settings.
        if summary.imported == 0 && !import.optional {
            return Err(Error::NothingImported {
                vault: import.vault.to_string(),
                prefix: import.prefix.clone(),
                listed: summary.listed,
            });
        }
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

pub(crate) fn unix_now() -> u64 {
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
