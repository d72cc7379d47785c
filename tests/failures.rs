//! Fail closed: when a secret cannot be read the command never starts, and
//! the message names the secret, the vault, what Azure said, and what to do.

mod support;

use std::time::Duration;

use support::{tripwire, Identities, Reply, World};

/// Runs kvinit for `refs` with a command that must never run.
fn run_failing(w: &World, extra: &[&str]) -> support::Run {
    let (cmd, marker) = tripwire(&w.dir);
    let run = w.kvinit().args(extra).arg("--").args(&cmd).run();
    assert!(!marker.exists(), "the command ran although kvinit failed:\n{}", run.stderr());
    run
}

#[test]
fn a_missing_secret_stops_the_start() {
    let w = World::new();
    w.vault.put("present", "v");
    let run = run_failing(&w, &["--env", "A=present", "--env", "B=absent"]);
    run.assert_code(4)
        .assert_stderr_contains(&format!("error: reading secret absent from vault {}", w.vault.url()))
        .assert_stderr_contains(
            "Key Vault answered 404 SecretNotFound: A secret with (name/id) absent was not found",
        )
        .assert_stderr_contains(
            "hint: check the name: az keyvault secret show --vault-name <vault name> --name absent",
        )
        .assert_stderr_contains("1 secret could not be read; not starting the command");
    assert_eq!(
        w.vault.secret_requests().iter().filter(|r| r.path == "/secrets/absent").count(),
        1,
        "404 is not retried"
    );
}

#[test]
fn every_failed_secret_is_reported() {
    let w = World::new();
    let run = run_failing(&w, &["--env", "A=one", "--env", "B=two"]);
    run.assert_code(4)
        .assert_stderr_contains("reading secret one from vault")
        .assert_stderr_contains("reading secret two from vault")
        .assert_stderr_contains("2 secrets could not be read");
}

#[test]
fn a_missing_version_is_named() {
    let w = World::new();
    w.vault.put("s", "v");
    run_failing(&w, &["--env", "A=s/0123456789abcdef0123456789abcdef"])
        .assert_code(4)
        .assert_stderr_contains("reading secret s/0123456789abcdef0123456789abcdef from vault")
        .assert_stderr_contains("check the name and version");
}

#[test]
fn rbac_denial_names_the_role_to_grant() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.deny("s");
    run_failing(&w, &["--env", "A=s"])
        .assert_code(4)
        .assert_stderr_contains(
            "Key Vault answered 403 Forbidden (ForbiddenByRbac): Caller is not authorized",
        )
        .assert_stderr_contains("Key Vault Secrets User");
    assert_eq!(w.vault.secret_requests().len(), 1, "403 is not retried");
}

#[test]
fn a_disabled_secret_says_so() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.disable("s");
    run_failing(&w, &["--env", "A=s"])
        .assert_code(4)
        .assert_stderr_contains(
            "403 Forbidden (SecretDisabled): Operation get is not allowed on a disabled secret.",
        )
        .assert_stderr_contains("--enabled true");
}

#[test]
fn an_access_policy_denial_names_set_policy() {
    let w = World::new();
    w.vault.script.push(Reply::json(403, r#"{"error":{"code":"Forbidden","message":"The user, group or application 'appid=x;oid=y' does not have secrets get permission on key vault 'kv'."}}"#));
    run_failing(&w, &["--env", "A=s"])
        .assert_code(4)
        .assert_stderr_contains("does not have secrets get permission")
        .assert_stderr_contains("az keyvault set-policy");
}

#[test]
fn a_token_for_another_tenant_is_explained() {
    let w = World::new();
    w.vault.script.push(
        Reply::json(401, r#"{"error":{"code":"Unauthorized","message":"AKV10032: Invalid issuer."}}"#)
            .with_header("WWW-Authenticate", r#"Bearer authorization="https://login.microsoftonline.com/tenant-b", resource="https://vault.azure.net""#),
    );
    run_failing(&w, &["--env", "A=s"])
        .assert_code(4)
        .assert_stderr_contains("Key Vault answered 401 Unauthorized: AKV10032: Invalid issuer.")
        .assert_stderr_contains("the vault's tenant is https://login.microsoftonline.com/tenant-b");
}

#[test]
fn no_managed_identity_is_explained_and_not_retried() {
    let w = World::with_identities(Identities { system_assigned: false, user_assigned: vec![] });
    let run = run_failing(&w, &["--env", "A=s"]);
    run.assert_code(3)
        .assert_stderr_contains("error: getting an access token from IMDS (http://127.0.0.1:")
        .assert_stderr_contains("caused by: HTTP 400 invalid_request: Identity not found")
        .assert_stderr_contains("hint: assign a managed identity");
    assert_eq!(w.imds.server.requests().len(), 1);
    assert!(w.vault.server.requests().is_empty(), "no vault request without a token");
}

#[test]
fn a_wrong_user_assigned_id_is_explained() {
    let w = World::new();
    run_failing(&w, &["--client-id", "00000000-0000-0000-0000-000000000000", "--env", "A=s"])
        .assert_code(3)
        .assert_stderr_contains("Identity not found")
        .assert_stderr_contains("user-assigned identity named by --client-id");
}

#[test]
fn imds_unreachable_fails_within_the_timeout() {
    let w = World::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (cmd, marker) = tripwire(&w.dir);
    let run = w
        .kvinit()
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", format!("http://127.0.0.1:{port}"))
        .args(["--timeout", "2s", "--env", "A=s", "--"])
        .args(&cmd)
        .run_for(Duration::from_secs(30));
    assert!(!marker.exists());
    run.assert_code(3)
        .assert_stderr_contains("cannot connect")
        .assert_stderr_contains("attempts")
        .assert_stderr_contains("hint: IMDS did not answer");
}

#[test]
fn a_server_that_never_answers_cannot_hang_kvinit() {
    let w = World::new();
    for _ in 0..10 {
        w.imds.script.push(Reply::Hang);
    }
    let run = w
        .kvinit()
        .args(["--timeout", "1500ms", "--env", "A=s", "--", "true"])
        .run_for(Duration::from_secs(30));
    run.assert_code(3).assert_stderr_contains("timed out");
    assert!(run.elapsed < Duration::from_secs(25), "took {:?}", run.elapsed);
}

#[test]
fn a_vault_that_never_answers_cannot_hang_kvinit() {
    let w = World::new();
    for _ in 0..10 {
        w.vault.script.push(Reply::Hang);
    }
    let run = w
        .kvinit()
        .args(["--timeout", "1500ms", "--env", "A=s", "--", "true"])
        .run_for(Duration::from_secs(30));
    run.assert_code(4)
        .assert_stderr_contains("reading secret s from vault")
        .assert_stderr_contains("timed out");
}

#[test]
fn garbage_token_responses_are_refused() {
    let cases = [
        (Reply::text(200, "<html>captive portal</html>"), "the body is not JSON"),
        (Reply::json(200, r#"{"token_type":"Bearer"}"#), "no access_token field"),
        (Reply::json(200, r#"{"access_token":""}"#), "access_token is empty"),
        (
            Reply::Respond { status: 200, headers: vec![], body: vec![b' '; 70 * 1024] },
            "larger than 65536 bytes",
        ),
    ];
    for (reply, message) in cases {
        let w = World::new();
        w.imds.script.push(reply);
        run_failing(&w, &["--timeout", "3s", "--env", "A=s"]).assert_code(3).assert_stderr_contains(message);
    }
}

#[test]
fn truncated_token_responses_are_retried_until_the_deadline() {
    let w = World::new();
    for _ in 0..50 {
        w.imds.script.push(Reply::Truncated {
            status: 200,
            body: br#"{"access_token":"eyJ"#.to_vec(),
            promised: 400,
        });
    }
    run_failing(&w, &["--timeout", "2s", "--env", "A=s"])
        .assert_code(3)
        .assert_stderr_contains("the connection closed before the response was complete")
        .assert_stderr_contains("attempts");
}

#[test]
fn garbage_secret_responses_are_refused() {
    let cases = [
        (Reply::text(200, "not json at all"), "unusable answer from Key Vault: the body is not JSON"),
        (Reply::json(200, r#"{"id":"https://x/secrets/s/1"}"#), "no value field"),
        (Reply::json(200, r#"{"value":{"nested":true},"id":"x"}"#), "value is not a string"),
        (
            Reply::Respond { status: 200, headers: vec![], body: vec![b' '; 1024 * 1024 + 1] },
            "larger than 1048576 bytes",
        ),
        (Reply::text(400, "plain words from a proxy"), "Key Vault answered 400: plain words from a proxy"),
    ];
    for (reply, message) in cases {
        let w = World::new();
        w.vault.script.push(reply);
        run_failing(&w, &["--timeout", "3s", "--env", "A=s"]).assert_code(4).assert_stderr_contains(message);
    }
}

#[test]
fn a_truncated_secret_response_is_retried_then_reported() {
    let w = World::new();
    for _ in 0..4 {
        w.vault.script.push(Reply::Truncated {
            status: 200,
            body: br#"{"value":"half"#.to_vec(),
            promised: 300,
        });
    }
    run_failing(&w, &["--timeout", "20s", "--env", "A=s"])
        .assert_code(4)
        .assert_stderr_contains("after 4 attempts")
        .assert_stderr_contains("bad HTTP response: the connection closed before the response was complete")
        .assert_output_lacks("half");
}

#[test]
fn an_untrusted_vault_certificate_is_refused() {
    let w = World::new();
    let other = support::TempDir::new();
    let (_, unrelated_ca) = support::tls_for_localhost(other.path());
    let (cmd, marker) = tripwire(&w.dir);
    let run = w.kvinit().env("SSL_CERT_FILE", &unrelated_ca).args(["--env", "A=s", "--"]).args(&cmd).run();
    assert!(!marker.exists());
    run.assert_code(4)
        .assert_stderr_contains("caused by: TLS: invalid peer certificate")
        .assert_stderr_contains("hint: if a proxy inspects TLS here")
        .assert_output_lacks("retrying");
    assert!(w.vault.secret_requests().is_empty(), "no request may pass an untrusted handshake");
}

#[test]
fn an_unreadable_ssl_cert_file_is_a_configuration_error() {
    let w = World::new();
    run_failing(&w, &["--env", "A=s"]); // sanity: the world works with the right file
    let run = w
        .kvinit()
        .env("SSL_CERT_FILE", w.dir.path().join("nope.pem"))
        .args(["--env", "A=s", "--", "true"])
        .run();
    run.assert_code(2).assert_stderr_contains("reading SSL_CERT_FILE").assert_stderr_contains("No such file");
    let empty = w.dir.path().join("empty.pem");
    std::fs::write(&empty, "not a pem").unwrap();
    w.kvinit()
        .env("SSL_CERT_FILE", &empty)
        .args(["--env", "A=s", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("no certificates");
}

/// A vault name that does not exist is an answer, not an outage: one
/// attempt, and a hint naming the host. The lookup is made definite (no
/// DNS server asked) with a private nsswitch.conf; that needs root.
#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to give kvinit its own nsswitch.conf")]
fn a_vault_that_does_not_resolve_is_named_and_not_retried() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    let nsswitch = w.dir.path().join("nsswitch.conf");
    std::fs::write(&nsswitch, "hosts: files\n").unwrap();
    let mut k = support::Kvinit::new();
    k.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .with_bind(&nsswitch, std::path::Path::new("/etc/nsswitch.conf"))
        .args(["--vault", "no-such-vault-kvinit.vault.azure.net", "--env", "A=s", "--", "true"]);
    let run = k.run();
    run.assert_code(4)
        .assert_stderr_contains("caused by: host not found (DNS)")
        .assert_stderr_contains(
            "hint: no-such-vault-kvinit.vault.azure.net does not resolve: the vault name may be wrong",
        )
        .assert_output_lacks("retrying");
}

/// Off Azure, the first failed attempt explains itself at once, instead of
/// a silence until --timeout; once, not at every retry.
#[test]
fn an_unreachable_imds_is_explained_at_the_first_attempt() {
    let run = support::Kvinit::new()
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1")
        .args(["--timeout", "3s", "--vault", "myvault", "--env", "A=s", "--", "true"])
        .run();
    run.assert_code(3);
    let stderr = run.stderr();
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("kvinit: warning: cannot reach IMDS at http://127.0.0.1:1/metadata/identity/oauth2/token (AZURE_POD_IDENTITY_AUTHORITY_HOST points kvinit there)")
            && first.contains("kvinit-emulator or a service principal")
            && first.contains("Retrying until --timeout"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("cannot reach IMDS").count(), 1, "{stderr}");
}
