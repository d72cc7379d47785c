//! Types that hold secret material: Key Vault values and access tokens.
//!
//! Their `Debug` and `Display` never show the contents, and their memory is
//! overwritten on drop. The only way to the bytes is an explicit `expose`.

use std::fmt;

/// A secret string. Printing it shows `<redacted>`.
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself. Call sites are the places a secret leaves kvinit:
    /// an HTTP header, the child's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.0).into_bytes();
        wipe(bytes);
    }
}

/// Overwrites a buffer that held secret material before freeing it.
pub fn wipe(mut bytes: Vec<u8>) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference into `bytes`.
        // A volatile write keeps the compiler from eliding the store as dead.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes that need not be text: a decoded value, a file's contents.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0));
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &SecretBytes) -> bool {
        self.0 == other.0
    }
}

/// A bearer token for one resource (e.g. `https://vault.azure.net`).
#[derive(Debug)]
pub struct AccessToken {
    pub token: Secret,
    /// Seconds since the Unix epoch, when the source said.
    pub expires_on: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:#?}"), "Secret(<redacted>)");
        let t = AccessToken { token: Secret::new("eyJ0eXAi.token".into()), expires_on: Some(5) };
        let shown = format!("{t:?}");
        assert!(!shown.contains("eyJ0eXAi"), "{shown}");
        assert!(shown.contains("expires_on: Some(5)"), "{shown}");
    }

    #[test]
    fn expose_returns_the_value() {
        assert_eq!(Secret::new("abc".into()).expose(), "abc");
    }
}
