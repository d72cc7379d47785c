//! PKCS#12 (RFC 7292), with an empty password as Key Vault exports it:
//! reading Key Vault's own format (pbeWithSHAAnd3-KeyTripleDES-CBC bags,
//! HMAC-SHA-1 MAC) and OpenSSL 3's (PBES2 with PBKDF2-HMAC-SHA-256 and
//! AES-CBC, HMAC-SHA-256 MAC), the MAC verified first; and writing a PFX
//! whose key is under PBES2/AES-256-CBC with an HMAC-SHA-256 MAC.

use std::num::NonZeroU32;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};

use super::budget::Budget;
use super::error::Error;
use crate::der::{self, Reader, CONTEXT_0, OCTET_STRING, OID, SEQUENCE, SET};
use crate::secret::SecretBytes;

// Object identifiers, DER contents.
const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01];
const SHROUDED_KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02];
const CERT_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03];
const X509_CERTIFICATE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
const LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
const PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
const PBE_SHA1_RC2_128: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x05];
const PBE_SHA1_RC2_40: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06];
const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// A PFX's key (PKCS#8 DER, if it has one) and certificates (DER, as stored).
pub struct Contents {
    pub key: Option<SecretBytes>,
    pub certs: Vec<Vec<u8>>,
}

/// Reads a PFX protected by the empty password.
pub fn read(pfx: &[u8], budget: &mut Budget) -> Result<Contents, Error> {
    let mut outer = Reader::new(pfx).sequence("a PFX")?;
    if outer.small_uint("a PFX version")? != 3 {
        return Err(Error::Format("a PFX version other than 3"));
    }
    let auth_safe = content_info_data(&mut outer.sequence("the PFX's authSafe")?)?;
    // A PFX without a MAC carries no integrity at all: refused.
    let mac = outer.optional(SEQUENCE)?.ok_or(Error::Format("a PFX without a MAC"))?;
    let password = verify_mac(mac, auth_safe, budget)?;
    let mut contents = Contents { key: None, certs: Vec::new() };
    let mut safes = Reader::new(auth_safe).sequence("the AuthenticatedSafe")?;
    while !safes.is_empty() {
        let mut info = safes.sequence("a ContentInfo")?;
        match info.read(OID, "a content type")? {
            DATA => {
                let bags = Reader::new(info.read(CONTEXT_0, "[0]")?).read(OCTET_STRING, "data")?;
                read_bags(bags, password, &mut contents, budget)?;
            }
            ENCRYPTED_DATA => {
                let bags =
                    decrypt_encrypted_data(Reader::new(info.read(CONTEXT_0, "[0]")?), password, budget)?;
                read_bags(bags.expose(), password, &mut contents, budget)?;
            }
            _ => return Err(Error::Format("a PFX content type other than data and encryptedData")),
        }
    }
    Ok(contents)
}

/// `ContentInfo { data, [0] OCTET STRING }` → the octets.
fn content_info_data<'a>(info: &mut Reader<'a>) -> Result<&'a [u8], Error> {
    if info.read(OID, "a content type")? != DATA {
        return Err(Error::Format("a PFX whose authSafe is not data (a signed PFX)"));
    }
    Ok(Reader::new(info.read(CONTEXT_0, "[0]")?).read(OCTET_STRING, "data")?)
}

/// Verifies the MAC; returns the spelling of the empty password that did,
/// which the bags are then encrypted with too.
fn verify_mac(mac_data: &[u8], auth_safe: &[u8], budget: &mut Budget) -> Result<&'static [u8], Error> {
    let mut mac_data = Reader::new(mac_data);
    let mut digest_info = mac_data.sequence("a MAC")?;
    let algorithm = digest_info.sequence("a MAC algorithm")?.read(OID, "a MAC algorithm")?;
    let expected = digest_info.read(OCTET_STRING, "a MAC")?;
    let salt = mac_data.read(OCTET_STRING, "a MAC salt")?;
    let iterations = if mac_data.is_empty() { 1 } else { mac_data.small_uint("MAC iterations")? };
    let (digest, hmac) = match algorithm {
        SHA1 => (&digest::SHA1_FOR_LEGACY_USE_ONLY, hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        SHA256 => (&digest::SHA256, hmac::HMAC_SHA256),
        _ => return Err(Error::Unsupported("a MAC digest other than SHA-1 and SHA-256".into())),
    };
    // The empty password is two zero bytes as BMPString (OpenSSL); Windows,
    // and so Key Vault, uses none at all.
    for password in [&[0u8, 0][..], &[]] {
        let key = kdf(digest, password, salt, 3, iterations, digest.output_len(), budget)?;
        if hmac::verify(&hmac::Key::new(hmac, key.expose()), auth_safe, expected).is_ok() {
            return Ok(password);
        }
    }
    Err(Error::Mac)
}

fn read_bags(
    safe_contents: &[u8],
    password: &[u8],
    contents: &mut Contents,
    budget: &mut Budget,
) -> Result<(), Error> {
    let mut bags = Reader::new(safe_contents).sequence("SafeContents")?;
    while !bags.is_empty() {
        let mut bag = bags.sequence("a SafeBag")?;
        let kind = bag.read(OID, "a bag type")?;
        let mut value = Reader::new(bag.read(CONTEXT_0, "a bag value")?);
        match kind {
            KEY_BAG => contents.key = Some(SecretBytes::new(value.element()?.encoded.to_vec())),
            SHROUDED_KEY_BAG => {
                let mut info = value.sequence("an EncryptedPrivateKeyInfo")?;
                let algorithm = info.element()?;
                let encrypted = info.read(OCTET_STRING, "an encrypted key")?;
                contents.key = Some(decrypt(algorithm, encrypted, password, budget)?);
            }
            CERT_BAG => {
                let mut cert_bag = value.sequence("a CertBag")?;
                if cert_bag.read(OID, "a certificate type")? == X509_CERTIFICATE {
                    let cert =
                        Reader::new(cert_bag.read(CONTEXT_0, "[0]")?).read(OCTET_STRING, "a certificate")?;
                    contents.certs.push(cert.to_vec());
                }
            }
            // CRLs, secrets and nested safe contents are not a server's business.
            _ => {}
        }
    }
    Ok(())
}

/// `EncryptedData { version, EncryptedContentInfo { type, algorithm, [0] IMPLICIT octets } }`.
fn decrypt_encrypted_data(
    mut data: Reader<'_>,
    password: &[u8],
    budget: &mut Budget,
) -> Result<SecretBytes, Error> {
    let mut data = data.sequence("EncryptedData")?;
    data.small_uint("an EncryptedData version")?;
    let mut info = data.sequence("EncryptedContentInfo")?;
    info.read(OID, "a content type")?;
    let algorithm = info.element()?;
    let encrypted = info.read(0x80, "encrypted content")?;
    decrypt(algorithm, encrypted, password, budget)
}

/// Decrypts with the empty password (`password` is its PKCS#12 spelling),
/// by the algorithm the PFX names.
fn decrypt(
    algorithm: der::Element<'_>,
    encrypted: &[u8],
    password: &[u8],
    budget: &mut Budget,
) -> Result<SecretBytes, Error> {
    let mut algorithm = Reader::new(algorithm.expect(SEQUENCE, "an encryption algorithm")?);
    let oid = algorithm.read(OID, "an encryption algorithm")?;
    let mut params = algorithm.sequence("encryption parameters")?;
    match oid {
        PBE_SHA1_3DES => {
            let salt = params.read(OCTET_STRING, "a salt")?;
            let iterations = params.small_uint("iterations")?;
            let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
            let key = kdf(sha1, password, salt, 1, iterations, 24, budget)?;
            let iv = kdf(sha1, password, salt, 2, iterations, 8, budget)?;
            let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(key.expose(), iv.expose())
                .map_err(|_| Error::Decrypt)?;
            unpad(cipher, encrypted)
        }
        PBES2 => pbes2(params, encrypted, budget),
        PBE_SHA1_RC2_40 | PBE_SHA1_RC2_128 => Err(Error::Unsupported(
            "RC2-CBC (an old Windows export): re-export it with AES (openssl pkcs12 -legacy -in old.pfx -nodes | \
             openssl pkcs12 -export) or import the certificate into Key Vault again"
                .into(),
        )),
        _ => Err(Error::Unsupported("an encryption algorithm other than 3DES-CBC and PBES2 AES-CBC".into())),
    }
}

/// PBES2 (RFC 8018): PBKDF2 with HMAC-SHA-1 or -SHA-256, then AES-CBC.
fn pbes2(mut params: Reader<'_>, encrypted: &[u8], budget: &mut Budget) -> Result<SecretBytes, Error> {
    let mut kdf_algorithm = params.sequence("a key derivation")?;
    if kdf_algorithm.read(OID, "a key derivation")? != PBKDF2 {
        return Err(Error::Unsupported("a PBES2 key derivation other than PBKDF2".into()));
    }
    let mut pbkdf2_params = kdf_algorithm.sequence("PBKDF2 parameters")?;
    let salt = pbkdf2_params.read(OCTET_STRING, "a PBKDF2 salt")?;
    let iterations = pbkdf2_params.small_uint("PBKDF2 iterations")?;
    let _key_length = pbkdf2_params.optional(der::INTEGER)?;
    let prf = match pbkdf2_params.optional(SEQUENCE)? {
        None => HMAC_SHA1,
        Some(prf) => Reader::new(prf).read(OID, "a PRF")?,
    };
    let (prf, prf_len) = match prf {
        HMAC_SHA1 => (pbkdf2::PBKDF2_HMAC_SHA1, 20),
        HMAC_SHA256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
        _ => return Err(Error::Unsupported("a PBKDF2 PRF other than HMAC-SHA-1 and HMAC-SHA-256".into())),
    };
    let mut scheme = params.sequence("an encryption scheme")?;
    let cipher = scheme.read(OID, "an encryption scheme")?;
    let iv = scheme.read(OCTET_STRING, "an IV")?;
    let key_len: usize = match cipher {
        AES128_CBC => 16,
        AES192_CBC => 24,
        AES256_CBC => 32,
        _ => return Err(Error::Unsupported("a PBES2 cipher other than AES-CBC".into())),
    };
    check_iterations(iterations)?;
    // PBKDF2 runs in one call: the whole count is charged before it.
    budget.spend(iterations.saturating_mul(key_len.div_ceil(prf_len) as u32))?;
    let iterations = NonZeroU32::new(iterations).ok_or(Error::Format("zero PBKDF2 iterations"))?;
    let mut key = SecretBytes::new(vec![0; key_len]);
    // The password is the empty string, as UTF-8 (RFC 8018 leaves it to the
    // application; OpenSSL does this).
    pbkdf2::derive(prf, iterations, salt, b"", key.expose_mut());
    let bad = |_| Error::Decrypt;
    match key_len {
        16 => {
            unpad(cbc::Decryptor::<aes::Aes128>::new_from_slices(key.expose(), iv).map_err(bad)?, encrypted)
        }
        24 => {
            unpad(cbc::Decryptor::<aes::Aes192>::new_from_slices(key.expose(), iv).map_err(bad)?, encrypted)
        }
        _ => unpad(cbc::Decryptor::<aes::Aes256>::new_from_slices(key.expose(), iv).map_err(bad)?, encrypted),
    }
}

fn unpad<C: BlockDecryptMut>(cipher: C, encrypted: &[u8]) -> Result<SecretBytes, Error> {
    let mut buffer = SecretBytes::new(encrypted.to_vec());
    let len = cipher.decrypt_padded_mut::<Pkcs7>(buffer.expose_mut()).map_err(|_| Error::Decrypt)?.len();
    buffer.truncate(len);
    Ok(buffer)
}

/// RFC 7292 appendix B.2: the PKCS#12 key derivation, `n` bytes for
/// purpose `id` (1 key, 2 IV, 3 MAC key).
fn kdf(
    digest: &'static digest::Algorithm,
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u32,
    n: usize,
    budget: &mut Budget,
) -> Result<SecretBytes, Error> {
    check_iterations(iterations)?;
    let (u, v) = (digest.output_len(), digest.block_len());
    let fill = |s: &[u8]| -> Vec<u8> {
        let len = s.len().div_ceil(v) * v;
        s.iter().copied().cycle().take(len).collect()
    };
    let mut i = fill(salt);
    i.extend(fill(password));
    let mut out = SecretBytes::new(Vec::with_capacity(n + u));
    while out.expose().len() < n {
        budget.spend(iterations)?;
        let mut ctx = digest::Context::new(digest);
        ctx.update(&vec![id; v]);
        ctx.update(&i);
        let mut a = ctx.finish();
        for round in 1..iterations {
            if round % 65_536 == 0 {
                budget.in_time()?;
            }
            a = digest::digest(digest, a.as_ref());
        }
        out.extend(a.as_ref());
        // I_j = (I_j + B + 1) mod 2^(8v), B = A repeated to v bytes.
        let b: Vec<u8> = a.as_ref().iter().copied().cycle().take(v).collect();
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(n);
    Ok(out)
}

/// Key Vault uses 2000 and OpenSSL 2048; a count far past that would only
/// make a hostile secret stall the start.
fn check_iterations(iterations: u32) -> Result<(), Error> {
    match iterations {
        1..=1_000_000 => Ok(()),
        _ => Err(Error::Format("an iteration count of 0 or over 1,000,000")),
    }
}

const WRITE_ITERATIONS: u32 = 2048;

/// A PFX with the empty password: `key` (PKCS#8 DER) in a shrouded key bag
/// under PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC), `certs` (leaf first) in
/// certificate bags, the leaf and the key tied by a localKeyID, and an
/// HMAC-SHA-256 MAC, as OpenSSL 3 writes by default.
pub fn write(key: &SecretBytes, certs: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
    let key_id = certs
        .first()
        .map_or_else(Vec::new, |leaf| digest::digest(&digest::SHA256, leaf).as_ref()[..20].to_vec());
    let mut bags = vec![with_key_id(&[&der::encode(OID, SHROUDED_KEY_BAG), &shrouded_key(key)?], &key_id)];
    for (n, cert) in certs.iter().enumerate() {
        let cert = der::constructed(CONTEXT_0, &[&der::encode(OCTET_STRING, cert)]);
        let cert_bag = der::constructed(SEQUENCE, &[&der::encode(OID, X509_CERTIFICATE), &cert]);
        let value = der::constructed(CONTEXT_0, &[&cert_bag]);
        bags.push(match n {
            0 => with_key_id(&[&der::encode(OID, CERT_BAG), &value], &key_id),
            _ => der::constructed(SEQUENCE, &[&der::encode(OID, CERT_BAG), &value]),
        });
    }
    let bag_refs: Vec<&[u8]> = bags.iter().map(Vec::as_slice).collect();
    let auth_safe = der::constructed(SEQUENCE, &[&data(&der::constructed(SEQUENCE, &bag_refs))]);
    let mac = mac_data(&auth_safe)?;
    Ok(der::constructed(SEQUENCE, &[&der::uint(3), &data(&auth_safe), &mac]))
}

/// `ContentInfo { data, [0] OCTET STRING octets }`.
fn data(octets: &[u8]) -> Vec<u8> {
    let content = der::constructed(CONTEXT_0, &[&der::encode(OCTET_STRING, octets)]);
    der::constructed(SEQUENCE, &[&der::encode(OID, DATA), &content])
}

/// A SafeBag of `parts` with a localKeyID attribute, which ties the key
/// to the leaf certificate.
fn with_key_id(parts: &[&[u8]], key_id: &[u8]) -> Vec<u8> {
    let id = der::constructed(SET, &[&der::encode(OCTET_STRING, key_id)]);
    let attribute = der::constructed(SEQUENCE, &[&der::encode(OID, LOCAL_KEY_ID), &id]);
    let set = der::constructed(SET, &[&attribute]);
    let mut all = parts.to_vec();
    all.push(&set);
    der::constructed(SEQUENCE, &all)
}

fn random(n: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Format("no randomness from the system"))?;
    Ok(bytes)
}

/// `[0] EncryptedPrivateKeyInfo`: the key under PBES2 with PBKDF2-HMAC-SHA-256
/// and AES-256-CBC, for the empty password.
fn shrouded_key(key: &SecretBytes) -> Result<Vec<u8>, Error> {
    let (salt, iv) = (random(16)?, random(16)?);
    let mut aes_key = SecretBytes::new(vec![0; 32]);
    let iterations = NonZeroU32::new(WRITE_ITERATIONS).expect("not zero");
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, b"", aes_key.expose_mut());
    let cipher =
        cbc::Encryptor::<aes::Aes256>::new_from_slices(aes_key.expose(), &iv).map_err(|_| Error::Decrypt)?;
    let len = key.expose().len();
    let mut buffer = SecretBytes::new(key.expose().to_vec());
    buffer.extend(&[0; 16]);
    let encrypted =
        cipher.encrypt_padded_mut::<Pkcs7>(buffer.expose_mut(), len).map_err(|_| Error::Decrypt)?.to_vec();
    let prf = der::constructed(SEQUENCE, &[&der::encode(OID, HMAC_SHA256), &der::encode(der::NULL, &[])]);
    let pbkdf2_params =
        der::constructed(SEQUENCE, &[&der::encode(OCTET_STRING, &salt), &der::uint(WRITE_ITERATIONS), &prf]);
    let kdf = der::constructed(SEQUENCE, &[&der::encode(OID, PBKDF2), &pbkdf2_params]);
    let cipher =
        der::constructed(SEQUENCE, &[&der::encode(OID, AES256_CBC), &der::encode(OCTET_STRING, &iv)]);
    let params = der::constructed(SEQUENCE, &[&kdf, &cipher]);
    let algorithm = der::constructed(SEQUENCE, &[&der::encode(OID, PBES2), &params]);
    let shrouded = der::constructed(SEQUENCE, &[&algorithm, &der::encode(OCTET_STRING, &encrypted)]);
    Ok(der::constructed(CONTEXT_0, &[&shrouded]))
}

/// `MacData`: HMAC-SHA-256 over the AuthenticatedSafe, its key from the
/// PKCS#12 KDF of the empty password (two zero bytes, as OpenSSL writes it).
fn mac_data(auth_safe: &[u8]) -> Result<Vec<u8>, Error> {
    let salt = random(16)?;
    let mut budget = Budget::new(std::time::Instant::now() + std::time::Duration::from_secs(60));
    let key = kdf(&digest::SHA256, &[0, 0], &salt, 3, WRITE_ITERATIONS, 32, &mut budget)?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()), auth_safe);
    let algorithm = der::constructed(SEQUENCE, &[&der::encode(OID, SHA256), &der::encode(der::NULL, &[])]);
    let digest_info = der::constructed(SEQUENCE, &[&algorithm, &der::encode(OCTET_STRING, tag.as_ref())]);
    Ok(der::constructed(
        SEQUENCE,
        &[&digest_info, &der::encode(OCTET_STRING, &salt), &der::uint(WRITE_ITERATIONS)],
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A PFX with a cheap MAC (1 iteration) and `sections` encryptedData
    /// sections, each PBES2 at `iterations` over an empty SafeContents: the
    /// shape of the attack, where each section costs its own derivation.
    fn costly_pfx(sections: usize, iterations: u32) -> Vec<u8> {
        let salt = [7u8; 8];
        let mut key = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap(),
            &salt,
            b"",
            &mut key,
        );
        let iv = [9u8; 16];
        let empty = der::constructed(SEQUENCE, &[]);
        let mut buffer = empty.clone();
        buffer.extend([0; 16]);
        let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv).unwrap();
        let encrypted = cipher.encrypt_padded_mut::<Pkcs7>(&mut buffer, empty.len()).unwrap().to_vec();
        let prf = der::constructed(SEQUENCE, &[&der::encode(OID, HMAC_SHA256), &der::encode(der::NULL, &[])]);
        let params =
            der::constructed(SEQUENCE, &[&der::encode(OCTET_STRING, &salt), &der::uint(iterations), &prf]);
        let kdf_params = der::constructed(SEQUENCE, &[&der::encode(OID, PBKDF2), &params]);
        let scheme =
            der::constructed(SEQUENCE, &[&der::encode(OID, AES256_CBC), &der::encode(OCTET_STRING, &iv)]);
        let algorithm = der::constructed(
            SEQUENCE,
            &[&der::encode(OID, PBES2), &der::constructed(SEQUENCE, &[&kdf_params, &scheme])],
        );
        let content = der::constructed(
            SEQUENCE,
            &[&der::encode(OID, DATA), &algorithm, &der::encode(0x80, &encrypted)],
        );
        let encrypted_data = der::constructed(SEQUENCE, &[&der::uint(0), &content]);
        let info = der::constructed(
            SEQUENCE,
            &[&der::encode(OID, ENCRYPTED_DATA), &der::constructed(CONTEXT_0, &[&encrypted_data])],
        );
        let infos: Vec<&[u8]> = (0..sections).map(|_| info.as_slice()).collect();
        let auth_safe = der::constructed(SEQUENCE, &infos);
        let mut budget = Budget::new(Instant::now() + Duration::from_secs(60));
        let mac_key = kdf(&digest::SHA256, &[0, 0], &[1; 8], 3, 1, 32, &mut budget).unwrap();
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, mac_key.expose()), &auth_safe);
        let sha256 = der::constructed(SEQUENCE, &[&der::encode(OID, SHA256), &der::encode(der::NULL, &[])]);
        let digest_info = der::constructed(SEQUENCE, &[&sha256, &der::encode(OCTET_STRING, tag.as_ref())]);
        let mac =
            der::constructed(SEQUENCE, &[&digest_info, &der::encode(OCTET_STRING, &[1; 8]), &der::uint(1)]);
        der::constructed(SEQUENCE, &[&der::uint(3), &data(&auth_safe), &mac])
    }

    /// 267 sections of 1,000,000 iterations took 178 s of CPU: the budget
    /// is spent before each derivation, so the PFX is refused once it is
    /// gone (here a small one, to keep the test fast).
    #[test]
    fn key_derivation_is_bounded_per_secret() {
        let cheap = costly_pfx(3, 2048);
        assert!(read(&cheap, &mut Budget::new(Instant::now() + Duration::from_secs(60))).is_ok());
        let pfx = costly_pfx(267, 2048);
        let mut small = Budget::with_iterations(10_000, Instant::now() + Duration::from_secs(60));
        assert!(matches!(read(&pfx, &mut small), Err(Error::TooCostly)));
        assert!(small.left() < 2048, "spent up to the bound: {} left", small.left());
    }

    #[test]
    fn key_derivation_stops_when_the_time_is_up() {
        let pfx = costly_pfx(1, 2048);
        let mut late = Budget::new(Instant::now());
        assert!(matches!(read(&pfx, &mut late), Err(Error::OutOfTime)));
        // The PKCS#12 KDF checks the time inside its loop, not only before it.
        let mut budget = Budget::new(Instant::now() + Duration::from_millis(20));
        let started = Instant::now();
        let result = kdf(&digest::SHA1_FOR_LEGACY_USE_ONLY, &[0, 0], &[1; 8], 1, 1_000_000, 20, &mut budget);
        assert!(matches!(result, Err(Error::OutOfTime)), "{:?}", started.elapsed());
    }

    /// RFC 7292's KDF against OpenSSL's PKCS12_key_gen (from its test
    /// vectors: SHA-1, password "smeg", salt 0x0A58CF64530D823F, 1 iteration).
    #[test]
    fn the_pkcs12_kdf_matches_openssl() {
        let password = [0, b's', 0, b'm', 0, b'e', 0, b'g', 0, 0];
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let mut budget = Budget::new(std::time::Instant::now() + std::time::Duration::from_secs(60));
        let key = kdf(&digest::SHA1_FOR_LEGACY_USE_ONLY, &password, &salt, 1, 1, 24, &mut budget).unwrap();
        let expected = [
            0x8a, 0xaa, 0xe6, 0x29, 0x7b, 0x6c, 0xb0, 0x46, 0x42, 0xab, 0x5b, 0x07, 0x78, 0x51, 0x28, 0x4e,
            0xb7, 0x12, 0x8f, 0x1a, 0x2a, 0x7f, 0xbc, 0xa3,
        ];
        assert_eq!(key.expose(), expected);
    }
}
