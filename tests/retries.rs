//! Retries follow Microsoft's guidance, and always stay inside --timeout.

mod support;

use support::{Reply, World};

fn imds_error(status: u16) -> Reply {
    Reply::json(status, r#"{"error":"service_unavailable","error_description":"IMDS is updating"}"#)
}

#[test]
fn imds_updating_and_throttling_are_retried() {
    for status in [404, 410, 429, 500, 503] {
        let w = World::new();
        w.vault.put("s", "v");
        w.imds.script.push(imds_error(status));
        w.kvinit()
            .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
            .run()
            .assert_success()
            .assert_stdout("v\n")
            .assert_stderr_contains(&format!("IMDS token for https://vault.azure.net: HTTP {status}"))
            .assert_stderr_contains("retrying in");
        assert_eq!(w.imds.server.requests().len(), 2, "status {status}");
    }
}

#[test]
fn imds_client_errors_are_final() {
    for status in [400, 401, 403] {
        let w = World::new();
        w.imds.script.push(imds_error(status));
        w.kvinit().args(["--env", "S=s", "--", "true"]).run().assert_code(3);
        assert_eq!(w.imds.server.requests().len(), 1, "status {status}");
    }
}

#[test]
fn imds_that_stays_down_fails_at_the_deadline_with_the_last_answer() {
    let w = World::new();
    for _ in 0..100 {
        w.imds.script.push(imds_error(410));
    }
    let run = w.kvinit().args(["--timeout", "4s", "--env", "S=s", "--", "true"]).run();
    run.assert_code(3)
        .assert_stderr_contains("caused by: HTTP 410 service_unavailable: IMDS is updating")
        .assert_stderr_contains("hint: IMDS kept failing for the whole --timeout");
    let n = w.imds.server.requests().len();
    assert!((2..=5).contains(&n), "backoff, not a spin: {n} requests in 4 s");
}

#[test]
fn key_vault_throttling_honours_retry_after() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.script.push(
        Reply::json(429, r#"{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}"#)
            .with_header("Retry-After", "1"),
    );
    w.kvinit()
        .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
        .run()
        .assert_success()
        .assert_stdout("v\n")
        .assert_stderr_contains("429 Throttled")
        .assert_stderr_contains("retrying in 1.0s");
    assert_eq!(w.vault.secret_requests().len(), 2);
}

#[test]
fn key_vault_throttling_without_retry_after_backs_off() {
    let w = World::new();
    w.vault.put("s", "v");
    for _ in 0..2 {
        w.vault.script.push(Reply::json(429, r#"{"error":{"code":"Throttled","message":"slow down"}}"#));
    }
    w.kvinit()
        .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
        .run()
        .assert_success()
        .assert_stdout("v\n");
    assert_eq!(w.vault.secret_requests().len(), 3);
}

#[test]
fn a_retry_after_beyond_the_deadline_fails_now_instead_of_sleeping() {
    let w = World::new();
    w.vault.script.push(
        Reply::json(429, r#"{"error":{"code":"Throttled","message":"slow down"}}"#)
            .with_header("Retry-After", "300"),
    );
    // Sleeping until the 60 s deadline, rather than failing at once, would
    // take 60 s: half of that separates the two whatever the machine's load.
    let run = w
        .kvinit()
        .args(["--timeout", "60s", "--env", "S=s", "--", "true"])
        .run_for(std::time::Duration::from_secs(90));
    run.assert_code(4).assert_stderr_contains("429 Throttled").assert_stderr_contains("raise --timeout");
    assert!(run.elapsed < std::time::Duration::from_secs(30), "{:?}", run.elapsed);
}

#[test]
fn key_vault_server_errors_are_retried_a_few_times() {
    let w = World::new();
    w.vault.put("s", "v");
    for _ in 0..2 {
        w.vault
            .script
            .push(Reply::json(503, r#"{"error":{"code":"ServiceUnavailable","message":"try later"}}"#));
    }
    w.kvinit()
        .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
        .run()
        .assert_success()
        .assert_stdout("v\n");
    assert_eq!(w.vault.secret_requests().len(), 3);

    let w = World::new();
    w.vault.put("s", "v");
    for _ in 0..10 {
        w.vault.script.push(Reply::json(500, r#"{"error":{"code":"InternalError","message":"boom"}}"#));
    }
    w.kvinit()
        .args(["--env", "S=s", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("after 4 attempts")
        .assert_stderr_contains("Key Vault answered 500 InternalError: boom");
    assert_eq!(w.vault.secret_requests().len(), 4);
}

#[test]
fn a_dropped_connection_is_retried() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.script.push(Reply::Close);
    w.kvinit()
        .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
        .run()
        .assert_success()
        .assert_stdout("v\n");
}
