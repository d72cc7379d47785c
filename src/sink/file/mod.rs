//! Secrets into files on a memory filesystem, all or nothing, with the mode
//! and owner asked for, and never outside the directory.
//!
//! kvinit may stay root while the command runs as another user who owns the
//! directory (`--init --refresh --user`). So the directory is opened once,
//! before the command starts, and every later operation is relative to that
//! descriptor and to subdirectories opened from it with `O_NOFOLLOW`: the
//! command can rename, replace or symlink anything under it and still not
//! make kvinit touch a file elsewhere. Only files kvinit itself just created
//! are ever chowned or chmodded, through their descriptors.

mod shared;

use shared::io_error;
pub use shared::Error;

#[cfg(unix)]
#[path = "unix.rs"]
mod imp;
#[cfg(not(unix))]
#[path = "windows.rs"]
mod imp;

use std::path::{Path, PathBuf};

use crate::secret::SecretBytes;

/// Where and how secret files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub dir: PathBuf,
    pub mode: u32,
    /// `--owner`; `--user`'s ids are used when this is unset.
    pub owner: Option<(u32, Option<u32>)>,
    pub allow_disk: bool,
}

/// The secrets directory, held open from start-up on.
pub struct Dir {
    handle: imp::Handle,
    path: PathBuf,
    mode: u32,
    owner: Option<(u32, u32)>,
}

impl Dir {
    /// Checks that `files.dir` (or, if it does not exist yet, its nearest
    /// existing ancestor) is on tmpfs or ramfs, creates what is missing of
    /// it, 0700 and owned by `owner` so that the command's user can read its
    /// files, and opens it. Nothing is created if the check fails. This is
    /// the only step that goes by path, and it runs before the command.
    pub fn prepare(files: &Files, owner: Option<(u32, u32)>) -> Result<Dir, Error> {
        Dir::check(files)?;
        let handle = imp::open_secrets_dir(&files.dir, owner)?;
        imp::remove_stale_temporaries(&handle, &files.dir);
        Ok(Dir { handle, path: files.dir.clone(), mode: files.mode, owner })
    }

    /// The check `prepare` starts with, and nothing more: `--check` creates
    /// nothing. `files.dir` (or, if it does not exist yet, its nearest
    /// existing ancestor) must be on tmpfs or ramfs, unless `--allow-disk`.
    pub fn check(files: &Files) -> Result<(), Error> {
        let mut probe = files.dir.as_path();
        while !probe.exists() {
            probe = probe.parent().unwrap_or(Path::new("/"));
        }
        if !files.allow_disk {
            let fs = imp::disk_filesystem(probe).map_err(io_error("checking the filesystem of", probe))?;
            if let Some(fs) = fs {
                return Err(Error::NotInMemory { dir: files.dir.clone(), fs });
            }
        }
        Ok(())
    }

    /// Writes every file, all or nothing: each goes to a temporary name
    /// first (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode and owner set on the open
    /// file, fsync), and only when all are written are they renamed into
    /// place and their directories synced. A reader sees old files or new
    /// ones, never half of one; a failure leaves no temporary behind.
    pub fn write_all(&self, files: &[(&Path, &SecretBytes)]) -> Result<(), Error> {
        let mut staged = Vec::with_capacity(files.len());
        for (path, value) in files {
            match self.stage(path, value) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    staged.iter().for_each(imp::discard);
                    return Err(e);
                }
            }
        }
        for (i, s) in staged.iter().enumerate() {
            if let Err(e) = imp::commit(s) {
                staged[i..].iter().for_each(imp::discard);
                return Err(io_error("renaming into place", &s.shown)(e));
            }
        }
        for s in &staged {
            imp::sync(&s.dir).map_err(io_error("syncing the directory of", &s.shown))?;
        }
        Ok(())
    }

    /// Opens (creating, 0700, as needed) each directory of `path` below this
    /// one, then writes the temporary file.
    fn stage(&self, path: &Path, value: &SecretBytes) -> Result<imp::Staged, Error> {
        let shown = self.path.join(path);
        let mut at = self.path.clone();
        let mut dir = imp::Opened::Root(&self.handle);
        for component in path.parent().into_iter().flat_map(Path::components) {
            at.push(component);
            dir = imp::Opened::Sub(imp::enter(&dir, component.as_os_str(), &at, self.owner)?);
        }
        let name = path.file_name().unwrap_or_default();
        imp::stage(dir, name, &shown, self.mode, self.owner, value)
    }
}
