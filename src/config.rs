//! Turns the command line and kvinit's environment into a validated plan.
//! Everything that can be rejected without touching the network is rejected
//! here, so a bad deployment fails in milliseconds with exit code 2.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Args;
use crate::identity::{Choice, Env, Kind, UserAssigned, CREDENTIALS};
use crate::import::Import;
use crate::launch::user::{IdOrName, UserSpec};
use crate::launch::{Init, Job, OnChange};
use crate::reference::{self, parse_app_service_reference, Cloud, Options, RefError, SecretRef, VaultUrl};
use crate::sink::file::Files;
use crate::sink::{self, Dest, Origin, Output, Part, Slot, Source};
use crate::template::{self, Filter, Piece};
use crate::vault::PlannedSecret;

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
    pub launch: Job,
    /// Extra trusted roots (a PEM bundle) for Key Vault TLS.
    pub ssl_cert_file: Option<PathBuf>,
    pub timeout: Duration,
    pub check: bool,
    rules: Rules,
}

/// Why the command line or environment was rejected (exit code 2).
#[derive(Debug)]
pub enum ConfigError {
    /// A vault or secret reference did not parse; `what` says where it came from.
    Reference { what: String, source: RefError },
    /// A template that does not parse; the error has the column.
    Template { what: String, source: template::Error },
    /// A `--template` item that is not `SRC=DEST`.
    TemplateItem(String),
    /// A `--template` file that cannot be read, is over 1 MiB, or is not UTF-8.
    TemplateFile { path: PathBuf, why: String },
    /// An `--env` / `KVINIT_ENV` item that is not `VAR=REF`.
    EnvItem(String),
    /// A `--file` path that is absolute, empty, or contains `..`.
    FilePath(String),
    /// The same file requested twice.
    DuplicateFile(String),
    /// A `--file-mode` that is not octal, or lets others write.
    FileMode(String),
    /// An `--owner` or `--user` that is not `ID[:ID]` or `NAME[:GROUP]`.
    User { flag: &'static str, value: String },
    /// `--all-secrets` without a default vault.
    ImportNeedsVault,
    /// `--all-secrets PREFIX`: the prefix taken for the command.
    ImportPrefix(String),
    /// An `--all-secrets-tag` that is not `KEY=VALUE`.
    Tag(String),
    /// `--all-secrets-tag` without `--all-secrets`.
    TagNeedsImport,
    /// `--all-secrets=PREFIX?...` with an option other than `optional`.
    ImportOption(String),
    /// A boolean variable that is not 1/0, true/false, yes/no or on/off.
    Boolean { var: &'static str, value: String },
    /// `--group`, `--remap-exit`, `--refresh` or `--refresh-signal` without `--init`.
    NeedsInit(&'static str),
    /// A `--refresh` under a second, or a `--refresh-signal` that names no signal.
    Refresh(String),
    /// A variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    VarName(String),
    /// The same variable requested twice by flags.
    DuplicateVar(String),
    /// A secret on a host outside the Key Vault domains, not allowed by
    /// `--allow-vault-host`: sending it a token would hand the token away.
    ForeignHost { what: String, vault: VaultUrl },
    /// An `--allow-vault-host` item that is not `HOST[:PORT]`.
    AllowHost(String),
    /// A `--timeout` (or `KVINIT_TIMEOUT`, named in `what`) that is not a
    /// duration between 1ms and 24h.
    Timeout { what: &'static str, value: String },
    /// A `--cloud` that is not public, china or usgov.
    Cloud(String),
    /// An `--identity-source` that names no known source.
    IdentitySource(String),
    /// No COMMAND and no `--check`.
    NoCommand,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Reference { what, .. } => write!(f, "{what}"),
            ConfigError::Template { what, .. } => write!(f, "{what}"),
            ConfigError::TemplateItem(item) => write!(f, "--template {item:?} is not SRC=DEST"),
            ConfigError::Tag(item) => write!(f, "--all-secrets-tag {item:?} is not KEY=VALUE"),
            ConfigError::TagNeedsImport => f.write_str("--all-secrets-tag needs --all-secrets"),
            ConfigError::TemplateFile { path, why } => write!(f, "--template {}: {why}", path.display()),
            ConfigError::EnvItem(item) => write!(f, "{item:?} is not VAR=REF (or PATH=REF for --file)"),
            ConfigError::FilePath(p) => write!(
                f,
                "--file path {p:?} must be relative to --dir, without \"..\" (e.g. --file tls/key.pem=REF)"
            ),
            ConfigError::DuplicateFile(p) => write!(f, "file {p} is given twice with --file"),
            ConfigError::FileMode(m) => {
                write!(
                    f,
                    "--file-mode {m:?} is not an octal mode without group/other write, setuid, setgid or sticky bits \
                     (e.g. 0400, 0440)"
                )
            }
            ConfigError::User { flag, value } => {
                write!(f, "{flag} {value:?} is not UID[:GID] or NAME[:GROUP]")
            }
            ConfigError::ImportNeedsVault => write!(f, "--all-secrets needs --vault (or KVINIT_VAULT)"),
            ConfigError::ImportPrefix(p) => write!(
                f,
                "--all-secrets takes its prefix after '=': {p:?} was read as the command, and no such command \
                 exists; did you mean --all-secrets={p} -- COMMAND?"
            ),
            ConfigError::ImportOption(v) => {
                write!(f, "--all-secrets={v}: the only option is ?optional (--all-secrets=PREFIX?optional)")
            }
            ConfigError::Boolean { var, value } => {
                write!(f, "{var}={value:?} is not a boolean: use 1/0, true/false, yes/no or on/off")
            }
            ConfigError::NeedsInit(flag) => write!(f, "{flag} needs --init (or KVINIT_INIT=1)"),
            ConfigError::Refresh(why) => f.write_str(why),
            ConfigError::VarName(var) => write!(
                f,
                "{var:?} is not a valid variable name (letters, digits and _, not starting with a digit)"
            ),
            ConfigError::DuplicateVar(var) => write!(f, "variable {var} is given twice with --env"),
            ConfigError::ForeignHost { what, vault } => write!(
                f,
                "{what}: refusing to send a Key Vault token to {vault}, which is outside the Key Vault \
                 domains; if you trust this host, pass --allow-vault-host {}",
                authority(vault)
            ),
            ConfigError::AllowHost(h) => write!(f, "--allow-vault-host {h:?} is not HOST or HOST:PORT"),
            ConfigError::Timeout { what, value } => {
                write!(f, "{what} {value:?} {}", duration(value).err().unwrap_or_default())
            }
            ConfigError::Cloud(c) => write!(f, "--cloud {c:?} is not one of public, china, usgov"),
            ConfigError::IdentitySource(s) => {
                write!(
                    f,
                    "--identity-source {s:?} is not one of auto, {}",
                    Kind::ALL.map(Kind::name).join(", ")
                )
            }
            ConfigError::NoCommand => {
                write!(f, "no command to run: kvinit [OPTIONS] -- COMMAND [ARG]... (or --check)")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Reference { source, .. } => Some(source),
            ConfigError::Template { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn authority(vault: &VaultUrl) -> String {
    let host =
        if vault.host().contains(':') { format!("[{}]", vault.host()) } else { vault.host().to_string() };
    match vault.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

#[derive(Debug)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse(item: &str) -> Result<AllowedHost, ConfigError> {
        reference::split_authority(item.trim())
            .map(|(host, port)| AllowedHost { host, port })
            .ok_or_else(|| ConfigError::AllowHost(item.to_string()))
    }

    fn matches(&self, vault: &VaultUrl) -> bool {
        self.host == vault.host() && self.port.is_none_or(|p| p == vault.port().unwrap_or(443))
    }
}

impl Plan {
    pub fn new(args: Args, env: Env) -> Result<Plan, ConfigError> {
        let cloud = match args.cloud.as_deref().or(env.get("KVINIT_CLOUD")) {
            Some(c) => Cloud::parse(c).ok_or_else(|| ConfigError::Cloud(c.to_string()))?,
            None => Cloud::Public,
        };
        let identity_source = match args.identity_source.as_deref().or(env.get("KVINIT_IDENTITY_SOURCE")) {
            None => None,
            Some(s) if s.trim().eq_ignore_ascii_case("auto") => None,
            Some(s) => Some(Kind::parse(s).ok_or_else(|| ConfigError::IdentitySource(s.to_string()))?),
        };
        let rules = Rules::new(&args, &env, cloud)?;
        let timeout = match named(&args.timeout, "--timeout", env.get("KVINIT_TIMEOUT"), "KVINIT_TIMEOUT") {
            Some((what, t)) => {
                parse_duration(t).ok_or_else(|| ConfigError::Timeout { what, value: t.to_string() })?
            }
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
            launch: Job { command: args.command, env: child_env, user, init },
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
        let request = (file.dest.clone(), value, Origin::Template);
        let outputs = plan_secrets(&mut self.secrets, vec![request], &self.rules)?;
        self.outputs.extend(outputs);
        Ok(())
    }
}

/// What references may name: the default vault, and the hosts tokens may go to.
#[derive(Debug)]
struct Rules {
    default_vault: Option<VaultUrl>,
    allowed: Vec<AllowedHost>,
    cloud: Cloud,
}

impl Rules {
    fn new(args: &Args, env: &Env, cloud: Cloud) -> Result<Rules, ConfigError> {
        let default_vault = match args.vault.as_deref().or(env.get("KVINIT_VAULT")) {
            Some(v) => Some(
                VaultUrl::parse(v, cloud)
                    .map_err(|source| ConfigError::Reference { what: format!("--vault {v}"), source })?,
            ),
            None => None,
        };
        Ok(Rules { default_vault, allowed: allowed_hosts(args, env)?, cloud })
    }

    /// The token resource for `vault`, if tokens may go there.
    fn resource_of(&self, vault: &VaultUrl, what: String) -> Result<&'static str, ConfigError> {
        match vault.known_resource() {
            Some(resource) => Ok(resource),
            None if self.allowed.iter().any(|a| a.matches(vault)) => Ok(self.cloud.resource()),
            None => Err(ConfigError::ForeignHost { what, vault: vault.clone() }),
        }
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
    for item in listed(&args.template, env.get("KVINIT_TEMPLATE")) {
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

/// `--allow-vault-host` and `KVINIT_ALLOW_VAULT_HOSTS`.
fn allowed_hosts(args: &Args, env: &Env) -> Result<Vec<AllowedHost>, ConfigError> {
    let mut allowed = Vec::new();
    for item in &args.allow_vault_host {
        allowed.push(AllowedHost::parse(item)?);
    }
    for item in env.get("KVINIT_ALLOW_VAULT_HOSTS").unwrap_or("").split(',') {
        if !item.trim().is_empty() {
            allowed.push(AllowedHost::parse(item)?);
        }
    }
    Ok(allowed)
}

/// Every output asked for: `--env`, `--file`, their variables, and App
/// Service references in the environment.
fn requests(
    args: &Args,
    env: &Env,
    vault: Option<&VaultUrl>,
    cloud: Cloud,
) -> Result<Vec<Request>, ConfigError> {
    let mut requests: Vec<Request> = Vec::new();
    let from_env = |name| env.get(name).unwrap_or("");
    add_items(&mut requests, &args.env, ("--env", "KVINIT_ENV"), from_env("KVINIT_ENV"), vault, env_dest)?;
    add_items(
        &mut requests,
        &args.file,
        ("--file", "KVINIT_FILE"),
        from_env("KVINIT_FILE"),
        vault,
        file_dest,
    )?;
    for item in listed(&args.env_from, env.get("KVINIT_ENV_FROM")) {
        requests.push(env_from(item, vault)?);
    }
    for (name, value) in env.iter() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
        let Some(parsed) = parse_app_service_reference(value, cloud) else { continue };
        let r =
            parsed.map_err(|source| ConfigError::Reference { what: format!("variable {name}"), source })?;
        let dest = Dest::Env(name.to_string());
        if taken(&requests, &dest).is_none() {
            requests.push((
                dest,
                Value::Secret((r, Options::default(), Vec::new())),
                Origin::AppServiceReference,
            ));
        }
    }
    Ok(requests)
}

/// Distinct secrets, each with its token resource, and the outputs that use
/// them: every secret is read once, however many outputs and placeholders
/// name it.
fn plan_secrets(
    secrets: &mut Vec<PlannedSecret>,
    requests: Vec<Request>,
    rules: &Rules,
) -> Result<Vec<Output>, ConfigError> {
    let mut outputs = Vec::new();
    for (dest, wanted, origin) in requests {
        let mut slot = |(r, options, filters): Wanted| -> Result<Slot, ConfigError> {
            let resource = rules.resource_of(&r.vault, format!("secret {} for {dest}", r.name))?;
            let secret = match secrets.iter().position(|s| s.reference == r) {
                Some(i) => i,
                None => {
                    secrets.push(PlannedSecret { reference: r, resource });
                    secrets.len() - 1
                }
            };
            Ok(Slot { secret, options, filters })
        };
        let source = match wanted {
            Value::Secret(w) => Source::Secret(slot(w)?),
            Value::Template(parts) => Source::Template(
                parts
                    .into_iter()
                    .map(|p| match p {
                        Either::Text(t) => Ok(Part::Text(t)),
                        Either::Slot(w) => slot(w).map(Part::Slot),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        outputs.push(Output { dest, origin, source });
    }
    Ok(outputs)
}

fn files(args: &Args, env: &Env) -> Result<Files, ConfigError> {
    Ok(Files {
        dir: PathBuf::from(args.dir.as_deref().or(env.get("KVINIT_DIR")).unwrap_or(DEFAULT_DIR)),
        mode: match args.file_mode.as_deref().or(env.get("KVINIT_FILE_MODE")) {
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

/// `--init` and the flags that need it.
fn init_plan(args: &Args, env: &Env) -> Result<Option<Init>, ConfigError> {
    let init_on = args.init || boolean(env, "KVINIT_INIT")?.unwrap_or(false);
    let refresh = match named(&args.refresh, "--refresh", env.get("KVINIT_REFRESH"), "KVINIT_REFRESH") {
        None => None,
        Some((what, r)) => match parse_duration(r) {
            Some(d) if d >= Duration::from_secs(1) => Some(d),
            Some(_) => return Err(ConfigError::Refresh(format!("{what} {r:?} is under the minimum of 1s"))),
            None => {
                return Err(ConfigError::Refresh(format!(
                    "{what} {r:?} {}",
                    duration(r).err().unwrap_or_default()
                )))
            }
        },
    };
    let action = args.on_change.as_deref().or(env.get("KVINIT_ON_CHANGE"));
    refuse_signals(args, action, cfg!(windows))?;
    let refresh_signal = match args.refresh_signal.as_deref() {
        None => crate::launch::signals::parse("HUP").unwrap_or(1),
        Some(s) => crate::launch::signals::parse(s).ok_or_else(|| {
            ConfigError::Refresh(format!("--refresh-signal {s:?} is not a signal name or number"))
        })?,
    };
    let on_change = match action {
        None if cfg!(windows) => OnChange::None,
        None | Some("signal") => OnChange::Signal,
        Some("restart") => OnChange::Restart,
        Some("none") => OnChange::None,
        Some(other) => {
            return Err(ConfigError::Refresh(format!("--on-change {other:?} is not signal, restart or none")))
        }
    };
    let stop_signal = match args.stop_signal.as_deref() {
        None => crate::launch::signals::parse("TERM").unwrap_or(15),
        Some(s) => crate::launch::signals::parse(s).ok_or_else(|| {
            ConfigError::Refresh(format!("--stop-signal {s:?} is not a signal name or number"))
        })?,
    };
    let stop_timeout = match args.stop_timeout.as_deref() {
        None => Duration::from_secs(10),
        Some(t) => duration(t).map_err(|why| ConfigError::Refresh(format!("--stop-timeout {t:?} {why}")))?,
    };
    let hook = hook_plan(args, env)?;
    let needs_refresh = [
        (args.on_change.is_some() || env.get("KVINIT_ON_CHANGE").is_some(), "--on-change"),
        (hook.is_some(), "--on-change-run"),
        (args.refresh_sentinel.is_some(), "--refresh-sentinel"),
    ];
    if let Some((_, flag)) = needs_refresh.iter().find(|(given, _)| *given && refresh.is_none()) {
        return Err(ConfigError::Refresh(format!("{flag} needs --refresh")));
    }
    if init_on {
        return Ok(Some(Init {
            group: args.group,
            remap: args.remap_exit.iter().map(|c| i32::from(*c)).collect(),
            refresh,
            refresh_signal,
            on_change,
            hook,
            stop_signal,
            stop_timeout,
        }));
    }
    for (given, flag) in [
        (args.group, "--signal-group"),
        (!args.remap_exit.is_empty(), "--remap-exit"),
        (refresh.is_some(), "--refresh"),
        (args.refresh_signal.is_some(), "--refresh-signal"),
        (args.stop_signal.is_some(), "--stop-signal"),
        (args.stop_timeout.is_some(), "--stop-timeout"),
    ] {
        if given {
            return Err(ConfigError::NeedsInit(flag));
        }
    }
    Ok(None)
}

/// `--on-change-run`: its words.
fn hook_plan(args: &Args, env: &Env) -> Result<Option<Vec<OsString>>, ConfigError> {
    let var = env.get("KVINIT_ON_CHANGE_RUN");
    let Some((what, line)) = named(&args.on_change_run, "--on-change-run", var, "KVINIT_ON_CHANGE_RUN")
    else {
        return Ok(None);
    };
    let words =
        crate::words::split(line).map_err(|why| ConfigError::Refresh(format!("{what} {line:?} {why}")))?;
    Ok(Some(words.into_iter().map(OsString::from).collect()))
}

/// Windows has no signals: what would send one is refused there, with what
/// to use instead, rather than ignored.
fn refuse_signals(args: &Args, action: Option<&str>, windows: bool) -> Result<(), ConfigError> {
    if !windows {
        return Ok(());
    }
    let given = [
        (action == Some("signal"), "--on-change signal"),
        (args.refresh_signal.is_some(), "--refresh-signal"),
        (args.stop_signal.is_some(), "--stop-signal"),
        (args.group, "--signal-group"),
    ];
    match given.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(ConfigError::Refresh(format!(
            "{flag} is not available on Windows, which has no signals; a change can restart \
             COMMAND (--on-change restart) or run a command (--on-change-run)"
        ))),
        None => Ok(()),
    }
}

/// A boolean variable: 1/0, true/false, yes/no, on/off, in any case. Unset
/// (or empty) is `None`; anything else is refused, never guessed.
fn boolean(env: &Env, var: &'static str) -> Result<Option<bool>, ConfigError> {
    let Some(value) = env.get(var) else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError::Boolean { var, value: value.to_string() }),
    }
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

/// One requested output, before secrets are deduplicated.
type Request = (Dest, Value, Origin);

/// A secret as a reference names it, with its options and filters.
type Wanted = (SecretRef, Options, Vec<Filter>);

/// What a request's value is: a reference, or a template of them.
enum Value {
    Secret(Wanted),
    Template(Vec<Either>),
}

enum Either {
    Text(String),
    Slot(Wanted),
}

fn taken(requests: &[Request], dest: &Dest) -> Option<usize> {
    requests.iter().position(|(d, _, _)| d == dest)
}

/// Adds the `DEST=REF` items of one kind: from the flag, then from its
/// variable (comma- or newline-separated). A flag wins over the variable for
/// the same destination; the same destination twice in one source is an error.
fn add_items(
    requests: &mut Vec<Request>,
    flags: &[String],
    (flag, var): (&str, &str),
    from_env: &str,
    default_vault: Option<&VaultUrl>,
    dest: fn(&str) -> Result<Dest, ConfigError>,
) -> Result<(), ConfigError> {
    let first = requests.len();
    for item in flags {
        let (d, v) = parse_item(item, default_vault, flag, dest)?;
        if taken(requests, &d).is_some() {
            return Err(duplicate(d));
        }
        requests.push((d, v, Origin::Flag));
    }
    let flags_end = requests.len();
    // Commas separate items, except on a line that holds a template, which
    // may contain commas of its own.
    let items = from_env.lines().flat_map(|line| match template::is_template(line) {
        true => vec![line],
        false => line.split(',').collect(),
    });
    for item in items.filter(|i| !i.trim().is_empty()) {
        let (d, v) = parse_item(item, default_vault, var, dest)?;
        match taken(requests, &d) {
            Some(i) if (first..flags_end).contains(&i) => {}
            Some(_) => return Err(duplicate(d)),
            None => requests.push((d, v, Origin::Flag)),
        }
    }
    Ok(())
}

fn duplicate(dest: Dest) -> ConfigError {
    match dest {
        Dest::Env(var) => ConfigError::DuplicateVar(var),
        Dest::File(path) => ConfigError::DuplicateFile(path.display().to_string()),
        Dest::EnvFrom(prefix) => ConfigError::DuplicateVar(format!("{prefix}*")),
    }
}

fn env_dest(var: &str) -> Result<Dest, ConfigError> {
    if sink::env::is_name(var) {
        Ok(Dest::Env(var.to_string()))
    } else {
        Err(ConfigError::VarName(var.to_string()))
    }
}

/// A relative path of normal components: no root, no `..`, no `.` games.
fn file_dest(path: &str) -> Result<Dest, ConfigError> {
    use std::path::Component;
    let p = PathBuf::from(path);
    let normal = !path.is_empty()
        && !path.ends_with('/')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !path.split('/').any(|part| part == "..");
    if normal {
        Ok(Dest::File(p))
    } else {
        Err(ConfigError::FilePath(path.to_string()))
    }
}

/// `DEST=REF[?options]`, with DEST checked by `dest`; for a variable, the
/// value may be a template (`...{{ REF | FILTER }}...`).
fn parse_item(
    item: &str,
    default_vault: Option<&VaultUrl>,
    flag: &str,
    dest: fn(&str) -> Result<Dest, ConfigError>,
) -> Result<(Dest, Value), ConfigError> {
    let (name, r) = item.trim().split_once('=').ok_or_else(|| ConfigError::EnvItem(item.to_string()))?;
    let dest = dest(name.trim())?;
    let what = format!("{flag} {}={}", name.trim(), r.trim());
    if matches!(dest, Dest::Env(_)) && template::is_template(r) {
        let value = parse_template(r.trim(), default_vault, &what, true)?;
        return Ok((dest, value));
    }
    let (r, options) = parse_reference(r.trim(), default_vault, || what.clone())?;
    Ok((dest, Value::Secret((r, options, Vec::new()))))
}

/// `--env-from REF[?options][&prefix=P]`: `prefix=` is its own option.
fn env_from(item: &str, default_vault: Option<&VaultUrl>) -> Result<Request, ConfigError> {
    let what = || format!("--env-from {item}");
    let (reference, options) = item.split_once('?').unwrap_or((item, ""));
    let mut prefix = String::new();
    let mut others = Vec::new();
    for option in options.split('&').filter(|o| !o.is_empty()) {
        match option.strip_prefix("prefix=") {
            Some(p) if p.is_empty() || sink::env::is_name(p) => prefix = p.to_string(),
            Some(_) => return Err(ConfigError::VarName(format!("{} (prefix= of {})", &option[7..], what()))),
            None => others.push(option),
        }
    }
    let text =
        if others.is_empty() { reference.to_string() } else { format!("{reference}?{}", others.join("&")) };
    let (r, options) = parse_reference(&text, default_vault, what)?;
    Ok((Dest::EnvFrom(prefix), Value::Secret((r, options, Vec::new())), Origin::Flag))
}

/// `REF[?options]`; `what` says where it was written, for errors.
fn parse_reference(
    text: &str,
    default_vault: Option<&VaultUrl>,
    what: impl Fn() -> String,
) -> Result<(SecretRef, Options), ConfigError> {
    let (r_text, options) =
        Options::split(text).map_err(|source| ConfigError::Reference { what: what(), source })?;
    let r = SecretRef::parse(r_text, default_vault)
        .map_err(|source| ConfigError::Reference { what: what(), source })?;
    Ok((r, options))
}

/// A template's text and placeholders, each placeholder's reference parsed.
fn parse_template(
    text: &str,
    default_vault: Option<&VaultUrl>,
    what: &str,
    needs_placeholder: bool,
) -> Result<Value, ConfigError> {
    let error = |column, why: &str| ConfigError::Template {
        what: what.to_string(),
        source: template::Error { at: template::Position { line: 1, column }, why: why.to_string() },
    };
    let pieces =
        template::parse(text).map_err(|source| ConfigError::Template { what: what.to_string(), source })?;
    if needs_placeholder && !pieces.iter().any(|p| matches!(p, Piece::Placeholder { .. })) {
        return Err(error(
            1,
            "no placeholder: without {{ SECRET }} this is plain text, which kvinit does not set",
        ));
    }
    let mut parts = Vec::with_capacity(pieces.len());
    for piece in pieces {
        parts.push(match piece {
            Piece::Text(text) => Either::Text(text),
            Piece::Placeholder { reference, filters, at } => {
                let at = || format!("{what}: {at}");
                let (r, options) = parse_reference(reference, default_vault, at)?;
                Either::Slot((r, options, filters))
            }
        });
    }
    Ok(Value::Template(parts))
}

/// Octal, at most 0o777, and never writable by group or others.
fn parse_mode(s: &str) -> Option<u32> {
    let s = s.trim();
    let mode = u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8).ok()?;
    // No group/other write, and no setuid, setgid or sticky bit: a secret
    // file is data, never a program or a shared directory.
    (mode <= 0o777 && mode & 0o022 == 0).then_some(mode)
}

/// `UID` or `UID:GID`, numeric.
fn parse_ids(s: &str) -> Option<(u32, Option<u32>)> {
    match s.split_once(':') {
        Some((u, g)) => Some((u.parse().ok()?, Some(g.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

fn parse_user(s: &str) -> Option<UserSpec> {
    let id_or_name = |p: &str| -> Option<IdOrName> {
        if p.is_empty() {
            None
        } else if let Ok(id) = p.parse() {
            Some(IdOrName::Id(id))
        } else if p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$')) {
            Some(IdOrName::Name(p.to_string()))
        } else {
            None
        }
    };
    match s.split_once(':') {
        Some((u, g)) => Some(UserSpec { user: id_or_name(u)?, group: Some(id_or_name(g)?) }),
        None => Some(UserSpec { user: id_or_name(s)?, group: None }),
    }
}

/// A repeatable flag's items, then its variable's (comma- or
/// newline-separated), trimmed, empty ones left out.
fn listed<'a>(flags: &'a [String], var: Option<&'a str>) -> impl Iterator<Item = &'a str> {
    let from_var = var.unwrap_or("").split([',', '\n']);
    flags.iter().map(String::as_str).chain(from_var).map(str::trim).filter(|i| !i.is_empty())
}

/// A flag's value, else its variable's, with the name of whichever gave it.
fn named<'a>(
    flag: &'a Option<String>,
    flag_name: &'static str,
    var: Option<&'a str>,
    var_name: &'static str,
) -> Option<(&'static str, &'a str)> {
    match flag {
        Some(value) => Some((flag_name, value)),
        None => var.map(|value| (var_name, value)),
    }
}

/// `500ms`, `90s`, `2m`, `1h`, or a bare number of seconds, more than zero
/// and at most 24h.
pub fn parse_duration(s: &str) -> Option<Duration> {
    duration(s).ok()
}

/// A duration, or why `s` is not one (a message's end).
fn duration(s: &str) -> Result<Duration, &'static str> {
    const NOT: &str = "is not a duration like 90s, 500ms or 2m";
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| NOT)?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(NOT),
    };
    match seconds {
        s if s <= 0.0 => Err("must be more than zero"),
        s if s > 86_400.0 => Err("is over the maximum of 24h"),
        s => Ok(Duration::from_secs_f64(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(argv: &[&str], env: &[(&str, &str)]) -> Result<Plan, ConfigError> {
        let args = Args::try_parse_from(std::iter::once("kvinit").chain(argv.iter().copied())).unwrap();
        Plan::new(args, env.iter().map(|(k, v)| (*k, *v)).collect())
    }

    fn vars(p: &Plan) -> Vec<(String, String, Origin)> {
        p.outputs
            .iter()
            .map(|o| {
                (o.dest.to_string(), p.secrets[o.slots().next().unwrap().secret].reference.url(), o.origin)
            })
            .collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        for bad in ["", "0s", "s", "-1s", "10 parsecs", "1d", "1e9s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn flags_and_env_items_are_merged_flags_first() {
        let p = plan(
            &[
                "--vault",
                "kv1",
                "--env",
                "A=a",
                "--env",
                "B=https://kv2.vault.azure.net/secrets/b/v1",
                "true",
            ],
            &[("KVINIT_ENV", "C=c,\nA=ignored, D=d/v2")],
        )
        .unwrap();
        assert_eq!(
            vars(&p),
            vec![
                ("env:A".into(), "https://kv1.vault.azure.net/secrets/a".into(), Origin::Flag),
                ("env:B".into(), "https://kv2.vault.azure.net/secrets/b/v1".into(), Origin::Flag),
                ("env:C".into(), "https://kv1.vault.azure.net/secrets/c".into(), Origin::Flag),
                ("env:D".into(), "https://kv1.vault.azure.net/secrets/d/v2".into(), Origin::Flag),
            ]
        );
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn the_cloud_decides_bare_names_and_allowed_hosts_resource() {
        let p = plan(&["--cloud", "usgov", "--vault", "kv1", "--env", "A=a", "true"], &[]).unwrap();
        assert_eq!(p.secrets[0].reference.url(), "https://kv1.vault.usgovcloudapi.net/secrets/a");
        assert_eq!(p.secrets[0].resource, "https://vault.usgovcloudapi.net");
        let p = plan(
            &["--allow-vault-host", "127.0.0.1", "--env", "A=https://127.0.0.1/secrets/a", "true"],
            &[("KVINIT_CLOUD", "china")],
        )
        .unwrap();
        assert_eq!(p.identity.cloud, Cloud::China);
        assert_eq!(p.secrets[0].resource, "https://vault.azure.cn");
        let p = plan(&["--identity-source", "ARC", "true"], &[("KVINIT_IDENTITY_SOURCE", "imds")]).unwrap();
        assert_eq!(p.identity.source, Some(Kind::Arc));
        let p = plan(&["true"], &[("KVINIT_IDENTITY_SOURCE", "auto")]).unwrap();
        assert_eq!(p.identity.source, None);
    }

    #[test]
    fn signal_actions_are_refused_on_windows() {
        let args = |argv: &[&str]| {
            Args::try_parse_from(std::iter::once("kvinit").chain(argv.iter().copied())).unwrap()
        };
        for (argv, action, flag) in [
            (&["--on-change", "signal", "x"][..], Some("signal"), "--on-change signal"),
            (&["--refresh-signal", "USR1", "x"], None, "--refresh-signal"),
            (&["--stop-signal", "INT", "x"], None, "--stop-signal"),
            (&["--signal-group", "x"], None, "--signal-group"),
        ] {
            let e = refuse_signals(&args(argv), action, true).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{flag} is not available on Windows")), "{e}");
            assert!(refuse_signals(&args(argv), action, false).is_ok());
        }
        let fine = args(&["--on-change", "restart", "--on-change-run", "cmd /c reload.cmd", "x"]);
        assert!(refuse_signals(&fine, Some("restart"), true).is_ok());
    }

    #[test]
    fn init_options() {
        let p = plan(
            &["--init", "--remap-exit", "143", "--refresh", "5m", "--refresh-signal", "USR1", "true"],
            &[],
        )
        .unwrap();
        assert_eq!(
            p.launch.init,
            Some(Init {
                group: false,
                remap: vec![143],
                refresh: Some(Duration::from_secs(300)),
                refresh_signal: 10,
                on_change: OnChange::Signal,
                hook: None,
                stop_signal: 15,
                stop_timeout: Duration::from_secs(10),
            })
        );
        let p = plan(
            &["--init", "--refresh", "1m", "--on-change", "restart", "--stop-timeout", "3s", "true"],
            &[],
        );
        let init = p.unwrap().launch.init.unwrap();
        assert_eq!((init.on_change, init.stop_timeout), (OnChange::Restart, Duration::from_secs(3)));
        let p =
            plan(&["--init", "--refresh", "1m", "true"], &[("KVINIT_ON_CHANGE_RUN", "nginx -s 'reload'")]);
        let hook: Vec<OsString> = ["nginx", "-s", "reload"].map(OsString::from).into();
        assert_eq!(p.unwrap().launch.init.unwrap().hook, Some(hook));
        let e = plan(&["--init", "--on-change-run", "x", "true"], &[]).unwrap_err().to_string();
        assert_eq!(e, "--on-change-run needs --refresh");
        let p = plan(&["true"], &[("KVINIT_INIT", "1"), ("KVINIT_REFRESH", "30s")]).unwrap();
        assert_eq!(p.launch.init.unwrap().refresh, Some(Duration::from_secs(30)));
        assert_eq!(plan(&["true"], &[("KVINIT_INIT", "0")]).unwrap().launch.init, None);
    }

    #[test]
    fn the_vault_can_come_from_the_environment() {
        let p = plan(&["--env", "A=a", "true"], &[("KVINIT_VAULT", "https://kv9.vault.azure.cn")]).unwrap();
        assert_eq!(p.secrets[0].reference.url(), "https://kv9.vault.azure.cn/secrets/a");
        assert_eq!(p.secrets[0].resource, "https://vault.azure.cn");
    }

    #[test]
    fn app_service_references_in_the_environment_are_resolved() {
        let p = plan(
            &["--vault", "kv1", "--env", "OVERRIDE=o", "true"],
            &[
                ("DB", "@Microsoft.KeyVault(VaultName=kv3;SecretName=db)"),
                ("OVERRIDE", "@Microsoft.KeyVault(VaultName=kv3;SecretName=x)"),
                ("PLAIN", "hello"),
            ],
        )
        .unwrap();
        assert_eq!(
            vars(&p),
            vec![
                ("env:OVERRIDE".into(), "https://kv1.vault.azure.net/secrets/o".into(), Origin::Flag),
                (
                    "env:DB".into(),
                    "https://kv3.vault.azure.net/secrets/db".into(),
                    Origin::AppServiceReference
                ),
            ]
        );
        let err = plan(&["true"], &[("X", "@Microsoft.KeyVault(VaultName=kv3)")]).unwrap_err();
        assert!(err.to_string().contains("variable X"), "{err}");
    }

    #[test]
    fn the_same_secret_is_read_once() {
        let p =
            plan(&["--vault", "kv1", "--env", "A=s", "--env", "B=s", "--env", "C=s/v", "true"], &[]).unwrap();
        assert_eq!(p.secrets.len(), 2);
        assert_eq!(
            p.outputs.iter().map(|o| o.slots().next().unwrap().secret).collect::<Vec<_>>(),
            vec![0, 0, 1]
        );
    }

    #[test]
    fn templates_read_each_secret_once() {
        let p = plan(
            &[
                "--vault",
                "kv1",
                "--env",
                "URL=postgres://{{ user }}:{{ pass | urlencode }}@db/{{user}}",
                "--env",
                "PASS=pass",
                "true",
            ],
            &[("KVINIT_ENV", "CFG={{ cfg?json=/a,b | json }},OTHER=other")],
        )
        .unwrap();
        let names: Vec<_> = p.secrets.iter().map(|s| s.reference.name.as_str()).collect();
        assert_eq!(names, ["user", "pass", "cfg"], "commas inside a template line are its own");
        let Source::Template(parts) = &p.outputs[0].source else { panic!("{:?}", p.outputs[0]) };
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0], Part::Text("postgres://".into()));
        let Part::Slot(slot) = &parts[3] else { panic!() };
        assert_eq!((slot.secret, slot.filters.as_slice()), (1, &[Filter::UrlEncode][..]));
        assert_eq!(p.outputs[1].slots().next().unwrap().secret, 1, "PASS reuses the placeholder's read");
        let Source::Template(parts) = &p.outputs[2].source else { panic!() };
        let Part::Slot(slot) = &parts[0] else { panic!() };
        assert_eq!(slot.options.json.as_deref(), Some("/a,b"));
        // No commas were split on that line, so OTHER was never an item of its own.
        assert_eq!(p.outputs.len(), 3);
    }

    #[test]
    fn usage_errors() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (&["--env", "A=a", "true"], &[], "names no vault"),
            (&["--vault", "kv1", "--env", "A", "true"], &[], "is not VAR=REF"),
            (&["--vault", "kv1", "--env", "1A=a", "true"], &[], "not a valid variable name"),
            (&["--vault", "kv1", "--env", "A-B=a", "true"], &[], "not a valid variable name"),
            (&["--vault", "kv1", "--env", "A=a", "--env", "A=b", "true"], &[], "given twice"),
            (&["--vault", "kv1", "--env", "A=a"], &[], "no command"),
            (&["--vault", "x", "true"], &[], "invalid vault name"),
            (&["--vault", "kv1", "--timeout", "soon", "true"], &[], "--timeout \"soon\" is not a duration"),
            (&["--vault", "kv1", "--timeout", "0s", "true"], &[], "--timeout \"0s\" must be more than zero"),
            (&["--vault", "kv1", "--timeout", "25h", "true"], &[], "is over the maximum of 24h"),
            (&["--vault", "kv1", "true"], &[("KVINIT_TIMEOUT", "ten")], "KVINIT_TIMEOUT \"ten\" is not"),
            (&["--init", "true"], &[("KVINIT_REFRESH", "0")], "KVINIT_REFRESH \"0\" must be more than zero"),
            (&["--vault", "kv1", "--env", "A=bad_name", "true"], &[], "invalid secret name"),
            (&["--vault", "http://kv1.vault.azure.net", "true"], &[], "must use https"),
            (&["--allow-vault-host", "a b", "true"], &[], "--allow-vault-host"),
            (&["--cloud", "mars", "true"], &[], "is not one of public, china, usgov"),
            (&["--refresh", "5m", "true"], &[], "--refresh needs --init"),
            (&["--group", "true"], &[], "--signal-group needs --init"),
            (&["--init", "--refresh", "500ms", "true"], &[], "under the minimum of 1s"),
            (&["--init", "--on-change", "restart", "true"], &[], "--on-change needs --refresh"),
            (
                &["--init", "--refresh", "1m", "--on-change", "reload", "true"],
                &[],
                "not signal, restart or none",
            ),
            (&["--stop-timeout", "5s", "true"], &[], "--stop-timeout needs --init"),
            (&["--init", "--refresh-signal", "SIGNOPE", "true"], &[], "not a signal"),
            (&["--identity-source", "magic", "true"], &[], "is not one of auto, imds, app-service"),
            (&["true"], &[("KVINIT_IDENTITY_SOURCE", "nope")], "--identity-source \"nope\""),
            (
                &["--vault", "kv1", "--env", "U=a{{ p", "true"],
                &[],
                "U=a{{ p column 2: {{ is not closed by }}",
            ),
            (&["--vault", "kv1", "--env", "U={{ p | up }}", "true"], &[], "column 8: unknown filter \"up\""),
            (&["--vault", "kv1", "--env", "U=x{{ bad_name }}", "true"], &[], "column 5 invalid secret name"),
            (&["--vault", "kv1", "--env", "U=x{{ \"{{\" }}", "true"], &[], "column 1: no placeholder"),
            (&["--env", "U={{ p }}", "true"], &[], "column 4 secret \"p\" names no vault"),
        ];
        for (argv, env, expected) in cases {
            let err = plan(argv, env).unwrap_err();
            let text = format!(
                "{err} {}",
                std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default()
            );
            assert!(text.contains(expected), "{argv:?}: {text}");
        }
    }

    #[test]
    fn tokens_only_go_to_key_vault_hosts_unless_allowed() {
        let foreign = ["--env", "A=https://127.0.0.1:8443/secrets/a", "true"];
        let err = plan(&foreign, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::ForeignHost { .. }), "{err}");
        assert!(err.to_string().contains("--allow-vault-host 127.0.0.1:8443"), "{err}");

        for allow in ["127.0.0.1:8443", "127.0.0.1"] {
            let mut argv = vec!["--allow-vault-host", allow];
            argv.extend(foreign);
            let p = plan(&argv, &[]).unwrap();
            assert_eq!(p.secrets[0].resource, "https://vault.azure.net");
        }
        let mut argv = vec!["--allow-vault-host", "127.0.0.1:9999"];
        argv.extend(foreign);
        assert!(plan(&argv, &[]).is_err());
        assert!(plan(&foreign, &[("KVINIT_ALLOW_VAULT_HOSTS", "example.com, 127.0.0.1:8443")]).is_ok());

        let evil = ["--env", "A=https://kv.vault.azure.net.evil.example/secrets/a", "true"];
        assert!(matches!(plan(&evil, &[]), Err(ConfigError::ForeignHost { .. })));
    }

    #[test]
    fn user_assigned_identity() {
        let p = plan(&["--check"], &[("AZURE_CLIENT_ID", "cid")]).unwrap();
        assert_eq!(p.identity.user_assigned, Some(UserAssigned::ClientId("cid".into())));
        let p =
            plan(&["--resource-id", "/subscriptions/x", "--check"], &[("AZURE_CLIENT_ID", "cid")]).unwrap();
        assert_eq!(p.identity.user_assigned, Some(UserAssigned::ResourceId("/subscriptions/x".into())));
        let p = plan(&["--check"], &[("AZURE_CLIENT_ID", "")]).unwrap();
        assert_eq!(p.identity.user_assigned, None);
        assert!(Args::try_parse_from(["kvinit", "--client-id", "a", "--object-id", "b", "true"]).is_err());
    }

    #[test]
    fn identity_secrets_are_not_inherited() {
        let env = [("IDENTITY_HEADER", "h"), ("MSI_SECRET", "m"), ("PATH", "/bin")];
        let p = plan(&["true"], &env).unwrap();
        let names: Vec<_> = p.launch.env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, vec!["PATH"]);
        let p = plan(&["--keep-identity-env", "true"], &env).unwrap();
        assert_eq!(p.launch.env.len(), 3);
    }

    #[test]
    fn the_command_keeps_its_hyphens() {
        let p = plan(&["--check", "--", "/app", "--port", "80", "-v"], &[]).unwrap();
        assert_eq!(p.launch.command, vec!["/app", "--port", "80", "-v"]);
        let p = plan(&["/app", "--port", "80"], &[]).unwrap();
        assert_eq!(p.launch.command, vec!["/app", "--port", "80"]);
    }
}
