//! Secrets into files on a memory filesystem, atomically, with the mode
//! and owner asked for, and never through a symlink out of the directory.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::Files;
use crate::secret::SecretBytes;

/// Why secret files could not be written (exit code 5).
#[derive(Debug)]
pub enum Error {
    /// The directory is on a disk-backed filesystem and `--allow-disk` was not given.
    NotInMemory { dir: PathBuf, fs: String },
    /// A path component inside the directory is a symlink.
    Symlink(PathBuf),
    /// A filesystem call failed.
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// Files are only written on Unix so far.
    #[cfg_attr(unix, allow(dead_code))]
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotInMemory { dir, fs } => write!(
                f,
                "refusing to write secrets to {}: it is on {fs}, not in memory; mount a tmpfs there \
                 (docker run --tmpfs {0}, or a Kubernetes emptyDir with medium: Memory), or pass --allow-disk",
                dir.display()
            ),
            Error::Symlink(p) => write!(f, "refusing to write through the symlink {}", p.display()),
            Error::Io { op, path, .. } => write!(f, "{op} {}", path.display()),
            Error::Unsupported => f.write_str("secret files are only supported on Unix"),
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

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

/// Checks that `files.dir` (or, if it does not exist yet, its nearest
/// existing ancestor) is on tmpfs or ramfs, then creates what is missing of
/// it, 0700 and owned by `owner`, so that the command's user can read its
/// files. Nothing is created if the check fails.
pub fn prepare_dir(files: &Files, owner: Option<(u32, u32)>) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut probe = files.dir.as_path();
    while !probe.exists() {
        missing.push(probe);
        probe = probe.parent().unwrap_or(Path::new("/"));
    }
    if !files.allow_disk {
        let fs = imp::disk_filesystem(probe).map_err(io_error("checking the filesystem of", probe))?;
        if let Some(fs) = fs {
            return Err(Error::NotInMemory { dir: files.dir.clone(), fs });
        }
    }
    for dir in missing.into_iter().rev() {
        imp::create_dir(dir, owner)?;
    }
    Ok(())
}

/// Writes each file under `files.dir`: a temporary name opened with
/// `O_EXCL|O_NOFOLLOW`, the mode and owner set, fsync, rename into place,
/// fsync the directory. A reader sees the old file or the new one, never half.
pub fn write(
    files: &Files,
    owner: Option<(u32, u32)>,
    path: &Path,
    value: &SecretBytes,
) -> Result<(), Error> {
    let target = files.dir.join(path);
    let parent = target.parent().unwrap_or(&files.dir).to_path_buf();
    // Intermediate directories: created 0700, and none may be a symlink.
    let mut dir = files.dir.clone();
    for component in path.parent().into_iter().flat_map(Path::components) {
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => return Err(Error::Symlink(dir)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => imp::create_dir(&dir, owner)?,
            Err(e) => return Err(io_error("inspecting", &dir)(e)),
        }
    }
    if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Symlink(target));
    }
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let temp = parent.join(format!(
        ".{name}.kvinit-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_temp(&temp, files.mode, owner, value).and_then(|()| {
        fs::rename(&temp, &target).map_err(io_error("renaming into place", &target))?;
        imp::sync_dir(&parent)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_temp(temp: &Path, mode: u32, owner: Option<(u32, u32)>, value: &SecretBytes) -> Result<(), Error> {
    let mut file = imp::create_new(temp).map_err(io_error("creating", temp))?;
    file.write_all(value.expose()).map_err(io_error("writing", temp))?;
    imp::set_owner_and_mode(&file, owner, mode).map_err(io_error("setting the owner and mode of", temp))?;
    file.sync_all().map_err(io_error("syncing", temp))
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    use std::path::Path;

    use nix::sys::statfs::{statfs, TMPFS_MAGIC};

    use super::{io_error, Error};

    const RAMFS_MAGIC: i64 = 0x8584_58f6;

    /// `None` for tmpfs and ramfs, else the filesystem's name.
    pub fn disk_filesystem(path: &Path) -> io::Result<Option<String>> {
        let st = statfs(path).map_err(io::Error::from)?;
        let kind = st.filesystem_type();
        if kind == TMPFS_MAGIC || kind.0 as i64 == RAMFS_MAGIC {
            Ok(None)
        } else {
            Ok(Some(format!("a disk-backed filesystem (type 0x{:x})", kind.0)))
        }
    }

    /// One directory, 0700, whose parent exists.
    pub fn create_dir(dir: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
        let made = std::fs::DirBuilder::new().mode(0o700).create(dir);
        made.map_err(io_error("creating the directory", dir))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(io_error("changing the owner of", dir))?;
        }
        Ok(())
    }

    pub fn create_new(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(path)
    }

    pub fn set_owner_and_mode(file: &File, owner: Option<(u32, u32)>, mode: u32) -> io::Result<()> {
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))
    }

    pub fn sync_dir(dir: &Path) -> Result<(), Error> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("syncing the directory", dir))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    use super::Error;

    pub fn disk_filesystem(_path: &Path) -> io::Result<Option<String>> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no statfs here"))
    }

    pub fn create_dir(_dir: &Path, _owner: Option<(u32, u32)>) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    pub fn create_new(_path: &Path) -> io::Result<File> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "secret files are only supported on Unix"))
    }

    pub fn set_owner_and_mode(_file: &File, _owner: Option<(u32, u32)>, _mode: u32) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "secret files are only supported on Unix"))
    }

    pub fn sync_dir(_dir: &Path) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
}
