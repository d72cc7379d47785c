//! `--on-change restart`, `--stop-timeout` and `--refresh-sentinel`: a
//! rotated variable reaches the command by a restart under the same PID 1,
//! a command that ignores the stop signal is killed, and a sentinel keeps
//! each round to one GET.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{finish, signal, wait_for, World};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The command: appends "PPID VALUE PID" to `log` as it starts, then
/// waits; with `ignore_term`, it ignores SIGTERM.
fn command(log: &Path, ignore_term: bool) -> String {
    let trap = if ignore_term { "trap '' TERM; " } else { "" };
    format!(
        "{trap}echo \"$(grep PPid /proc/$$/status | tr -dc 0-9) $API_KEY $$\" >> {}; while :; do sleep 0.05; done",
        log.display()
    )
}

/// "PPID VALUE" of each start, without the PID.
fn starts(log: &Path) -> String {
    read(log).lines().map(|l| l.rsplit_once(' ').map_or(l, |(head, _)| head).to_string() + "\n").collect()
}

/// The PID of the last start.
fn last_pid(log: &Path) -> u32 {
    read(log).lines().last().and_then(|l| l.rsplit(' ').next()).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// kvinit supervising `command` with `--on-change restart`, API_KEY from
/// secret `api-key` ("first"), once the command has started.
fn start_restarting(w: &World, log: &Path, ignore_term: bool, stop_timeout: &str) -> std::process::Child {
    w.vault.put("api-key", "first");
    let script = command(log, ignore_term);
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--on-change", "restart", "--stop-timeout", stop_timeout])
        .args(["--env", "API_KEY=api-key", "--", "sh", "-c", &script])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || read(log).lines().count() == 1));
    child
}

#[test]
fn a_rotated_variable_restarts_the_command_under_the_same_parent() {
    let w = World::new();
    let log = w.dir.path().join("starts");
    let child = start_restarting(&w, &log, false, "10s");
    let kvinit = child.id().to_string();
    w.vault.put("api-key", "second");
    let restarted = wait_for(Duration::from_secs(15), || read(&log).lines().count() == 2);
    // More rounds, with nothing new: no more restarts.
    std::thread::sleep(Duration::from_millis(2500));
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(restarted, "no restart:\n{stderr}");
    assert_eq!(starts(&log), format!("{kvinit} first\n{kvinit} second\n"), "{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("refresh: restarted"), "{stderr}");
    assert!(!stderr.contains("second") && !stderr.contains("first"), "no value is logged:\n{stderr}");
}

#[test]
fn a_command_that_ignores_the_stop_signal_is_killed_after_the_timeout() {
    let w = World::new();
    let log = w.dir.path().join("starts");
    let child = start_restarting(&w, &log, true, "1s");
    w.vault.put("api-key", "second");
    let restarted = wait_for(Duration::from_secs(15), || read(&log).lines().count() == 2);
    // The new command ignores TERM too: it is ended with KILL, and kvinit with it.
    signal(last_pid(&log), 9);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(restarted, "never restarted:\n{stderr}");
    assert!(stderr.contains("did not stop within 1s; killing it"), "{stderr}");
    assert_eq!(code, Some(137), "{stderr}");
}

#[test]
fn term_during_a_restart_ends_everything_with_143() {
    let w = World::new();
    let log = w.dir.path().join("starts");
    let child = start_restarting(&w, &log, true, "3s");
    let first = last_pid(&log);
    w.vault.put("api-key", "second");
    // The restart is under way once the stop signal went out; the command
    // ignores it, so kvinit is waiting for the timeout when TERM comes.
    std::thread::sleep(Duration::from_millis(2500));
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(143), "{stderr}");
    assert_eq!(read(&log).lines().count(), 1, "not started again after TERM:\n{stderr}");
    assert!(stderr.contains("killing it"), "the command ignoring TERM was killed at the timeout:\n{stderr}");
    assert!(!Path::new(&format!("/proc/{first}")).exists(), "no process is left");
}

#[test]
fn a_sentinel_keeps_each_round_to_one_get() {
    let w = World::new();
    for name in ["a", "b", "c", "version"] {
        w.vault.put(name, "v1");
    }
    let shm = support::Shm::new();
    let ready = w.dir.path().join("ready");
    let script = format!("trap : HUP; touch {}; while :; do sleep 0.05; done", ready.display());
    let child = w
        .kvinit()
        .args([
            "--init",
            "--refresh",
            "1s",
            "--refresh-sentinel",
            "version",
            "--dir",
            shm.0.to_str().unwrap(),
        ])
        .args(["--file", "a=a", "--file", "b=b", "--file", "c=c", "--", "sh", "-c", &script])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    let at_start = w.vault.secret_requests().len();
    std::thread::sleep(Duration::from_millis(3500));
    let quiet = w.vault.secret_requests().len() - at_start;
    let sentinel_only = w.vault.secret_requests()[at_start..].iter().all(|r| r.path == "/secrets/version");
    w.vault.put("b", "v2");
    w.vault.put("version", "v2");
    let rotated = wait_for(Duration::from_secs(15), || read(&shm.0.join("b")) == "v2");
    // A sentinel that cannot be read is said once, not every round.
    w.vault.disable("version");
    std::thread::sleep(Duration::from_millis(3500));
    w.vault.secrets.lock().unwrap().get_mut("version").unwrap().enabled = true;
    std::thread::sleep(Duration::from_millis(2500));
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(
        stderr.matches("keeping the current secrets (said once until it is read again)").count(),
        1,
        "{stderr}"
    );
    assert!(
        (2..=5).contains(&quiet) && sentinel_only,
        "{quiet} GETs in 3.5 s of 1 s rounds, sentinel only: {sentinel_only}"
    );
    assert!(rotated, "the change behind the sentinel was never read:\n{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("refresh: 1 GET(s) every 1s, about 3600 an hour"), "{stderr}");
    assert!(stderr.contains("per vault; refresh less often\n"), "no advice to use what is in use:\n{stderr}");
    assert!(stderr.contains("refresh: version changed; reading every secret"), "{stderr}");
}

/// kvinit running `--on-change-run HOOK` for a command that waits, with
/// API_KEY from `api-key` and the file `cfg` from `cfg`, once it started.
fn start_hooked(w: &World, shm: &support::Shm, hook: &str, extra: &[&str]) -> std::process::Child {
    w.vault.put("api-key", "k1");
    w.vault.put("cfg", "c1");
    let ready = w.dir.path().join("ready");
    let script = format!("trap : HUP; touch {}; while :; do sleep 0.05; done", ready.display());
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--on-change-run", hook, "--dir", shm.0.to_str().unwrap()])
        .args(extra)
        .args(["--env", "API_KEY=api-key", "--file", "cfg=cfg", "--", "sh", "-c", &script])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    child
}

#[test]
fn the_hook_runs_once_per_change_with_the_files_written_and_the_new_environment() {
    let w = World::new();
    let shm = support::Shm::new();
    let log = w.dir.path().join("hook");
    let hook =
        format!("sh -c 'echo \"$API_KEY $(cat {}/cfg) $(id -u)\" >> {}'", shm.0.display(), log.display());
    let child = start_hooked(&w, &shm, &hook, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    let before_any_change = read(&log);
    w.vault.put("cfg", "c2");
    w.vault.put("api-key", "k2");
    assert!(wait_for(Duration::from_secs(15), || !read(&log).is_empty()));
    // Later rounds with nothing new run nothing.
    std::thread::sleep(Duration::from_millis(2500));
    let after_one_change = read(&log);
    w.vault.put("cfg", "c3");
    assert!(wait_for(Duration::from_secs(15), || read(&log).lines().count() >= 2));
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    // SAFETY: getuid(2) has no memory effects.
    let uid = unsafe { libc::getuid() };
    assert_eq!(before_any_change, "", "{stderr}");
    // Both secrets may change in one round or over two; the hook runs once
    // per round that saw a change, and always sees the file already written.
    let lines: Vec<&str> = after_one_change.lines().collect();
    assert!(
        lines == [format!("k2 c2 {uid}")] || lines == [format!("k1 c2 {uid}"), format!("k2 c2 {uid}")],
        "{after_one_change:?}\n{stderr}"
    );
    assert_eq!(read(&log).lines().last(), Some(format!("k2 c3 {uid}").as_str()), "{stderr}");
    assert_eq!(read(&log).lines().count(), lines.len() + 1, "{stderr}");
    assert_eq!(code, Some(143), "the command went on, and TERM ended it:\n{stderr}");
    assert!(stderr.contains("refresh: \"sh\" exited with 0"), "{stderr}");
    assert!(!stderr.contains("k2") && !stderr.contains("c2"), "no value is logged:\n{stderr}");
}

#[test]
fn a_hook_that_fails_or_hangs_is_logged_and_killed_and_the_command_goes_on() {
    let w = World::new();
    let shm = support::Shm::new();
    let marker = w.dir.path().join("hung");
    let hook = format!("sh -c 'touch {}; exec sleep 30'", marker.display());
    let mut child = start_hooked(&w, &shm, &hook, &["--stop-timeout", "1s"]);
    w.vault.put("cfg", "c2");
    let ran = wait_for(Duration::from_secs(15), || marker.exists());
    // Past the hook's timeout, and another round or two.
    std::thread::sleep(Duration::from_millis(2500));
    let alive = matches!(child.try_wait(), Ok(None));
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(ran && alive, "ran: {ran}, kvinit alive: {alive}\n{stderr}");
    assert!(stderr.contains("did not finish within 1s; killing it"), "{stderr}");
    assert!(stderr.contains("refresh: \"sh\" exited with 137; COMMAND goes on"), "{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
}

#[test]
fn a_hook_that_needs_a_shell_is_a_usage_error() {
    let w = World::new();
    let out = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--on-change-run", "nginx -s reload && echo ok", "true"])
        .run();
    assert_eq!(out.output.status.code(), Some(2), "{}", out.stderr());
    let said = "--on-change-run \"nginx -s reload && echo ok\" has an unquoted '&'";
    assert!(out.stderr().contains(said), "{}", out.stderr());
}
