//! What the Unix and Windows writers share: their errors, and the names
//! of the temporary files they write before renaming.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why secret files could not be written (exit code 5).
#[derive(Debug)]
pub enum Error {
    /// The directory is on a disk-backed filesystem and `--allow-disk` was not given.
    NotInMemory { dir: PathBuf, fs: String },
    /// A path component inside the directory is a symlink.
    Symlink(PathBuf),
    /// A filesystem call failed.
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotInMemory { dir, .. } if cfg!(windows) => write!(
                f,
                "refusing to write secrets to {}: Windows has no memory filesystem, so they would be on disk; \
                 pass --allow-disk to accept that",
                dir.display()
            ),
            Error::NotInMemory { dir, fs } => write!(
                f,
                "refusing to write secrets to {}: it is on {fs}, not in memory; mount a tmpfs there \
                 (docker run --tmpfs {0}, or a Kubernetes emptyDir with medium: Memory), or pass --allow-disk",
                dir.display()
            ),
            Error::Symlink(p) => write!(f, "refusing to write through the symlink {}", p.display()),
            Error::Io { op, path, .. } => write!(f, "{op} {}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(super) fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

/// `.NAME.kvinit-<random>.tmp`: where `NAME` is written before it is
/// renamed into place. Random, so that neither a leftover of an earlier run
/// (pids repeat in containers) nor the command can take it first.
pub(super) fn temporary_name(name: &OsStr, rng: &mut crate::retry::Rng) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".kvinit-{:016x}.tmp", rng.next_u64()));
    temp
}

/// A name `temporary_name` gives.
pub(super) fn is_temporary(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".") && name.ends_with(b".tmp") && name.windows(8).any(|w| w == b".kvinit-")
}
