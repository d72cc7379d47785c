//! What Key Vault's answers mean: a secret bundle, a page of a listing
//! and its `nextLink`, an error body and its challenge, and the public
//! parts of a certificate or a key, as PEM.

use serde_json::Value;

use super::error::ErrorKind;
use crate::der::{self, BIT_STRING, EC, INTEGER, OID, RSA, SEQUENCE};
use crate::http;
use crate::reference::VaultUrl;
use crate::secret::Secret;
use crate::{base64, pem};

/// Key Vault never sends more than 25 secrets a page (`maxresults`).
pub const PAGE_SIZE: usize = 25;

/// A secret as Key Vault returned it.
#[derive(Debug)]
pub struct Fetched {
    pub value: Secret,
    /// The full identifier, with the version that was current.
    pub id: String,
    pub content_type: Option<String>,
}

impl Fetched {
    /// The version segment of `id`.
    pub fn version(&self) -> &str {
        self.id.trim_end_matches('/').rsplit('/').next().unwrap_or("")
    }
}

/// A secret as the list API shows it: no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub enabled: bool,
    /// Backs a Key Vault certificate.
    pub managed: bool,
    /// The secret's tags whose values are strings.
    pub tags: Vec<(String, String)>,
}

/// The URL of the page a `nextLink` names, on `vault` itself. Key Vault
/// spells the default port (`https://v.vault.azure.net:443/secrets?...`), so
/// the link is compared by host and effective port, not as text; a link to
/// anywhere else is refused, since the token would follow it.
pub(crate) fn next_page(vault: &VaultUrl, link: &str) -> Result<String, ErrorKind> {
    match VaultUrl::split_link(link) {
        Some((to, rest))
            if to == *vault && rest.starts_with('/') && rest.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(format!("{vault}{rest}"))
        }
        Some((to, _)) => Err(ErrorKind::BadResponse(format!("nextLink leads away from {vault}, to {to}"))),
        None => Err(ErrorKind::BadResponse(format!("nextLink is not an https link on {vault}"))),
    }
}

pub(crate) fn parse_page(body: &[u8]) -> Result<(Vec<Listed>, Option<String>), ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the list is not JSON"))?;
    let items =
        json.get("value").and_then(Value::as_array).ok_or_else(|| bad("the list has no value array"))?;
    if items.len() > PAGE_SIZE {
        return Err(bad(&format!(
            "a page lists {} secrets; Key Vault sends at most {PAGE_SIZE}",
            items.len()
        )));
    }
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| bad("a listed secret has no id"))?;
        // `https://<vault>/secrets/<name>`: list items carry no version.
        let name = id.split_once("/secrets/").map_or("", |(_, name)| name.trim_end_matches('/')).to_string();
        if !crate::reference::is_secret_name(&name) {
            return Err(bad(&format!(
                "the list names a secret Key Vault could not have: {:?}",
                crate::text::printable_line(&name.chars().take(130).collect::<String>())
            )));
        }
        let enabled = item.pointer("/attributes/enabled").and_then(Value::as_bool).unwrap_or(true);
        let managed = item.get("managed").and_then(Value::as_bool).unwrap_or(false);
        let tags = item.get("tags").and_then(Value::as_object).map_or_else(Vec::new, |tags| {
            tags.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
        });
        listed.push(Listed { name, enabled, managed, tags });
    }
    let next = json.get("nextLink").and_then(Value::as_str).filter(|l| !l.is_empty()).map(str::to_string);
    Ok((listed, next))
}

pub(crate) fn parse_secret(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let mut json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let Some(obj) = json.as_object_mut() else { return Err(bad("the body is not a JSON object")) };
    let value = match obj.get_mut("value").map(Value::take) {
        Some(Value::String(v)) => Secret::new(v),
        Some(_) => return Err(bad("value is not a string")),
        None => return Err(bad("no value field")),
    };
    let id = match obj.get("id") {
        Some(Value::String(id)) => identifier(id)?,
        _ => return Err(bad("no id field")),
    };
    let content_type = obj.get("contentType").and_then(Value::as_str).map(str::to_string);
    Ok(Fetched { value, id, content_type })
}

/// An object's identifier, a URL: printed as its version in `--check` and
/// logs, so only printable ASCII, without spaces, is taken from a server.
fn identifier(id: &str) -> Result<String, ErrorKind> {
    match id.len() <= 2048 && id.bytes().all(|b| b.is_ascii_graphic()) {
        true => Ok(id.to_string()),
        false => Err(ErrorKind::BadResponse("the id is not a URL".into())),
    }
}

/// A certificate bundle: the public certificate (`cer`, base64 DER), as PEM.
pub(crate) fn parse_certificate(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let cer = json.get("cer").and_then(Value::as_str).ok_or_else(|| bad("no cer field"))?;
    let id = identifier(json.get("id").and_then(Value::as_str).ok_or_else(|| bad("no id field"))?)?;
    let pem = certificate_pem(cer.as_bytes()).map_err(|e| bad(&e))?;
    Ok(Fetched { value: pem, id, content_type: Some("application/x-pem-file".into()) })
}

/// A key bundle: the public key of its JWK, as SubjectPublicKeyInfo PEM.
pub(crate) fn parse_key(body: &[u8]) -> Result<Fetched, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let jwk = json.get("key").ok_or_else(|| bad("no key field"))?;
    let id = identifier(jwk.get("kid").and_then(Value::as_str).ok_or_else(|| bad("no key.kid field"))?)?;
    let pem = public_key_pem(jwk).map_err(|e| bad(&e))?;
    Ok(Fetched { value: pem, id, content_type: Some("application/x-pem-file".into()) })
}

pub(crate) fn status_error(r: &http::Response) -> ErrorKind {
    let json: Option<Value> = serde_json::from_slice(&r.body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = |v: Option<&Value>, clean: fn(&str) -> String| v.and_then(Value::as_str).map(clean);
    let code = text(error.and_then(|e| e.get("code")), crate::text::printable_line);
    let message = text(error.and_then(|e| e.get("message")), crate::text::printable);
    let inner = text(
        error.and_then(|e| e.get("innererror")).and_then(|i| i.get("code")),
        crate::text::printable_line,
    );
    let body = if code.is_none() && message.is_none() { r.snippet(200) } else { String::new() };
    let authority = r.www_authenticate.as_deref().and_then(challenge_authority);
    ErrorKind::Status { status: r.status, code, inner, message, body, authority }
}

/// `Bearer authorization="https://login.windows.net/{tenant}", resource="..."` → the authorization URL.
fn challenge_authority(challenge: &str) -> Option<String> {
    let start = challenge.find("authorization=")? + "authorization=".len();
    let rest = challenge[start..].trim_start_matches('"');
    let end = rest.find(['"', ',', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|a| !a.is_empty())
}

/// A certificate bundle's `cer` (base64 DER) as PEM, checked to be one.
fn certificate_pem(cer: &[u8]) -> Result<Secret, String> {
    let der = base64::decode(cer).ok_or("cer is not base64")?;
    let is_certificate = der::Reader::new(&der).sequence("").and_then(|mut c| c.sequence("")).is_ok();
    if !is_certificate {
        return Err("cer is not a certificate".into());
    }
    Ok(text(pem::block("CERTIFICATE", &der)))
}

/// A JWK's public key (RSA `n`/`e`, EC `crv`/`x`/`y`) as SubjectPublicKeyInfo PEM.
fn public_key_pem(jwk: &Value) -> Result<Secret, String> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kty = field("kty").unwrap_or("");
    let bytes = |name: &'static str| {
        field(name)
            .and_then(|v| base64::decode(v.as_bytes()))
            .filter(|b| !b.is_empty())
            .ok_or(format!("the key has no {name}"))
    };
    let (algorithm, key) = match kty {
        "RSA" | "RSA-HSM" => {
            let public = der::constructed(SEQUENCE, &[&unsigned(&bytes("n")?), &unsigned(&bytes("e")?)]);
            (der::constructed(SEQUENCE, &[&der::encode(OID, RSA), &der::encode(der::NULL, &[])]), public)
        }
        "EC" | "EC-HSM" => {
            let curve: &[u8] = match field("crv") {
                Some("P-256") => &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
                Some("P-384") => &[0x2b, 0x81, 0x04, 0x00, 0x22],
                Some("P-521") => &[0x2b, 0x81, 0x04, 0x00, 0x23],
                Some("P-256K") => &[0x2b, 0x81, 0x04, 0x00, 0x0a],
                _ => return Err("the key uses an EC curve other than P-256, P-384, P-521 and P-256K".into()),
            };
            let point = [&[4u8][..], &bytes("x")?, &bytes("y")?].concat();
            (der::constructed(SEQUENCE, &[&der::encode(OID, EC), &der::encode(OID, curve)]), point)
        }
        other => return Err(format!("the key is of type {}, not RSA or EC", crate::text::field(other, 20))),
    };
    let bits = [&[0u8][..], &key].concat();
    let spki = der::constructed(SEQUENCE, &[&algorithm, &der::encode(BIT_STRING, &bits)]);
    Ok(text(pem::block("PUBLIC KEY", &spki)))
}

/// A big-endian unsigned number as a DER INTEGER.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let bytes = &bytes[bytes.iter().take_while(|&&b| b == 0).count().min(bytes.len() - 1)..];
    match bytes[0] & 0x80 {
        0 => der::encode(INTEGER, bytes),
        _ => der::encode(INTEGER, &[&[0u8][..], bytes].concat()),
    }
}

/// A public PEM as the value of a fetch.
fn text(pem: Vec<u8>) -> Secret {
    Secret::new(String::from_utf8_lossy(&pem).into_owned())
}

#[cfg(test)]
mod tests {
    use super::super::{Error, Target};
    use super::*;
    use crate::reference::SecretRef;

    #[test]
    fn a_secret_bundle() {
        let body = br#"{"value":"s3cr3t","id":"https://kv.vault.azure.net/secrets/db/0123abcd","contentType":"text/plain","attributes":{"enabled":true}}"#;
        let f = parse_secret(body).unwrap();
        assert_eq!(f.value.expose(), "s3cr3t");
        assert_eq!(f.version(), "0123abcd");
        assert_eq!(f.content_type.as_deref(), Some("text/plain"));
        assert!(!format!("{f:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_bundles_are_explained_without_the_body() {
        for (body, why) in [
            (&b"not json s3cr3t"[..], "not JSON"),
            (br#"{"value":"s3cr3t""#, "not JSON"),
            (br#"{"id":"x"}"#, "no value"),
            (br#"{"value":7,"id":"x"}"#, "not a string"),
            (
                br#"{"value":"s3cr3t","id":"https://kv/secrets/b/v1\nenv:FORGED secret=x"}"#,
                "the id is not a URL",
            ),
            (br#"{"value":"s3cr3t"}"#, "no id"),
        ] {
            let e = parse_secret(body).unwrap_err().to_string();
            assert!(e.contains(why) && !e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn error_bodies() {
        let r = http::Response {
            status: 403,
            retry_after: None,
            www_authenticate: None,
            body: br#"{"error":{"code":"Forbidden","message":"Caller is not authorized","innererror":{"code":"ForbiddenByRbac"}}}"#.to_vec(),
        };
        let kind = status_error(&r);
        assert_eq!(
            kind.to_string(),
            "Key Vault answered 403 Forbidden (ForbiddenByRbac): Caller is not authorized"
        );
        let e = Error {
            target: Target::Secret(SecretRef::parse_url("https://kv.vault.azure.net/secrets/db").unwrap()),
            kind,
            attempts: 1,
        };
        assert!(e.hint().unwrap().contains("Key Vault Secrets User"));
        assert!(e.hint().unwrap().contains("az keyvault show --name kv "), "{:?}", e.hint());
        assert_eq!(e.to_string(), "reading secret db from vault https://kv.vault.azure.net");
        let by_address = Error {
            target: Target::Secret(SecretRef::parse_url("https://10.1.2.3:8443/secrets/db").unwrap()),
            ..e
        };
        assert!(by_address.hint().unwrap().contains("--name <vault name>"), "{:?}", by_address.hint());
    }

    #[test]
    fn list_pages() {
        let body =
            br#"{"value":[{"id":"https://kv.vault.azure.net/secrets/db-pass","attributes":{"enabled":true}},
            {"id":"https://kv.vault.azure.net/secrets/old","attributes":{"enabled":false}},
            {"id":"https://kv.vault.azure.net/secrets/tls","managed":true}],
            "nextLink":"https://kv.vault.azure.net/secrets?api-version=7.4&$skiptoken=abc"}"#;
        let (items, next) = parse_page(body).unwrap();
        assert_eq!(items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["db-pass", "old", "tls"]);
        assert_eq!(
            items.iter().map(|i| (i.enabled, i.managed)).collect::<Vec<_>>(),
            [(true, false), (false, false), (true, true)]
        );
        assert!(next.unwrap().contains("skiptoken"));
        let (_, next) = parse_page(br#"{"value":[],"nextLink":null}"#).unwrap();
        assert_eq!(next, None);
        assert!(parse_page(b"{}").is_err());
        for hostile in ["a=b", "x y", "line\\nkvinit: error: fake", "", "\\u001b[31m"] {
            let body = format!(r#"{{"value":[{{"id":"https://kv.vault.azure.net/secrets/{hostile}"}}]}}"#);
            let e = parse_page(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("could not have") && !e.contains('\n') && !e.contains('\x1b'), "{e}");
        }
    }

    #[test]
    fn next_links_stay_on_the_vault_whatever_its_port_is_spelled() {
        let vault = VaultUrl::parse("https://kv.vault.azure.net", crate::reference::Cloud::Public).unwrap();
        let recorded =
            "https://kv.vault.azure.net:443/secrets?api-version=7.2&$skiptoken=eyJOZXh0&maxresults=25";
        assert_eq!(
            next_page(&vault, recorded).unwrap(),
            "https://kv.vault.azure.net/secrets?api-version=7.2&$skiptoken=eyJOZXh0&maxresults=25"
        );
        assert!(next_page(&vault, "HTTPS://KV.vault.azure.net/secrets?x=1").is_ok());
        for away in [
            "https://kv.vault.azure.net:8443/secrets?x=1",
            "https://kv.vault.azure.net.attacker.example/secrets",
            "https://attacker.example/secrets?$skiptoken=1",
            "http://kv.vault.azure.net/secrets",
            "https://user@kv.vault.azure.net/secrets",
            "https://kv.vault.azure.net",
            "/secrets?$skiptoken=1",
            "https://kv.vault.azure.net/secrets?x=1 y",
            "https://kv.vault.azure.net/secrets?x=1\r\nHost: evil",
        ] {
            let e = next_page(&vault, away).unwrap_err().to_string();
            assert!(e.contains("nextLink"), "{away}: {e}");
        }
        let on_a_port = VaultUrl::parse("https://127.0.0.1:8443", crate::reference::Cloud::Public).unwrap();
        assert!(next_page(&on_a_port, "https://127.0.0.1:8443/secrets?x=1").is_ok());
        assert!(next_page(&on_a_port, "https://127.0.0.1/secrets?x=1").is_err());
    }

    #[test]
    fn the_tenant_from_a_challenge() {
        let c = r#"Bearer authorization="https://login.windows.net/72f988bf-86f1", resource="https://vault.azure.net""#;
        assert_eq!(challenge_authority(c).as_deref(), Some("https://login.windows.net/72f988bf-86f1"));
        assert_eq!(challenge_authority("Bearer"), None);
    }
}
