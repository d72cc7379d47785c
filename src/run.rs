//! The job, step by step: read the secrets, build the environment, then
//! check or launch.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use crate::config::{Origin, Plan};
use crate::error::Error;
use crate::http::{Client, Roots};
use crate::identity::{self, TokenSource};
use crate::retry::Deadline;
use crate::secret::AccessToken;
use crate::vault::{self, Fetched};
use crate::{launch, sink};

/// Runs the plan. Returns the exit code: `--check`'s, or on Windows the
/// command's. On Unix success replaces this process, so it returns only on
/// failure.
pub fn run(plan: Plan) -> Result<i32, Error> {
    let started = Instant::now();
    let deadline = Deadline::after(plan.timeout);
    let fetched = read_secrets(&plan, deadline)?;
    let values: Vec<_> = fetched.iter().map(|f| &f.value).collect();
    let env = sink::env::build(plan.child_env.clone(), &plan.outputs, &values);
    if plan.check {
        print_check(&plan, &fetched);
        return Ok(0);
    }
    report_success(&plan, started);
    launch::run(&plan.command, env).map_err(Error::Launch)
}

fn read_secrets(plan: &Plan, deadline: Deadline) -> Result<Vec<Fetched>, Error> {
    if plan.secrets.is_empty() {
        log::warn!("no secrets requested (no --env, KVINIT_ENV or Key Vault references)");
        return Ok(Vec::new());
    }
    let roots = Roots::new(plan.ssl_cert_file.as_deref()).map_err(Error::Setup)?;
    let (direct, web) = identity::clients(&roots);
    let source = choose_identity(plan, direct, web.clone())?;
    let tokens = get_tokens(&*source, plan, deadline)?;
    let results = vault::read_all(&web, &plan.secrets, &|resource| &tokens[resource], deadline);

    let mut fetched = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(f) => fetched.push(f),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(fetched)
    } else {
        Err(Error::Secrets(failed))
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
    plan: &Plan,
    deadline: Deadline,
) -> Result<BTreeMap<&'static str, AccessToken>, Error> {
    let mut tokens = BTreeMap::new();
    for secret in &plan.secrets {
        if !tokens.contains_key(secret.resource) {
            let token = source.token(secret.resource, deadline).map_err(Error::Identity)?;
            match token.expires_on.and_then(|t| t.checked_sub(unix_now())) {
                Some(left) => log::debug!(
                    "got a token for {} from {}, valid for {left} s",
                    secret.resource,
                    source.name()
                ),
                None => log::debug!("got a token for {} from {}", secret.resource, source.name()),
            }
            tokens.insert(secret.resource, token);
        }
    }
    Ok(tokens)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn print_check(plan: &Plan, fetched: &[Fetched]) {
    let mut out = std::io::stdout().lock();
    for output in &plan.outputs {
        let f = &fetched[output.secret];
        let r = &plan.secrets[output.secret].reference;
        let origin = match output.origin {
            Origin::Flag => "--env",
            Origin::AppServiceReference => "reference",
        };
        let content_type = f.content_type.as_deref().map(|t| format!(" type={t}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "env:{} secret={} version={} vault={} from={origin}{content_type}",
            output.var,
            r.name,
            f.version(),
            r.vault
        );
    }
}

fn report_success(plan: &Plan, started: Instant) {
    let (n, v) = (plan.secrets.len(), plan.vault_count());
    if n > 0 {
        log::info!(
            "{n} secret{} from {v} vault{} in {} ms; starting {}",
            if n == 1 { "" } else { "s" },
            if v == 1 { "" } else { "s" },
            started.elapsed().as_millis(),
            plan.command[0].to_string_lossy()
        );
    }
}
