//! The README's quick start, as written: the kvinit-emulator binary with
//! examples/secrets.json, and kvinit run under it. Both binaries are built
//! by `cargo test` (the workspace's default members).

use std::path::PathBuf;
use std::process::{Command, Output};

fn emulator() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_kvinit")).with_file_name("kvinit-emulator");
    assert!(path.exists(), "{} is not built: run `cargo test` from the workspace root", path.display());
    path
}

fn run(args: &[&str]) -> Output {
    run_with(&[], args)
}

/// kvinit with `args`, under the emulator with `faults`.
fn run_with(faults: &[&str], args: &[&str]) -> Output {
    let mut cmd = Command::new(emulator());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["--secrets", "examples/secrets.json"])
        .args(faults)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_kvinit"))
        .args(args);
    let out = cmd.output().unwrap();
    eprintln!(
        "command: {cmd:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_sample_secret_reaches_a_real_child_process() {
    let out = run(&["--env", "GREETING=SampleSecret", "--", "sh", "-c", "echo $GREETING"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello from the emulated Key Vault\n");
}

#[test]
fn every_sample_secret_shape_works() {
    let out = run(&[
        "--env",
        "PASSWORD=db-password",
        "--env",
        "DB_USER=app-config?json=/database/user",
        "--",
        "sh",
        "-c",
        "echo \"$PASSWORD $DB_USER\"",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "correct-horse-battery-staple app\n");
}

#[test]
fn a_disabled_sample_secret_fails_closed() {
    let out = run(&["--env", "KEY=retired-key", "--", "sh", "-c", "echo started"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "the command must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reading secret retired-key"), "{stderr}");
    assert!(stderr.contains("SecretDisabled"), "{stderr}");
}

#[test]
fn rehearsed_failures_end_the_way_they_would_on_azure() {
    // Two 503s are retried away.
    let out = run_with(&["--fail-next", "2:503"], &["--env", "G=SampleSecret", "--", "sh", "-c", "echo $G"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello from the emulated Key Vault\n");

    // A missing role assignment is final, names the secret and says what to grant.
    let out =
        run_with(&["--deny", "db-password"], &["--env", "P=db-password", "--", "sh", "-c", "echo started"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reading secret db-password"), "{stderr}");
    assert!(stderr.contains("ForbiddenByRbac"), "{stderr}");
    assert!(stderr.contains("Key Vault Secrets User"), "{stderr}");
}

/// The README's example of each feature, against the quick-start secrets.
#[test]
fn the_readme_feature_examples_work() {
    let url = "DATABASE_URL=postgres://{{ app-config?json=/database/user }}:{{ api-key | urlencode }}@db/app";
    let out = run(&["--env", url, "--", "sh", "-c", "echo \"$DATABASE_URL\""]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "postgres://app:k3y%2Fwith%3Aodd%20%22chars%22@db/app\n"
    );

    let out = run(&[
        "--env-from",
        "app-settings?prefix=APP_",
        "--",
        "sh",
        "-c",
        "echo \"$APP_LOG_LEVEL $APP_FEATURE_SEARCH\"",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "info true\n");

    let out = run(&[
        "--all-secrets",
        "--all-secrets-tag",
        "app=demo",
        "--",
        "sh",
        "-c",
        "echo \"$API_KEY|$APP_SETTINGS\" | head -c 20",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k3y/with:odd \"chars\"");

    let dir = std::env::temp_dir().join(format!("kvinit-quick-start-{}", std::process::id()));
    let out = run(&[
        "--dir",
        dir.to_str().unwrap(),
        "--allow-disk",
        "--template",
        "examples/appsettings.json.tmpl=appsettings.json",
        "--",
        "cat",
        dir.join("appsettings.json").to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the rendered template is JSON");
    let out = run_with(
        &["--certificate", "web-cert"],
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--allow-disk",
            "--file",
            "tls.key=web-cert?part=key",
            "--file",
            "tls.crt=web-cert?part=fullchain",
            "--",
            "head",
            "-1",
            dir.join("tls.key").to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-----BEGIN PRIVATE KEY-----\n");
    assert_eq!(json["Database"]["Password"], "correct-horse-battery-staple");
    assert_eq!(json["ApiKey"], "k3y/with:odd \"chars\"");
}
