//! Reading: the `--template` files, then the identity, its tokens, the
//! `--all-secrets` listing, and every secret, all within one deadline.

use std::collections::BTreeMap;

use crate::config::{ConfigError, Plan};
use crate::error::Error;
use crate::http::{Client, Roots};
use crate::identity::{self, TokenSource};
use crate::import;
use crate::retry::Deadline;
use crate::secret::AccessToken;
use crate::sink::{self, Output};
use crate::vault::{self, Fetched, PlannedSecret};

/// A template larger than this is not one.
const TEMPLATE_LIMIT: u64 = 1024 * 1024;

/// Reads each `--template` file and adds its placeholders to the plan,
/// before any request: a bad template is a usage error, like a bad `--env`.
pub fn load_templates(plan: &mut Plan) -> Result<(), Error> {
    let strict = plan.launch.user.is_some();
    for file in std::mem::take(&mut plan.templates) {
        let text = read_template(&file.src, strict)
            .map_err(|why| ConfigError::TemplateFile { path: file.src.clone(), why })
            .map_err(Error::Config)?;
        plan.add_template(&file, &text).map_err(Error::Config)?;
    }
    Ok(())
}

fn read_template(path: &std::path::Path, strict: bool) -> Result<String, String> {
    use std::io::Read;
    let file = crate::source_file::open(path, strict)?;
    let mut bytes = Vec::new();
    file.take(TEMPLATE_LIMIT + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > TEMPLATE_LIMIT {
        return Err("larger than 1 MiB; a template is text".into());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// What is read (imports included), where each secret goes, and what each
/// read came to, in the order of `secrets`.
pub struct Reads {
    pub secrets: Vec<PlannedSecret>,
    pub outputs: Vec<Output>,
    pub fetched: Vec<Result<Fetched, vault::Error>>,
}

/// What it takes to read secrets again: the identity and its tokens.
pub struct Session {
    pub source: Box<dyn TokenSource>,
    pub web: Client,
    pub tokens: BTreeMap<&'static str, AccessToken>,
}

/// What a `--refresh` round starts from: the session, what is read and
/// each secret as last read (what every output is rendered from; an
/// optional secret absent since start-up holds why), and the secrets
/// directory, opened before the command started.
pub struct Running {
    pub session: Session,
    pub reads: Reads,
    pub dir: Option<sink::file::Dir>,
    /// `--refresh-sentinel`, and the version last seen.
    pub sentinel: Option<(PlannedSecret, Option<String>)>,
    /// With `--on-change restart` or `--on-change-run`: what the command's
    /// environment is made of besides the secrets (kvinit's own, and
    /// `--user`'s HOME), to render it again after a change.
    pub rerender: Option<EnvBase>,
    /// `--on-change restart`: a changed variable reaches the command.
    pub restarts: bool,
}

/// kvinit's environment for the command (credentials removed), and
/// `--user`'s HOME.
pub type EnvBase = (Vec<(std::ffi::OsString, std::ffi::OsString)>, Option<std::path::PathBuf>);

/// Reads every planned secret, and with `--all-secrets` every enabled
/// secret of the vault not already requested. The credentials in the
/// environment are wiped as soon as the identity no longer needs them.
pub fn read_secrets(plan: &mut Plan, deadline: Deadline) -> Result<(Reads, Option<Session>), Error> {
    let mut reads =
        Reads { secrets: plan.secrets.clone(), outputs: plan.outputs.clone(), fetched: Vec::new() };
    if reads.secrets.is_empty() && plan.import.is_none() {
        plan.identity.env.forget_credentials();
        log::warn!(
            "no secrets requested (no --env, --file, --all-secrets, KVINIT_ENV or Key Vault references)"
        );
        return Ok((reads, None));
    }
    let roots = Roots::new(plan.ssl_cert_file.as_deref()).map_err(Error::Setup)?;
    // Refresh rounds are minutes apart: an idle connection would only keep
    // a token and values in its buffers between them.
    let keep_alive = plan.launch.init.as_ref().is_none_or(|init| init.refresh.is_none());
    let (direct, web) = identity::clients(&roots, keep_alive).map_err(Error::Setup)?;
    let vaults =
        reads.secrets.iter().map(|s| &s.reference.vault).chain(plan.import.as_ref().map(|i| &i.vault));
    vault::preconnect(&web, vaults, deadline);
    let source = identity::source(&plan.identity, direct, web.clone());
    plan.identity.env.forget_credentials();
    let source = source.map_err(Error::IdentitySetup)?;
    let mut resources: Vec<&'static str> = reads.secrets.iter().map(|s| s.resource).collect();
    resources.extend(plan.import.as_ref().map(|i| i.resource));
    let tokens = get_tokens(&*source, &resources, deadline)?;
    if let Some(import) = &plan.import {
        import_secrets(&web, import, &plan.launch.env, &mut reads, &tokens, deadline)?;
    }
    reads.fetched = vault::read_all(&web, &reads.secrets, &|resource| &tokens[resource], deadline);
    web.close_preconnected();
    Ok((reads, Some(Session { source, web, tokens })))
}

/// Lists the vault and adds what `--all-secrets` takes to `reads`. A
/// mistyped prefix would otherwise start the app with none of its settings.
fn import_secrets(
    web: &Client,
    import: &import::Import,
    inherited: &[(std::ffi::OsString, std::ffi::OsString)],
    reads: &mut Reads,
    tokens: &BTreeMap<&'static str, AccessToken>,
    deadline: Deadline,
) -> Result<(), Error> {
    let listed =
        vault::list(web, &import.vault, &tokens[import.resource], deadline).map_err(Error::Listing)?;
    let summary = import::plan(import, inherited, listed, &mut reads.secrets, &mut reads.outputs);
    if summary.imported == 0 && !import.optional {
        return Err(Error::NothingImported {
            vault: import.vault.to_string(),
            prefix: import.prefix.clone(),
            tags: import.tags.clone(),
            listed: summary.listed,
        });
    }
    Ok(())
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
                Some(left) => log::debug!(
                    identity_source = source.name(), resource, expires_in_s = left;
                    "got a token for {resource} from {}, valid for {left} s", source.name()
                ),
                None => log::debug!(
                    identity_source = source.name(), resource; "got a token for {resource} from {}", source.name()
                ),
            }
            tokens.insert(resource, token);
        }
    }
    Ok(tokens)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
