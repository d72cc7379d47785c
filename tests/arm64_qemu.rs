//! The static aarch64 build, run under qemu-user against the fakes: a full
//! read into a variable and a file, exec, and `--init` forwarding TERM.
//! `scripts/static-check.sh` builds it, sets KVINIT_ARM64_BIN and runs
//! these with `--ignored`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{finish, signal, wait_for, Kvinit, Shm, World};

/// kvinit for aarch64 under `qemu-aarch64`, pointed at the fakes.
fn kvinit(w: &World) -> Kvinit {
    let bin = std::env::var_os("KVINIT_ARM64_BIN").expect("KVINIT_ARM64_BIN: run scripts/static-check.sh");
    let mut cmd = Command::new("qemu-aarch64");
    cmd.arg(bin)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("SSL_CERT_FILE", &w.vault.ca_file)
        .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host()]);
    Kvinit { cmd }
}

#[test]
#[ignore = "needs the aarch64 build and qemu-user: scripts/static-check.sh runs it"]
fn reads_into_a_variable_and_a_file_then_execs() {
    let w = World::new();
    w.vault.put("db-password", "arm64-value");
    w.vault.put("tls-key", "arm64-file");
    let shm = Shm::new();
    let file = shm.0.join("key");
    let run = kvinit(&w)
        .args(["--dir", shm.0.to_str().unwrap(), "--env", "DB=db-password", "--file", "key=tls-key"])
        .args(["--", "sh", "-c", &format!("echo \"$DB $(cat {})\"", file.display())])
        .run();
    run.assert_success();
    assert_eq!(run.stdout().trim(), "arm64-value arm64-file", "{}", run.stderr());
    assert!(run.stderr().contains("kvinit: 2 secrets from 1 vault, 1 file in "), "{}", run.stderr());
}

#[test]
#[ignore = "needs the aarch64 build and qemu-user: scripts/static-check.sh runs it"]
fn init_forwards_term_and_exits_with_the_command() {
    let w = World::new();
    w.vault.put("s", "v");
    let ready = w.dir.path().join("ready");
    let script =
        format!("trap 'echo got-term; exit 7' TERM; touch {}; while :; do sleep 0.05; done", ready.display());
    let child = kvinit(&w).args(["--init", "--env", "S=s", "--", "sh", "-c", &script]).spawn();
    let started = wait_for(Duration::from_secs(30), || Path::new(&ready).exists());
    signal(child.id(), 15);
    let (code, stdout, stderr) = finish(child, Duration::from_secs(30));
    assert!(started, "{stderr}");
    assert_eq!(code, Some(7), "{stderr}");
    assert_eq!(stdout.trim(), "got-term", "{stderr}");
}
