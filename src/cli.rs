//! The command line, as clap sees it. Validation lives in `config`.

use std::ffi::OsString;

use clap::{ArgAction, Parser};

/// Reads Azure Key Vault secrets with the container's managed identity, puts
/// them into the environment, then executes COMMAND in kvinit's place.
#[derive(Parser, Debug)]
#[command(
    name = "kvinit",
    version,
    override_usage = "kvinit [OPTIONS] [--] COMMAND [ARG]...",
    after_help = "Environment: KVINIT_VAULT, KVINIT_ENV (VAR=REF items, comma or newline \
separated), KVINIT_ALLOW_VAULT_HOSTS, KVINIT_TIMEOUT, KVINIT_CLOUD, KVINIT_IDENTITY_SOURCE, \
KVINIT_LOG (or RUST_LOG), AZURE_CLIENT_ID.\n\
Variables whose value is an App Service reference, @Microsoft.KeyVault(...), are resolved too.\n\
Exit codes: 2 usage, 3 no access token, 4 a secret could not be read, 126/127 COMMAND \
not executable/not found; otherwise COMMAND's own."
)]
pub struct Args {
    /// Default vault: a name (myvault) or URL (https://myvault.vault.azure.net) [env: KVINIT_VAULT]
    #[arg(long, value_name = "NAME|URL")]
    pub vault: Option<String>,

    /// Put secret REF (SECRET[/VERSION] or https://HOST/secrets/SECRET[/VERSION]) into variable VAR
    #[arg(long = "env", value_name = "VAR=REF")]
    pub env: Vec<String>,

    /// Azure cloud for bare vault names and Entra ID: public, china, usgov [default: public] [env: KVINIT_CLOUD]
    #[arg(long, value_name = "CLOUD")]
    pub cloud: Option<String>,

    /// Where tokens come from: auto, imds, app-service, aci-windows, arc, workload, client-secret,
    /// cloud-shell, msi-legacy, service-fabric [default: auto] [env: KVINIT_IDENTITY_SOURCE]
    #[arg(long, value_name = "SOURCE")]
    pub identity_source: Option<String>,

    /// Write secret REF to file PATH under --dir [env: KVINIT_FILE]
    #[arg(long = "file", value_name = "PATH=REF")]
    pub file: Vec<String>,

    /// Directory for --file; must be tmpfs or ramfs [default: /run/secrets] [env: KVINIT_DIR]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<String>,

    /// Mode of secret files, in octal [default: 0400] [env: KVINIT_FILE_MODE]
    #[arg(long, value_name = "MODE")]
    pub file_mode: Option<String>,

    /// Owner of secret files [default: --user's, else kvinit's]
    #[arg(long, value_name = "UID[:GID]")]
    pub owner: Option<String>,

    /// Let --dir be on a disk-backed filesystem
    #[arg(long)]
    pub allow_disk: bool,

    /// Import every enabled secret of --vault (optionally only names starting with PREFIX) as env vars
    #[arg(long, value_name = "PREFIX", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub all_secrets: Option<String>,

    /// Run COMMAND as this user, after writing files (numeric ids need no /etc/passwd)
    #[arg(long, value_name = "UID[:GID]|NAME[:GROUP]")]
    pub user: Option<String>,

    /// Stay as the command's parent: forward signals, reap zombies, exit with its code [env: KVINIT_INIT=1]
    #[arg(long)]
    pub init: bool,

    /// With --init: forward signals to the command's whole process group
    #[arg(long = "signal-group", alias = "group")]
    pub group: bool,

    /// With --init: report this exit code of the command as 0 (repeatable), e.g. 143
    #[arg(long, value_name = "CODE")]
    pub remap_exit: Vec<u8>,

    /// With --init: re-read the secrets this often, rewrite changed files (e.g. 5m) [env: KVINIT_REFRESH]
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,

    /// Signal sent to the command after a refresh changed files [default: HUP]
    #[arg(long, value_name = "SIGNAL")]
    pub refresh_signal: Option<String>,

    /// Use the user-assigned identity with this client id [env: AZURE_CLIENT_ID]
    #[arg(long, value_name = "ID", group = "identity")]
    pub client_id: Option<String>,

    /// Use the user-assigned identity with this object (principal) id
    #[arg(long, value_name = "ID", group = "identity")]
    pub object_id: Option<String>,

    /// Use the user-assigned identity with this ARM resource id
    #[arg(long, value_name = "ID", group = "identity")]
    pub resource_id: Option<String>,

    /// Also send tokens to this vault host, outside the Key Vault domains [env: KVINIT_ALLOW_VAULT_HOSTS]
    #[arg(long = "allow-vault-host", value_name = "HOST[:PORT]")]
    pub allow_vault_host: Vec<String>,

    /// Deadline for getting every secret, retries included (e.g. 90s, 500ms, 2m) [default: 120s] [env: KVINIT_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Read every secret, print what would be set, and exit without running COMMAND
    #[arg(long)]
    pub check: bool,

    /// Leave IDENTITY_HEADER and MSI_SECRET in COMMAND's environment
    #[arg(long)]
    pub keep_identity_env: bool,

    /// More logging (-v debug, -vv trace); overrides KVINIT_LOG
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less logging: errors only
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,

    /// Log lines as text, or as one JSON object each [default: text] [env: KVINIT_LOG_FORMAT]
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,

    /// The command to run, with its arguments
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

/// For an unknown option, the long option one edit or one swap away, if
/// any (`--evn`, `--vualt`, `--all-secret`). clap's own suggestions cost
/// kilobytes of the static binary and miss swapped letters; clap's, if it
/// ever has one, is taken first.
pub fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    use clap::CommandFactory;
    if let Some(ContextValue::String(suggested)) = e.get(ContextKind::SuggestedArg) {
        return Some(suggested.clone());
    }
    let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidArg) else { return None };
    let given = given.strip_prefix("--")?;
    let command = Args::command();
    let longs: Vec<&str> = command.get_arguments().filter_map(|a| a.get_long()).collect();
    longs.into_iter().find(|long| close(given, long)).map(|long| format!("--{long}"))
}

/// At most one insertion, deletion, substitution or swap of neighbours apart.
fn close(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 1 || a.len() < 3 {
        return false;
    }
    let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[start..], &b[start..]);
    let tail = |x: &[u8], y: &[u8]| x == y;
    match (a.len(), b.len()) {
        (0, 0) => false,
        (n, m) if n == m => {
            tail(&a[1..], &b[1..]) || (n >= 2 && a[0] == b[1] && a[1] == b[0] && tail(&a[2..], &b[2..]))
        }
        (n, m) if n > m => tail(&a[1..], b),
        _ => tail(a, &b[1..]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn near_misses() {
        for (a, b) in
            [("evn", "env"), ("vualt", "vault"), ("fiel", "file"), ("dirr", "dir"), ("inti", "init")]
        {
            assert!(super::close(a, b), "{a} ~ {b}");
        }
        for (a, b) in [("env", "env"), ("xyz", "env"), ("ev", "env"), ("timeout", "vault")] {
            assert!(!super::close(a, b), "{a} !~ {b}");
        }
    }
}
