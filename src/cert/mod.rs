//! A certificate's secret as the files servers load (`?part=`): Key Vault
//! keeps a certificate's key and chain in a secret of the same name, as
//! base64 PKCS#12 (`application/x-pkcs12`) or PEM (`application/x-pem-file`).
//! The leaf is the certificate whose public key is the key's; the chain is
//! rebuilt from issuer and subject names, whatever order the vault stored.

mod budget;
mod error;
mod pkcs12;

pub use budget::Budget;
pub use error::Error;

use budget::MAX_CERTS;

use crate::der::{self, Reader, BIT_STRING, CONTEXT_0, EC, INTEGER, OCTET_STRING, OID, RSA, SEQUENCE};
use crate::pem::append as pem;
use crate::reference::Part;

use crate::secret::SecretBytes;

/// A certificate's secret, parsed: its private key, if it holds one, and
/// its chain, leaf first. Parsed once per read, however many parts a
/// configuration takes from it.
pub struct Bundle {
    key: Option<SecretBytes>,
    chain: Vec<Vec<u8>>,
}

impl Bundle {
    /// Parses `value`, as Key Vault returns it, within `budget`.
    pub fn parse(value: &[u8], content_type: Option<&str>, budget: &mut Budget) -> Result<Bundle, Error> {
        let (key, certs) = match content_type {
            Some("application/x-pkcs12") => {
                let pfx = crate::base64::decode(value).ok_or(Error::Format("the value is not base64"))?;
                let contents = pkcs12::read(&pfx, budget);
                crate::secret::wipe(pfx);
                let contents = contents?;
                (contents.key, contents.certs)
            }
            Some("application/x-pem-file") => from_pem(value)?,
            other => return Err(Error::NotCertificate(other.map(str::to_string))),
        };
        let chain = order(key.as_ref(), &certs)?.into_iter().map(<[u8]>::to_vec).collect();
        Ok(Bundle { key, chain })
    }

    /// Takes `part` from the bundle.
    pub fn part(&self, part: Part) -> Result<SecretBytes, Error> {
        let key = || self.key.as_ref().ok_or(Error::Missing("private key"));
        let chain = &self.chain;
        let mut out = SecretBytes::new(Vec::new());
        match part {
            Part::Key => pem(&mut out, "PRIVATE KEY", key()?.expose()),
            Part::Cert => pem(&mut out, "CERTIFICATE", &chain[0]),
            Part::Chain => chain[1..].iter().for_each(|c| pem(&mut out, "CERTIFICATE", c)),
            Part::FullChain => chain.iter().for_each(|c| pem(&mut out, "CERTIFICATE", c)),
            Part::Pem => {
                pem(&mut out, "PRIVATE KEY", key()?.expose());
                chain.iter().for_each(|c| pem(&mut out, "CERTIFICATE", c));
            }
            Part::Pfx => out.extend(&pkcs12::write(key()?, chain)?),
        }
        Ok(out)
    }
}

/// The blocks of a PEM secret: the key (PKCS#8; PKCS#1 RSA keys are
/// wrapped) and the certificates, in the order stored.
fn from_pem(value: &[u8]) -> Result<(Option<SecretBytes>, Vec<Vec<u8>>), Error> {
    let text = std::str::from_utf8(value).map_err(|_| Error::Format("PEM that is not text"))?;
    let (mut key, mut certs) = (None, Vec::new());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label = &after[..after.find("-----").ok_or(Error::Format("an unterminated PEM header"))?];
        let body_start = label.len() + 5;
        let end_marker = format!("-----END {label}-----");
        // The END line is looked for after the BEGIN line, never inside it.
        let end = after[body_start..]
            .find(&end_marker)
            .map(|i| i + body_start)
            .ok_or(Error::Format("a PEM block without its END line"))?;
        let der = crate::base64::decode(&after.as_bytes()[body_start..end])
            .ok_or(Error::Format("a PEM block that is not base64"))?;
        match label {
            "CERTIFICATE" if certs.len() == MAX_CERTS => return Err(Error::TooManyCertificates),
            "CERTIFICATE" => certs.push(der),
            "PRIVATE KEY" => key = Some(SecretBytes::new(der)),
            "RSA PRIVATE KEY" => key = Some(wrap_rsa(SecretBytes::new(der))),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::Unsupported(
                    "an encrypted private key; store it unencrypted in Key Vault".into(),
                ))
            }
            _ => {}
        }
        rest = &after[end + end_marker.len()..];
    }
    Ok((key, certs))
}

/// PKCS#1 `RSAPrivateKey` as PKCS#8 `PrivateKeyInfo`.
fn wrap_rsa(pkcs1: SecretBytes) -> SecretBytes {
    let algorithm = der::constructed(SEQUENCE, &[&der::encode(OID, RSA), &der::encode(der::NULL, &[])]);
    let key = der::encode(OCTET_STRING, pkcs1.expose());
    SecretBytes::new(der::constructed(SEQUENCE, &[&der::uint(0), &algorithm, &key]))
}

/// The parts of a certificate this module looks at.
struct Cert<'a> {
    der: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    /// The subjectPublicKey BIT STRING's bits.
    public_key: &'a [u8],
}

fn parse_cert(der: &[u8]) -> Result<Cert<'_>, Error> {
    let mut tbs = Reader::new(der).sequence("a certificate")?.sequence("a TBSCertificate")?;
    tbs.optional(CONTEXT_0)?;
    tbs.read(INTEGER, "a serial number")?;
    tbs.sequence("a signature algorithm")?;
    let issuer = tbs.element()?.encoded;
    tbs.sequence("a validity")?;
    let subject = tbs.element()?.encoded;
    let mut spki = tbs.sequence("a subjectPublicKeyInfo")?;
    spki.sequence("a public key algorithm")?;
    let bits = spki.read(BIT_STRING, "a public key")?;
    Ok(Cert { der, issuer, subject, public_key: bits.get(1..).unwrap_or_default() })
}

/// The public key a PKCS#8 key pairs with, as a certificate encodes it,
/// where the key says (RSA always; EC when it carries its public point).
fn public_key_of(pkcs8: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let mut info = Reader::new(pkcs8).sequence("a private key")?;
    info.small_uint("a private key version")?;
    let algorithm = info.sequence("a key algorithm")?.read(OID, "a key algorithm")?;
    let mut key = Reader::new(info.read(OCTET_STRING, "a private key")?).sequence("a private key")?;
    key.small_uint("a private key version")?;
    match algorithm {
        RSA => {
            let n = key.read(INTEGER, "an RSA modulus")?;
            let e = key.read(INTEGER, "an RSA exponent")?;
            Ok(Some(der::constructed(SEQUENCE, &[&der::encode(INTEGER, n), &der::encode(INTEGER, e)])))
        }
        EC => {
            key.read(OCTET_STRING, "an EC private key")?;
            key.optional(CONTEXT_0)?;
            match key.optional(0xa1)? {
                Some(public) => {
                    Ok(Reader::new(public).read(BIT_STRING, "an EC public key")?.get(1..).map(<[u8]>::to_vec))
                }
                None => Ok(None),
            }
        }
        _ => Err(Error::Unsupported("a key that is neither RSA nor EC".into())),
    }
}

/// The leaf (whose public key is the key's, or else the one certificate
/// that issued none of the others), then its issuers up to, not including,
/// a self-signed root.
fn order<'a>(key: Option<&SecretBytes>, certs: &'a [Vec<u8>]) -> Result<Vec<&'a [u8]>, Error> {
    if certs.len() > MAX_CERTS {
        return Err(Error::TooManyCertificates);
    }
    let parsed = certs.iter().map(|c| parse_cert(c)).collect::<Result<Vec<_>, _>>()?;
    if parsed.is_empty() {
        return Err(Error::Missing("certificate"));
    }
    let public = match key {
        Some(key) => public_key_of(key.expose())?,
        None => None,
    };
    let leaf = match public {
        Some(public) => parsed.iter().find(|c| c.public_key == public.as_slice()).ok_or(Error::NoLeaf)?,
        None => {
            let issued_none = |c: &&Cert<'_>| !parsed.iter().any(|o| o.der != c.der && o.issuer == c.subject);
            let mut leaves = parsed.iter().filter(issued_none);
            match (leaves.next(), leaves.next()) {
                (Some(leaf), None) => leaf,
                _ => return Err(Error::NoLeaf),
            }
        }
    };
    let mut chain = vec![leaf];
    while chain.len() < parsed.len() {
        let last = chain[chain.len() - 1];
        let issuer = parsed.iter().find(|c| {
            c.subject == last.issuer && c.issuer != c.subject && !chain.iter().any(|d| d.der == c.der)
        });
        match issuer {
            Some(issuer) => chain.push(issuer),
            None => break,
        }
    }
    Ok(chain.into_iter().map(|c| c.der).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `certificates` fuzz target: an END line that overlaps
    /// the BEGIN line made the body's end fall before its start.
    /// Building the chain compares every certificate with every other:
    /// thousands of them (a server can send 1 MiB) took seconds.
    #[test]
    fn a_secret_holds_at_most_100_certificates() {
        let block = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert_eq!(from_pem(block.repeat(MAX_CERTS).as_bytes()).map(|(_, c)| c.len()), Ok(MAX_CERTS));
        assert_eq!(from_pem(block.repeat(MAX_CERTS + 1).as_bytes()).unwrap_err(), Error::TooManyCertificates);
        let many: Vec<Vec<u8>> = vec![vec![0x30, 0]; MAX_CERTS + 1];
        assert_eq!(order(None, &many).unwrap_err(), Error::TooManyCertificates);
    }

    #[test]
    fn an_end_line_is_looked_for_after_the_begin_line() {
        let pem = b"-----BEGIN PRIVATE KEY-----END PRIVATE KEY-----\n";
        assert_eq!(from_pem(pem).unwrap_err(), Error::Format("a PEM block without its END line"));
    }
}
