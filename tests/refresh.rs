//! --refresh: rotated values reach files, the command is told, and a failing
//! vault never blanks a file.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{finish, signal, wait_for, Reply, Shm, World};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn a_rotated_value_is_written_and_the_command_gets_sighup() {
    let w = World::new();
    w.vault.put("api-key", "first-value");
    let shm = Shm::new();
    let seen = w.dir.path().join("seen");
    let script = format!(
        "trap 'cat {f} > {seen}' HUP; touch {ready}; while :; do sleep 0.05; done",
        f = shm.0.join("api-key").display(),
        seen = seen.display(),
        ready = w.dir.path().join("ready").display()
    );
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap(), "--file", "api-key=api-key"])
        .args(["--", "sh", "-c", &script])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || w.dir.path().join("ready").exists()));
    assert_eq!(read(&shm.0.join("api-key")), "first-value");
    w.vault.put("api-key", "second-value");
    let rotated = wait_for(Duration::from_secs(15), || read(&seen) == "second-value");
    signal(child.id(), 15);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(rotated, "the command never saw the new value after SIGHUP:\n{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("refresh: api-key changed in Key Vault; rewrote file:api-key"), "{stderr}");
    assert!(!stderr.contains("second-value") && !stderr.contains("first-value"), "{stderr}");
    assert_eq!(w.imds.server.requests().len(), 1, "the token is reused between rounds");
}

#[test]
fn a_failing_vault_leaves_the_file_alone() {
    let w = World::new();
    w.vault.put("db", "stable-value");
    let shm = Shm::new();
    let ready = w.dir.path().join("ready");
    let child = w
        .kvinit()
        .args([
            "--init",
            "--refresh",
            "1s",
            "--timeout",
            "3s",
            "--dir",
            shm.0.to_str().unwrap(),
            "--file",
            "db=db",
        ])
        .args(["--", "sh", "-c", &format!("touch {}; while :; do sleep 0.05; done", ready.display())])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    let reads_before = w.vault.secret_requests().len();
    for _ in 0..200 {
        w.vault
            .script
            .push(Reply::json(500, r#"{"error":{"code":"InternalError","message":"vault is down"}}"#));
    }
    let failed_rounds =
        wait_for(Duration::from_secs(20), || w.vault.secret_requests().len() >= reads_before + 4);
    let file = read(&shm.0.join("db"));
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(failed_rounds, "refresh rounds did not run:\n{stderr}");
    assert_eq!(file, "stable-value");
    assert_eq!(read(&shm.0.join("db")), "stable-value");
    assert!(stderr.contains("refresh: reading secret db from vault"), "{stderr}");
    assert!(stderr.contains("vault is down; keeping file:db"), "{stderr}");
}

#[test]
fn a_changed_variable_is_only_reported() {
    let w = World::new();
    w.vault.put("s", "one");
    let ready = w.dir.path().join("ready");
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--env", "S=s"])
        .args(["--", "sh", "-c", &format!("touch {}; while :; do sleep 0.05; done", ready.display())])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    w.vault.put("s", "two");
    let before = w.vault.secret_requests().len();
    assert!(wait_for(Duration::from_secs(15), || w.vault.secret_requests().len() >= before + 2));
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(
        stderr
            .contains("warning: refresh: s changed in Key Vault, but S of the running command cannot change"),
        "{stderr}"
    );
    assert!(!stderr.contains("two"), "{stderr}");
}

/// PID 1's duties come first: while a round waits on a vault that does not
/// answer, TERM still reaches the command at once, and kvinit leaves the
/// round behind.
#[test]
fn a_hanging_round_does_not_hold_back_a_stop() {
    let w = World::new();
    w.vault.put("db", "value");
    let shm = Shm::new();
    let (ready, stopped) = (w.dir.path().join("ready"), w.dir.path().join("stopped"));
    let script = format!(
        "trap 'touch {stopped}; exit 0' TERM; touch {ready}; i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        stopped = stopped.display(),
        ready = ready.display()
    );
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap(), "--file", "db=db"])
        .args(["--", "sh", "-c", &script])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    let reads = w.vault.secret_requests().len();
    w.vault.server.set_latency(Duration::from_secs(60));
    let round_started = wait_for(Duration::from_secs(10), || w.vault.secret_requests().len() > reads);
    let sent = std::time::Instant::now();
    signal(child.id(), 15);
    let told = wait_for(Duration::from_secs(10), || stopped.exists());
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    let took = sent.elapsed();
    assert!(round_started, "no round started:\n{stderr}");
    // The round would hang for 60 s; TERM must get through in a couple of
    // seconds (5 s leaves room for a loaded machine).
    assert!(told && took < Duration::from_secs(5), "TERM took {took:?} to get through:\n{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// A token Key Vault stops accepting before its expiry (revoked, a changed
/// identity) is renewed once in the round, which then goes on.
#[test]
fn a_rejected_token_is_renewed_once_within_the_round() {
    let w = World::new();
    w.vault.put("api-key", "first-value");
    let shm = Shm::new();
    let ready = w.dir.path().join("ready");
    let file = shm.0.join("api-key");
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap(), "--file", "api-key=api-key"])
        .args(["--", "sh", "-c", &format!("trap '' HUP; touch {}; exec sleep 60", ready.display())])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    w.vault.put("api-key", "second-value");
    w.vault
        .script
        .push(Reply::json(401, r#"{"error":{"code":"Unauthorized","message":"AKV10032: Invalid issuer."}}"#));
    let rotated = wait_for(Duration::from_secs(15), || read(&file) == "second-value");
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(rotated, "the round gave up on the rejected token:\n{stderr}");
    assert!(stderr.contains("refresh: Key Vault rejected the token; getting a new one"), "{stderr}");
    assert_eq!(w.imds.server.requests().len(), 2, "one token at start, one after the 401");
}

/// A secret deleted or disabled while the command runs keeps its last value
/// in every output (a lone file, a template, a variable), as a vault that
/// cannot be reached does; it is said once, as what it is, and when it is
/// readable again nothing changes.
#[test]
fn a_vanished_secret_keeps_its_last_value_everywhere() {
    let w = World::new();
    w.vault.put("db", "kept-value");
    w.vault.put("other", "o1");
    let shm = Shm::new();
    let template = w.dir.path().join("t.tpl");
    std::fs::write(&template, "password={{ db?optional }} other={{ other }}").unwrap();
    let ready = w.dir.path().join("ready");
    let hook = w.dir.path().join("hook-ran");
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap()])
        .args(["--file", "lone=db?optional", "--env", "DB=db?optional"])
        .args(["--template", &format!("{}=app.conf", template.display())])
        .args(["--on-change-run", &format!("touch {}", hook.display())])
        .args(["--", "sh", "-c", &format!("touch {}; exec sleep 60", ready.display())])
        .spawn();
    assert!(wait_for(Duration::from_secs(20), || ready.exists()));
    w.vault.disable("db");
    let reads = w.vault.secret_requests().len();
    let rounds = wait_for(Duration::from_secs(20), || w.vault.secret_requests().len() >= reads + 3 * 2);
    let (lone, conf) = (read(&shm.0.join("lone")), read(&shm.0.join("app.conf")));
    w.vault.put("other", "o2");
    let rewritten = wait_for(Duration::from_secs(20), || read(&shm.0.join("app.conf")).ends_with("o2"));
    let conf_after = read(&shm.0.join("app.conf"));
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(rounds && rewritten, "refresh rounds did not run:\n{stderr}");
    assert_eq!(lone, "kept-value");
    assert_eq!(conf, "password=kept-value other=o1");
    assert_eq!(conf_after, "password=kept-value other=o2", "{stderr}");
    let said = "refresh: db is now disabled in Key Vault; keeping its last value in env:DB, file:lone, file:app.conf";
    assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
    assert!(!stderr.contains("db changed"), "{stderr}");
    assert!(stderr.contains("refresh: other changed in Key Vault; rewrote file:app.conf"), "{stderr}");
}
