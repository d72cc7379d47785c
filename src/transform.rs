//! Reference options applied to a value: `json=/pointer`, then `base64`;
//! and a placeholder's filters after them. Errors name the option, the
//! pointer or the filter, never the value.

use std::fmt;

use serde_json::Value;

use crate::reference::Options;
use crate::secret::{Secret, SecretBytes};
use crate::template::Filter;

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// `json=` was asked for, but the value is not JSON.
    NotJson,
    /// The JSON has nothing at this pointer.
    NoField(String),
    /// `base64` was asked for, but the value is not base64.
    NotBase64,
    /// An environment variable cannot hold this value (a NUL byte; on
    /// Windows, bytes that are not UTF-8).
    NotEnvSafe,
    /// A filter that needs text (`json`) was given bytes that are not UTF-8.
    NotText(Filter),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotJson => f.write_str("the value is not JSON (option json=)"),
            Error::NoField(p) => write!(f, "the JSON value has no field at {p:?} (option json=)"),
            Error::NotBase64 => f.write_str("the value is not base64 (option base64)"),
            Error::NotEnvSafe => {
                f.write_str("the value cannot be an environment variable (it holds a NUL byte); use --file")
            }
            Error::NotText(filter) => write!(f, "the value is not UTF-8 text (filter {})", filter.name()),
        }
    }
}

impl std::error::Error for Error {}

pub fn apply(value: &Secret, options: &Options) -> Result<SecretBytes, Error> {
    let text = match &options.json {
        None => SecretBytes::new(value.expose().as_bytes().to_vec()),
        Some(pointer) => {
            let json: Value = serde_json::from_str(value.expose()).map_err(|_| Error::NotJson)?;
            let field = json.pointer(pointer).ok_or_else(|| Error::NoField(pointer.clone()))?;
            SecretBytes::new(match field {
                Value::String(s) => s.as_bytes().to_vec(),
                // The whole document (`json=`) is passed on as written.
                _ if pointer.is_empty() => value.expose().as_bytes().to_vec(),
                other => other.to_string().into_bytes(),
            })
        }
    };
    if options.base64 {
        decode_base64(text.expose()).map(SecretBytes::new).ok_or(Error::NotBase64)
    } else {
        Ok(text)
    }
}

/// Applies one placeholder filter.
pub fn filter(value: SecretBytes, filter: Filter) -> Result<SecretBytes, Error> {
    let bytes = value.expose();
    let mut out = Vec::with_capacity(bytes.len() + 8);
    match filter {
        Filter::UrlEncode => {
            for &b in bytes {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    out.push(b);
                } else {
                    out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
                }
            }
        }
        Filter::Json => {
            let text = std::str::from_utf8(bytes).map_err(|_| Error::NotText(filter))?;
            // serde_json writes the escapes JSON needs (quote, backslash, controls).
            let _ = serde_json::to_writer(&mut out, text);
        }
        Filter::Base64 => encode_base64(bytes, &mut out),
    }
    Ok(SecretBytes::new(out))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Standard alphabet, padded.
fn encode_base64(input: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' });
        }
    }
}

/// Standard or URL-safe alphabet, padding optional, line breaks ignored.
pub fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
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

    fn run(value: &str, options: &str) -> Result<Vec<u8>, Error> {
        let (_, o) = Options::split(&format!("x?{options}")).unwrap();
        apply(&Secret::new(value.to_string()), &o).map(|b| b.expose().to_vec())
    }

    #[test]
    fn json_pointers() {
        let v = r#"{"user":"app","password":"p@ss","port":5432,"tls":{"ca":"PEM"},"tags":["a"]}"#;
        assert_eq!(run(v, "json=/password").unwrap(), b"p@ss");
        assert_eq!(run(v, "json=/port").unwrap(), b"5432");
        assert_eq!(run(v, "json=/tls/ca").unwrap(), b"PEM");
        assert_eq!(run(v, "json=/tags").unwrap(), br#"["a"]"#);
        assert_eq!(run(v, "json=").unwrap(), v.as_bytes());
        assert_eq!(run(v, "json=/missing"), Err(Error::NoField("/missing".into())));
        assert_eq!(run("p@ss", "json=/password"), Err(Error::NotJson));
        assert!(!Error::NotJson.to_string().contains("p@ss"));
    }

    #[test]
    fn filters() {
        let f = |v: &[u8], filter| {
            super::filter(SecretBytes::new(v.to_vec()), filter).map(|b| b.expose().to_vec())
        };
        assert_eq!(f(b"p@ss w/rd:%~-._", Filter::UrlEncode).unwrap(), b"p%40ss%20w%2Frd%3A%25~-._");
        assert_eq!(f("é".as_bytes(), Filter::UrlEncode).unwrap(), b"%C3%A9");
        assert_eq!(f(b"a\"b\\c\n", Filter::Json).unwrap(), br#""a\"b\\c\n""#);
        assert_eq!(f(&[0xff], Filter::Json), Err(Error::NotText(Filter::Json)));
        for (plain, encoded) in [("", ""), ("h", "aA=="), ("hi", "aGk="), ("hello world", "aGVsbG8gd29ybGQ=")]
        {
            assert_eq!(f(plain.as_bytes(), Filter::Base64).unwrap(), encoded.as_bytes());
            assert_eq!(decode_base64(encoded.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base64_both_alphabets() {
        assert_eq!(decode_base64(b"aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(decode_base64(b"aGVsbG8gd29ybGQ").unwrap(), b"hello world");
        assert_eq!(decode_base64(b"_-8=").unwrap(), [0xff, 0xef]);
        assert_eq!(decode_base64(b"/+8=").unwrap(), [0xff, 0xef]);
        assert_eq!(decode_base64(b"aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(decode_base64(b"").unwrap(), b"");
        for bad in [&b"a"[..], b"ab=c", b"not base64!", b"aGVsbG9=", b"a==="] {
            assert_eq!(decode_base64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(run(r#"{"k":"aGk="}"#, "json=/k&base64").unwrap(), b"hi");
        assert_eq!(run("%%%", "base64"), Err(Error::NotBase64));
    }
}
