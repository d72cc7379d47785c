//! `--user`: who runs the command. Names are looked up in /etc/passwd and
//! /etc/group; numeric ids work in a scratch image that has neither.

use std::fmt;
use std::path::PathBuf;

/// `--user`: ids, or names to look up in /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: IdOrName,
    pub group: Option<IdOrName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdOrName {
    Id(u32),
    Name(String),
}

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
pub use imp::{Failed, Switch};

#[cfg(unix)]
mod imp {
    use std::ffi::CString;

    use nix::unistd::{self, Gid, Group, Uid, User};

    use super::{Error, IdOrName, Ids, UserSpec};

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
        Switch::new(ids).apply().map_err(Failed::into_error)
    }

    /// A switch made ready before `fork`, so that the child, which may only
    /// do async-signal-safe work, allocates nothing to apply it.
    pub struct Switch {
        groups: Vec<Gid>,
        uid: Uid,
        gid: Gid,
    }

    /// Which step of a switch failed, and the errno; small and `Copy`, so
    /// that a child can report it through a pipe.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Failed {
        pub step: u8,
        pub errno: i32,
    }

    const STEPS: [&str; 5] = ["setgroups", "setgid", "setuid", "checking the new ids", "setuid(0)"];

    impl Switch {
        pub fn new(ids: &Ids) -> Switch {
            Switch {
                groups: ids.groups.iter().copied().map(Gid::from_raw).collect(),
                uid: Uid::from_raw(ids.uid),
                gid: Gid::from_raw(ids.gid),
            }
        }

        /// Only system calls: safe between fork and exec.
        pub fn apply(&self) -> Result<(), Failed> {
            let fail = |step| move |e: nix::Error| Failed { step, errno: e as i32 };
            unistd::setgroups(&self.groups).map_err(fail(0))?;
            unistd::setgid(self.gid).map_err(fail(1))?;
            unistd::setuid(self.uid).map_err(fail(2))?;
            let now = (unistd::getuid(), unistd::geteuid(), unistd::getgid(), unistd::getegid());
            if now != (self.uid, self.uid, self.gid, self.gid) {
                return Err(Failed { step: 3, errno: 0 });
            }
            if !self.uid.is_root() && unistd::setuid(Uid::from_raw(0)).is_ok() {
                return Err(Failed { step: 4, errno: 0 });
            }
            Ok(())
        }
    }

    impl Failed {
        pub fn into_error(self) -> Error {
            let call = STEPS.get(usize::from(self.step)).copied().unwrap_or("switching user");
            match self.step {
                3 => Error::NotDropped("the real and effective ids are not the ones asked for".into()),
                4 => Error::NotDropped("setuid(0) still succeeds".into()),
                _ => Error::Switch { call, source: std::io::Error::from_raw_os_error(self.errno) },
            }
        }
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
