//! Reference options applied to a value: `json=/pointer`, then `base64`;
//! and a placeholder's filters after them. Errors name the option, the
//! pointer or the filter, never the value.

use std::cell::OnceCell;
use std::fmt;
use std::time::Instant;

use serde_json::Value;

use crate::base64;
use crate::cert::{self, Budget, Bundle};
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
    /// An `--env-from` secret that does not give variables; says which key
    /// or line, never a value.
    EnvFrom(String),
    /// `part=` could not take its part from a certificate's secret.
    Certificate(cert::Error),
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
            Error::EnvFrom(why) => write!(f, "{why} (--env-from)"),
            Error::Certificate(e) => write!(f, "{e} (option part=)"),
        }
    }
}

impl std::error::Error for Error {}

/// Where `part=` finds its certificate's secret parsed: once per read of
/// the secret, however many parts take from it, within the time left.
pub struct Certificate<'a> {
    pub parsed: &'a OnceCell<Result<Bundle, cert::Error>>,
    pub until: Instant,
}

/// Applies the options to a secret as read; `content_type` is Key Vault's,
/// which `part=` needs.
pub fn apply(
    value: &Secret,
    content_type: Option<&str>,
    options: &Options,
    certificate: Certificate<'_>,
) -> Result<SecretBytes, Error> {
    if let Some(part) = options.part {
        let parse =
            || Bundle::parse(value.expose().as_bytes(), content_type, &mut Budget::new(certificate.until));
        let bundle =
            certificate.parsed.get_or_init(parse).as_ref().map_err(|e| Error::Certificate(e.clone()))?;
        return bundle.part(part).map_err(Error::Certificate);
    }
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
        base64::decode(text.expose()).map(SecretBytes::new).ok_or(Error::NotBase64)
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
        Filter::Base64 => base64::encode(bytes, &mut out),
    }
    Ok(SecretBytes::new(out))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// More keys than this in one `--env-from` secret is not a set of
/// settings (Key Vault's 25 KB holds at most a few thousand).
const MAX_PAIRS: usize = 10_000;

/// How an `--env-from` secret is written, for the fix an error suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFormat {
    Json,
    Dotenv,
}

/// `--env-from`'s variables: a JSON object whose values are strings,
/// numbers or booleans, or dotenv text (`KEY=VALUE` lines, `#` comments, an
/// optional `export `, single or double quotes, which may span lines).
/// Dotenv keys are variable names; JSON keys are checked by the caller.
/// Errors name a JSON key or a dotenv line, never a value, nor a dotenv key
/// that did not parse (it may be a value's text).
pub fn env_pairs(value: &SecretBytes) -> Result<(EnvFormat, Vec<(String, SecretBytes)>), Error> {
    let bad = |why: String| Error::EnvFrom(why);
    let text = std::str::from_utf8(value.expose()).map_err(|_| bad("the value is not UTF-8 text".into()))?;
    if !text.trim_start().starts_with('{') {
        return dotenv(text).map(|pairs| (EnvFormat::Dotenv, pairs));
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Err(bad("the value starts with { but is not a JSON object".into()));
    };
    if object.len() > MAX_PAIRS {
        return Err(bad(format!("more than {MAX_PAIRS} keys")));
    }
    let mut pairs = Vec::with_capacity(object.len());
    for (key, value) in object {
        let value = match value {
            Value::String(s) => s.into_bytes(),
            Value::Number(n) => n.to_string().into_bytes(),
            Value::Bool(b) => b.to_string().into_bytes(),
            _ => {
                return Err(bad(format!(
                    "key {} holds an object, array or null, not a string",
                    shown_key(&key)
                )))
            }
        };
        pairs.push((key, SecretBytes::new(value)));
    }
    Ok((EnvFormat::Json, pairs))
}

/// A JSON key for an error: quoted, escaped, and at most 64 characters.
pub fn shown_key(key: &str) -> String {
    match key.chars().nth(64) {
        None => format!("{key:?}"),
        Some(_) => format!("{:?}...", key.chars().take(64).collect::<String>()),
    }
}

/// Dotenv as the libraries read it: a quoted value runs to its closing
/// quote, across lines; an unquoted one to the end of its line or a ` #`.
fn dotenv(text: &str) -> Result<Vec<(String, SecretBytes)>, Error> {
    let mut pairs = Vec::new();
    let mut lines = text.split('\n').enumerate();
    while let Some((n, line)) = lines.next() {
        let at = n + 1;
        let bad = |why: &str| Error::EnvFrom(format!("line {at} {why}"));
        // The end is trimmed only where the value is not quoted: a quoted
        // value keeps its spaces, whichever line they are on.
        let line = line.trim_start();
        if line.trim_end().is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else { return Err(bad("is not KEY=VALUE")) };
        let key = key.trim_end();
        if !crate::sink::env::is_name(key) {
            return Err(bad("does not start with a variable name (KEY=VALUE)"));
        }
        if pairs.len() == MAX_PAIRS {
            return Err(Error::EnvFrom(format!("more than {MAX_PAIRS} keys")));
        }
        let value = value.trim_start();
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let mut out = String::new();
                let mut rest = &value[1..];
                let after = loop {
                    match quoted(rest, quote, &mut out) {
                        Some(after) => break after,
                        None => match lines.next() {
                            Some((_, next)) => {
                                out.push('\n');
                                rest = next;
                            }
                            None => return Err(bad("opens a quote that is never closed")),
                        },
                    }
                };
                let after = after.trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(bad("has text after its closing quote"));
                }
                out
            }
            // Unquoted: a ` #` starts a comment.
            _ => value.split(" #").next().unwrap_or_default().trim_end().to_string(),
        };
        pairs.push((key.to_string(), SecretBytes::new(value.into_bytes())));
    }
    Ok(pairs)
}

/// Appends the quoted text at the start of `rest` (the opening quote already
/// taken) to `out`; what follows the closing quote, or `None` if the line
/// ends first. In double quotes a backslash escapes (`\n` is a newline).
fn quoted<'a>(rest: &'a str, quote: char, out: &mut String) -> Option<&'a str> {
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some(&rest[i + 1..]),
            '\\' if quote == '"' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, other)) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    // A \r\n line ending.
    if out.ends_with('\r') {
        out.pop();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(value: &str, options: &str) -> Result<Vec<u8>, Error> {
        let (_, o) = Options::split(&format!("x?{options}")).unwrap();
        let certificate = Certificate { parsed: &OnceCell::new(), until: Instant::now() };
        apply(&Secret::new(value.to_string()), None, &o, certificate).map(|b| b.expose().to_vec())
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

    fn pairs(v: &str) -> Result<Vec<(String, String)>, Error> {
        env_pairs(&SecretBytes::new(v.as_bytes().to_vec())).map(|(_, p)| {
            p.into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.expose().to_vec()).unwrap()))
                .collect::<Vec<_>>()
        })
    }

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_from_reads_json_and_dotenv() {
        assert_eq!(
            pairs(r#" {"HOST":"db","PORT":5432,"TLS":true} "#).unwrap(),
            owned(&[("HOST", "db"), ("PORT", "5432"), ("TLS", "true")])
        );
        let dotenv = "# comment\n\nexport A=1\nB = two words # note\nC=\"q \\\"x\\\" \\n\"\nD='it\"s'\nE='#not a comment'\n";
        assert_eq!(
            pairs(dotenv).unwrap(),
            owned(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "q \"x\" \n"),
                ("D", "it\"s"),
                ("E", "#not a comment")
            ])
        );
        let e = pairs(r#"{"A":{"nested":"s3cret"}}"#).unwrap_err().to_string();
        assert!(e.contains("key \"A\"") && !e.contains("s3cret"), "{e}");
        assert_eq!(pairs("A=1\ns3cret").unwrap_err(), Error::EnvFrom("line 2 is not KEY=VALUE".into()));
        assert!(pairs("{not json s3cret").unwrap_err().to_string().contains("not a JSON object"));
    }

    /// A quoted value runs across lines, as dotenv libraries read it: no
    /// line of it is taken for a key, and no error shows its text.
    #[test]
    fn dotenv_quoted_values_span_lines() {
        let key = "-----BEGIN KEY-----\nMIIEvQ=s3cret=\nLEAKED_NAME=s3cret\n-----END KEY-----";
        let text = format!("TLS_KEY=\"{key}\"\nNEXT='a\nb' # comment\r\nLAST=1\n");
        assert_eq!(pairs(&text).unwrap(), owned(&[("TLS_KEY", key), ("NEXT", "a\nb"), ("LAST", "1")]));
        for (text, line) in [
            ("A=1\nB=\"never closed\ns3cret=1\n", 2),
            ("A='x' s3cret\n", 1),
            ("A=1\n s3cret-text=1\n", 2),
            ("A=\"x\ns3cret\" trailing s3cret\n", 1),
        ] {
            let e = pairs(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("line {line} ")) && !e.contains("s3cret"), "{text:?}: {e}");
        }
    }

    #[test]
    fn env_from_is_bounded() {
        let many: String = (0..=MAX_PAIRS).map(|i| format!("K{i}=v\n")).collect();
        assert!(pairs(&many).unwrap_err().to_string().contains("more than 10000 keys"));
        let big: String = (0..MAX_PAIRS).map(|i| format!("K{i}=\"{}\"\n", "v".repeat(100))).collect();
        assert!(big.len() > 1_000_000);
        assert_eq!(pairs(&big).unwrap().len(), MAX_PAIRS);
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
            assert_eq!(crate::base64::decode(encoded.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn the_base64_option() {
        assert_eq!(run(r#"{"k":"aGk="}"#, "json=/k&base64").unwrap(), b"hi");
        assert_eq!(run("%%%", "base64"), Err(Error::NotBase64));
    }
}
