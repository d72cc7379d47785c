//! Secrets into the child's environment. kvinit's own environment is never
//! modified: the child's is built here and handed to `launch`.

use std::ffi::OsString;

use crate::secret::SecretBytes;

/// Lays each `(variable, value)` over `base`: a variable that exists (an App
/// Service reference, say) is replaced in place, a new one is appended.
pub fn build(mut base: Vec<(OsString, OsString)>, items: &[(&str, OsString)]) -> Vec<(OsString, OsString)> {
    for (var, value) in items {
        match base.iter_mut().find(|(k, _)| k == var) {
            Some((_, v)) => *v = value.clone(),
            None => base.push((OsString::from(var), value.clone())),
        }
    }
    base
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and runtime takes.
pub fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Variables that change how programs are found, loaded or run, or where
/// they send traffic, and kvinit's and Azure's own: an import (anyone who
/// can write a secret in the vault) never sets them; `--env` can.
pub fn changes_how_programs_run(var: &str) -> bool {
    #[rustfmt::skip]
    const NAMES: &[&str] = &[
        "PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "IFS", "CDPATH", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS",
        "EDITOR", "VISUAL", "PAGER", "LESSOPEN", "LESSCLOSE", "LUA_INIT", "RUBYOPT", "RUBYLIB", "CLASSPATH",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES",
        "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN",
        "TMPDIR", "PHPRC", "PHP_INI_SCAN_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE", "NO_PROXY",
        "PS0", "PS1", "PS2", "PS3", "PS4",
    ];
    #[rustfmt::skip]
    const PREFIXES: &[&str] = &[
        "LD_", "DYLD_", "PYTHON", "PERL5", "PERLLIB", "NODE_", "NPM_CONFIG_", "DOTNET_", "CORECLR_",
        "OPENSSL_", "GIT_", "GEM_", "BUNDLE_", "MALLOC_", "KVINIT_", "AZURE_", "IDENTITY_", "MSI_",
    ];
    const SUFFIXES: &[&str] = &["_PROXY", "_ASKPASS", "_CA_BUNDLE", "_CA_CERTS"];
    NAMES.contains(&var)
        || PREFIXES.iter().any(|p| var.starts_with(p))
        || SUFFIXES.iter().any(|s| var.ends_with(s))
}

/// A value as an environment string, or `None` if it cannot be one: it
/// holds a NUL byte, or (on Windows) it is not UTF-8.
pub fn to_os(value: &SecretBytes) -> Option<OsString> {
    let bytes = value.expose();
    if bytes.contains(&0) {
        return None;
    }
    #[cfg(unix)]
    {
        Some(std::os::unix::ffi::OsStringExt::from_vec(bytes.to_vec()))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).ok().map(OsString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_replace_and_extend_the_base() {
        let base = vec![("PATH".into(), "/bin".into()), ("DB".into(), "@Microsoft.KeyVault(...)".into())];
        let items = [("DB", OsString::from("one")), ("API", "two".into()), ("API2", "two".into())];
        let env = build(base, &items);
        let env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.to_str().unwrap(), v.to_str().unwrap())).collect();
        assert_eq!(env, vec![("PATH", "/bin"), ("DB", "one"), ("API", "two"), ("API2", "two")]);
    }

    #[test]
    fn nul_bytes_cannot_be_environment_values() {
        #[cfg(unix)]
        assert_eq!(to_os(&SecretBytes::new(b"ok\xff".to_vec())).map(|o| o.len()), Some(3));
        assert!(to_os(&SecretBytes::new(b"a\0b".to_vec())).is_none());
    }
}
