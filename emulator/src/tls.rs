//! A certificate authority made up at start, and a server certificate
//! signed by it: for 127.0.0.1 and localhost, or for given names.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub struct Certificates {
    pub server: Arc<rustls::ServerConfig>,
    /// The CA's certificate, PEM: what `SSL_CERT_FILE` must name.
    pub ca_file: PathBuf,
    /// The server certificate's SHA-1 thumbprint, upper-case hex, as
    /// Service Fabric's `IDENTITY_SERVER_THUMBPRINT` gives it.
    pub thumbprint: String,
}

/// A root → intermediate → leaf chain for `name` (ECDSA P-256): the leaf's
/// PKCS#8 key as PEM, the three certificates as PEM, and the leaf's DER.
pub struct Chain {
    pub key_pem: String,
    pub leaf_pem: String,
    pub intermediate_pem: String,
    pub root_pem: String,
    pub leaf_der: Vec<u8>,
}

pub fn chain(name: &str) -> Result<Chain, rcgen::Error> {
    let ca = |cn: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok::<_, rcgen::Error>(params)
    };
    let root = CertifiedIssuer::self_signed(ca("kvinit-emulator root")?, KeyPair::generate()?)?;
    let intermediate =
        CertifiedIssuer::signed_by(ca("kvinit-emulator intermediate")?, KeyPair::generate()?, &root)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec![name.to_string()])?;
    leaf.distinguished_name.push(DnType::CommonName, name);
    let leaf = leaf.signed_by(&leaf_key, &intermediate)?;
    Ok(Chain {
        key_pem: leaf_key.serialize_pem(),
        leaf_pem: leaf.pem(),
        intermediate_pem: intermediate.pem(),
        root_pem: root.pem(),
        leaf_der: leaf.der().to_vec(),
    })
}

/// Generates the CA and server certificate and writes the CA to `dir/ca.pem`.
pub fn localhost(dir: &Path) -> io::Result<Certificates> {
    for_names(dir, &["127.0.0.1", "localhost"])
}

/// As `localhost`, with a server certificate for `names` (host names or
/// addresses), e.g. a vault's real host name in a private network namespace.
pub fn for_names(dir: &Path, names: &[&str]) -> io::Result<Certificates> {
    let fail = |e: rcgen::Error| io::Error::other(format!("generating certificates: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "kvinit-emulator CA");
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(fail)?).map_err(fail)?;
    let leaf_key = KeyPair::generate().map_err(fail)?;
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(fail)?;
    leaf.distinguished_name.push(DnType::CommonName, "kvinit-emulator vault");
    let leaf = leaf.signed_by(&leaf_key, &ca).map_err(fail)?;

    std::fs::create_dir_all(dir)?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(io::Error::other)?;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf.der());
    let thumbprint = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    Ok(Certificates { server: Arc::new(server), ca_file, thumbprint })
}
