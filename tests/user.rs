//! --user: files owned by the user, then groups, gid, uid dropped before exec.
//! These need root, as CI has; an ordinary user's run counts them as ignored.

mod support;

use std::os::unix::fs::MetadataExt;

use support::{Shm, World};

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to switch users")]
fn numeric_ids_need_no_passwd_entry() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    let shm = Shm::new();
    // Created by kvinit, so it must belong to the user for the command to read it.
    let dir = shm.0.join("secrets");
    w.kvinit()
        .args(["--dir", dir.to_str().unwrap(), "--file", "s=s", "--user", "4321:8765", "--env", "S=s"])
        .env("HOME", "/root")
        .args([
            "--",
            "sh",
            "-c",
            "echo $(id -u) $(id -g) $(id -G) $S $HOME; cat \"$0/s\"",
            dir.to_str().unwrap(),
        ])
        .run()
        .assert_success()
        .assert_stdout("4321 8765 8765 v /\nv");
    let meta = std::fs::metadata(dir.join("s")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 8765), "files belong to the user");
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to switch users")]
fn a_name_from_etc_passwd() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    // Debian's nobody: uid 65534, group nogroup 65534, home /nonexistent.
    w.kvinit()
        .args(["--user", "nobody", "--env", "S=s", "--", "sh", "-c", "echo $(id -u) $(id -g) $HOME"])
        .run()
        .assert_success()
        .assert_stdout("65534 65534 /nonexistent\n");
}

#[test]
fn an_unknown_user_is_a_usage_error_before_any_request() {
    let w = World::new();
    w.kvinit()
        .args(["--user", "no-such-user-kvinit", "--env", "S=s", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("--user: no user named \"no-such-user-kvinit\"");
    assert!(w.imds.server.requests().is_empty());
    w.kvinit()
        .args(["--user", "a b", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("is not UID[:GID] or NAME[:GROUP]");
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to switch users")]
fn without_root_the_switch_fails_closed() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    let (cmd, marker) = support::tripwire(&w.dir);
    // Start kvinit as an unprivileged user (through itself), then ask for another.
    let run = w
        .kvinit()
        .args(["--user", "4321", "--env", "S=s", "--"])
        .arg(env!("CARGO_BIN_EXE_kvinit"))
        .args(["--user", "1111", "--vault", &w.vault.url(), "--"])
        .args(&cmd)
        .run();
    run.assert_code(5)
        .assert_stderr_contains("--user: setgroups failed (kvinit must start as root to switch user)");
    assert!(!marker.exists());

    let run = w
        .kvinit()
        .args(["--user", "4321", "--env", "S=s", "--"])
        .arg(env!("CARGO_BIN_EXE_kvinit"))
        .args(["--init", "--user", "1111", "--vault", &w.vault.url(), "--"])
        .args(&cmd)
        .run();
    run.assert_code(5).assert_stderr_contains("--user: kvinit must start as root to switch user");
    assert!(!marker.exists());
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to switch users")]
fn with_init_the_command_runs_as_the_user_and_kvinit_stays_root() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    w.kvinit()
        .args(["--init", "--user", "4321:8765", "--env", "S=s", "--", "sh", "-c"])
        .arg("echo $(id -u) $(id -g) $(id -G) $S; grep Uid /proc/$PPID/status | tr -s '\\t' ' '")
        .run()
        .assert_success()
        .assert_stdout("4321 8765 8765 v\nUid: 0 0 0 0\n");
}

/// Root without CAP_SETGID/CAP_SETUID (a locked-down container): the
/// child's switch fails, and kvinit says which call failed and why, with
/// exit 5, rather than "cannot execute" and 126.
#[test]
#[cfg_attr(any(kvinit_no_root, kvinit_no_setpriv), ignore = "needs root and setpriv(1) from util-linux")]
fn with_init_a_failed_switch_is_reported_as_such() {
    if !support::require(&[support::Need::Root, support::Need::Setpriv]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    let mut k = support::Kvinit::new();
    k.cmd = std::process::Command::new("setpriv");
    k.cmd
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("SSL_CERT_FILE", &w.vault.ca_file)
        .stdin(std::process::Stdio::null())
        .args(["--bounding-set=-setuid,-setgid", "--inh-caps=-setuid,-setgid", env!("CARGO_BIN_EXE_kvinit")])
        .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host()]);
    let (command, ran) = support::tripwire(&w.dir);
    k.args(["--init", "--user", "65534", "--env", "S=s", "--"])
        .args(command)
        .run()
        .assert_code(5)
        .assert_stderr_contains("--user: setgroups failed")
        .assert_stderr_contains("Operation not permitted");
    assert!(!ran.exists(), "the command ran without the switch");
}
