//! No secret value or token is ever printed, and tokens only go where they may.

mod support;

use support::{Reply, World};

const VALUES: [&str; 3] = ["Pa55w0rd-AAAA-unique", "conn-BBBB-unique", "api-CCCC-unique"];

fn world_with_values() -> World {
    let w = World::new();
    w.vault.put("db", VALUES[0]);
    w.vault.put("conn", VALUES[1]);
    w.vault.put("api", VALUES[2]);
    w
}

fn assert_nothing_secret(w: &World, run: &support::Run) {
    for v in VALUES {
        run.assert_output_lacks(v);
    }
    let tokens = w.tokens.all();
    assert!(!tokens.is_empty(), "the run must have used a token");
    for t in tokens {
        run.assert_output_lacks(&t);
        // Fragments too: a token cut in half is still a leak.
        run.assert_output_lacks(&t[t.len() - 16..]);
    }
}

#[test]
fn trace_logging_shows_no_value_and_no_token() {
    let w = world_with_values();
    let reference = format!("@Microsoft.KeyVault(SecretUri={}/secrets/conn)", w.vault.url());
    let run = w
        .kvinit()
        .env("KVINIT_LOG", "trace,ureq_proto::util=trace")
        .env("CONN", &reference)
        .args(["--env", "DB=db", "--env", "API=api", "--", "true"])
        .run();
    run.assert_success().assert_stderr_contains("debug: [ureq");
    assert_nothing_secret(&w, &run);
}

#[test]
fn very_verbose_check_shows_no_value_and_no_token() {
    let w = world_with_values();
    let run =
        w.kvinit().args(["-vv", "--check", "--env", "DB=db", "--env", "C=conn", "--env", "A=api"]).run();
    run.assert_success().assert_stderr_contains("debug:");
    assert_nothing_secret(&w, &run);
}

#[test]
fn failures_at_trace_level_show_no_token() {
    let w = world_with_values();
    w.vault.script.push(Reply::json(500, r#"{"error":{"code":"InternalError","message":"boom"}}"#));
    w.vault.script.push(Reply::text(200, "garbage"));
    let run = w.kvinit().env("RUST_LOG", "trace").args(["--env", "DB=db", "--", "true"]).run();
    run.assert_code(4);
    assert_nothing_secret(&w, &run);
}

#[test]
fn a_host_outside_key_vault_gets_no_token() {
    let w = World::new();
    let foreign = format!("{}/secrets/s", w.vault.url());
    let mut k = support::Kvinit::new();
    k.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("SSL_CERT_FILE", &w.vault.ca_file)
        .args(["--env", &format!("S={foreign}"), "--", "true"]);
    k.run()
        .assert_code(2)
        .assert_stderr_contains("refusing to send a Key Vault token to https://127.0.0.1:")
        .assert_stderr_contains(&format!("pass --allow-vault-host {}", w.vault.host()));
    assert!(w.imds.server.requests().is_empty(), "not even a token may be fetched");
    assert!(w.vault.server.requests().is_empty());
}

#[test]
fn a_lookalike_host_in_an_app_setting_gets_no_token() {
    let w = World::new();
    let mut k = support::Kvinit::new();
    k.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("X", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net.attacker.example/secrets/s)")
        .args(["--", "true"]);
    k.run().assert_code(2).assert_stderr_contains("for env:X: refusing to send a Key Vault token");
    assert!(w.imds.server.requests().is_empty());
}

#[test]
fn plain_http_vaults_are_refused() {
    support::Kvinit::new()
        .args(["--vault", "http://kv.vault.azure.net", "--env", "A=a", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("must use https://");
}

/// Every proxy variable kvinit could read names a proxy that really
/// tunnels: the vault is reached through it, IMDS never is.
#[test]
fn imds_is_never_reached_through_a_proxy() {
    let w = world_with_values();
    let proxy = support::proxy::TunnelProxy::start(None);
    let mut k = w.kvinit();
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"] {
        k.env(var, proxy.url());
    }
    k.args(["--env", "DB=db", "--", "true"]).run().assert_success();
    let imds = w.imds.authority_host().trim_start_matches("http://").to_string();
    let targets: Vec<String> = proxy.tunnels().into_iter().map(|t| t.target).collect();
    assert!(targets.contains(&w.vault.host()), "the vault is reached through the proxy: {targets:?}");
    assert!(!targets.contains(&imds), "IMDS went through the proxy: {targets:?}");
    assert_eq!(w.imds.server.requests().len(), 1, "IMDS was asked directly");
    assert!(w.imds.server.requests()[0].header("x-forwarded-for").is_none());
}

/// A service principal's credentials are kvinit's, not the app's: with them
/// the app could mint tokens for anything the principal reaches.
#[test]
fn credential_variables_never_reach_the_command() {
    let w = World::new();
    w.vault.put("s", "v");
    let credentials = [
        ("AZURE_CLIENT_SECRET", "client-secret-value-123"),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "certificate-password-456"),
        ("AZURE_PASSWORD", "user-password-789"),
        ("MSI_SECRET", "msi-secret-abc"),
    ];
    let mut k = w.kvinit();
    for (name, value) in credentials {
        k.env(name, value);
    }
    let run = k.args(["--env", "S=s", "--", "/usr/bin/env"]).run();
    run.assert_success();
    for (name, value) in credentials {
        assert!(!run.stdout().contains(name), "{name} reached the command:\n{}", run.stdout());
        run.assert_output_lacks(value);
    }
    let mut k = w.kvinit();
    k.env("AZURE_CLIENT_SECRET", "kept-on-purpose");
    k.args(["--keep-identity-env", "--env", "S=s", "--", "/usr/bin/env"])
        .run()
        .assert_success()
        .assert_stdout_contains("AZURE_CLIENT_SECRET=kept-on-purpose");
}
