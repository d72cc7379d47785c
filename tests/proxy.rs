//! Key Vault through an HTTP CONNECT proxy: secrets tunnelled end to end,
//! credentials kept out of every message, refusals named with a hint, and
//! proxies kvinit cannot use refused before any request.

mod support;

use std::sync::Arc;

use support::proxy::{TunnelProxy, AUTHORIZATION, PASSWORD};
use support::{Reply, Request, Server, World};

const VALUES: [&str; 2] = ["db-Pa55w0rd-unique", "api-key-unique"];

fn world() -> World {
    let w = World::new();
    w.vault.put("db", VALUES[0]);
    w.vault.put("api", VALUES[1]);
    w
}

/// An address where nothing listens.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_come_through_a_tunnel_the_proxy_cannot_read() {
    let w = world();
    let proxy = TunnelProxy::authenticating();
    let run = w
        .kvinit()
        .env("HTTPS_PROXY", proxy.url_with_password(PASSWORD))
        // Later in curl's order than HTTPS_PROXY, so never used.
        .env("ALL_PROXY", format!("http://{}", dead_address()))
        .env("KVINIT_LOG", "trace")
        .args(["--env", "DB=db", "--env", "API=api", "--", "sh", "-c", "echo \"$DB $API\""])
        .run();
    run.assert_success()
        .assert_stdout(&format!("{} {}\n", VALUES[0], VALUES[1]))
        .assert_output_lacks(PASSWORD)
        .assert_output_lacks(&AUTHORIZATION["Basic ".len()..]);

    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "nothing went through the proxy");
    for t in &tunnels {
        assert_eq!(t.target, w.vault.host(), "{tunnels:?}");
        assert_eq!(t.authorization.as_deref(), Some(AUTHORIZATION), "{tunnels:?}");
        assert_eq!(t.status, 200, "{tunnels:?}");
    }
    assert_eq!(w.vault.server.connections(), tunnels.len(), "a connection went around the proxy");
    assert_eq!(w.imds.server.requests().len(), 1, "IMDS is reached directly, never through a proxy");

    // TLS runs from kvinit to the vault: the proxy carried only ciphertext.
    let carried = proxy.carried();
    assert!(carried.len() > 1000, "only {} bytes went through the tunnels", carried.len());
    for clear in VALUES.iter().map(|v| v.to_string()).chain(w.tokens.all()) {
        assert!(!contains(&carried, clear.as_bytes()), "the proxy saw {clear:?} in clear");
    }
}

#[test]
fn a_proxy_that_wants_credentials_fails_at_once_with_a_hint() {
    let w = world();
    let proxy = TunnelProxy::authenticating();
    for url in [proxy.url(), proxy.url_with_password("wrong-pa55")] {
        let before = proxy.tunnels().len();
        let run = w.kvinit().env("HTTPS_PROXY", &url).args(["--env", "DB=db", "--", "true"]).run();
        let address = proxy.url().replace("http://", "");
        run.assert_code(4)
            .assert_stderr_contains("error: reading secret db from vault https://127.0.0.1:")
            .assert_stderr_contains(&format!(
                "caused by: the proxy {address} (from HTTPS_PROXY) answered 407 instead of opening a tunnel"
            ))
            .assert_stderr_contains(
                "hint: the proxy wants credentials: set HTTPS_PROXY=http://user:password@host:port",
            )
            .assert_output_lacks("wrong-pa55");
        assert_eq!(proxy.tunnels().len() - before, 1, "a 407 will not change: it must not be retried");
    }
    assert_eq!(w.vault.server.connections(), 0);
}

#[test]
fn an_unreachable_proxy_is_named_not_the_vault() {
    let w = world();
    let dead = dead_address();
    let run = w
        .kvinit()
        .env("https_proxy", format!("http://{dead}"))
        .args(["--timeout", "2s", "--env", "DB=db", "--", "true"])
        .run();
    run.assert_code(4)
        .assert_stderr_contains(&format!(
            "caused by: cannot reach the proxy {dead} (from https_proxy): cannot connect"
        ))
        .assert_stderr_contains(
            "hint: check the proxy that https_proxy names, or exempt this host with NO_PROXY",
        );
    assert_eq!(w.vault.server.connections(), 0);
}

#[test]
fn a_proxy_that_cannot_reach_the_vault_is_retried_then_named() {
    let w = world();
    let proxy = Server::start(None, Arc::new(|_: &Request| Reply::text(502, "proxy says no")));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port());
    let run = w
        .kvinit()
        .env("HTTPS_PROXY", &proxy_url)
        .args(["--timeout", "3s", "--env", "DB=db", "--", "true"])
        .run();
    run.assert_code(4)
        .assert_stderr_contains(" attempts")
        .assert_stderr_contains("(from HTTPS_PROXY) answered 502 instead of opening a tunnel");
    let seen = proxy.requests();
    assert!(seen.len() > 1, "a 502 may pass: it must be retried ({seen:?})");
    assert!(seen.iter().all(|r| r.method == "CONNECT" && r.path == w.vault.host()), "{seen:?}");
    assert_eq!(w.vault.server.connections(), 0);

    // NO_PROXY exempts the vault again.
    w.kvinit()
        .env("HTTPS_PROXY", &proxy_url)
        .env("NO_PROXY", "127.0.0.1")
        .args(["--env", "DB=db", "--", "true"])
        .run()
        .assert_success();
}

#[test]
fn a_proxy_kvinit_cannot_use_is_refused_before_any_request_without_echoing_it() {
    let w = world();
    for (var, value, why) in [
        ("ALL_PROXY", "socks5://user:pr0xy-pa55@127.0.0.1:1080", "a SOCKS proxy"),
        ("HTTPS_PROXY", "http://user:pr0xy-pa55@[not a host", "not a proxy URL"),
    ] {
        let run = w.kvinit().env(var, value).args(["--env", "DB=db", "--", "true"]).run();
        run.assert_code(2).assert_stderr_contains(&format!("{var} is {why}")).assert_output_lacks(PASSWORD);
    }
    assert!(w.imds.server.requests().is_empty(), "no token was requested");
    assert_eq!(w.vault.server.connections(), 0, "nothing went around the proxy");
}
