//! Base64 (RFC 4648), as Key Vault and PEM use it.

/// Standard alphabet, padded.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' });
        }
    }
}

/// Standard or URL-safe alphabet, padding optional, line breaks ignored.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Six leftover bits cannot end a valid encoding; neither can set pad bits.
    (bits < 6 && acc == 0 && padding <= 2).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_alphabets() {
        assert_eq!(decode(b"aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(decode(b"aGVsbG8gd29ybGQ").unwrap(), b"hello world");
        assert_eq!(decode(b"_-8=").unwrap(), [0xff, 0xef]);
        assert_eq!(decode(b"/+8=").unwrap(), [0xff, 0xef]);
        assert_eq!(decode(b"aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(decode(b"").unwrap(), b"");
        for bad in [&b"a"[..], b"ab=c", b"not base64!", b"aGVsbG9=", b"a==="] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
