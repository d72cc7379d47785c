//! JWT-shaped access tokens: base64url header, claims and signature, as
//! Entra ID issues them. Nothing verifies the signature; the fakes look the
//! token up by value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A number unique within this process and unlikely across processes.
pub(crate) fn unique() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    u64::from(std::process::id()).wrapping_mul(1_000_003).wrapping_add(n)
}

/// A token for `resource`, unique, so a test can find it in any output.
pub(crate) fn mint(resource: &str, tenant: &str) -> String {
    let salt = unique();
    let now = now();
    let header = r#"{"typ":"JWT","alg":"RS256","kid":"kvinit-emulator"}"#;
    let claims = serde_json::json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now, "nbf": now, "exp": now + 3599,
        "tid": tenant,
        "oid": "00000000-0000-0000-0000-00000000e4e1",
        "idtyp": "app",
        "uti": format!("{salt:016x}"),
    });
    let signature = format!("kvinit-emulator-signature-{salt:016x}");
    format!(
        "{}.{}.{}",
        base64url(header.as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(signature.as_bytes())
    )
}

fn base64url(bytes: &[u8]) -> String {
    encode(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false)
}

/// Standard, padded: as Key Vault spells a certificate's `cer`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    encode(bytes, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true)
}

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            (chunk.len()..3).for_each(|_| out.push('='));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn tokens_are_unique_three_part_jwts() {
        let (a, b) = (mint("https://vault.azure.net", "t"), mint("https://vault.azure.net", "t"));
        assert_ne!(a, b);
        assert_eq!(a.split('.').count(), 3);
    }
}
