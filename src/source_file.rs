//! Files kvinit reads on the command's behalf (`--template SRC`). With
//! `--user`, kvinit is root and the command is not: a source the command's
//! user could replace, or reach through a symlink of theirs, would let them
//! copy a file only root may read into a destination they own, or add
//! placeholders for secrets they were not given. So with `--user` a source
//! is read only where nobody but root can change it, as `--dir` is opened.
//! Either way it must be a regular file: a FIFO would block the start.

use std::fs::File;
use std::path::Path;

/// Opens `path` for reading; with `strict` (`--user`), only if nobody but
/// root can change it or the way to it. The error says why, never what the
/// file holds.
pub fn open(path: &Path, strict: bool) -> Result<File, String> {
    let file = if strict { imp::open_trusted(path)? } else { imp::open(path)? };
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err("not a regular file".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(unix)]
mod imp {
    use std::ffi::{OsStr, OsString};
    use std::fs::File;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Component, Path, PathBuf};

    use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
    use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
    use nix::sys::statvfs::{fstatvfs, FsFlags};

    /// Non-blocking, so that a FIFO is refused rather than waited on.
    const FILE_FLAGS: OFlag =
        OFlag::O_RDONLY.union(OFlag::O_NOFOLLOW).union(OFlag::O_NONBLOCK).union(OFlag::O_CLOEXEC);
    const DIR_FLAGS: OFlag =
        OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);
    /// As many symlinks as the kernel follows in one path.
    const MAX_LINKS: usize = 40;

    pub fn open(path: &Path) -> Result<File, String> {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| e.to_string())
    }

    /// Walks `path` from `/` one name at a time, each directory opened by
    /// descriptor and checked through it, so that what is checked is what
    /// is read: every symlink on the way must be root's (a Kubernetes
    /// ConfigMap's `..data` is), and every directory, and the file, root's
    /// and writable by nobody else, unless on a read-only mount (a
    /// ConfigMap's 0777 directory is) or a sticky directory of root's.
    pub fn open_trusted(path: &Path) -> Result<File, String> {
        let absolute = std::env::current_dir().map_err(|e| e.to_string())?.join(path);
        // The names still to walk, the next one last.
        let mut todo: Vec<OsString> = names(&absolute).collect();
        todo.reverse();
        let root = nix::fcntl::open("/", DIR_FLAGS, Mode::empty()).map_err(|e| format!("/: {e}"))?;
        check(&root, Path::new("/"))?;
        let mut walked: Vec<(OwnedFd, PathBuf)> = vec![(root, PathBuf::from("/"))];
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                if walked.len() > 1 {
                    walked.pop();
                }
                continue;
            }
            let (dir, shown) = walked.last().ok_or("no directory")?;
            let at = shown.join(&name);
            let failed = |e: nix::Error| format!("{}: {}", at.display(), std::io::Error::from(e));
            let st = fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(failed)?;
            match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFLNK => {
                    if st.st_uid != 0 {
                        return Err(format!(
                            "{} is a symlink made by uid {}, not root; with --user, a template is read only by \
                             a path that only root can change",
                            at.display(),
                            st.st_uid
                        ));
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(format!("{}: too many symlinks", at.display()));
                    }
                    let target = PathBuf::from(readlinkat(dir, name.as_os_str()).map_err(failed)?);
                    if target.is_absolute() {
                        walked.truncate(1);
                    }
                    let steps: Vec<OsString> = names(&target).collect();
                    todo.extend(steps.into_iter().rev());
                }
                SFlag::S_IFDIR => {
                    let fd = openat(dir, name.as_os_str(), DIR_FLAGS, Mode::empty()).map_err(failed)?;
                    check(&fd, &at)?;
                    walked.push((fd, at));
                }
                _ if todo.is_empty() => {
                    let fd = openat(dir, name.as_os_str(), FILE_FLAGS, Mode::empty()).map_err(failed)?;
                    check(&fd, &at)?;
                    // Where anyone may add names (root's sticky /tmp), a
                    // second name for a file of root's may be anyone's link.
                    let open_to_all = fstat(dir.as_fd()).is_ok_and(|d| d.st_mode & 0o1002 == 0o1002);
                    if open_to_all && fstat(fd.as_fd()).map_or(true, |f| f.st_nlink > 1) {
                        return Err(format!(
                            "{} has other names (hard links) where anyone may add one",
                            at.display()
                        ));
                    }
                    return Ok(File::from(fd));
                }
                _ => return Err(format!("{} is not a directory", at.display())),
            }
        }
        Err("it names a directory, not a file".into())
    }

    /// The names of `path` after its root, `.` left out.
    fn names(path: &Path) -> impl Iterator<Item = OsString> + '_ {
        path.components().filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsStr::new("..").to_os_string()),
            _ => None,
        })
    }

    /// Refuses what is open at `fd` if anyone but root could change it.
    fn check(fd: &OwnedFd, at: &Path) -> Result<(), String> {
        let st = fstat(fd.as_fd()).map_err(|e| format!("{}: {}", at.display(), std::io::Error::from(e)))?;
        match changeable_by(&st, fd) {
            None => Ok(()),
            Some(who) => Err(format!(
                "{} is writable by {who}; with --user, a template is read only where nobody but root can change \
                 it (keep it in the image, or on a read-only mount)",
                at.display()
            )),
        }
    }

    /// Who besides root could change it, if anyone. Whatever another user
    /// owns is theirs to change, read-only mount or not (they may have a
    /// writable view of it elsewhere). A sticky directory of root's (`/tmp`,
    /// `/dev/shm`) lets others add entries, but not rename or replace
    /// root's, and the next step on the path is checked itself.
    fn changeable_by(st: &FileStat, fd: &OwnedFd) -> Option<String> {
        let mode = st.st_mode;
        let is_dir = SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        let who = if st.st_uid != 0 {
            return Some(format!("its owner, uid {}", st.st_uid));
        } else if is_dir && mode & 0o1000 != 0 {
            return None;
        } else if mode & 0o002 != 0 {
            "everyone".to_string()
        } else if mode & 0o020 != 0 {
            format!("group {}", st.st_gid)
        } else {
            return None;
        };
        let read_only = fstatvfs(fd.as_fd()).is_ok_and(|v| v.flags().contains(FsFlags::ST_RDONLY));
        (!read_only).then_some(who)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::File;
    use std::path::Path;

    pub fn open(path: &Path) -> Result<File, String> {
        File::open(path).map_err(|e| e.to_string())
    }

    /// Windows has no `--user`.
    pub fn open_trusted(path: &Path) -> Result<File, String> {
        open(path)
    }
}
