//! Finding the command before anything is fetched, as `execvp` will when
//! kvinit execs it: a path with a `/` as it is, a bare name along the
//! `PATH` of the command's environment, executable by the user it will run as.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::user::Ids;

/// execvp's default when the environment has no `PATH`.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// `Ok` if `program` would be found and may be executed; otherwise the
/// error exec would give: `ENOENT` (127) or `EACCES` (126).
pub fn find(program: &OsStr, env: &[(OsString, OsString)], ids: Option<&Ids>) -> io::Result<()> {
    let candidates: Vec<PathBuf> = if program.as_encoded_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else {
        let path =
            env.iter().find(|(k, _)| k == "PATH").map_or(OsStr::new(DEFAULT_PATH), |(_, v)| v.as_os_str());
        std::env::split_paths(path)
            .map(|dir| if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir })
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut denied = false;
    for candidate in &candidates {
        match std::fs::metadata(candidate) {
            Ok(m) if m.is_file() && executable(candidate, &m, ids) => return Ok(()),
            Ok(_) => denied = true,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => denied = true,
            Err(_) => {}
        }
    }
    Err(io::Error::from_raw_os_error(if denied { nix::libc::EACCES } else { nix::libc::ENOENT }))
}

/// By the mode bits for another user; kvinit's own right through access(2).
fn executable(path: &Path, m: &std::fs::Metadata, ids: Option<&Ids>) -> bool {
    let Some(ids) = ids else { return nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok() };
    let mode = m.mode();
    if ids.uid == 0 {
        return mode & 0o111 != 0;
    }
    if m.uid() == ids.uid {
        mode & 0o100 != 0
    } else if m.gid() == ids.gid || ids.groups.contains(&m.gid()) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}
