//! Secret files on Unix: every call relative to a descriptor, never
//! following a symlink the command could have planted.

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

use super::shared::{io_error, is_temporary, temporary_name, Error};
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
