//! Every identity source, against a fake of its endpoint: detection from the
//! platform's variables, the request's shape, user-assigned parameters,
//! expiry formats and refusals.

mod support;

use std::path::{Path, PathBuf};

use support::proxy::{TunnelProxy, PASSWORD};
use support::{FakeTokenEndpoint, Identities, Run, Style, World};

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const OBJECT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const RESOURCE_ID: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app";
const HEADER: &str = "identity-header-value-7f3a";

fn ids() -> Identities {
    Identities {
        system_assigned: true,
        user_assigned: vec![(CLIENT.into(), OBJECT.into(), RESOURCE_ID.into())],
    }
}

fn world() -> World {
    let w = World::new();
    w.vault.put("s", "the-secret");
    w
}

/// Runs kvinit with `env` and `args`, printing the secret, at debug level.
fn run(w: &World, env: &[(&str, &str)], args: &[&str]) -> Run {
    run_with(w, env, args, |_| {})
}

fn run_with(
    w: &World,
    env: &[(&str, &str)],
    args: &[&str],
    prepare: impl FnOnce(&mut support::Kvinit),
) -> Run {
    let mut k = w.kvinit();
    prepare(&mut k);
    for (name, value) in env {
        k.env(name, value);
    }
    k.arg("-v")
        .args(args)
        .args([
            "--env",
            "S=s",
            "--",
            "sh",
            "-c",
            "echo $S; echo ${IDENTITY_HEADER:-no-header} ${MSI_SECRET:-no-msi}",
        ])
        .run()
}

#[track_caller]
fn assert_used(w: &World, run: &Run, source: &str) {
    run.assert_success()
        .assert_stdout("the-secret\nno-header no-msi\n")
        .assert_stderr_contains(&format!("identity source: {source}"))
        .assert_stderr_contains("valid for ");
    assert!(w.imds.server.requests().is_empty(), "IMDS must not be asked when {source} is chosen");
}

#[test]
fn app_service() {
    let w = world();
    let fake =
        FakeTokenEndpoint::start(Style::AppService { header: HEADER.into() }, w.tokens.clone(), ids(), None);
    let endpoint = fake.url("http", "/msi/token");
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
        ("WEBSITE_SITE_NAME", "myapp"),
    ];
    let r = run(&w, &env, &[]);
    assert_used(&w, &r, "app-service (IDENTITY_ENDPOINT + IDENTITY_HEADER and WEBSITE_SITE_NAME set)");
    r.assert_output_lacks(HEADER);
    let req = &fake.server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/msi/token"));
    assert_eq!(req.param("api-version"), Some("2019-08-01"));
    assert_eq!(req.param("resource"), Some("https://vault.azure.net"));
    assert_eq!(req.header("x-identity-header"), Some(HEADER));

    for (flag, id, param) in [
        ("--client-id", CLIENT, "client_id"),
        ("--object-id", OBJECT, "principal_id"),
        ("--resource-id", RESOURCE_ID, "mi_res_id"),
    ] {
        assert_used(&w, &run(&w, &env, &[flag, id]), "app-service");
        assert_eq!(fake.server.requests().last().unwrap().param(param), Some(id), "{flag}");
    }
}

#[test]
fn app_service_unknown_identity_gets_a_hint() {
    let w = world();
    let fake =
        FakeTokenEndpoint::start(Style::AppService { header: HEADER.into() }, w.tokens.clone(), ids(), None);
    let endpoint = fake.url("http", "/msi/token");
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
        ("CONTAINER_APP_NAME", "app"),
    ];
    run(&w, &env, &["--timeout", "3s", "--client-id", "00000000-0000-0000-0000-000000000000"])
        .assert_code(3)
        .assert_stderr_contains("App Service identity endpoint")
        .assert_stderr_contains("HTTP 500")
        .assert_stderr_contains("hint: check that the app has a managed identity");
}

#[test]
fn aci_windows_documented_call() {
    let w = world();
    let fake =
        FakeTokenEndpoint::start(Style::AciWindows { header: HEADER.into() }, w.tokens.clone(), ids(), None);
    let endpoint = fake.url("http", "/metadata/identity/oauth2/token");
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", HEADER)];
    // Detection picks ACI Windows only on Windows; here it is forced.
    let r = run(&w, &env, &["--identity-source", "aci-windows"]);
    assert_used(&w, &r, "aci-windows (--identity-source)");
    let req = &fake.server.requests()[0];
    assert_eq!(req.header("secret"), Some(HEADER));
    assert_eq!(req.param("resource"), Some("https://vault.azure.net"));
    assert_eq!(req.param("api-version"), None, "the documented call has no api-version");

    assert_used(
        &w,
        &run(&w, &env, &["--identity-source", "aci-windows", "--object-id", OBJECT]),
        "aci-windows",
    );
    assert_eq!(fake.server.requests().last().unwrap().param("principalId"), Some(OBJECT));

    run(&w, &env, &["--identity-source", "aci-windows", "--client-id", CLIENT])
        .assert_code(2)
        .assert_stderr_contains("only by principal (object) id: use --object-id");
}

/// The agent's key directory is fixed (`/var/opt/azcmagent/tokens`); kvinit
/// sees a temporary one there, in a mount namespace of its own.
#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to mount the agent's key directory for kvinit alone")]
fn arc_challenge_and_key_file() {
    if !support::require(&[support::Need::Root, support::Need::Dir("/var/opt")]) {
        return;
    }
    let w = world();
    let opt = w.dir.path().join("opt");
    std::fs::create_dir_all(opt.join("azcmagent/tokens")).unwrap();
    let name = format!("azcmagent/tokens/kvinit-test-{}.key", std::process::id());
    let key = "arc-key-contents-0b1c";
    std::fs::write(opt.join(&name), key).unwrap();
    let fake = FakeTokenEndpoint::start(
        Style::Arc { key_file: Path::new("/var/opt").join(&name), key: key.into() },
        w.tokens.clone(),
        ids(),
        None,
    );
    let endpoint = fake.url("http", "/metadata/identity/oauth2/token");
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", "http://127.0.0.1:1")];
    let r = run_with(&w, &env, &[], |k| {
        k.with_bind(&opt, Path::new("/var/opt"));
    });
    assert_used(&w, &r, "arc (IDENTITY_ENDPOINT + IMDS_ENDPOINT set, IDENTITY_HEADER unset)");
    r.assert_output_lacks(key);
    let reqs = fake.server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(reqs[1].header("authorization"), Some(format!("Basic {key}").as_str()));
    assert_eq!(reqs[1].param("api-version"), Some("2020-06-01"));
    assert_eq!(reqs[1].header("metadata"), Some("true"));
}

#[test]
fn arc_refuses_a_key_file_outside_its_directory() {
    let w = world();
    let outside = w.dir.path().join("stolen.key");
    std::fs::write(&outside, "not for you").unwrap();
    let fake = FakeTokenEndpoint::start(
        Style::Arc { key_file: outside.clone(), key: "x".into() },
        w.tokens.clone(),
        ids(),
        None,
    );
    let endpoint = fake.url("http", "/metadata/identity/oauth2/token");
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", "http://127.0.0.1:1")];
    let r = run(&w, &env, &[]);
    // Without the agent's directory kvinit stops sooner; with it (as root,
    // mounted for kvinit alone), the file outside it is refused by name.
    r.assert_code(3).assert_output_lacks("not for you");
    assert_eq!(fake.server.requests().len(), 1, "the file's contents were never sent");
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 && Path::new("/var/opt").is_dir() {
        let opt = w.dir.path().join("opt");
        std::fs::create_dir_all(opt.join("azcmagent/tokens")).unwrap();
        run_with(&w, &env, &[], |k| {
            k.with_bind(&opt, Path::new("/var/opt"));
        })
        .assert_code(3)
        .assert_stderr_contains("refusing the Arc key file")
        .assert_output_lacks("not for you");
        assert_eq!(fake.server.requests().len(), 2, "the file's contents were never sent");
    }

    run(&w, &env, &["--client-id", CLIENT])
        .assert_code(2)
        .assert_stderr_contains("supports only the machine's system-assigned identity");
    run(
        &w,
        &[("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", "x"), ("AZURE_CLIENT_ID", CLIENT)],
        &[],
    )
    .assert_code(2)
    .assert_stderr_contains("AZURE_CLIENT_ID is set, but identity source arc");
}

#[test]
fn cloud_shell_posts_a_form() {
    let w = world();
    let fake = FakeTokenEndpoint::start(Style::CloudShell, w.tokens.clone(), ids(), None);
    let endpoint = fake.url("http", "/oauth2/token");
    let r = run(&w, &[("MSI_ENDPOINT", endpoint.as_str())], &[]);
    assert_used(&w, &r, "cloud-shell (MSI_ENDPOINT set, MSI_SECRET unset)");
    let req = &fake.server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(String::from_utf8_lossy(&req.body), "resource=https%3A%2F%2Fvault.azure.net");
    assert!(req.header("content-type").unwrap().starts_with("application/x-www-form-urlencoded"));
}

#[test]
fn legacy_msi_with_a_date_string_expiry() {
    let w = world();
    let secret = "msi-secret-5d6e";
    let fake =
        FakeTokenEndpoint::start(Style::MsiLegacy { secret: secret.into() }, w.tokens.clone(), ids(), None);
    let endpoint = fake.url("http", "/msi/token");
    let env = [("MSI_ENDPOINT", endpoint.as_str()), ("MSI_SECRET", secret)];
    let r = run(&w, &env, &["--client-id", CLIENT]);
    assert_used(&w, &r, "msi-legacy (MSI_ENDPOINT + MSI_SECRET set)");
    r.assert_output_lacks(secret);
    let req = &fake.server.requests()[0];
    assert_eq!(req.header("secret"), Some(secret));
    assert_eq!(req.param("clientid"), Some(CLIENT));
    assert_eq!(req.param("api-version"), Some("2017-09-01"));
    run(&w, &env, &["--resource-id", RESOURCE_ID]).assert_code(2).assert_stderr_contains("only by client id");
}

#[test]
fn service_fabric_trusts_the_thumbprint_only() {
    let w = world();
    let (tls, _ca, thumbprint) = support::tls_with_leaf(w.dir.path());
    let fake = FakeTokenEndpoint::start(
        Style::ServiceFabric { header: HEADER.into() },
        w.tokens.clone(),
        ids(),
        Some(tls),
    );
    let endpoint = fake.url("https", "/metadata/identity/oauth2/token");
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
        ("IDENTITY_SERVER_THUMBPRINT", thumbprint.as_str()),
    ];
    // SSL_CERT_FILE trusts only the vault's CA, not this server's: the pin alone must do.
    let r = run(&w, &env, &[]);
    assert_used(
        &w,
        &r,
        "service-fabric (IDENTITY_ENDPOINT + IDENTITY_HEADER + IDENTITY_SERVER_THUMBPRINT set)",
    );
    let req = &fake.server.requests()[0];
    assert_eq!(req.header("secret"), Some(HEADER));
    assert_eq!(req.param("api-version"), Some("2019-07-01-preview"));

    let wrong = "00".repeat(20);
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
        ("IDENTITY_SERVER_THUMBPRINT", wrong.as_str()),
    ];
    let before = fake.server.requests().len();
    run(&w, &env, &["--timeout", "3s"])
        .assert_code(3)
        .assert_stderr_contains("thumbprint is not IDENTITY_SERVER_THUMBPRINT");
    assert_eq!(fake.server.requests().len(), before, "no request may cross an unpinned handshake");

    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", HEADER),
        ("IDENTITY_SERVER_THUMBPRINT", "abc"),
    ];
    run(&w, &env, &[])
        .assert_code(2)
        .assert_stderr_contains("IDENTITY_SERVER_THUMBPRINT=\"abc\": not a SHA-1 thumbprint");
}

fn entra(w: &World, assertion: Option<&str>, secret: Option<&str>) -> FakeTokenEndpoint {
    let (tls, _, _) = support::tls_with_leaf(&w.dir.path().join("entra-unused"));
    let style = Style::Entra {
        tenant: "contoso-tenant".into(),
        client_id: CLIENT.into(),
        assertion: assertion.map(str::to_string),
        secret: secret.map(str::to_string),
    };
    FakeTokenEndpoint::start(style, w.tokens.clone(), ids(), Some(tls))
}

#[test]
fn workload_identity_sends_the_federated_token() {
    let w = world();
    std::fs::create_dir_all(w.dir.path().join("entra-unused")).unwrap();
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDphcHAifQ.federated-sig";
    let file = w.dir.path().join("azure-identity-token");
    std::fs::write(&file, format!("{jwt}\n")).unwrap();
    let fake = entra(&w, Some(jwt), None);
    // The Entra fake's certificate comes from another CA: bundle both.
    let bundle = bundle_cas(&w);
    let authority = fake.url("https", "/");
    let env = [
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
        ("AZURE_TENANT_ID", "contoso-tenant"),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("SSL_CERT_FILE", bundle.to_str().unwrap()),
    ];
    let r = run(&w, &env, &[]);
    assert_used(&w, &r, "workload (AZURE_FEDERATED_TOKEN_FILE + AZURE_TENANT_ID + AZURE_CLIENT_ID set)");
    r.assert_output_lacks("federated-sig");
    let req = &fake.server.requests()[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/contoso-tenant/oauth2/v2.0/token"));

    std::fs::write(&file, "eyJ.rotated.to-something-unknown").unwrap();
    run(&w, &env, &["--timeout", "3s"])
        .assert_code(3)
        .assert_stderr_contains("AADSTS70021")
        .assert_stderr_contains("hint: no federated credential matches this token")
        .assert_output_lacks("to-something-unknown");

    let insecure = [("AZURE_AUTHORITY_HOST", "http://login.example"), env[0], env[1], env[2]];
    run(&w, &insecure, &[]).assert_code(2).assert_stderr_contains("the authority must be https://");
}

#[test]
fn a_service_principal_with_a_client_secret() {
    let w = world();
    std::fs::create_dir_all(w.dir.path().join("entra-unused")).unwrap();
    let secret = "client-secret-value-4e5f";
    let fake = entra(&w, None, Some(secret));
    let bundle = bundle_cas(&w);
    let authority = fake.url("https", "");
    let env = client_secret_env(secret, &authority, &bundle);
    let r = run(&w, &env, &[]);
    assert_used(&w, &r, "client-secret (AZURE_CLIENT_SECRET + AZURE_TENANT_ID + AZURE_CLIENT_ID set)");
    r.assert_output_lacks(secret);
    let body = String::from_utf8_lossy(&fake.server.requests()[0].body).into_owned();
    assert!(body.contains("scope=https%3A%2F%2Fvault.azure.net%2F.default"), "{body}");

    let mut wrong = env;
    wrong[0] = ("AZURE_CLIENT_SECRET", "wrong");
    run(&w, &wrong, &["--timeout", "3s"])
        .assert_code(3)
        .assert_stderr_contains("AADSTS7000215")
        .assert_stderr_contains("client secret is wrong");
}

/// A service principal's variables, for an Entra fake at `authority`.
fn client_secret_env<'a>(secret: &'a str, authority: &'a str, bundle: &'a Path) -> [(&'a str, &'a str); 5] {
    [
        ("AZURE_CLIENT_SECRET", secret),
        ("AZURE_TENANT_ID", "contoso-tenant"),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_AUTHORITY_HOST", authority),
        ("SSL_CERT_FILE", bundle.to_str().unwrap()),
    ]
}

#[test]
fn entra_is_reached_through_the_proxy_and_a_refusal_names_it() {
    let w = world();
    std::fs::create_dir_all(w.dir.path().join("entra-unused")).unwrap();
    let secret = "client-secret-value-9a0b";
    let fake = entra(&w, None, Some(secret));
    let bundle = bundle_cas(&w);
    let authority = fake.url("https", "");
    let proxy = TunnelProxy::authenticating();
    let (without, with) = (proxy.url(), proxy.url_with_password(PASSWORD));
    let env = |proxy_url| {
        let mut env = client_secret_env(secret, &authority, &bundle).to_vec();
        env.push(("HTTPS_PROXY", proxy_url));
        env
    };

    run(&w, &env(&without), &[])
        .assert_code(3)
        .assert_stderr_contains("(from HTTPS_PROXY) answered 407 instead of opening a tunnel")
        .assert_stderr_contains("hint: the proxy wants credentials");
    assert!(fake.server.requests().is_empty() && w.vault.server.requests().is_empty());

    let r = run(&w, &env(&with), &[]);
    assert_used(&w, &r, "client-secret (AZURE_CLIENT_SECRET + AZURE_TENANT_ID + AZURE_CLIENT_ID set)");
    r.assert_output_lacks(PASSWORD);
    let targets: Vec<String> =
        proxy.tunnels().into_iter().filter(|t| t.status == 200).map(|t| t.target).collect();
    assert!(targets.contains(&authority.trim_start_matches("https://").to_string()), "{targets:?}");
    assert!(targets.contains(&w.vault.host()), "{targets:?}");
}

/// A bundle trusting the vault's CA and every CA written under the world's directory.
fn bundle_cas(w: &World) -> PathBuf {
    let mut pem = String::new();
    for entry in support::walk(w.dir.path()) {
        if entry.file_name().is_some_and(|n| n == "ca.pem") {
            pem.push_str(&std::fs::read_to_string(&entry).unwrap());
        }
    }
    let bundle = w.dir.path().join("bundle.pem");
    std::fs::write(&bundle, pem).unwrap();
    bundle
}

#[test]
fn a_forced_source_without_its_variables_is_a_usage_error() {
    let w = world();
    run(&w, &[], &["--identity-source", "workload"]).assert_code(2).assert_stderr_contains(
        "identity source workload needs AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID",
    );
    run(&w, &[("KVINIT_IDENTITY_SOURCE", "imds")], &[]).assert_success();
}
