//! PEM blocks (RFC 7468), as servers load keys and certificates.

use crate::secret::SecretBytes;

/// Appends one PEM block, 64 characters a line.
pub fn append(out: &mut SecretBytes, label: &str, der: &[u8]) {
    let mut encoded = Vec::with_capacity(der.len() * 4 / 3 + 4);
    crate::base64::encode(der, &mut encoded);
    out.extend(format!("-----BEGIN {label}-----\n").as_bytes());
    for line in encoded.chunks(64) {
        out.extend(line);
        out.extend(b"\n");
    }
    crate::secret::wipe(encoded);
    out.extend(format!("-----END {label}-----\n").as_bytes());
}

/// One PEM block, for what is not secret (a public certificate or key).
pub fn block(label: &str, der: &[u8]) -> Vec<u8> {
    let mut out = SecretBytes::new(Vec::new());
    append(&mut out, label, der);
    out.expose().to_vec()
}
