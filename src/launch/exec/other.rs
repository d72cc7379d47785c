//! Platforms with neither: nothing can be started.

use std::ffi::OsString;
use std::io;

pub fn run(
    _command: &[OsString],
    _env: Vec<(OsString, OsString)>,
    _original: crate::launch::signals::Original,
) -> io::Result<i32> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "starting a command is not supported on this platform"))
}
