//! --check reads everything, prints one line per secret, and runs nothing.

mod support;

use support::{tripwire, World};

#[test]
fn check_lists_every_secret_without_values() {
    let w = World::new();
    let v1 = w.vault.put("db-password", "value-one-xyz");
    let v2 = w.vault.put("tls-cert", "value-two-xyz");
    w.vault.secrets.lock().unwrap().get_mut("tls-cert").unwrap().content_type =
        Some("application/x-pem-file".into());
    let reference = format!("@Microsoft.KeyVault(SecretUri={}/secrets/tls-cert)", w.vault.url());
    let (cmd, marker) = tripwire(&w.dir);
    let run = w
        .kvinit()
        .env("TLS_CERT", &reference)
        .args(["--check", "--env", "DB_PASSWORD=db-password", "--"])
        .args(&cmd)
        .run();
    let url = w.vault.url();
    run.assert_success()
        .assert_stdout(&format!(
            "env:DB_PASSWORD secret=db-password version={v1} vault={url} from=flag\n\
             env:TLS_CERT secret=tls-cert version={v2} vault={url} from=reference type=application/x-pem-file\n"
        ))
        .assert_output_lacks("value-one-xyz")
        .assert_output_lacks("value-two-xyz");
    assert!(!marker.exists(), "--check must not run the command");
}

#[test]
fn check_needs_no_command() {
    let w = World::new();
    w.vault.put("s", "v");
    w.kvinit().args(["--check", "--env", "S=s"]).run().assert_success();
}

#[test]
fn check_fails_like_a_real_start() {
    let w = World::new();
    w.vault.put("present", "v");
    let run = w.kvinit().args(["--check", "--env", "A=present", "--env", "B=absent"]).run();
    run.assert_code(4).assert_stderr_contains("reading secret absent");
    // What passed is listed, so that one run shows the whole state.
    run.assert_stdout_contains("env:A secret=present version=");
    assert!(!run.stdout().contains("env:B"), "{}", run.stdout());
}

/// Whoever can set a secret chooses its content type: a newline in it must
/// not forge a `--check` line, nor a control character reach a terminal or
/// a log, nor its length be unbounded.
#[test]
fn a_content_type_cannot_forge_a_line_or_reach_the_terminal() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault
        .set_content_type("s", &format!("text/plain\nenv:FORGED secret=x\x1b[31m\x07{}", "y".repeat(1000)));
    let run = w.kvinit().args(["--check", "--env", "S=s"]).run();
    run.assert_success();
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());
    assert!(run.stdout().contains(" type=text/plain_env:FORGED_secret=x_[31m_yyy"), "{}", run.stdout());
    assert!(run.stdout().len() < 500, "{}", run.stdout());
    w.vault.set_content_type("s", "text/plain\n\x1b]0;owned\x07");
    let run = w.kvinit().args(["--file", "k=s?part=key", "--dir", "/dev/shm", "--", "true"]).run();
    run.assert_code(4).assert_stderr_contains("this one is text/plain__]0;owned_");
    assert!(!run.stderr().contains('\x1b') && !run.stderr().contains('\x07'), "{}", run.stderr());
}

/// A dry run creates nothing: not `--dir`, not its parents.
#[test]
fn check_creates_no_directory() {
    let w = World::new();
    w.vault.put("s", "v");
    let shm = support::Shm::new();
    let dir = shm.0.join("new/sub");
    let run = w.kvinit().args(["--check", "--dir", dir.to_str().unwrap(), "--file", "f=s"]).run();
    run.assert_success().assert_stdout_contains("file:f secret=s version=");
    assert!(!shm.0.join("new").exists(), "--check made {}", dir.display());
}
