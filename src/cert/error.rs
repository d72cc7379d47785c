//! Why a part could not be had. Never holds key material.

use std::fmt;

use super::budget::{Budget, Exceeded, MAX_CERTS};
use crate::der;

/// Why a part could not be had. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `part=` on a secret whose content type is not a certificate's.
    NotCertificate(Option<String>),
    /// Malformed PEM, DER or PKCS#12.
    Format(&'static str),
    /// The PKCS#12 MAC does not verify with the empty password.
    Mac,
    /// Decryption failed (wrong padding: a damaged or mis-keyed PFX).
    Decrypt,
    /// An algorithm kvinit does not implement, and what to do.
    Unsupported(String),
    /// The secret holds no private key, or no certificate.
    Missing(&'static str),
    /// No certificate's public key is the private key's.
    NoLeaf,
    /// The PFX asks for more key derivation than `Budget::ITERATIONS` in all.
    TooCostly,
    /// `--timeout` ran out while the PFX was being decrypted.
    OutOfTime,
    /// More than `MAX_CERTS` certificates.
    TooManyCertificates,
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Error {
        Error::Format(e.0)
    }
}

impl From<Exceeded> for Error {
    fn from(e: Exceeded) -> Error {
        match e {
            Exceeded::Iterations => Error::TooCostly,
            Exceeded::Time => Error::OutOfTime,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotCertificate(Some(t)) => write!(
                f,
                "part= needs a certificate's secret (application/x-pkcs12 or application/x-pem-file), and this one \
                 is {}",
                crate::text::field(t, 255)
            ),
            Error::NotCertificate(None) => f.write_str(
                "part= needs a certificate's secret (application/x-pkcs12 or application/x-pem-file), and this one \
                 has no content type",
            ),
            Error::Format(what) => write!(f, "the certificate is malformed: {what}"),
            Error::Mac => f.write_str("the PFX's MAC does not verify with the empty password (damaged, or protected \
                                        by a password)"),
            Error::Decrypt => f.write_str("the PFX does not decrypt with the empty password"),
            Error::Unsupported(what) => write!(f, "the PFX uses {what}"),
            Error::Missing(what) => write!(f, "the certificate's secret holds no {what}"),
            Error::NoLeaf => f.write_str("no certificate in the secret matches its private key"),
            Error::TooCostly => write!(
                f,
                "the PFX asks for more than {} key-derivation iterations in all (Key Vault's own take about \
                 12,000); export it again with the defaults",
                Budget::ITERATIONS
            ),
            Error::OutOfTime => f.write_str("the time (--timeout) ran out while decrypting the PFX"),
            Error::TooManyCertificates => write!(f, "the secret holds more than {MAX_CERTS} certificates"),
        }
    }
}

impl std::error::Error for Error {}
