//! What a test needs of the machine. `build.rs` marks a test whose need is
//! missing here as ignored (`cfg_attr(kvinit_no_root, ignore = "...")`), so
//! that `cargo test`'s own summary counts it. `require` checks again at run
//! time: on CI (`CI` set) a missing need fails the test; elsewhere (the
//! machine changed since the build) the test says why and returns.

use std::path::Path;
use std::process::Command;

/// One thing a test needs.
pub enum Need {
    /// To run as root: another user, a chown, a namespace, a chroot.
    Root,
    /// openssl(1), to make and check certificates.
    Openssl,
    /// setpriv(1), from util-linux.
    Setpriv,
    /// ip(8), from iproute2.
    Ip,
    /// A directory that must exist.
    Dir(&'static str),
}

pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).output().is_ok_and(|out| out.status.success())
}

/// Why `need` is not met here, if it is not.
fn missing(need: &Need) -> Option<String> {
    match need {
        Need::Root if !is_root() => Some("needs root".into()),
        Need::Openssl if !runs("openssl", "version") => Some("needs openssl(1)".into()),
        Need::Setpriv if !runs("setpriv", "--version") => Some("needs setpriv(1) from util-linux".into()),
        Need::Ip if !runs("ip", "-V") => Some("needs ip(8) from iproute2".into()),
        Need::Dir(dir) if !Path::new(dir).is_dir() => Some(format!("needs the directory {dir}")),
        _ => None,
    }
}

/// Whether every need is met; on CI, a missing one fails the test.
pub fn require(needs: &[Need]) -> bool {
    match needs.iter().find_map(missing) {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("CI runs every test, and this one {why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}
