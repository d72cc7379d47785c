//! Windows: kvinit starts the command, survives the console's events, and
//! waits for it.

use std::ffi::OsString;
use std::io;
use std::process::Command;

const CTRL_C_EVENT: u32 = 0;
const CTRL_BREAK_EVENT: u32 = 1;

#[link(name = "kernel32")]
extern "system" {
    fn SetConsoleCtrlHandler(handler: Option<unsafe extern "system" fn(u32) -> i32>, add: i32) -> i32;
}

/// Ctrl+C and Ctrl+Break reach the command through the shared console;
/// kvinit only has to survive them. On close, logoff or shutdown (what
/// `docker stop` sends) the handler blocks, so that kvinit is still
/// there to exit with the command's code once the command has exited,
/// until Windows' own grace period ends both.
unsafe extern "system" fn on_console_event(event: u32) -> i32 {
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    1
}

pub fn run(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    _original: crate::launch::signals::Original,
) -> io::Result<i32> {
    let mut child = Command::new(&command[0]).args(&command[1..]).env_clear().envs(env).spawn()?;
    outlive_console_events();
    let status = child.wait()?;
    Ok(status.code().unwrap_or(1))
}

pub fn outlive_console_events() {
    // SAFETY: the handler is a plain function with the signature Windows
    // expects, touching no state of ours; registering it has no other effect.
    if unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) } == 0 {
        log::warn!("cannot install a console handler: {}", io::Error::last_os_error());
    }
}
