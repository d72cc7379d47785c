//! `--user`: who runs the command. Names are looked up in /etc/passwd and
//! /etc/group; numeric ids work in a scratch image that has neither.

use std::fmt;
use std::path::PathBuf;

use crate::config::UserSpec;

/// The ids to switch to, resolved before any file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The user's home from /etc/passwd, for `HOME`.
    pub home: Option<PathBuf>,
}

/// Off Unix only `Unsupported` is ever made.
#[derive(Debug)]
#[cfg_attr(not(unix), allow(dead_code))]
pub enum Error {
    /// No such user or group in /etc/passwd or /etc/group.
    Unknown { what: &'static str, name: String },
    /// A call that changes credentials failed (usually: not root).
    Switch { call: &'static str, source: std::io::Error },
    /// `--init --user` without root: the command could not be switched.
    NotRoot,
    /// The switch seemed to succeed, but the ids are not what was asked, or
    /// root could be regained.
    NotDropped(String),
    #[cfg_attr(unix, allow(dead_code))]
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unknown { what, name } => write!(f, "--user: no {what} named {name:?}"),
            Error::Switch { call, .. } => {
                write!(f, "--user: {call} failed (kvinit must start as root to switch user)")
            }
            Error::NotDropped(why) => write!(f, "--user: privileges were not dropped: {why}"),
            Error::NotRoot => f.write_str("--user: kvinit must start as root to switch user"),
            Error::Unsupported => f.write_str("--user is only supported on Unix"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Switch { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub use imp::{resolve, switch};

#[cfg(unix)]
mod imp {
    use std::ffi::CString;

    use nix::unistd::{self, Gid, Group, Uid, User};

    use super::{Error, Ids, UserSpec};
    use crate::config::IdOrName;

    fn lookup_failed(what: &'static str, name: &str) -> Error {
        Error::Unknown { what, name: name.to_string() }
    }

    /// A numeric uid with no passwd entry gets its own number as gid (unless
    /// one is given) and no supplementary groups.
    pub fn resolve(spec: &UserSpec) -> Result<Ids, Error> {
        let user = match &spec.user {
            IdOrName::Id(uid) => User::from_uid(Uid::from_raw(*uid)).ok().flatten(),
            IdOrName::Name(name) => {
                Some(User::from_name(name).ok().flatten().ok_or_else(|| lookup_failed("user", name))?)
            }
        };
        let uid = match (&spec.user, &user) {
            (_, Some(u)) => u.uid.as_raw(),
            (IdOrName::Id(uid), None) => *uid,
            (IdOrName::Name(name), None) => return Err(lookup_failed("user", name)),
        };
        let gid = match &spec.group {
            Some(IdOrName::Id(gid)) => *gid,
            Some(IdOrName::Name(name)) => Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| lookup_failed("group", name))?
                .gid
                .as_raw(),
            None => user.as_ref().map(|u| u.gid.as_raw()).unwrap_or(uid),
        };
        let groups = match (&user, &spec.group) {
            (Some(u), None) => CString::new(u.name.as_str())
                .ok()
                .and_then(|name| unistd::getgrouplist(&name, Gid::from_raw(gid)).ok())
                .map(|gs| gs.into_iter().map(Gid::as_raw).collect())
                .unwrap_or_else(|| vec![gid]),
            _ => vec![gid],
        };
        // A uid with no passwd entry has no home: `/`, not kvinit's own (`/root`).
        let home = Some(user.map_or_else(|| std::path::PathBuf::from("/"), |u| u.dir));
        Ok(Ids { uid, gid, groups, home })
    }

    /// Supplementary groups, then gid, then uid; then checks that it took
    /// and that root cannot be regained.
    pub fn switch(ids: &Ids) -> Result<(), Error> {
        let fail = |call| move |e: nix::Error| Error::Switch { call, source: std::io::Error::from(e) };
        let groups: Vec<Gid> = ids.groups.iter().copied().map(Gid::from_raw).collect();
        unistd::setgroups(&groups).map_err(fail("setgroups"))?;
        unistd::setgid(Gid::from_raw(ids.gid)).map_err(fail("setgid"))?;
        unistd::setuid(Uid::from_raw(ids.uid)).map_err(fail("setuid"))?;
        let (uid, euid, gid, egid) =
            (unistd::getuid(), unistd::geteuid(), unistd::getgid(), unistd::getegid());
        if uid.as_raw() != ids.uid
            || euid.as_raw() != ids.uid
            || gid.as_raw() != ids.gid
            || egid.as_raw() != ids.gid
        {
            return Err(Error::NotDropped(format!("now uid {uid}/{euid}, gid {gid}/{egid}")));
        }
        if ids.uid != 0 && unistd::setuid(Uid::from_raw(0)).is_ok() {
            return Err(Error::NotDropped("setuid(0) still succeeds".to_string()));
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use super::{Error, Ids, UserSpec};

    pub fn resolve(_spec: &UserSpec) -> Result<Ids, Error> {
        Err(Error::Unsupported)
    }

    pub fn switch(_ids: &Ids) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
}
