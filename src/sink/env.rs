//! Secrets into the child's environment. kvinit's own environment is never
//! modified: the child's is built here and handed to `launch`.

use std::ffi::{OsStr, OsString};

use crate::secret::SecretBytes;

/// Lays each `(variable, value)` over `base`: a variable that exists (an App
/// Service reference, say) is replaced in place, a new one is appended.
pub fn build(mut base: Vec<(OsString, OsString)>, items: &[(&str, OsString)]) -> Vec<(OsString, OsString)> {
    // Only kvinit's own variables are searched, not those appended: the
    // items' names are distinct, and `--env-from` can bring thousands.
    let inherited = base.len();
    for (var, value) in items {
        match base[..inherited].iter_mut().find(|(k, _)| same_name(k, var)) {
            Some((_, v)) => *v = value.clone(),
            None => base.push((OsString::from(var), value.clone())),
        }
    }
    base
}

/// Whether `name` and `var` are one variable: byte for byte on Unix; on
/// Windows, whose environment ignores case (`Path` is `PATH`), in any case.
pub fn same_name(name: &OsStr, var: &str) -> bool {
    match cfg!(windows) {
        true => name.to_str().is_some_and(|n| n.eq_ignore_ascii_case(var)),
        false => name == var,
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and runtime takes.
pub fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Variables that change how programs are found, loaded or run, or where
/// they send traffic, and kvinit's and Azure's own, in every case a program
/// reads them in (curl reads only `http_proxy`; Windows' `Path` is `PATH`):
/// an import (anyone who can write a secret in the vault) never sets them;
/// `--env` can.
pub fn changes_how_programs_run(var: &str) -> bool {
    // Space-separated words rather than arrays of `&str`: the same lists in
    // less of the binary.
    const NAMES: &str =
        "PATH HOME SHELL ENV BASH_ENV IFS CDPATH PROMPT_COMMAND SHELLOPTS BASHOPTS ZDOTDIR EDITOR VISUAL \
        PAGER LESSOPEN LESSCLOSE LUA_INIT RUBYOPT RUBYLIB CLASSPATH _JAVA_OPTIONS JDK_JAVA_OPTIONS \
        ASPNETCORE_HOSTINGSTARTUPASSEMBLIES GCONV_PATH GLIBC_TUNABLES LOCPATH NLSPATH HOSTALIASES \
        RES_OPTIONS LOCALDOMAIN TMPDIR TMP TEMP TZDIR PHPRC PHP_INI_SCAN_DIR SSL_CERT_FILE SSL_CERT_DIR \
        SSLKEYLOGFILE NO_PROXY PS0 PS1 PS2 PS3 PS4 PATHEXT COMSPEC SYSTEMROOT WINDIR PSMODULEPATH \
        TERMINFO TERMINFO_DIRS CURL_HOME WGETRC GODEBUG GOFLAGS GOROOT GOPATH GOPROXY GOTOOLCHAIN GOENV \
        GUNICORN_CMD_ARGS";
    // JAVA_ covers JAVA_OPTS, JAVA_TOOL_OPTIONS and JAVA_HOME; ERL_ the
    // Erlang VM's flags; GRPC_ gRPC's own roots file; COMPLUS_ the .NET
    // runtime's older spelling of DOTNET_, COR_ the .NET Framework's
    // profiler (a DLL it loads); LUA_ Lua's module paths; QT_, GST_PLUGIN_
    // and ELECTRON_ what those load; XDG_ where programs find their
    // configuration; KRB5 Kerberos' configuration and cache; PIP_ and RUSTC_
    // what installs and builds.
    const PREFIXES: &str =
        "LD_ DYLD_ PYTHON PERL5 PERLLIB NODE_ NPM_CONFIG_ DOTNET_ CORECLR_ COMPLUS_ COR_ JAVA_ ERL_ GRPC_ \
        LUA_ QT_ GST_PLUGIN_ ELECTRON_ XDG_ KRB5 SOCKS_ PIP_ RUSTC_ OPENSSL_ GIT_ GEM_ BUNDLE_ MALLOC_ \
        AZURE_ IDENTITY_ MSI_";
    // _OPTS: the JVM launchers' flags (CATALINA_OPTS, MAVEN_OPTS, ...),
    // where a -javaagent runs code.
    const SUFFIXES: &str = "_PROXY _ASKPASS _CA_BUNDLE _CA_CERTS _OPTS";
    let var = var.to_ascii_uppercase();
    NAMES.split(' ').any(|n| n == var)
        || var.starts_with(crate::vars::PREFIX)
        || PREFIXES.split(' ').any(|p| var.starts_with(p))
        || SUFFIXES.split(' ').any(|s| var.ends_with(s))
}

/// Why a bulk import (`--all-secrets`, `--env-from`) leaves a variable out.
/// One rule for every import: it never sets a variable that changes how
/// programs run, nor replaces one the image or the platform already set;
/// an explicit `--env` does both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `changes_how_programs_run`.
    ChangesHowProgramsRun,
    /// kvinit's environment already has it.
    Inherited,
}

impl Refusal {
    /// Why, after the variable's name: "PATH changes how programs run".
    pub fn why(self) -> &'static str {
        match self {
            Refusal::ChangesHowProgramsRun => "changes how programs run",
            Refusal::Inherited => "is already set",
        }
    }
}

/// Whether an import may set `var` over `inherited`, kvinit's environment.
pub fn import_refusal(var: &str, inherited: &[(OsString, OsString)]) -> Option<Refusal> {
    if changes_how_programs_run(var) {
        Some(Refusal::ChangesHowProgramsRun)
    } else if inherited.iter().any(|(k, _)| same_name(k, var)) {
        Some(Refusal::Inherited)
    } else {
        None
    }
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
    fn the_denylist_holds_in_every_case() {
        for var in ["http_proxy", "HTTPS_PROXY", "all_proxy", "no_proxy", "No_Proxy", "Path", "ld_preload"] {
            assert!(changes_how_programs_run(var), "{var}");
        }
        for var in
            ["JAVA_OPTS", "CATALINA_OPTS", "ERL_AFLAGS", "ZDOTDIR", "TZDIR", "COMPlus_EnableDiagnostics"]
        {
            assert!(changes_how_programs_run(var), "{var}");
        }
        assert!(changes_how_programs_run("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"));
        for var in ["DB_PASSWORD", "API_KEY", "proxy_host", "OPTIONS"] {
            assert!(!changes_how_programs_run(var), "{var}");
        }
    }

    #[test]
    fn an_import_never_replaces_an_inherited_variable() {
        let inherited = vec![("JAVA_HOME".into(), "/opt/java".into()), ("DB".into(), "x".into())];
        assert_eq!(import_refusal("DB", &inherited), Some(Refusal::Inherited));
        assert_eq!(import_refusal("JAVA_HOME", &inherited), Some(Refusal::ChangesHowProgramsRun));
        assert_eq!(import_refusal("API", &inherited), None);
        assert_eq!(
            import_refusal("db", &inherited),
            if cfg!(windows) { Some(Refusal::Inherited) } else { None }
        );
    }

    #[test]
    fn nul_bytes_cannot_be_environment_values() {
        #[cfg(unix)]
        assert_eq!(to_os(&SecretBytes::new(b"ok\xff".to_vec())).map(|o| o.len()), Some(3));
        assert!(to_os(&SecretBytes::new(b"a\0b".to_vec())).is_none());
    }
}
