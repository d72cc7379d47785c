//! Windows has no descriptor-relative calls in std and no memory
//! filesystem: files are written by path, next to their final name, then
//! renamed over it (MoveFileEx with REPLACE_EXISTING). They inherit the
//! directory's ACL; `--file-mode` and `--owner` have no meaning there.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::shared::{io_error, is_temporary, temporary_name, Error};
use crate::secret::SecretBytes;

pub type Handle = PathBuf;

pub enum Opened<'a> {
    Root(&'a Handle),
    Sub(Handle),
}

impl Opened<'_> {
    fn path(&self) -> &Path {
        match self {
            Opened::Root(p) => p,
            Opened::Sub(p) => p,
        }
    }
}

/// A file written under a temporary name, waiting to be renamed.
pub struct Staged {
    pub dir: Handle,
    temp: PathBuf,
    target: PathBuf,
    pub shown: PathBuf,
}

pub fn disk_filesystem(_path: &Path) -> io::Result<Option<String>> {
    Ok(Some("a disk volume (Windows has no memory filesystem)".into()))
}

pub fn open_secrets_dir(dir: &Path, _owner: Option<(u32, u32)>) -> Result<Handle, Error> {
    refuse_symlink(dir)?;
    std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    Ok(dir.to_path_buf())
}

/// Temporaries an earlier run left (killed mid-write).
pub fn remove_stale_temporaries(dir: &Handle, _path: &Path) {
    let Ok(listing) = std::fs::read_dir(dir) else { return };
    for entry in listing.flatten() {
        if is_temporary(&entry.file_name()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn refuse_symlink(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Symlink(path.to_path_buf())),
        _ => Ok(()),
    }
}

pub fn enter(
    parent: &Opened<'_>,
    name: &OsStr,
    shown: &Path,
    _: Option<(u32, u32)>,
) -> Result<Handle, Error> {
    let path = parent.path().join(name);
    refuse_symlink(&path)?;
    match std::fs::create_dir(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(path),
        Err(e) => Err(io_error("creating", shown)(e)),
    }
}

pub fn stage(
    dir: Opened<'_>,
    name: &OsStr,
    shown: &Path,
    _mode: u32,
    _owner: Option<(u32, u32)>,
    value: &SecretBytes,
) -> Result<Staged, Error> {
    let target = dir.path().join(name);
    refuse_symlink(&target)?;
    let mut rng = crate::retry::Rng::new();
    let (temp, mut file) = loop {
        let temp = dir.path().join(temporary_name(name, &mut rng));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("creating", shown)(e)),
        }
    };
    let staged = Staged { dir: dir.path().to_path_buf(), temp, target, shown: shown.to_path_buf() };
    let written = file.write_all(value.expose()).and_then(|()| file.sync_all());
    drop::<File>(file);
    match written {
        Ok(()) => Ok(staged),
        Err(e) => {
            discard(&staged);
            Err(io_error("writing", shown)(e))
        }
    }
}

pub fn commit(s: &Staged) -> io::Result<()> {
    std::fs::rename(&s.temp, &s.target)
}

pub fn discard(s: &Staged) {
    let _ = std::fs::remove_file(&s.temp);
}

pub fn sync(_: &Handle) -> io::Result<()> {
    Ok(())
}
