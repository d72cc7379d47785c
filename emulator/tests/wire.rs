//! The emulator binary, black-box: what it prints, and the wire formats it
//! promises (the shapes of azure-reference.md), spoken to over raw HTTP/1.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const EMULATOR: &str = env!("CARGO_BIN_EXE_kvinit-emulator");

const SECRETS: &str = r#"{
  "plain": "p-value",
  "rotating": {"versions": [{"id": "0123456789abcdef0123456789abcdef", "value": "old"}, "new"],
               "contentType": "text/plain"},
  "off": {"value": "x", "enabled": false},
  "s1": "1", "s2": "2", "s3": "3"
}"#;

/// A running emulator, killed on drop, with the environment it printed.
struct Running {
    child: Child,
    env: HashMap<String, String>,
    dir: PathBuf,
}

impl Running {
    fn start(extra: &[&str]) -> Running {
        let dir = std::env::temp_dir().join(format!("kvinit-emulator-test-{}-{}", std::process::id(), n()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secrets.json"), SECRETS).unwrap();
        let mut child = Command::new(EMULATOR)
            .arg("--secrets")
            .arg(dir.join("secrets.json"))
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut env = HashMap::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while !env.contains_key("KVINIT_EMULATOR_CONTROL") {
            let line = lines.next().expect("the emulator printed its environment").unwrap();
            let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not KEY=VALUE: {line:?}"));
            env.insert(k.to_string(), v.to_string());
        }
        Running { child, env, dir }
    }

    fn var(&self, k: &str) -> &str {
        self.env.get(k).unwrap_or_else(|| panic!("{k} not printed: {:?}", self.env))
    }

    fn imds_token(&self) -> String {
        let url = format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
            self.var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        );
        let r = get(&url, &[("Metadata", "true")], None);
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    fn vault(&self, path: &str, token: Option<&str>) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let sep = if path.contains('?') { '&' } else { '?' };
        get(&format!("{}{path}{sep}api-version=7.4", self.var("KVINIT_VAULT")), &headers, Some(&self.ca()))
    }

    fn ca(&self) -> PathBuf {
        PathBuf::from(self.var("SSL_CERT_FILE"))
    }

    fn control(&self, method: &str, path: &str, body: &str) -> Response {
        request(method, &format!("{}{path}", self.var("KVINIT_EMULATOR_CONTROL")), &[], body.as_bytes(), None)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn n() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn get(url: &str, headers: &[(&str, &str)], ca: Option<&Path>) -> Response {
    request("GET", url, headers, b"", ca)
}

/// One HTTP/1.1 exchange on a fresh connection; TLS trusting only `ca`.
fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8], ca: Option<&Path>) -> Response {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let tcp = TcpStream::connect(authority).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream: Box<dyn ReadWrite> = match scheme {
        "https" => {
            let mut roots = rustls::RootCertStore::empty();
            let pem = std::fs::read(ca.expect("https needs the CA")).unwrap();
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                roots.add(cert.unwrap()).unwrap();
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            let host = authority.split(':').next().unwrap().to_string();
            let conn = rustls::ClientConnection::new(Arc::new(config), host.try_into().unwrap()).unwrap();
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        _ => Box::new(tcp),
    };
    // A Host header given by the caller replaces the one the URL implies.
    let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).map_or(authority, |(_, v)| *v);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).unwrap().1.parse().unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Response { status, headers, body: String::from_utf8(body).unwrap() }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn base64url_json(part: &str) -> Value {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in part.bytes() {
        bits = bits << 6 | alphabet.iter().position(|&a| a == c).expect("base64url") as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn imds_enforces_metadata_and_issues_jwt_shaped_tokens() {
    let e = Running::start(&[]);
    let base = e.var("AZURE_POD_IDENTITY_AUTHORITY_HOST");
    let url = format!(
        "{base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
    );

    let r = get(&url, &[], None);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"], "invalid_request");
    assert!(r.json()["error_description"].as_str().unwrap().contains("metadata"), "{r:?}");

    let r = get(&url, &[("Metadata", "true"), ("X-Forwarded-For", "10.0.0.1")], None);
    assert_eq!(r.status, 400, "a proxied request is refused: {r:?}");

    let r = get(&url, &[("Metadata", "true")], None);
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    for field in ["expires_in", "expires_on", "not_before"] {
        assert!(
            body[field].as_str().unwrap().parse::<u64>().is_ok(),
            "{field} is a string of digits: {body}"
        );
    }
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://vault.azure.net");
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert_eq!(base64url_json(parts[0])["typ"], "JWT");
    let claims = base64url_json(parts[1]);
    assert_eq!(claims["aud"], "https://vault.azure.net");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
}

#[test]
fn app_service_endpoint_enforces_its_header() {
    let e = Running::start(&["--identity", "app-service"]);
    assert!(!e.env.contains_key("AZURE_POD_IDENTITY_AUTHORITY_HOST"), "{:?}", e.env);
    let url =
        format!("{}?api-version=2019-08-01&resource=https://vault.azure.net", e.var("IDENTITY_ENDPOINT"));

    let r = get(&url, &[("X-IDENTITY-HEADER", "wrong")], None);
    assert_eq!(r.status, 401, "{r:?}");

    let r = get(&url, &[("X-IDENTITY-HEADER", e.var("IDENTITY_HEADER"))], None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["expires_on"].as_str().unwrap().parse::<u64>().is_ok(), "{r:?}");
    assert_eq!(r.json()["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[test]
fn vault_challenges_then_serves_secrets_and_versions() {
    let e = Running::start(&[]);
    assert_eq!(e.var("KVINIT_ALLOW_VAULT_HOSTS"), e.var("KVINIT_VAULT").trim_start_matches("https://"));

    let r = e.vault("/secrets/plain", None);
    assert_eq!(r.status, 401, "{r:?}");
    let challenge = r.header("WWW-Authenticate").unwrap();
    assert!(challenge.starts_with("Bearer authorization=\"https://login.windows.net/"), "{challenge}");
    assert!(challenge.contains("resource=\"https://vault.azure.net\""), "{challenge}");

    let token = e.imds_token();
    let r = e.vault("/secrets/plain", Some(&token));
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["value"], "p-value");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with(&format!("{}/secrets/plain/", e.var("KVINIT_VAULT"))), "{id}");
    assert_eq!(id.rsplit('/').next().unwrap().len(), 32, "{id}");
    assert_eq!(body["attributes"]["enabled"], true);

    let r = e.vault("/secrets/rotating", Some(&token));
    assert_eq!(
        (r.json()["value"].clone(), r.json()["contentType"].clone()),
        ("new".into(), "text/plain".into())
    );
    let r = e.vault("/secrets/rotating/0123456789abcdef0123456789abcdef", Some(&token));
    assert_eq!(r.json()["value"], "old", "{r:?}");
}

#[test]
fn vault_errors_have_key_vaults_shapes() {
    let e = Running::start(&[]);
    let token = e.imds_token();

    let r = e.vault("/secrets/missing", Some(&token));
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "SecretNotFound");

    let r = e.vault("/secrets/off", Some(&token));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "Forbidden");
    assert_eq!(r.json()["error"]["innererror"]["code"], "SecretDisabled");

    let r = e.vault("/secrets/plain", Some("eyJ.not-issued.here"));
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "Unauthorized");

    e.control("POST", "/throttle?rps=1", "");
    let replies: Vec<Response> = (0..4).map(|_| e.vault("/secrets/plain", Some(&token))).collect();
    let r =
        replies.iter().find(|r| r.status == 429).unwrap_or_else(|| panic!("no 429 at 1 rps: {replies:?}"));
    assert_eq!(r.json()["error"]["code"], "Throttled", "{r:?}");
    e.control("POST", "/throttle?rps=0", "");
}

/// Follows a listing from `first` to its end; returns the names and the pages.
fn list_all(e: &Running, token: &str, first: &str) -> (Vec<String>, Vec<serde_json::Value>) {
    let mut path = first.to_string();
    let (mut names, mut pages) = (Vec::new(), Vec::new());
    loop {
        let r = e.vault(&path, Some(token));
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.header("x-ms-request-id").is_some() && r.header("Cache-Control") == Some("no-cache"),
            "{r:?}"
        );
        let body = r.json();
        for item in body["value"].as_array().unwrap() {
            assert!(item.get("value").is_none(), "a list never carries values: {item}");
            names.push(item["id"].as_str().unwrap().rsplit('/').next().unwrap().to_string());
        }
        pages.push(body.clone());
        match body["nextLink"].as_str() {
            Some(next) => {
                let rest =
                    next.strip_prefix(e.var("KVINIT_VAULT")).expect("nextLink on the vault's own host");
                assert!(
                    rest.starts_with("/secrets?api-version=7.4&$skiptoken="),
                    "the recorded order: {next}"
                );
                path = rest.replace("api-version=7.4&", "");
            }
            None => break,
        }
    }
    (names, pages)
}

#[test]
fn vault_lists_in_pages_as_recorded() {
    let e = Running::start(&[]);
    let token = e.imds_token();
    let (names, pages) = list_all(&e, &token, "/secrets?maxresults=2");
    assert_eq!(names, ["off", "plain", "rotating", "s1", "s2", "s3"]);
    assert_eq!(pages.len(), 4, "an empty first page with a nextLink, then 3 of 2");
    assert_eq!(pages[0]["value"], serde_json::json!([]));
    assert!(pages[0]["nextLink"].as_str().unwrap().ends_with("&maxresults=2"), "{}", pages[0]);
    assert!(pages[3]["nextLink"].is_null(), "the last page says null: {}", pages[3]);

    let e = Running::start(&["--list-page-size", "1", "--list-empty-pages", "0"]);
    let token = e.imds_token();
    let (names, pages) = list_all(&e, &token, "/secrets");
    assert_eq!((names.len(), pages.len()), (6, 6));
}

/// A client that came to port 443 sends no port in `Host`; the nextLink
/// spells it anyway, as Key Vault's do.
#[test]
fn a_next_link_spells_the_default_port() {
    let e = Running::start(&[]);
    let token = format!("Bearer {}", e.imds_token());
    let url = format!("{}/secrets?api-version=7.4", e.var("KVINIT_VAULT"));
    let headers = [("Authorization", token.as_str()), ("Host", "kv.vault.azure.net")];
    let r = get(&url, &headers, Some(&e.ca()));
    let next = r.json()["nextLink"].as_str().unwrap_or_default().to_string();
    assert!(next.starts_with("https://kv.vault.azure.net:443/secrets?api-version=7.4&$skiptoken="), "{r:?}");
    assert!(r.json()["value"].as_array().unwrap().is_empty(), "the first page is empty: {r:?}");
}

#[test]
fn vault_denials_speak_each_recorded_reason() {
    let e = Running::start(&["--deny", "plain:firewall", "--deny", "s1:access-policy", "--deny", "s2"]);
    let token = e.imds_token();
    for (name, inner, words) in [
        (
            "plain",
            "ForbiddenByFirewall",
            "Client address is not authorized and caller is not a trusted service.\r\nClient address: ",
        ),
        (
            "s1",
            "AccessDenied",
            "does not have secrets get permission on key vault 'emulator;location=westus'",
        ),
        (
            "s2",
            "ForbiddenByRbac",
            "Caller is not authorized to perform action on resource.\r\nIf role assignments",
        ),
    ] {
        let r = e.vault(&format!("/secrets/{name}"), Some(&token));
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (403, Some("Forbidden")), "{r:?}");
        assert_eq!(r.json()["error"]["innererror"]["code"], inner, "{r:?}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(words), "{r:?}");
    }
    e.control("POST", "/deny?name=*&reason=access-policy", "");
    let r = e.vault("/secrets", Some(&token));
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("secrets list permission"), "{r:?}");
    let r = e.control("POST", "/deny?name=x&reason=nonsense", "");
    assert_eq!(r.status, 400, "{r:?}");
}

#[test]
fn control_api_rotates_and_injects_failures_and_latency() {
    let e = Running::start(&["--fail-next", "1:503"]);
    let token = e.imds_token();
    let r = e.vault("/secrets/plain", Some(&token));
    assert_eq!(r.status, 503, "--fail-next fails the first vault request: {r:?}");
    assert_eq!(e.vault("/secrets/plain", Some(&token)).status, 200);

    let before =
        e.control("GET", "/secrets/plain/versions", "").json()["versions"].as_array().unwrap().clone();
    let r = e.control("PUT", "/secrets/plain", "rotated value");
    assert_eq!(r.status, 200, "{r:?}");
    let version = r.json()["version"].as_str().unwrap().to_string();
    let versions = e.control("GET", "/secrets/plain/versions", "").json();
    let versions = versions["versions"].as_array().unwrap();
    assert_eq!(versions.len(), before.len() + 1, "{versions:?}");
    assert_eq!(versions.last().unwrap()["version"], version.as_str());
    assert_eq!(versions.iter().filter(|v| v["current"] == true).count(), 1, "{versions:?}");
    let old = versions[0]["version"].as_str().unwrap();
    assert_eq!(
        e.vault(&format!("/secrets/plain/{old}"), Some(&token)).status,
        200,
        "an old version by its id"
    );
    assert_eq!(e.control("GET", "/secrets/nope/versions", "").status, 404);
    let r = e.vault("/secrets/plain", Some(&token));
    assert_eq!(r.json()["value"], "rotated value");
    assert!(r.json()["id"].as_str().unwrap().ends_with(&version), "{r:?}");

    assert_eq!(e.control("POST", "/fail?count=2&status=500&target=identity", "").status, 204);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net",
        e.var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
    );
    let statuses: Vec<u16> = (0..3).map(|_| get(&url, &[("Metadata", "true")], None).status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(e.vault("/secrets/plain", Some(&token)).status, 200, "the vault was not the target");

    assert_eq!(e.control("POST", "/latency?ms=300", "").status, 204);
    let started = Instant::now();
    assert_eq!(e.vault("/secrets/plain", Some(&token)).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300), "latency is a lower bound");

    let stats = e.control("GET", "/stats", "").json();
    assert!(stats["vault_requests"].as_u64().unwrap() >= 5, "{stats}");
    assert!(stats["tokens_issued"].as_u64().unwrap() >= 2, "{stats}");

    let r = e.control("POST", "/fail?count=1&status=200", "");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["error"].as_str().unwrap().contains("400-599"), "{r:?}");
}

#[test]
fn version_and_a_missing_command_exit_as_a_shell_would() {
    let out = Command::new(EMULATOR).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("kvinit-emulator {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(EMULATOR).args(["--", "/nonexistent/command"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert!(stderr.contains("running /nonexistent/command"), "{stderr}");
}

#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // The vault is the third of the four ports from --port.
    let Some(base) = port.checked_sub(2) else { return };
    let out = Command::new(EMULATOR).args(["--port", &base.to_string(), "--", "true"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Another test may hold one of the ports below; whichever clashes is named.
    assert!(stderr.contains("binding 127.0.0.1:") && stderr.contains("Address already in use"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} for Key Vault")) || !stderr.contains("Key Vault"),
        "{stderr}"
    );
}

#[test]
fn runs_a_command_with_the_environment_and_returns_its_status() {
    let out = Command::new(EMULATOR)
        .args(["--", "sh", "-c", "echo \"$KVINIT_VAULT|$SSL_CERT_FILE\"; exit 7"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (vault, ca) = stdout.trim().split_once('|').unwrap();
    assert!(vault.starts_with("https://127.0.0.1:"), "{stdout}");
    assert!(ca.ends_with("ca.pem"), "{stdout}");
}

#[test]
fn print_env_is_for_eval_and_returns_while_serving() {
    let script = format!(
        "eval \"$('{EMULATOR}' --print-env 2>/dev/null &)\"; \
         echo \"$KVINIT_VAULT\"; kill \"$KVINIT_EMULATOR_PID\"; unset $KVINIT_EMULATOR_VARS; \
         env | grep -c -e ^KVINIT_ -e ^SSL_CERT_FILE= -e ^AZURE_POD_IDENTITY_AUTHORITY_HOST="
    );
    // A clean environment: the one running the tests may hold KVINIT_ variables of its own.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("eval \"$(kvinit-emulator --print-env &)\" did not return");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.trim().starts_with("https://127.0.0.1:"), "{out:?}");
    assert_eq!(out.lines().last(), Some("0"), "unset $KVINIT_EMULATOR_VARS leaves none behind: {out:?}");
}

#[test]
fn bad_input_is_a_clear_error_with_status_2() {
    let dir = std::env::temp_dir().join(format!("kvinit-emulator-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.json");
    std::fs::write(&file, r#"{"under_score": "x"}"#).unwrap();
    for (args, needle) in [
        (
            vec!["--secrets".to_string(), file.display().to_string()],
            "\"under_score\" is not a Key Vault secret name",
        ),
        (vec!["--secrets".into(), dir.join("nope.json").display().to_string()], "reading"),
        (vec!["--fail-next".into(), "3".into()], "N:STATUS"),
        (vec!["--fail-next".into(), "3:200".into()], "400-599"),
        (
            vec!["--bogus".into()],
            "unknown option \"--bogus\"\nFor the options, try 'kvinit-emulator --help'.",
        ),
        (vec!["--".into()], "needs a command"),
    ] {
        let out = Command::new(EMULATOR).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("options:"), "an error is not the whole help: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stopping_removes_the_directory_it_made() {
    let mut child = Command::new(EMULATOR).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // Stops reading after the line it needs: the emulator must not mind.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ca = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find_map(|l| l.strip_prefix("SSL_CERT_FILE=").map(PathBuf::from))
        .expect("SSL_CERT_FILE printed");
    drop(lines);
    assert!(ca.exists(), "{}", ca.display());
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!ca.parent().unwrap().exists(), "{} was left behind", ca.display());
}

#[test]
fn deny_answers_forbidden_by_rbac_until_allowed() {
    let e = Running::start(&["--deny", "plain"]);
    let token = e.imds_token();
    let r = e.vault("/secrets/plain", Some(&token));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["error"]["innererror"]["code"], "ForbiddenByRbac");
    assert_eq!(e.vault("/secrets/s1", Some(&token)).status, 200, "only the named secret");

    assert_eq!(e.control("POST", "/allow?name=plain", "").status, 204);
    assert_eq!(e.vault("/secrets/plain", Some(&token)).status, 200);
    assert_eq!(e.control("POST", "/deny?name=s1", "").status, 204);
    assert_eq!(e.vault("/secrets/s1", Some(&token)).status, 403);
}
