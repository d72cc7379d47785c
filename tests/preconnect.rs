//! Connections to the vault are opened while the token is fetched, and the
//! reads then use them: the TLS handshakes overlap the token round trip.

mod support;

use std::time::Duration;

use support::{finish, wait_for, World};

#[test]
fn vault_connections_open_during_the_token_request_and_are_used() {
    let w = World::new();
    for name in ["a", "b", "c"] {
        w.vault.put(name, "v");
    }
    // The token takes 3 s: long enough to see what happens meanwhile.
    w.imds.server.set_latency(Duration::from_secs(3));
    let child = w.kvinit().args(["--env", "A=a", "--env", "B=b", "--env", "C=c", "--", "true"]).spawn();

    let opened = wait_for(Duration::from_secs(10), || w.vault.server.connections() >= 3);
    let requests_then = w.vault.server.requests().len();
    let tokens_then = w.tokens.all().len();
    let (code, stdout, stderr) = finish(child, Duration::from_secs(30));
    eprintln!("stdout:\n{stdout}\nstderr:\n{stderr}");

    assert!(opened, "kvinit opened {} vault connections", w.vault.server.connections());
    assert_eq!((requests_then, tokens_then), (0, 0), "the connections came before any token or request");
    assert_eq!(code, Some(0));
    assert_eq!(w.vault.secret_requests().len(), 3);
    assert_eq!(w.vault.server.connections(), 3, "the reads used the preconnected connections, no others");
}

#[test]
fn no_preconnection_through_a_proxy() {
    let w = World::new();
    w.vault.put("a", "v");
    // A proxy that refuses connections: kvinit must not go around it.
    let run = w
        .kvinit()
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .args(["--timeout", "3s", "--env", "A=a", "--", "true"])
        .run();
    run.assert_code(4);
    assert_eq!(w.vault.server.connections(), 0, "nothing reached the vault but through the proxy");
}

/// On a real network the token and the vault's handshake end at about the
/// same time. Here the token comes at 250 ms and the handshakes, over a
/// 200 ms round trip, at about 400 ms: a read must wait for the one under
/// way, not open another (which would be ready only at about 650 ms).
#[test]
fn a_read_waits_for_a_handshake_under_way_rather_than_open_another() {
    let w = World::new();
    for name in ["a", "b", "c"] {
        w.vault.put(name, "v");
    }
    w.imds.server.set_latency(Duration::from_millis(250));
    let network = support::rtt::RttProxy::start(w.vault.host().parse().unwrap(), Duration::from_millis(200));
    let vault = format!("127.0.0.1:{}", network.port());
    let run = support::Kvinit::new()
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("SSL_CERT_FILE", &w.vault.ca_file)
        .args(["--vault", &format!("https://{vault}"), "--allow-vault-host", &vault, "-vv"])
        .args(["--env", "A=a", "--env", "B=b", "--env", "C=c", "--", "true"])
        .run();
    run.assert_success();
    assert_eq!(w.vault.secret_requests().len(), 3);
    assert_eq!(network.connections(), 3, "one connection per read, all preconnected:\n{}", run.stderr());
}
