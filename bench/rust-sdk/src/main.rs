//! sdk-fetch VAULT_URL NAME...: read Key Vault secrets through managed identity with the
//! official Azure SDK for Rust, concurrently, then exec /bin/true (an entrypoint wrapper).
use azure_identity::ManagedIdentityCredential;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::future::join_all;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(vault), names) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: sdk-fetch VAULT_URL NAME...");
        exit(2);
    };
    if names.is_empty() {
        eprintln!("usage: sdk-fetch VAULT_URL NAME...");
        exit(2);
    }

    // Picks App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER) or IMDS (fixed 169.254.169.254) from the environment.
    let credential = ManagedIdentityCredential::new(None).unwrap_or_else(|e| fail("credential", e));

    // The challenge's resource (https://vault.azure.net) must be a parent domain of the vault host
    // unless verification is off; a vault at 127.0.0.1:PORT needs it off. SDK_FETCH_VERIFY_CHALLENGE=1
    // keeps the SDK default (on).
    let verify = std::env::var("SDK_FETCH_VERIFY_CHALLENGE").is_ok_and(|v| v == "1");
    let options = SecretClientOptions { verify_challenge_resource: Some(verify), ..Default::default() };
    let client = SecretClient::new(&vault, credential, Some(options)).unwrap_or_else(|e| fail("client", e));

    let client = &client;
    let results = join_all(names.iter().map(|name| async move {
        let secret = client.get_secret(name, None).await?.into_model()?;
        Ok::<_, Box<dyn std::error::Error>>((name, secret.value.unwrap_or_default()))
    }))
    .await;

    let mut count = 0;
    for result in results {
        let (name, value) = result.unwrap_or_else(|e| fail("get_secret", e));
        assert!(!value.is_empty(), "secret {name} is empty");
        count += 1;
    }
    println!("{count}");

    let err = Command::new("/bin/true").exec();
    fail("exec /bin/true", err);
}

fn fail(what: &str, err: impl Into<Box<dyn std::error::Error>>) -> ! {
    let err = err.into();
    let mut msg = format!("sdk-fetch: {what}: {err}");
    let mut source = err.source();
    while let Some(e) = source {
        msg.push_str(&format!(": {e}"));
        source = e.source();
    }
    eprintln!("{msg}");
    exit(1);
}
