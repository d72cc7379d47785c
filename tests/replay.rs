//! kvinit against what Azure really sent: the recorded exchanges in
//! tests/recordings (each file names its source), served byte for byte,
//! and what the user sees for each: exit code, values, message and hint.

mod support;

use support::recordings::{load, one, Exchange, Replay};
use support::{tls_for_localhost, FakeTokenEndpoint, Identities, Kvinit, Run, Server, Style, TempDir, World};

/// kvinit with `exchange` as the vault's answer to its one request, and the
/// recorded IMDS token.
fn vault_answers(exchange: &Exchange, args: &[&str]) -> (World, Run) {
    let w = World::new();
    w.imds.script.push(one("identity/imds-success-keyvault.json").reply());
    w.vault.script.push(exchange.reply());
    let run = w.kvinit().args(args).run();
    (w, run)
}

fn read_fails(recording: &str) -> Run {
    let (_, run) = vault_answers(&one(recording), &["--env", "S=s", "--", "true"]);
    run.assert_code(4);
    run
}

/// A vault at 127.0.0.1 that replays `exchanges`, moving links to
/// `recorded_origin` to itself.
struct ReplayedVault {
    server: Server,
    ca: std::path::PathBuf,
    _dir: TempDir,
}

impl ReplayedVault {
    fn start(exchanges: Vec<Exchange>, recorded_origin: &str) -> ReplayedVault {
        let dir = TempDir::new();
        let (tls, ca) = tls_for_localhost(dir.path());
        let replay = Replay { exchanges, rewrite: Some(recorded_origin.to_string()) };
        ReplayedVault { server: replay.serve(([127, 0, 0, 1], 0).into(), Some(tls)), ca, _dir: dir }
    }

    fn kvinit(&self, w: &World) -> Kvinit {
        let host = format!("127.0.0.1:{}", self.server.port());
        let mut k = Kvinit::new();
        k.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
            .env("SSL_CERT_FILE", &self.ca)
            .args(["--vault", &format!("https://{host}"), "--allow-vault-host", &host]);
        k
    }

    /// A world whose IMDS answers with the recorded token, and the vault.
    fn with_recorded_token(exchanges: Vec<Exchange>, recorded_origin: &str) -> (World, ReplayedVault) {
        let w = World::new();
        w.imds.script.push(one("identity/imds-success-keyvault.json").reply());
        (w, ReplayedVault::start(exchanges, recorded_origin))
    }

    fn list_requests(&self) -> usize {
        self.server.requests().iter().filter(|r| r.path == "/secrets").count()
    }
}

#[test]
fn a_recorded_secret_current_and_by_version() {
    let get = one("keyvault/get-secret.json");
    let (w, run) = vault_answers(&get, &["--env", "V=44422666", "--", "sh", "-c", "printf %s \"$V\""]);
    run.assert_success().assert_stdout(get.json()["value"].as_str().unwrap());
    assert_eq!(w.vault.secret_requests()[0].path.trim_end_matches('/'), get.path());

    let exact = one("keyvault/get-secret-exact.json");
    let (_, run) =
        vault_answers(&exact, &["--env", "V=FirstCreateTest", "--", "sh", "-c", "printf %s \"$V\""]);
    run.assert_success().assert_stdout("secretValue");

    let versioned = one("keyvault/get-secret-version.json");
    let reference = versioned.path().trim_start_matches("/secrets/").to_string();
    let (w, run) = vault_answers(
        &versioned,
        &["--env", &format!("V={reference}"), "--", "sh", "-c", "printf %s \"$V\""],
    );
    run.assert_success().assert_stdout("value2");
    assert_eq!(w.vault.secret_requests()[0].path, versioned.path());
}

#[test]
fn recorded_certificate_backed_secrets_arrive_whole() {
    for (recording, starts) in [
        ("keyvault/certificate-pem.json", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        ("keyvault/certificate-pkcs12.json", "MIIKCAIBAzCCCcQGCSqGSIb3DQEHAaCC"),
    ] {
        let exchange = one(recording);
        let value = exchange.json()["value"].as_str().unwrap().to_string();
        assert!(value.starts_with(starts), "{recording}");
        let reference = exchange.path().trim_start_matches("/secrets/").to_string();
        let args = ["--env", &format!("CERT={reference}"), "--", "sh", "-c", "printf %s \"$CERT\""];
        let (_, run) = vault_answers(&exchange, &args);
        run.assert_success().assert_stdout(&value);
    }
}

#[test]
fn a_recorded_404_names_the_secret_and_the_fix() {
    let exchange = one("keyvault/404-secret-not-found.json");
    read_fails("keyvault/404-secret-not-found.json")
        .assert_stderr_contains(&format!("Key Vault answered 404 SecretNotFound: {}", exchange.message()))
        .assert_stderr_contains(
            "hint: check the name: az keyvault secret show --vault-name <vault name> --name s",
        )
        .assert_stderr_contains("1 secret could not be read; not starting the command");
}

/// Each recorded 403 reason gets its own fix, and no two the same.
#[test]
fn every_recorded_403_reason_has_its_own_hint() {
    let cases = [
        ("keyvault/403-rbac.json", "ForbiddenByRbac", "\"Key Vault Secrets User\" role"),
        (
            "keyvault/403-access-policy-get.json",
            "AccessDenied",
            "the vault uses access policies: give the identity get permission",
        ),
        (
            "keyvault/403-firewall.json",
            "ForbiddenByFirewall",
            "refused this client's address (20.126.176.160)",
        ),
        (
            "keyvault/403-firewall-nsp.json",
            "ForbiddenByFirewall",
            "a network security perimeter around the vault",
        ),
        ("keyvault/403-private-link.json", "ForbiddenByConnection", "refuses public network access"),
        (
            "keyvault/403-policy.json",
            "ForbiddenByPolicy",
            "give the identity a policy of its own, without --application-id",
        ),
        ("keyvault/403-secret-disabled.json", "SecretDisabled", "enable the secret"),
    ];
    // Two firewall denials differ too: a network rule, or a perimeter.
    let mut hints: Vec<(&str, String)> = Vec::new();
    for (recording, inner, fix) in cases {
        let run = read_fails(recording);
        run.assert_stderr_contains(&format!("Key Vault answered 403 Forbidden ({inner})"))
            .assert_stderr_contains(fix);
        let hint = run.stderr().lines().find(|l| l.starts_with("  hint: ")).unwrap_or_default().to_string();
        assert!(!hint.is_empty(), "{recording}: no hint\n{}", run.stderr());
        if let Some((other, _)) = hints.iter().find(|(_, h)| *h == hint) {
            panic!("{recording} gets the same hint as {other}: {hint}");
        }
        hints.push((recording, hint));
    }
}

/// Key Vault's RBAC and firewall messages are several lines joined by
/// `\r\n`: they are printed as one indented block, every line of it.
#[test]
fn multi_line_messages_stay_one_indented_block() {
    for recording in
        ["keyvault/403-rbac.json", "keyvault/403-firewall.json", "keyvault/403-private-link.json"]
    {
        let message = one(recording).message();
        assert!(message.contains("\r\n"), "{recording} is multi-line as recorded");
        let run = read_fails(recording);
        let stderr = run.stderr();
        assert!(!stderr.contains('\r'), "{recording}: a raw \\r reached the output\n{stderr}");
        let ours: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  ")).collect();
        assert_eq!(ours.len(), 2, "{recording}: only the error and the summary start a line\n{stderr}");
        assert!(
            ours[0].starts_with("kvinit: error: reading secret s") && ours[1].starts_with("kvinit: 1 secret")
        );
        for part in message.split("\r\n").map(str::trim).filter(|p| !p.is_empty()) {
            assert!(stderr.contains(part), "{recording}: {part:?} is missing\n{stderr}");
        }
    }
}

/// A denied listing asks for the list permission and says the listing
/// failed: no secret was read, so none "could not be read".
#[test]
fn a_recorded_list_denial_asks_for_list_permission() {
    let (_, run) =
        vault_answers(&one("keyvault/403-access-policy-list.json"), &["--all-secrets", "--", "true"]);
    run.assert_code(4)
        .assert_stderr_contains("error: listing the secrets of vault https://127.0.0.1:")
        .assert_stderr_contains("does not have secrets list permission")
        .assert_stderr_contains("--secret-permissions get list")
        .assert_stderr_contains("--all-secrets could not list the vault; not starting the command")
        .assert_output_lacks("could not be read");
}

#[test]
fn every_recorded_401_code_has_its_own_hint() {
    let cases = [
        ("keyvault/401-challenge.json", "without its token"),
        ("keyvault/401-no-code-2021.json", "without its token"),
        ("keyvault/401-akv10022-arm-token.json", "another resource (https://management.azure.com/)"),
        ("keyvault/401-akv10022-spn.json", "another resource (spn:cfa8b339-82a2-471a-a3c9-0fc0be7a4093)"),
        ("keyvault/401-akv10032.json", "another tenant than the vault's (the vault's tenant is https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47)"),
        ("keyvault/401-akv10046.json", "could not check the token's signature"),
    ];
    let mut hints: Vec<(&str, &str, String)> = Vec::new();
    for (recording, fix) in cases {
        let run = read_fails(recording);
        run.assert_stderr_contains(&format!(
            "Key Vault answered 401 Unauthorized: {}",
            one(recording).message()
        ))
        .assert_stderr_contains(fix);
        let hint = run.stderr().lines().find(|l| l.starts_with("  hint: ")).unwrap_or_default().to_string();
        if let Some((other, _, _)) = hints.iter().find(|(_, f, h)| *h == hint && *f != fix) {
            panic!("{recording} gets the same hint as {other}: {hint}");
        }
        hints.push((recording, fix, hint));
    }
}

/// The one recorded 429 has no Retry-After: kvinit backs off by itself and
/// gets the secret.
#[test]
fn a_recorded_throttle_without_retry_after_is_retried() {
    let throttled = one("keyvault/429-throttled.json");
    assert!(!throttled.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("retry-after")));
    let w = World::new();
    w.imds.script.push(one("identity/imds-success-keyvault.json").reply());
    w.vault.script.push(throttled.reply());
    w.vault.script.push(one("keyvault/get-secret-exact.json").reply());
    w.kvinit()
        .args(["--env", "V=FirstCreateTest", "--", "sh", "-c", "printf %s \"$V\""])
        .run()
        .assert_success()
        .assert_stdout("secretValue");
    assert_eq!(w.vault.secret_requests().len(), 2);
}

/// A real 168-secret vault's listing: seven pages, the last with a null
/// `nextLink`. Here the links are moved to 127.0.0.1 and lose the `:443`
/// they were recorded with; tests/real_addresses.rs serves them as they are.
#[test]
fn a_recorded_seven_page_listing_is_followed_to_the_end() {
    let mut exchanges = load("keyvault/list-7-pages.json");
    assert!(exchanges[0].body.contains("\"nextLink\":\"https://cpp-recordings.vault.azure.net:443/secrets?"));
    exchanges.push(one("keyvault/get-secret-exact.json"));
    let (w, vault) =
        ReplayedVault::with_recorded_token(exchanges, "https://cpp-recordings.vault.azure.net:443");
    vault
        .kvinit(&w)
        .args(["--all-secrets=First", "--", "sh", "-c", "printf %s \"$CREATETEST\""])
        .run()
        .assert_success()
        .assert_stdout("secretValue");
    assert_eq!(vault.list_requests(), 7);
}

/// The first two pages are empty and still carry a `nextLink`; the secrets
/// come after them.
#[test]
fn recorded_empty_pages_with_a_next_link_are_followed() {
    let mut exchanges = load("keyvault/list-empty-pages.json");
    assert_eq!(exchanges[2].body.matches("\"value\":[]").count(), 1, "the first page is empty");
    // The recording's bundles of these two secrets are the answers to the
    // PUTs that created them; a GET answers with the same bundle.
    for e in exchanges.iter_mut().filter(|e| e.method == "PUT") {
        e.method = "GET".into();
    }
    let (w, vault) =
        ReplayedVault::with_recorded_token(exchanges, "https://keyvault_name.vault.azure.net:443");
    vault
        .kvinit(&w)
        .args(["--all-secrets=listSecretName-canlistsecretsbypage", "--", "sh", "-c", "echo $_0 $_1"])
        .run()
        .assert_success()
        .assert_stdout("RSA RSA\n");
    assert_eq!(vault.list_requests(), 7);
}

#[test]
fn recorded_imds_refusals_and_throttling() {
    let w = World::new();
    w.imds.script.push(one("identity/imds-400-identity-not-found.json").reply());
    w.kvinit()
        .args(["--env", "S=s", "--", "true"])
        .run()
        .assert_code(3)
        .assert_stderr_contains("caused by: HTTP 400 invalid_request: Identity not found")
        .assert_stderr_contains("hint: assign a managed identity");
    assert_eq!(w.imds.server.requests().len(), 1, "a 400 is not retried");

    let w = World::new();
    w.imds.script.push(one("identity/imds-400-no-metadata-header.json").reply());
    w.kvinit()
        .args(["--env", "S=s", "--", "true"])
        .run()
        .assert_code(3)
        .assert_stderr_contains("Required metadata header not specified");

    // 429 carries invalid_request too: the status decides, and it is retried.
    let w = World::new();
    w.imds.script.push(one("identity/imds-429-throttled.json").reply());
    w.imds.script.push(one("identity/imds-success.json").reply());
    w.vault.script.push(one("keyvault/get-secret-exact.json").reply());
    w.kvinit()
        .args(["--env", "V=FirstCreateTest", "--", "sh", "-c", "printf %s \"$V\""])
        .run()
        .assert_success()
        .assert_stdout("secretValue");
    assert_eq!(w.imds.server.requests().len(), 2);
}

/// App Service 2019-08-01 (no `expires_in`) and the 2017-09-01 dialect
/// (`expires_on` as a date), then their error body.
#[test]
fn recorded_app_service_answers() {
    let header = "recorded-header";
    for (recording, style, env) in [
        (
            "identity/app-service-2019-success.json",
            Style::AppService { header: header.into() },
            [("IDENTITY_ENDPOINT", "/msi/token"), ("IDENTITY_HEADER", header)],
        ),
        (
            "identity/msi-2017-success.json",
            Style::MsiLegacy { secret: header.into() },
            [("MSI_ENDPOINT", "/msi/token"), ("MSI_SECRET", header)],
        ),
    ] {
        let w = World::new();
        let ids = Identities { system_assigned: true, user_assigned: vec![] };
        let endpoint = FakeTokenEndpoint::start(style, w.tokens.clone(), ids, None);
        endpoint.script.push(one(recording).reply());
        w.vault.script.push(one("keyvault/get-secret-exact.json").reply());
        let mut k = w.kvinit();
        k.env(env[0].0, endpoint.url("http", env[0].1)).env(env[1].0, env[1].1);
        k.args(["--env", "V=FirstCreateTest", "--", "sh", "-c", "printf %s \"$V\""])
            .run()
            .assert_success()
            .assert_stdout("secretValue");
    }

    let w = World::new();
    let ids = Identities { system_assigned: true, user_assigned: vec![] };
    let endpoint =
        FakeTokenEndpoint::start(Style::AppService { header: header.into() }, w.tokens.clone(), ids, None);
    endpoint.script.push(one("identity/app-service-400.json").reply());
    let mut k = w.kvinit();
    k.env("IDENTITY_ENDPOINT", endpoint.url("http", "/msi/token")).env("IDENTITY_HEADER", header);
    k.args(["--env", "S=s", "--", "true"])
        .run()
        .assert_code(3)
        .assert_stderr_contains("Unable to load the proper Managed Identity.");
}
