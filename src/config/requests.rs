//! What is asked for: `--env`, `--file`, `--env-from`, templates and App
//! Service references into outputs, each naming its secrets once.

use std::path::PathBuf;

use super::values::listed;
use super::ConfigError;
use crate::cli::Args;
use crate::identity::Env;
use crate::reference::{parse_app_service_reference, Cloud, Options, SecretRef, VaultUrl};
use crate::sink::{self, Dest, Origin, Output, Segment, Slot, Source};
use crate::template::{self, Filter};
use crate::trust::{AllowedHost, Trust};
use crate::vars;
use crate::vault::PlannedSecret;

/// What references may name: the default vault, and the hosts tokens may go to.
#[derive(Debug)]
pub(super) struct Rules {
    pub default_vault: Option<VaultUrl>,
    trust: Trust,
}

impl Rules {
    pub fn new(args: &Args, env: &Env, cloud: Cloud) -> Result<Rules, ConfigError> {
        let default_vault = match args.vault.as_deref().or(env.get(vars::VAULT)) {
            Some(v) => Some(
                VaultUrl::parse(v, cloud)
                    .map_err(|source| ConfigError::Reference { what: format!("--vault {v}"), source })?,
            ),
            None => None,
        };
        Ok(Rules { default_vault, trust: Trust { allowed: allowed_hosts(args, env)?, cloud } })
    }

    /// The token resource for `vault`, if tokens may go there.
    pub(super) fn resource_of(&self, vault: &VaultUrl, what: String) -> Result<&'static str, ConfigError> {
        self.trust.resource_of(vault).ok_or_else(|| ConfigError::ForeignHost { what, vault: vault.clone() })
    }
}

/// `--allow-vault-host` and `KVINIT_ALLOW_VAULT_HOSTS`.
fn allowed_hosts(args: &Args, env: &Env) -> Result<Vec<AllowedHost>, ConfigError> {
    let mut allowed = Vec::new();
    for item in &args.allow_vault_host {
        allowed.push(AllowedHost::parse(item).ok_or_else(|| ConfigError::AllowHost(item.to_string()))?);
    }
    for item in env.get(vars::ALLOW_VAULT_HOSTS).unwrap_or("").split(',') {
        if !item.trim().is_empty() {
            allowed.push(AllowedHost::parse(item).ok_or_else(|| ConfigError::AllowHost(item.to_string()))?);
        }
    }
    Ok(allowed)
}

/// Every output asked for: `--env`, `--file`, their variables, and App
/// Service references in the environment.
pub(super) fn requests(
    args: &Args,
    env: &Env,
    vault: Option<&VaultUrl>,
    cloud: Cloud,
) -> Result<Vec<Request>, ConfigError> {
    let mut requests: Vec<Request> = Vec::new();
    let from_env = |name| env.get(name).unwrap_or("");
    add_items(&mut requests, &args.env, ("--env", vars::ENV), from_env(vars::ENV), vault, env_dest)?;
    add_items(&mut requests, &args.file, ("--file", vars::FILE), from_env(vars::FILE), vault, file_dest)?;
    for item in listed(&args.env_from, env.get(vars::ENV_FROM)) {
        requests.push(env_from(item, vault)?);
    }
    for (name, value) in env.iter() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
        let Some(parsed) = parse_app_service_reference(value, cloud) else { continue };
        let r =
            parsed.map_err(|source| ConfigError::Reference { what: format!("variable {name}"), source })?;
        let dest = Dest::Env(name.to_string());
        if taken(&requests, &dest).is_none() {
            let value = Value::Secret(Wanted::plain((r, Options::default())));
            requests.push(Request { dest, value, origin: Origin::AppServiceReference });
        }
    }
    Ok(requests)
}

/// Distinct secrets, each with its token resource, and the outputs that use
/// them: every secret is read once, however many outputs and placeholders
/// name it.
pub(super) fn plan_secrets(
    secrets: &mut Vec<PlannedSecret>,
    requests: Vec<Request>,
    rules: &Rules,
) -> Result<Vec<Output>, ConfigError> {
    let mut outputs = Vec::new();
    for Request { dest, value, origin } in requests {
        let mut slot = |Wanted { reference, options, filters }: Wanted| -> Result<Slot, ConfigError> {
            let what = format!("secret {} for {dest}", reference.name);
            let resource = rules.resource_of(&reference.vault, what)?;
            let secret = match secrets.iter().position(|s| s.reference == reference) {
                Some(i) => i,
                None => {
                    secrets.push(PlannedSecret { reference, resource });
                    secrets.len() - 1
                }
            };
            Ok(Slot { secret, options, filters })
        };
        let source = match value {
            Value::Secret(w) => Source::Secret(slot(w)?),
            Value::Template(parts) => Source::Template(
                parts
                    .into_iter()
                    .map(|p| match p {
                        Piece::Text(t) => Ok(Segment::Text(t)),
                        Piece::Placeholder(w) => slot(w).map(Segment::Slot),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        outputs.push(Output { dest, origin, source });
    }
    Ok(outputs)
}

/// One requested output, before secrets are deduplicated.
pub(super) struct Request {
    pub dest: Dest,
    pub value: Value,
    pub origin: Origin,
}

/// A secret as a reference names it, with its options and filters.
pub(super) struct Wanted {
    reference: SecretRef,
    options: Options,
    filters: Vec<Filter>,
}

impl Wanted {
    fn plain((reference, options): (SecretRef, Options)) -> Wanted {
        Wanted { reference, options, filters: Vec::new() }
    }
}

/// What a request's value is: a reference, or a template of them.
pub(super) enum Value {
    Secret(Wanted),
    Template(Vec<Piece>),
}

/// A template's piece, its placeholder's reference parsed.
pub(super) enum Piece {
    Text(String),
    Placeholder(Wanted),
}

fn taken(requests: &[Request], dest: &Dest) -> Option<usize> {
    requests.iter().position(|r| r.dest == *dest)
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
        requests.push(Request { dest: d, value: v, origin: Origin::Flag });
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
            None => requests.push(Request { dest: d, value: v, origin: Origin::Flag }),
        }
    }
    Ok(())
}

pub(super) fn duplicate(dest: Dest) -> ConfigError {
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
pub(super) fn file_dest(path: &str) -> Result<Dest, ConfigError> {
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
    let wanted = Wanted::plain(parse_reference(r.trim(), default_vault, || what.clone())?);
    Ok((dest, Value::Secret(wanted)))
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
    let wanted = Wanted::plain(parse_reference(&text, default_vault, what)?);
    Ok(Request { dest: Dest::EnvFrom(prefix), value: Value::Secret(wanted), origin: Origin::Flag })
}

/// `REF[?options]`; `what` says where it was written, for errors.
pub(super) fn parse_reference(
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
pub(super) fn parse_template(
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
    if needs_placeholder && !pieces.iter().any(|p| matches!(p, template::Piece::Placeholder { .. })) {
        return Err(error(
            1,
            "no placeholder: without {{ SECRET }} this is plain text, which kvinit does not set",
        ));
    }
    let mut parts = Vec::with_capacity(pieces.len());
    for piece in pieces {
        parts.push(match piece {
            template::Piece::Text(text) => Piece::Text(text),
            template::Piece::Placeholder { reference, filters, at } => {
                let at = || format!("{what}: {at}");
                let (reference, options) = parse_reference(reference, default_vault, at)?;
                Piece::Placeholder(Wanted { reference, options, filters })
            }
        });
    }
    Ok(Value::Template(parts))
}
