//! Turns the command line and kvinit's environment into a validated plan.
//! Everything that can be rejected without touching the network is rejected
//! here, so a bad deployment fails in milliseconds with exit code 2.

mod error;
mod init;
mod requests;
#[cfg(test)]
mod tests;
mod values;

pub use error::ConfigError;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Args;
use crate::identity::{Choice, Env, Kind, UserAssigned, CREDENTIALS};
use crate::import::Import;
use crate::launch::Launch;
use crate::reference::Cloud;
use crate::sink::file::Files;
use crate::sink::{Dest, Origin, Output};
use crate::vars;
use crate::vault::PlannedSecret;

use init::init_plan;
use requests::{
    duplicate, file_dest, parse_reference, parse_template, plan_secrets, requests, Request, Rules,
};
use values::{listed, named, parse_ids, parse_mode, parse_user};

/// Docker's and Kubernetes' convention for secret files.
pub const DEFAULT_DIR: &str = "/run/secrets";
pub const DEFAULT_FILE_MODE: u32 = 0o400;

/// Long enough to outlast IMDS's documented 70 s "410 Gone" update window
/// with room for the backoff around it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything kvinit will do, decided before any I/O: one part per layer
/// that consumes it.
#[derive(Debug)]
pub struct Plan {
    /// Which identity gets the tokens.
    pub identity: Choice,
    /// Distinct secrets to read, with the token resource each needs.
    pub secrets: Vec<PlannedSecret>,
    /// `--all-secrets`: the vault to list, and the name prefix.
    pub import: Option<Import>,
    /// Where each secret goes; `secret` indexes `secrets`.
    pub outputs: Vec<Output>,
    /// `--refresh-sentinel`: the one secret each round reads first.
    pub sentinel: Option<PlannedSecret>,
    /// `--template` files, read and added to `outputs` by the job.
    pub templates: Vec<TemplateFile>,
    /// How secret files are written.
    pub files: Files,
    /// The command, and how it is started.
    pub launch: Launch,
    /// Extra trusted roots (a PEM bundle) for Key Vault TLS.
    pub ssl_cert_file: Option<PathBuf>,
    pub timeout: Duration,
    pub check: bool,
    rules: Rules,
}

impl Plan {
    pub fn new(args: Args, env: Env) -> Result<Plan, ConfigError> {
        let cloud = match args.cloud.as_deref().or(env.get(vars::CLOUD)) {
            Some(c) => Cloud::parse(c).ok_or_else(|| ConfigError::Cloud(c.to_string()))?,
            None => Cloud::Public,
        };
        let identity_source = match args.identity_source.as_deref().or(env.get(vars::IDENTITY_SOURCE)) {
            None => None,
            Some(s) if s.trim().eq_ignore_ascii_case("auto") => None,
            Some(s) => Some(Kind::parse(s).ok_or_else(|| ConfigError::IdentitySource(s.to_string()))?),
        };
        let rules = Rules::new(&args, &env, cloud)?;
        let timeout = match named(&args.timeout, "--timeout", env.get(vars::TIMEOUT), vars::TIMEOUT) {
            Some((what, t)) => values::duration(t).map_err(|why| ConfigError::Duration {
                what,
                value: t.to_string(),
                why,
            })?,
            None => DEFAULT_TIMEOUT,
        };
        let requests = requests(&args, &env, rules.default_vault.as_ref(), cloud)?;
        let mut secrets = Vec::new();
        let outputs = plan_secrets(&mut secrets, requests, &rules)?;
        let import = import(&args, &rules)?;
        let templates = template_files(&args, &env, &outputs)?;
        let sentinel = match &args.refresh_sentinel {
            None => None,
            Some(text) => {
                let what = || format!("--refresh-sentinel {text}");
                let (reference, _) = parse_reference(text, rules.default_vault.as_ref(), what)?;
                let resource = rules.resource_of(&reference.vault, what())?;
                let sentinel = PlannedSecret { reference, resource };
                // Read at start too, so that the first round knows its version.
                if !secrets.contains(&sentinel) {
                    secrets.push(sentinel.clone());
                }
                Some(sentinel)
            }
        };
        let files = files(&args, &env)?;
        let init = init_plan(&args, &env)?;
        let user = args
            .user
            .as_deref()
            .map(|u| parse_user(u).ok_or_else(|| ConfigError::User { flag: "--user", value: u.to_string() }))
            .transpose()?;
        if args.command.is_empty() && !args.check {
            return Err(ConfigError::NoCommand);
        }
        let (user_assigned, user_assigned_by) = user_assigned(&args, &env);
        let child_env = env
            .iter()
            .filter(|(k, _)| args.keep_identity_env || !CREDENTIALS.iter().any(|s| OsStr::new(s) == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Plan {
            secrets,
            import,
            outputs,
            sentinel,
            templates,
            files,
            launch: Launch { command: args.command, env: child_env, user, init },
            ssl_cert_file: env.get("SSL_CERT_FILE").map(PathBuf::from),
            timeout,
            check: args.check,
            identity: Choice { source: identity_source, user_assigned, user_assigned_by, cloud, env },
            rules,
        })
    }

    /// Adds a `--template` file's output and secrets, once the job has read
    /// its text: the same rules as `--env`, checked before any request.
    pub fn add_template(&mut self, file: &TemplateFile, text: &str) -> Result<(), ConfigError> {
        let what = format!("--template {}", file.src.display());
        let value = parse_template(text, self.rules.default_vault.as_ref(), &what, false)?;
        let request = Request { dest: file.dest.clone(), value, origin: Origin::Template };
        let outputs = plan_secrets(&mut self.secrets, vec![request], &self.rules)?;
        self.outputs.extend(outputs);
        Ok(())
    }
}

/// `--all-secrets[=PREFIX[?optional]]`.
fn import(args: &Args, rules: &Rules) -> Result<Option<Import>, ConfigError> {
    let Some(value) = &args.all_secrets else {
        return match args.all_secrets_tag.is_empty() {
            true => Ok(None),
            false => Err(ConfigError::TagNeedsImport),
        };
    };
    let vault = rules.default_vault.clone().ok_or(ConfigError::ImportNeedsVault)?;
    let resource = rules.resource_of(&vault, "--all-secrets".to_string())?;
    let (prefix, optional) = match value.split_once('?') {
        Some((prefix, "optional")) => (prefix, true),
        Some(_) => return Err(ConfigError::ImportOption(value.clone())),
        None => (value.as_str(), false),
    };
    let mut tags = Vec::new();
    for item in &args.all_secrets_tag {
        let (key, value) = item.split_once('=').ok_or_else(|| ConfigError::Tag(item.clone()))?;
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(Some(Import { vault, resource, prefix: prefix.to_string(), optional, tags }))
}

/// A `--template SRC=DEST`: the file to read at start, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    pub src: PathBuf,
    pub dest: Dest,
}

/// `--template` and `KVINIT_TEMPLATE`; a DEST must not be a `--file`'s too.
fn template_files(args: &Args, env: &Env, outputs: &[Output]) -> Result<Vec<TemplateFile>, ConfigError> {
    let mut templates: Vec<TemplateFile> = Vec::new();
    for item in listed(&args.template, env.get(vars::TEMPLATE)) {
        let (src, dest) = item.split_once('=').ok_or_else(|| ConfigError::TemplateItem(item.to_string()))?;
        let dest = file_dest(dest.trim())?;
        let clash = outputs.iter().any(|o| o.dest == dest) || templates.iter().any(|t| t.dest == dest);
        if clash {
            return Err(duplicate(dest));
        }
        templates.push(TemplateFile { src: PathBuf::from(src.trim()), dest });
    }
    Ok(templates)
}

fn files(args: &Args, env: &Env) -> Result<Files, ConfigError> {
    Ok(Files {
        dir: PathBuf::from(args.dir.as_deref().or(env.get(vars::DIR)).unwrap_or(DEFAULT_DIR)),
        mode: match args.file_mode.as_deref().or(env.get(vars::FILE_MODE)) {
            Some(m) => parse_mode(m).ok_or_else(|| ConfigError::FileMode(m.to_string()))?,
            None => DEFAULT_FILE_MODE,
        },
        owner: args
            .owner
            .as_deref()
            .map(|o| parse_ids(o).ok_or_else(|| ConfigError::User { flag: "--owner", value: o.to_string() }))
            .transpose()?,
        allow_disk: args.allow_disk,
    })
}

/// The user-assigned identity asked for, and by which flag or variable.
fn user_assigned(args: &Args, env: &Env) -> (Option<UserAssigned>, &'static str) {
    if let Some(id) = &args.client_id {
        (Some(UserAssigned::ClientId(id.clone())), "--client-id")
    } else if let Some(id) = &args.object_id {
        (Some(UserAssigned::ObjectId(id.clone())), "--object-id")
    } else if let Some(id) = &args.resource_id {
        (Some(UserAssigned::ResourceId(id.clone())), "--resource-id")
    } else {
        (env.get("AZURE_CLIENT_ID").map(|id| UserAssigned::ClientId(id.to_string())), "AZURE_CLIENT_ID")
    }
}
