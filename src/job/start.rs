//! Getting ready to start the command, and starting it: the lookup before
//! any fetch, the secrets directory, the command's environment, and exec or
//! `--init`'s supervision.

use std::ffi::OsString;

use crate::config::{ConfigError, Plan};
use crate::error::Error;
use crate::launch::{self, signals, user, Launch};
use crate::sink::{self, Dest};

use super::read::Running;
use super::refresh::Refresher;

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
/// by `--owner`, else `--user`'s ids, else kvinit's own (no chown). With
/// `--check`, only checks it: a dry run creates nothing.
pub fn prepare_dir(plan: &Plan, ids: Option<&user::Ids>) -> Result<Option<sink::file::Dir>, Error> {
    if !plan.outputs.iter().any(|o| matches!(o.dest, Dest::File(_))) {
        return Ok(None);
    }
    if plan.check {
        return sink::file::Dir::check(&plan.files).map(|()| None).map_err(Error::File);
    }
    let owner = match (plan.files.owner, ids) {
        (Some((uid, gid)), _) => Some((uid, gid.unwrap_or(uid))),
        (None, Some(ids)) => Some((ids.uid, ids.gid)),
        (None, None) => None,
    };
    sink::file::Dir::prepare(&plan.files, owner).map(Some).map_err(Error::File)
}

/// Replaces kvinit with the command (on Windows, runs it and returns its
/// exit code).
pub fn exec(job: &Launch, env: Vec<(OsString, OsString)>, original: signals::Original) -> Result<i32, Error> {
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
    job: &Launch,
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
