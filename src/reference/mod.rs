//! The grammar of vault and secret references, and which token resource a
//! vault host belongs to. Pure parsing: no I/O.
//!
//! ```text
//! vault     = NAME | https://HOST[:PORT][/]
//! reference = SECRET[/VERSION]                          (in the default vault)
//!           | https://HOST[:PORT]/secrets/SECRET[/VERSION][/]
//! options   = REF?OPTION[&OPTION]...    OPTION = json=/POINTER | base64 | optional
//! app-service reference (a value in kvinit's environment)
//!           = @Microsoft.KeyVault(SecretUri=<reference URL>)
//!           | @Microsoft.KeyVault(VaultName=NAME;SecretName=SECRET[;SecretVersion=VERSION])
//! ```

mod error;
mod vault_url;

pub use error::RefError;
pub use vault_url::{split_authority, Cloud, VaultUrl};

use std::fmt;

use vault_url::{has_scheme, split_url};

/// One secret: which vault, which name, and optionally which version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef {
    pub vault: VaultUrl,
    pub name: String,
    pub version: Option<String>,
    pub collection: Collection,
}

/// Which of a vault's APIs a reference reads. Certificates and keys give
/// only their public part, as PEM, and need only *get* on certificates or
/// keys, not on secrets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    #[default]
    Secrets,
    Certificates,
    Keys,
}

impl Collection {
    /// The path segment, as in `https://VAULT/certificates/NAME`.
    pub fn path(self) -> &'static str {
        match self {
            Collection::Secrets => "secrets",
            Collection::Certificates => "certificates",
            Collection::Keys => "keys",
        }
    }

    /// For messages: "reading certificate web from vault ...".
    pub fn noun(self) -> &'static str {
        match self {
            Collection::Secrets => "secret",
            Collection::Certificates => "certificate",
            Collection::Keys => "key",
        }
    }
}

impl SecretRef {
    /// Parses `SECRET[/VERSION]` (resolved against `default_vault`) or a full
    /// secret identifier URL.
    pub fn parse(input: &str, default_vault: Option<&VaultUrl>) -> Result<SecretRef, RefError> {
        let input = input.trim();
        if has_scheme(input) {
            return SecretRef::parse_url(input);
        }
        let (name, version) = match input.split_once('/') {
            Some((n, v)) => (n, Some(v)),
            None => (input, None),
        };
        let name = check_name(name)?;
        let version = version.map(check_version).transpose()?;
        let vault = default_vault.ok_or_else(|| RefError::NoVault(input.to_string()))?;
        Ok(SecretRef { vault: vault.clone(), name, version, collection: Collection::Secrets })
    }

    /// Parses `https://HOST/secrets/SECRET[/VERSION][/]`, and likewise
    /// `/certificates/` and `/keys/`.
    pub fn parse_url(input: &str) -> Result<SecretRef, RefError> {
        let (vault, path) = split_url(input)?;
        let bad = |why| RefError::BadUrl { url: input.to_string(), why };
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut segments = path.split('/');
        let collection = match (segments.next(), segments.next()) {
            (Some(""), Some("secrets")) => Collection::Secrets,
            (Some(""), Some("certificates")) => Collection::Certificates,
            (Some(""), Some("keys")) => Collection::Keys,
            _ => return Err(bad(
                "a secret URL looks like https://VAULT/secrets/NAME[/VERSION] (or /certificates/, /keys/)",
            )),
        };
        let name = check_name(segments.next().unwrap_or(""))?;
        let version = segments.next().map(check_version).transpose()?;
        if segments.next().is_some() {
            return Err(bad("too many path segments after /secrets/NAME/VERSION"));
        }
        Ok(SecretRef { vault, name, version, collection })
    }

    /// The URL of the secret, without the query string.
    pub fn url(&self) -> String {
        let collection = self.collection.path();
        match &self.version {
            Some(v) => format!("{}/{collection}/{}/{v}", self.vault, self.name),
            None => format!("{}/{collection}/{}", self.vault, self.name),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.version {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What to do with a secret's value on its way out, from `REF?options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// An RFC 6901 pointer into the value, parsed as JSON.
    pub json: Option<String>,
    /// Decode the value (after `json`) from base64, standard or URL-safe.
    pub base64: bool,
    /// A missing (404) or disabled secret is skipped with a warning.
    pub optional: bool,
    /// From a certificate's secret: key, cert, chain, fullchain, pem or pfx.
    pub part: Option<Part>,
}

impl Options {
    /// Splits `REF?opt&opt=value` into the reference and its options.
    pub fn split(input: &str) -> Result<(&str, Options), RefError> {
        let Some((reference, options)) = input.split_once('?') else {
            return Ok((input, Options::default()));
        };
        let mut out = Options::default();
        for option in options.split('&') {
            let bad = |why| RefError::BadOption { option: option.to_string(), why };
            match option.split_once('=') {
                Some(("json", pointer)) if pointer.is_empty() || pointer.starts_with('/') => {
                    if out.json.replace(pointer.to_string()).is_some() {
                        return Err(bad("given twice"));
                    }
                }
                Some(("json", _)) => return Err(bad("a JSON pointer starts with / (e.g. json=/password)")),
                Some(("part", part)) => match Part::parse(part) {
                    Some(part) => out.part = Some(part),
                    None => return Err(bad("a part is key, cert, chain, fullchain, pem or pfx")),
                },
                None if option == "base64" => out.base64 = true,
                None if option == "optional" => out.optional = true,
                _ => return Err(bad("unknown option")),
            }
        }
        if out.part.is_some() && (out.json.is_some() || out.base64) {
            let bad = RefError::BadOption {
                option: options.to_string(),
                why: "part= does not combine with json= or base64",
            };
            return Err(bad);
        }
        Ok((reference, out))
    }
}

/// Recognises an App Service Key Vault reference; a `VaultName` is looked up
/// in `cloud`. Returns `None` when `value` is not a reference at all, so
/// ordinary variables pass through untouched.
pub fn parse_app_service_reference(value: &str, cloud: Cloud) -> Option<Result<SecretRef, RefError>> {
    const PREFIX: &str = "@microsoft.keyvault(";
    let trimmed = value.trim();
    let head = trimmed.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let bad = |why: &str| RefError::BadAppServiceReference { value: value.to_string(), why: why.to_string() };
    let Some(inner) = trimmed[PREFIX.len()..].strip_suffix(')') else {
        return Some(Err(bad("missing the closing parenthesis")));
    };
    Some(parse_app_service_inner(inner, cloud).map_err(|e| match e {
        RefError::BadAppServiceReference { why, .. } => bad(&why),
        other => bad(&other.to_string()),
    }))
}

fn parse_app_service_inner(inner: &str, cloud: Cloud) -> Result<SecretRef, RefError> {
    let bad = |why: &str| RefError::BadAppServiceReference { value: String::new(), why: why.to_string() };
    let mut uri = None;
    let mut vault_name = None;
    let mut secret_name = None;
    let mut secret_version = None;
    for part in inner.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, val) = part.split_once('=').ok_or_else(|| bad("expected Key=Value pairs"))?;
        let slot =
            match key.trim().to_ascii_lowercase().as_str() {
                "secreturi" => &mut uri,
                "vaultname" => &mut vault_name,
                "secretname" => &mut secret_name,
                "secretversion" => &mut secret_version,
                _ => return Err(bad(
                    "unknown key; App Service knows SecretUri, or VaultName, SecretName and SecretVersion",
                )),
            };
        if slot.replace(val.trim()).is_some() {
            return Err(bad("a key is given twice"));
        }
    }
    match (uri, vault_name, secret_name) {
        (Some(uri), None, None) if secret_version.is_none() => SecretRef::parse_url(uri),
        (None, Some(vault), Some(name)) => Ok(SecretRef {
            vault: VaultUrl::from_name(vault, cloud)?,
            name: check_name(name)?,
            version: secret_version.map(check_version).transpose()?,
            collection: Collection::Secrets,
        }),
        _ => Err(bad("use either SecretUri=..., or VaultName=...;SecretName=...[;SecretVersion=...]")),
    }
}

/// 1 to 127 of `[0-9A-Za-z-]`: every name Key Vault accepts.
pub fn is_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn check_name(name: &str) -> Result<String, RefError> {
    if is_secret_name(name) {
        Ok(name.to_string())
    } else {
        Err(RefError::BadSecretName(name.to_string()))
    }
}

fn check_version(version: &str) -> Result<String, RefError> {
    let ok = (1..=64).contains(&version.len()) && version.bytes().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(version.to_string())
    } else {
        Err(RefError::BadVersion(version.to_string()))
    }
}

/// What `?part=` takes from a certificate's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The private key, PKCS#8 PEM.
    Key,
    /// The leaf certificate, PEM.
    Cert,
    /// The intermediates, the leaf's issuer first.
    Chain,
    /// The leaf, then the intermediates.
    FullChain,
    /// The key, then the full chain.
    Pem,
    /// PKCS#12 DER with the empty password.
    Pfx,
}

impl Part {
    pub fn parse(s: &str) -> Option<Part> {
        Some(match s {
            "key" => Part::Key,
            "cert" => Part::Cert,
            "chain" => Part::Chain,
            "fullchain" => Part::FullChain,
            "pem" => Part::Pem,
            "pfx" => Part::Pfx,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(s: &str) -> VaultUrl {
        VaultUrl::parse(s, Cloud::Public).unwrap()
    }

    #[test]
    fn bare_vault_names_become_public_cloud_urls() {
        assert_eq!(vault("MyVault").to_string(), "https://myvault.vault.azure.net");
        assert_eq!(vault("my-vault-01").to_string(), "https://my-vault-01.vault.azure.net");
    }

    #[test]
    fn vault_urls_are_normalised() {
        assert_eq!(vault("https://X.vault.azure.net/").to_string(), "https://x.vault.azure.net");
        assert_eq!(vault("https://x.vault.azure.net:443").to_string(), "https://x.vault.azure.net");
        assert_eq!(vault("https://127.0.0.1:8443").to_string(), "https://127.0.0.1:8443");
        assert_eq!(vault("https://[::1]:8443").to_string(), "https://[::1]:8443");
        // A bare host, as the portal shows it.
        assert_eq!(vault("MyVault.vault.azure.net").to_string(), "https://myvault.vault.azure.net");
        assert_eq!(vault("myvault.vault.azure.net/").to_string(), "https://myvault.vault.azure.net");
        assert!(VaultUrl::parse("myvault.vault.azure.net/secrets/x", Cloud::Public).is_err());
    }

    #[test]
    fn bad_vaults_are_refused() {
        for bad in ["ab", "1abc", "abc-", "a--b", "has space", "x".repeat(25).as_str(), ""] {
            assert!(matches!(VaultUrl::parse(bad, Cloud::Public), Err(RefError::BadVaultName(_))), "{bad}");
        }
        assert!(matches!(
            VaultUrl::parse("http://x.vault.azure.net", Cloud::Public),
            Err(RefError::NotHttps(_))
        ));
        for bad in [
            "https://x.vault.azure.net/secrets/a",
            "https://user:pw@x.vault.azure.net",
            "https://x.vault.azure.net?x=1",
            "https://x.vault.azure.net:99999",
            "https://x.vault.azure.net:0",
            "https://",
            "ftp://x",
        ] {
            assert!(matches!(VaultUrl::parse(bad, Cloud::Public), Err(RefError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn bare_names_resolve_in_the_chosen_cloud() {
        for (cloud, host) in [
            (Cloud::Public, "kv1.vault.azure.net"),
            (Cloud::China, "kv1.vault.azure.cn"),
            (Cloud::UsGov, "kv1.vault.usgovcloudapi.net"),
        ] {
            let v = VaultUrl::parse("kv1", cloud).unwrap();
            assert_eq!(v.host(), host);
            assert_eq!(crate::trust::known_resource(&v), Some(cloud.resource()));
            let r = parse_app_service_reference("@Microsoft.KeyVault(VaultName=kv1;SecretName=s)", cloud);
            assert_eq!(r.unwrap().unwrap().vault.host(), host);
        }
        // A full URL's suffix wins over the cloud.
        let v = VaultUrl::parse("https://kv1.vault.azure.cn", Cloud::UsGov).unwrap();
        assert_eq!(crate::trust::known_resource(&v), Some("https://vault.azure.cn"));
        assert_eq!(Cloud::parse("AzureUSGovernment"), Some(Cloud::UsGov));
        assert_eq!(Cloud::parse("mars"), None);
    }

    #[test]
    fn short_references_use_the_default_vault() {
        let v = vault("kv1");
        let r = SecretRef::parse("db-password", Some(&v)).unwrap();
        assert_eq!(r.url(), "https://kv1.vault.azure.net/secrets/db-password");
        let r = SecretRef::parse("db-password/0123abcd", Some(&v)).unwrap();
        assert_eq!(r.version.as_deref(), Some("0123abcd"));
        assert_eq!(r.to_string(), "db-password/0123abcd");
        assert!(matches!(SecretRef::parse("db", None), Err(RefError::NoVault(_))));
    }

    #[test]
    fn full_identifiers_carry_their_own_vault() {
        let other = vault("other");
        for (input, version) in [
            ("https://kv2.vault.azure.net/secrets/pw", None),
            ("https://kv2.vault.azure.net/secrets/pw/", None),
            ("https://kv2.vault.azure.net/secrets/pw/abc123", Some("abc123")),
            ("https://KV2.vault.azure.net:443/secrets/pw/abc123/", Some("abc123")),
        ] {
            let r = SecretRef::parse(input, Some(&other)).unwrap();
            assert_eq!(r.vault.host(), "kv2.vault.azure.net", "{input}");
            assert_eq!(r.name, "pw");
            assert_eq!(r.version.as_deref(), version, "{input}");
        }
    }

    #[test]
    fn malformed_references_are_refused() {
        let v = vault("kv1");
        for bad in ["", "a_b", "a b", "a.b", &"x".repeat(128)] {
            assert!(matches!(SecretRef::parse(bad, Some(&v)), Err(RefError::BadSecretName(_))), "{bad:?}");
        }
        for bad in ["a/", "a/v-1", "a/v/x"] {
            assert!(matches!(SecretRef::parse(bad, Some(&v)), Err(RefError::BadVersion(_))), "{bad:?}");
        }
        let key = SecretRef::parse("https://kv.vault.azure.net/keys/k/v1", None).unwrap();
        assert_eq!(
            (key.collection, key.url()),
            (Collection::Keys, "https://kv.vault.azure.net/keys/k/v1".into())
        );
        let cert = SecretRef::parse("https://kv.vault.azure.net/certificates/c", None).unwrap();
        assert_eq!(cert.collection, Collection::Certificates);
        for bad in [
            "https://kv.vault.azure.net/storage/k",
            "https://kv.vault.azure.net/secrets",
            "https://kv.vault.azure.net/secrets/a/b/c",
            "https://kv.vault.azure.net/secrets/a?api-version=7.4",
        ] {
            assert!(SecretRef::parse(bad, Some(&v)).is_err(), "{bad}");
        }
        assert!(matches!(
            SecretRef::parse("http://kv.vault.azure.net/secrets/a", None),
            Err(RefError::NotHttps(_))
        ));
    }

    #[test]
    fn options() {
        let (r, o) = Options::split("db?json=/password&base64&optional").unwrap();
        assert_eq!(r, "db");
        assert_eq!(o, Options { json: Some("/password".into()), base64: true, optional: true, part: None });
        let (r, o) = Options::split("https://kv.vault.azure.net/secrets/a/v1?json=").unwrap();
        assert_eq!((r, o.json.as_deref()), ("https://kv.vault.azure.net/secrets/a/v1", Some("")));
        assert_eq!(Options::split("db").unwrap().1, Options::default());
        for bad in ["db?color=red", "db?json=password", "db?json=/a&json=/b", "db?", "db?base64=yes"] {
            let e = Options::split(bad).unwrap_err().to_string();
            assert!(
                e.contains("the options are json=/POINTER, base64, optional and part=KIND"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn app_service_references() {
        let ok = [
            ("@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret/)", "myvault", "mysecret", None),
            ("@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret)", "myvault", "mysecret", None),
            ("@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/mysecret/ec96f02080254f109c51a1f14cdb1931)", "myvault", "mysecret", Some("ec96f02080254f109c51a1f14cdb1931")),
            ("@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret)", "myvault", "mysecret", None),
            ("@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret;SecretVersion=abc)", "myvault", "mysecret", Some("abc")),
            ("@microsoft.keyvault(vaultname=myvault; secretname=mysecret;)", "myvault", "mysecret", None),
        ];
        for (value, vault_name, name, version) in ok {
            let r = parse_app_service_reference(value, Cloud::Public).unwrap().unwrap();
            assert_eq!(r.vault.host(), format!("{vault_name}.vault.azure.net"), "{value}");
            assert_eq!(r.name, name, "{value}");
            assert_eq!(r.version.as_deref(), version, "{value}");
        }
        for plain in ["", "hello", "@Microsoft.Other(x)", "Microsoft.KeyVault(VaultName=a;SecretName=b)"] {
            assert!(parse_app_service_reference(plain, Cloud::Public).is_none(), "{plain}");
        }
        for bad in [
            "@Microsoft.KeyVault(VaultName=myvault;SecretName=mysecret",
            "@Microsoft.KeyVault(VaultName=myvault)",
            "@Microsoft.KeyVault(SecretName=s)",
            "@Microsoft.KeyVault(VaultName=myvault;SecretName=a;Color=red)",
            "@Microsoft.KeyVault(VaultName=myvault;VaultName=other;SecretName=a)",
            "@Microsoft.KeyVault(SecretUri=http://myvault.vault.azure.net/secrets/a)",
            "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/a;SecretVersion=b)",
            "@Microsoft.KeyVault(VaultName=m;SecretName=a)",
        ] {
            let err = parse_app_service_reference(bad, Cloud::Public).unwrap().unwrap_err();
            assert!(matches!(err, RefError::BadAppServiceReference { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
