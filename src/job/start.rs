//! Getting ready to start the command, and starting it: the lookup before
//! any fetch, the secrets directory, the command's environment, and exec or
//! `--init`'s supervision.

use std::ffi::OsString;

use crate::config::{ConfigError, Plan};
use crate::error::Error;
use crate::launch::{self, signals, user, Job};
use crate::sink::{self, Dest};

use super::read::Running;
use super::refresh::Refresher;
use super::render::Rendered;

/// The command must exist before a token is asked for. A bare
/// `--all-secrets` followed by what looks like a prefix rather than a
/// command is the `=` forgotten: said so, with the fix.
pub fn find_command(plan: &Plan, ids: Option<&user::Ids>) -> Result<(), Error> {
    // A PATH that comes from a secret is known only once it is read.
    if plan.outputs.iter().any(|o| matches!(&o.dest, Dest::Env(var) if var == "PATH")) {
        return Ok(());
    }
    let Err(e) = launch::find(&plan.launch.command, &plan.launch.env, ids) else { return Ok(()) };
    let word = plan.launch.command[0].to_string_lossy();
    let bare_import = plan.import.as_ref().is_some_and(|i| i.prefix.is_empty());
    if bare_import && e.exit_code() == 127 && crate::reference::is_secret_name(&word) {
        return Err(Error::Config(ConfigError::ImportPrefix(word.into_owned())));
    }
    Err(Error::Launch(e))
}

/// Opens (creating) the secrets directory, if any output is a file, owned
/// by `--owner`, else `--user`'s ids, else kvinit's own (no chown).
pub fn prepare_dir(plan: &Plan, ids: Option<&user::Ids>) -> Result<Option<sink::file::Dir>, Error> {
    if !plan.outputs.iter().any(|o| matches!(o.dest, Dest::File(_))) {
        return Ok(None);
    }
    let owner = match (plan.files.owner, ids) {
        (Some((uid, gid)), _) => Some((uid, gid.unwrap_or(uid))),
        (None, Some(ids)) => Some((ids.uid, ids.gid)),
        (None, None) => None,
    };
    sink::file::Dir::prepare(&plan.files, owner).map(Some).map_err(Error::File)
}

/// The command's environment: kvinit's own (minus credentials), the
/// secrets over it, and `--user`'s HOME.
pub fn child_env(
    base: &[(OsString, OsString)],
    home: Option<&std::path::Path>,
    rendered: &[Rendered<'_>],
) -> Vec<(OsString, OsString)> {
    let from_env_from = rendered
        .iter()
        .flat_map(|r| &r.vars)
        .filter_map(|(var, value)| sink::env::to_os(value).map(|v| (var.as_str(), v)));
    let mut items: Vec<(&str, OsString)> = from_env_from
        .chain(rendered.iter().filter_map(|r| match (&r.output.dest, &r.value) {
            (Dest::Env(var), Some(value)) => sink::env::to_os(value).map(|v| (var.as_str(), v)),
            _ => None,
        }))
        .collect();
    if let Some(home) = home {
        items.push(("HOME", home.as_os_str().to_os_string()));
    }
    let mut base = base.to_vec();
    // An optional secret that is missing leaves its variable unset, even if
    // kvinit's environment held an App Service reference for it.
    let unset = |var: &str| {
        rendered.iter().any(|r| r.value.is_none() && matches!(&r.output.dest, Dest::Env(v) if v == var))
    };
    base.retain(|(k, _)| !k.to_str().is_some_and(unset));
    sink::env::build(base, &items)
}

/// Replaces kvinit with the command (on Windows, runs it and returns its
/// exit code).
pub fn exec(job: &Job, env: Vec<(OsString, OsString)>, original: signals::Original) -> Result<i32, Error> {
    launch::run(&job.command, env, original).map_err(Error::Launch)
}

/// What `--init` starts the command with and keeps while it runs.
pub struct Start {
    pub env: Vec<(OsString, OsString)>,
    pub original: signals::Original,
    pub ids: Option<user::Ids>,
    pub refresh: Option<Running>,
}

/// `--init`: starts the command as a child and stays its parent until it
/// exits (PID 1 in a Linux container), running `--refresh` rounds meanwhile.
pub fn supervise(
    job: &Job,
    init: &launch::Init,
    timeout: std::time::Duration,
    start: Start,
) -> Result<i32, Error> {
    let Start { env, original, ids, refresh } = start;
    #[cfg(unix)]
    if ids.is_some() && !nix::unistd::geteuid().is_root() {
        return Err(Error::User(user::Error::NotRoot));
    }
    let refresher = match (init.refresh, refresh) {
        (Some(every), Some(running)) => {
            Some(Box::new(Refresher::new(running, every, timeout)) as Box<dyn launch::Refresh>)
        }
        _ => None,
    };
    launch::supervise(&job.command, env, original, init, ids, refresher).map_err(|e| match e {
        launch::SuperviseError::Launch(e) => Error::Launch(e),
        launch::SuperviseError::User(e) => Error::User(e),
    })
}
