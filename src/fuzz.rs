//! Entry points for `fuzz/`: each feeds arbitrary input to one parser of
//! untrusted text and must never panic, hang or echo a secret.

use crate::reference::{parse_app_service_reference, Cloud, Options, SecretRef, VaultUrl};
use crate::secret::Secret;

/// Command-line and app-setting references.
pub fn reference(input: &str) {
    let vault = VaultUrl::parse("fuzzvault", Cloud::Public).ok();
    if let Ok((r, options)) = Options::split(input) {
        if let Ok(parsed) = SecretRef::parse(r, vault.as_ref()) {
            let _ = parsed.url();
        }
        let certificate = crate::transform::Certificate {
            parsed: &std::cell::OnceCell::new(),
            until: std::time::Instant::now() + std::time::Duration::from_secs(10),
        };
        let _ = crate::transform::apply(&Secret::new(input.to_string()), None, &options, certificate);
    }
    if let Some(vault) = &vault {
        let _ = crate::vault::next_page(vault, input);
    }
    let _ = VaultUrl::parse(input, Cloud::China);
    let _ = parse_app_service_reference(input, Cloud::UsGov);
    template(input, vault.as_ref());
}

/// The placeholder grammar, each placeholder's reference, and the filters.
fn template(input: &str, vault: Option<&VaultUrl>) {
    let Ok(pieces) = crate::template::parse(input) else { return };
    for piece in pieces {
        let crate::template::Piece::Placeholder { reference, filters, .. } = piece else { continue };
        if let Ok((r, _)) = Options::split(reference) {
            let _ = SecretRef::parse(r, vault);
        }
        let value = crate::secret::SecretBytes::new(reference.as_bytes().to_vec());
        let _ = filters.iter().try_fold(value, |v, f| crate::transform::filter(v, *f));
    }
}

/// A certificate's secret, as a PFX (DER) and as PEM: PKCS#12, DER and PEM
/// parsing, MAC checks, decryption, chain building and the PFX writer.
pub fn certificates(input: &[u8]) {
    use crate::cert::{Budget, Bundle};
    use crate::reference::Part;
    let mut pfx = Vec::new();
    crate::base64::encode(input, &mut pfx);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for (value, content_type) in [(&pfx[..], "application/x-pkcs12"), (input, "application/x-pem-file")] {
        if let Ok(bundle) = Bundle::parse(value, Some(content_type), &mut Budget::new(until)) {
            let _ = (bundle.part(Part::FullChain), bundle.part(Part::Pfx));
        }
    }
}

/// Bodies from token endpoints and Key Vault, success and error alike.
pub fn bodies(body: &[u8]) {
    let _ = crate::identity::parse_token(body);
    let _ = crate::vault::parse_secret(body);
    let _ = crate::vault::parse_page(body);
    let response =
        crate::http::Response { status: 400, retry_after: None, www_authenticate: None, body: body.to_vec() };
    let _ = crate::identity::error_status(&response).to_string();
    let _ = crate::vault::status_error(&response).to_string();
    let secret = SecretRef::parse_url("https://v.vault.azure.net/secrets/s").expect("a valid reference");
    for status in [401, 403] {
        let response =
            crate::http::Response { status, retry_after: None, www_authenticate: None, body: body.to_vec() };
        let kind = crate::vault::status_error(&response);
        let error =
            crate::vault::Error { target: crate::vault::Target::Secret(secret.clone()), kind, attempts: 1 };
        let _ = (error.hint(), crate::error::one_line(&error));
    }
    let _ = crate::base64::decode(body);
    // `--env-from`'s JSON and dotenv secrets.
    let _ = crate::transform::env_pairs(&crate::secret::SecretBytes::new(body.to_vec()));
}
