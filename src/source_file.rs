//! Files kvinit reads on the command's behalf (`--template SRC`). With
//! `--user`, kvinit is root and the command is not: a source the command's
//! user could replace, or reach through a symlink of theirs, would let them
//! copy a file only root may read into a destination they own, or add
//! placeholders for secrets they were not given. So with `--user` a source
//! is read only where nobody but root can change it, as `--dir` is opened.

use std::fs::File;
use std::path::Path;

/// Opens `path` for reading; with `strict` (`--user`), only if nobody but
/// root can change it or the way to it. The error says why, never what the
/// file holds.
pub fn open(path: &Path, strict: bool) -> Result<File, String> {
    if strict {
        imp::open_trusted(path)
    } else {
        File::open(path).map_err(|e| e.to_string())
    }
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, Metadata};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::{Path, PathBuf};

    use nix::sys::statvfs::{statvfs, FsFlags};

    /// Every symlink on the way is root's (a Kubernetes ConfigMap's
    /// `..data` is), and every directory on the resolved path, and the file,
    /// is root's and writable by nobody else, unless it is on a read-only
    /// mount (a ConfigMap's 0777 directory is). The file is then opened
    /// without following a symlink, and must be the one checked.
    pub fn open_trusted(path: &Path) -> Result<File, String> {
        let absolute = std::env::current_dir().map_err(|e| e.to_string())?.join(path);
        let mut prefix = PathBuf::from("/");
        for part in absolute.components().skip(1) {
            prefix.push(part);
            let meta =
                std::fs::symlink_metadata(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
            if meta.file_type().is_symlink() && meta.uid() != 0 {
                return Err(format!(
                    "{} is a symlink made by uid {}, not root; with --user, a template is read only by a path \
                     that only root can change",
                    prefix.display(),
                    meta.uid()
                ));
            }
        }
        let resolved = std::fs::canonicalize(&absolute).map_err(|e| e.to_string())?;
        let mut checked = None;
        for at in resolved.ancestors().collect::<Vec<_>>().into_iter().rev() {
            let meta = std::fs::symlink_metadata(at).map_err(|e| format!("{}: {e}", at.display()))?;
            if let Some(who) = changeable_by(&meta, at) {
                return Err(format!(
                    "{} is writable by {who}; with --user, a template is read only where nobody but root can \
                     change it (keep it in the image, or on a read-only mount)",
                    at.display()
                ));
            }
            checked = Some(meta);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&resolved)
            .map_err(|e| e.to_string())?;
        let opened = file.metadata().map_err(|e| e.to_string())?;
        match checked {
            Some(m) if m.dev() == opened.dev() && m.ino() == opened.ino() => Ok(file),
            _ => Err("it changed while it was being checked".into()),
        }
    }

    /// Who besides root could change `at`, if anyone. A sticky directory of
    /// root's (`/tmp`, `/dev/shm`) lets others add entries, but not rename
    /// or replace root's, and the next step on the path is checked itself.
    fn changeable_by(meta: &Metadata, at: &Path) -> Option<String> {
        let mode = meta.mode();
        let sticky = meta.is_dir() && mode & 0o1000 != 0;
        let who = if meta.uid() != 0 {
            format!("its owner, uid {}", meta.uid())
        } else if sticky {
            return None;
        } else if mode & 0o002 != 0 {
            "everyone".to_string()
        } else if mode & 0o020 != 0 {
            format!("group {}", meta.gid())
        } else {
            return None;
        };
        let read_only = statvfs(at).is_ok_and(|st| st.flags().contains(FsFlags::ST_RDONLY));
        (!read_only).then_some(who)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::File;
    use std::path::Path;

    /// Windows has no `--user`.
    pub fn open_trusted(path: &Path) -> Result<File, String> {
        File::open(path).map_err(|e| e.to_string())
    }
}
