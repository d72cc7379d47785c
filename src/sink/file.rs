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

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
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

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

/// `.NAME.kvinit-<random>.tmp`: where `NAME` is written before it is
/// renamed into place. Random, so that neither a leftover of an earlier run
/// (pids repeat in containers) nor the command can take it first.
fn temporary_name(name: &OsStr, rng: &mut crate::retry::Rng) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".kvinit-{:016x}.tmp", rng.next_u64()));
    temp
}

/// A name `temporary_name` gives.
fn is_temporary(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".") && name.ends_with(b".tmp") && name.windows(8).any(|w| w == b".kvinit-")
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
        let handle = imp::open_secrets_dir(&files.dir, owner)?;
        imp::remove_stale_temporaries(&handle, &files.dir);
        Ok(Dir { handle, path: files.dir.clone(), mode: files.mode, owner })
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

#[cfg(unix)]
mod imp {
    use std::ffi::{OsStr, OsString};
    use std::fs::File;
    use std::io::{self, Write};
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::path::{Path, PathBuf};

    use nix::errno::Errno;
    use nix::fcntl::{openat, renameat, AtFlags, OFlag};
    use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

    use super::{io_error, is_temporary, temporary_name, Error};
    use crate::secret::SecretBytes;

    const RAMFS_MAGIC: i64 = 0x8584_58f6;

    pub type Handle = OwnedFd;

    /// A directory to write in: the secrets directory itself, or one opened below it.
    pub enum Opened<'a> {
        Root(&'a OwnedFd),
        Sub(OwnedFd),
    }

    impl Opened<'_> {
        fn fd(&self) -> BorrowedFd<'_> {
            match self {
                Opened::Root(fd) => fd.as_fd(),
                Opened::Sub(fd) => fd.as_fd(),
            }
        }
    }

    /// A file written under a temporary name, waiting to be renamed.
    pub struct Staged {
        pub dir: OwnedFd,
        temp: OsString,
        name: OsString,
        pub shown: PathBuf,
    }

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

    const DIR_FLAGS: OFlag =
        OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

    /// Opens `dir` walking down from `/` one name at a time. A symlink on
    /// the way is followed only if root made it (`/var/run`); one anybody
    /// else made (in a shared, writable directory, say an `emptyDir` that
    /// outlived a previous run of the app) is refused. What is missing is
    /// made: root's 0755 on the way, and `dir` itself 0700, given to
    /// `owner` through its descriptor once it is sure to be the one just made.
    pub fn open_secrets_dir(dir: &Path, owner: Option<(u32, u32)>) -> Result<OwnedFd, Error> {
        use std::path::Component;
        let absolute = std::env::current_dir().map(|cwd| cwd.join(dir)).unwrap_or_else(|_| dir.to_path_buf());
        let names: Vec<&OsStr> = absolute
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(Ok(name)),
                Component::ParentDir => Some(Err(())),
                _ => None,
            })
            .collect::<Result<_, ()>>()
            .map_err(|()| io_error("opening the directory", dir)(io::ErrorKind::InvalidInput.into()))?;
        let mut at = PathBuf::from("/");
        let mut fd = nix::fcntl::open("/", DIR_FLAGS, Mode::empty())
            .map_err(|e| io_error("opening the directory", &at)(e.into()))?;
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            at.push(name);
            fd = match fstatat(&fd, *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if kind(&st) == SFlag::S_IFLNK && st.st_uid == 0 => {
                    nix::fcntl::open(&at, DIR_FLAGS.difference(OFlag::O_NOFOLLOW), Mode::empty())
                        .map_err(|e| refusal(e, "opening the directory", &at))?
                }
                Ok(st) if kind(&st) == SFlag::S_IFLNK => return Err(Error::Symlink(at)),
                Ok(_) => openat(&fd, *name, DIR_FLAGS, Mode::empty())
                    .map_err(|e| refusal(e, "opening the directory", &at))?,
                Err(Errno::ENOENT) => {
                    let mode = if last { Mode::S_IRWXU } else { Mode::from_bits_truncate(0o755) };
                    let made = make_dir(fd.as_fd(), name, mode, &at)?;
                    if last {
                        if !made_by_us(&made) {
                            let raced = io::Error::from(io::ErrorKind::AlreadyExists);
                            return Err(io_error("creating the directory", &at)(raced));
                        }
                        set_owner(&made, owner).map_err(io_error("changing the owner of", &at))?;
                    }
                    made
                }
                Err(e) => return Err(refusal(e, "opening the directory", &at)),
            };
        }
        Ok(fd)
    }

    /// `name` made in `parent` with `mode`, and opened.
    fn make_dir(parent: BorrowedFd<'_>, name: &OsStr, mode: Mode, shown: &Path) -> Result<OwnedFd, Error> {
        mkdirat(parent, name, mode).map_err(|e| refusal(e, "creating the directory", shown))?;
        openat(parent, name, DIR_FLAGS, Mode::empty()).map_err(|e| refusal(e, "opening the directory", shown))
    }

    fn kind(st: &nix::sys::stat::FileStat) -> SFlag {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
    }

    /// A directory kvinit just made is its own; one put in its place is not.
    fn made_by_us(dir: &OwnedFd) -> bool {
        nix::sys::stat::fstat(dir).is_ok_and(|st| st.st_uid == nix::unistd::geteuid().as_raw())
    }

    /// Temporaries an earlier run left (killed mid-write): they hold values
    /// that are no longer current, and nothing else would remove them.
    /// Listed by path, at start-up like the rest of `prepare`; removed
    /// through the descriptor.
    pub fn remove_stale_temporaries(dir: &OwnedFd, path: &Path) {
        let Ok(listing) = std::fs::read_dir(path) else { return };
        for entry in listing.flatten() {
            let name = entry.file_name();
            if is_temporary(&name) {
                let _ = unlinkat(dir, name.as_os_str(), UnlinkatFlags::NoRemoveDir);
            }
        }
    }

    /// `name` in `parent`, created 0700 and given to `owner` if missing;
    /// a symlink is refused, never followed.
    pub fn enter(
        parent: &Opened<'_>,
        name: &OsStr,
        shown: &Path,
        owner: Option<(u32, u32)>,
    ) -> Result<OwnedFd, Error> {
        match openat(parent.fd(), name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(Errno::ENOENT) => {
                let fd = make_dir(parent.fd(), name, Mode::S_IRWXU, shown)?;
                if made_by_us(&fd) {
                    set_owner(&fd, owner).map_err(io_error("changing the owner of", shown))?;
                }
                Ok(fd)
            }
            // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR.
            Err(Errno::ENOTDIR) if is_symlink(parent.fd(), name) => Err(Error::Symlink(shown.to_path_buf())),
            Err(e) => Err(refusal(e, "opening the directory", shown)),
        }
    }

    fn is_symlink(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
        fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| kind(&st) == SFlag::S_IFLNK)
    }

    fn refusal(errno: Errno, op: &'static str, path: &Path) -> Error {
        match errno {
            Errno::ELOOP => Error::Symlink(path.to_path_buf()),
            e => io_error(op, path)(io::Error::from(e)),
        }
    }

    fn set_owner(fd: impl AsFd, owner: Option<(u32, u32)>) -> io::Result<()> {
        match owner {
            Some((uid, gid)) => {
                fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(Into::into)
            }
            None => Ok(()),
        }
    }

    pub fn stage(
        dir: Opened<'_>,
        name: &OsStr,
        shown: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
        value: &SecretBytes,
    ) -> Result<Staged, Error> {
        // Renaming over a symlink would not follow it, but a symlink where a
        // secret should be is someone's mistake or attack: say so.
        if is_symlink(dir.fd(), name) {
            return Err(Error::Symlink(shown.to_path_buf()));
        }
        let dir = match dir {
            Opened::Root(fd) => fd.try_clone().map_err(io_error("opening the directory of", shown))?,
            Opened::Sub(fd) => fd,
        };
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut rng = crate::retry::Rng::new();
        let (temp, fd) = loop {
            let temp = temporary_name(name, &mut rng);
            match openat(&dir, temp.as_os_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR) {
                Ok(fd) => break (temp, fd),
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(refusal(e, "creating", shown)),
            }
        };
        let staged = Staged { dir, temp, name: name.to_os_string(), shown: shown.to_path_buf() };
        let mut file = File::from(fd);
        let written = file
            .write_all(value.expose())
            .map_err(io_error("writing", shown))
            .and_then(|()| set_owner(&file, owner).map_err(io_error("changing the owner of", shown)))
            .and_then(|()| {
                fchmod(&file, Mode::from_bits_truncate(mode))
                    .map_err(|e| io_error("setting the mode of", shown)(e.into()))
            })
            .and_then(|()| file.sync_all().map_err(io_error("syncing", shown)));
        match written {
            Ok(()) => Ok(staged),
            Err(e) => {
                discard(&staged);
                Err(e)
            }
        }
    }

    pub fn commit(s: &Staged) -> io::Result<()> {
        renameat(&s.dir, s.temp.as_os_str(), &s.dir, s.name.as_os_str()).map_err(Into::into)
    }

    pub fn discard(s: &Staged) {
        let _ = unlinkat(&s.dir, s.temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
    }

    pub fn sync(dir: &OwnedFd) -> io::Result<()> {
        nix::unistd::fsync(dir).map_err(Into::into)
    }
}

/// Windows has no descriptor-relative calls in std and no memory
/// filesystem: files are written by path, next to their final name, then
/// renamed over it (MoveFileEx with REPLACE_EXISTING). They inherit the
/// directory's ACL; `--file-mode` and `--owner` have no meaning there.
#[cfg(not(unix))]
mod imp {
    use std::ffi::OsStr;
    use std::fs::{File, OpenOptions};
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};

    use super::{io_error, is_temporary, temporary_name, Error};
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
}
