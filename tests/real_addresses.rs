//! Recorded exchanges replayed where Azure really is: IMDS at
//! 169.254.169.254:80 and the vault at `https://<name>.vault.azure.net` on
//! port 443, in a private network namespace, with no test hook in kvinit's
//! environment but the CA that signed the replay's certificate. Only there
//! does a vault URL have no port, which is what Key Vault's `:443` nextLinks
//! must be compared with. Needs root (as CI has) and a kernel that grants
//! namespaces; ignored with the reason otherwise, except on CI, where it
//! must run.

mod support;

use support::recordings::{load, one, Replay};
use support::{netns, Kvinit, TempDir};

const VAULT: &str = "cpp-recordings.vault.azure.net";

#[test]
#[cfg_attr(any(kvinit_no_root, kvinit_no_ip), ignore = "needs root and ip(8) for a private network")]
fn a_recorded_seven_page_listing_at_the_vaults_real_name() {
    if !netns::available() {
        return;
    }
    let dir = TempDir::new();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.1 {VAULT}\n")).unwrap();
    let certificates = kvinit_emulator::tls::for_names(&dir.path().join("ca"), &[VAULT]).unwrap();
    let mut vault = load("keyvault/list-7-pages.json");
    assert!(vault[0]
        .body
        .contains(&format!("\"nextLink\":\"https://{VAULT}:443/secrets?api-version=7.3&$skiptoken=")));
    vault.push(one("keyvault/get-secret-exact.json"));

    let replayed = netns::run(|| {
        let imds = Replay::new(load("identity/imds-success-keyvault.json"))
            .serve(([169, 254, 169, 254], 80).into(), None);
        let vault = Replay::new(vault).serve(([127, 0, 0, 1], 443).into(), Some(certificates.server.clone()));
        let run = Kvinit::new()
            .env("SSL_CERT_FILE", &certificates.ca_file)
            .with_hosts(&hosts)
            .args([
                "--vault",
                "cpp-recordings",
                "--all-secrets=First",
                "--",
                "sh",
                "-c",
                "printf %s \"$CREATETEST\"",
            ])
            .run();
        let pages: Vec<_> = vault.requests().into_iter().filter(|r| r.path == "/secrets").collect();
        (run, pages, imds.requests().len())
    });
    let (run, pages, tokens) = match replayed {
        Ok(replayed) => replayed,
        Err(why) => return netns::skip(&why),
    };
    run.assert_success().assert_stdout("secretValue");
    assert_eq!(tokens, 1);
    assert_eq!(pages.len(), 7, "every recorded page, each nextLink followed");
    assert_eq!(pages[1].header("host"), Some(VAULT), "the :443 of a nextLink is not sent on");
}
