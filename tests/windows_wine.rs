//! The Windows build, run under Wine against the fakes in ACI-Windows mode.
//! `scripts/windows-check.sh` builds the .exe, sets KVINIT_WINDOWS_EXE and
//! runs these with `--ignored`; `.ci/run` runs that script.

mod support;

use std::path::{Path, PathBuf};

use support::proxy::{TunnelProxy, PASSWORD};
use support::{FakeTokenEndpoint, Identities, Kvinit, Style, World};

const HEADER: &str = "aci-secret-header-9a8b";

fn exe() -> PathBuf {
    let exe =
        std::env::var_os("KVINIT_WINDOWS_EXE").expect("KVINIT_WINDOWS_EXE: run scripts/windows-check.sh");
    PathBuf::from(exe)
}

/// `/tmp/x/ca.pem` → `Z:\tmp\x\ca.pem`, Wine's drive for the Unix root.
fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display().to_string().replace('/', "\\"))
}

fn aci(w: &World) -> (FakeTokenEndpoint, Kvinit) {
    let ids = Identities { system_assigned: true, user_assigned: vec![] };
    let fake =
        FakeTokenEndpoint::start(Style::AciWindows { header: HEADER.into() }, w.tokens.clone(), ids, None);
    let mut k = Kvinit::wine(&exe());
    k.env("IDENTITY_ENDPOINT", fake.url("http", "/metadata/identity/oauth2/token"))
        .env("IDENTITY_HEADER", HEADER)
        .env("SSL_CERT_FILE", windows_path(&w.vault.ca_file))
        .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host()]);
    (fake, k)
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn a_cmd_child_sees_the_secret_and_its_exit_code_comes_back() {
    let w = World::new();
    w.vault.put("sample-secret", "hello-from-key-vault");
    let (fake, mut k) = aci(&w);
    let run = k
        .args(["-v", "--env", "SAMPLE=sample-secret", "--", "cmd", "/c"])
        .arg("echo [%SAMPLE%] [%IDENTITY_HEADER%]& exit 7")
        .run_for(std::time::Duration::from_secs(120));
    run.assert_code(7)
        .assert_stderr_contains(
            "identity source: aci-windows (IDENTITY_ENDPOINT + IDENTITY_HEADER set on Windows",
        )
        .assert_stderr_contains("kvinit: 1 secret from 1 vault in ");
    assert_eq!(run.stdout().trim(), "[hello-from-key-vault] [%IDENTITY_HEADER%]", "{}", run.stderr());
    let req = &fake.server.requests()[0];
    assert_eq!(req.header("secret"), Some(HEADER));
    assert_eq!(req.param("resource"), Some("https://vault.azure.net"));
    assert!(w.imds.server.requests().is_empty());
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn a_missing_secret_never_starts_the_command() {
    let w = World::new();
    let (_fake, mut k) = aci(&w);
    let run = k
        .args(["--env", "SAMPLE=absent", "--", "cmd", "/c", "echo command-ran"])
        .run_for(std::time::Duration::from_secs(120));
    run.assert_code(4).assert_stderr_contains("SecretNotFound").assert_output_lacks("command-ran");
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn a_missing_command_is_127() {
    let w = World::new();
    w.vault.put("s", "v");
    let (_fake, mut k) = aci(&w);
    k.args(["--env", "S=s", "--", "no-such-program-kvinit.exe"])
        .run_for(std::time::Duration::from_secs(120))
        .assert_code(127);
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn secrets_come_through_an_authenticating_proxy() {
    let w = World::new();
    w.vault.put("s", "through-the-tunnel");
    let proxy = TunnelProxy::authenticating();
    let (fake, mut k) = aci(&w);
    let run = k
        .env("HTTPS_PROXY", proxy.url_with_password(PASSWORD))
        .args(["--env", "S=s", "--", "cmd", "/c", "echo [%S%]"])
        .run_for(std::time::Duration::from_secs(120));
    run.assert_success().assert_output_lacks(PASSWORD);
    assert_eq!(run.stdout().trim(), "[through-the-tunnel]", "{}", run.stderr());
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty() && tunnels.iter().all(|t| t.status == 200 && t.target == w.vault.host()));
    assert_eq!(w.vault.server.connections(), tunnels.len(), "a connection went around the proxy");
    assert_eq!(fake.server.requests().len(), 1, "the token endpoint is reached directly");
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn refresh_rewrites_a_file_and_restarts_the_command() {
    let w = World::new();
    w.vault.put("api-key", "first");
    w.vault.put("cfg", "c1");
    let dir = w.dir.path().join("secrets");
    let starts = w.dir.path().join("starts.txt");
    let hooked = w.dir.path().join("hook.txt");
    let (_fake, mut k) = aci(&w);
    // The second start, with the new value, exits by itself with 3 once the
    // hook had time to run; the first waits (ping is Wine's sleep) until
    // the restart ends it.
    let script = format!(
        "echo %API_KEY%>>{}& if %API_KEY%==second (ping -n 4 127.0.0.1 >nul& exit 3) else (ping -n 120 127.0.0.1 >nul)",
        windows_path(&starts)
    );
    let hook = format!("cmd /c 'type {}\\cfg>>{}'", windows_path(&dir), windows_path(&hooked));
    let run = k
        .args(["--init", "--refresh", "1s", "--on-change", "restart", "--on-change-run", &hook])
        .args(["--allow-disk", "--dir", &windows_path(&dir), "--env", "API_KEY=api-key", "--file", "cfg=cfg"])
        .args(["--", "cmd", "/c", &script]);
    let child = run.spawn();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let started = support::wait_for(std::time::Duration::from_secs(60), || read(&starts).contains("first"));
    let first_file = read(&dir.join("cfg"));
    w.vault.put("cfg", "c2");
    w.vault.put("api-key", "second");
    let (code, _, stderr) = support::finish(child, std::time::Duration::from_secs(90));
    assert!(started, "never started:\n{stderr}");
    assert_eq!(first_file, "c1", "{stderr}");
    assert_eq!(code, Some(3), "the restarted command's own exit code:\n{stderr}");
    assert_eq!(read(&dir.join("cfg")), "c2", "{stderr}");
    let starts: Vec<String> = read(&starts).lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(starts, ["first", "second"], "{stderr}");
    assert!(read(&hooked).starts_with("c2"), "the hook ran once the file was written:\n{stderr}");
    assert!(stderr.contains("refresh: restarted"), "{stderr}");
}

#[test]
#[ignore = "needs the Windows build and Wine: scripts/windows-check.sh runs it"]
fn signal_actions_are_a_usage_error() {
    let w = World::new();
    let (_fake, mut k) = aci(&w);
    k.args(["--init", "--refresh", "1s", "--refresh-signal", "HUP", "--", "cmd", "/c", "echo ran"])
        .run_for(std::time::Duration::from_secs(120))
        .assert_code(2)
        .assert_stderr_contains("--refresh-signal is not available on Windows, which has no signals")
        .assert_output_lacks("ran\r");
}
