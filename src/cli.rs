//! The command line, as clap sees it. Validation lives in `config`.

use std::ffi::OsString;

use clap::{ArgAction, Parser};

/// `--help`, written by hand: grouped, at most 80 columns (so it fits any
/// terminal without linking clap's wrapping), with examples and the exit
/// codes. `tests` below keep it true to the flags.
const HELP: &str = "\
kvinit: reads Azure Key Vault secrets with the container's managed identity,
puts them into COMMAND's environment or into files, then runs COMMAND in its
place.

Usage: kvinit [OPTIONS] [--] COMMAND [ARG]...

Secrets:
      --vault NAME|HOST|URL  default vault: myvault, myvault.vault.azure.net or
                             https://myvault.vault.azure.net  [KVINIT_VAULT]
      --env VAR=REF          put secret REF into variable VAR (repeatable)
      --env 'VAR=..{{ REF | FILTER }}..'
                             or text with placeholders
                             [KVINIT_ENV: items separated by , or newlines]
      --env-from REF[?prefix=P]
                             each key of secret REF, a JSON object or dotenv
                             text, as a variable (repeatable) [KVINIT_ENV_FROM]
      --all-secrets[=PREFIX[?optional]]
                             every enabled secret of --vault whose name starts
                             with PREFIX, as a variable: myapp-db-url becomes
                             DB_URL; importing none fails unless ?optional
      --all-secrets-tag KEY=VALUE
                             with --all-secrets: only secrets tagged so
                             (repeatable; all must match)
      --check                read every secret, print what would be set (never
                             a value) and exit; COMMAND is optional
  REF is SECRET[/VERSION][?OPTIONS] in --vault, or a secret identifier,
  https://HOST/secrets/SECRET[/VERSION][?OPTIONS]. OPTIONS, joined by &:
    json=/POINTER  the field at this RFC 6901 pointer of a JSON secret
    base64         decode the value
    optional       a missing or disabled secret leaves VAR unset, PATH absent
    part=PART      from a certificate's secret: key, cert, chain, fullchain,
                   pem or pfx
  FILTERs, after the options: urlencode, json (a JSON string literal) and
  base64 (encode). {{ \"{{\" }} is a literal {{.
  Variables whose value is @Microsoft.KeyVault(...) are resolved too.

Files:
      --file PATH=REF        write secret REF to PATH under --dir (repeatable)
                             [KVINIT_FILE]
      --template SRC=DEST    render the file SRC, with placeholders as --env's,
                             into DEST under --dir (repeatable)
                             [KVINIT_TEMPLATE]
      --dir DIR              directory for --file, on tmpfs or ramfs
                             [default: /run/secrets] [KVINIT_DIR]
      --file-mode MODE       octal mode of secret files [default: 0400]
                             [KVINIT_FILE_MODE]
      --owner UID[:GID]      owner of secret files [default: --user's, else
                             kvinit's]
      --allow-disk           let --dir be on a disk-backed filesystem

Identity:
      --identity-source SOURCE
                             auto, imds, app-service, aci-windows, arc,
                             workload, client-secret, cloud-shell, msi-legacy
                             or service-fabric [default: auto]
                             [KVINIT_IDENTITY_SOURCE]
      --client-id ID         the user-assigned identity with this client id
                             [AZURE_CLIENT_ID]
      --object-id ID         ... with this object (principal) id
      --resource-id ID       ... with this ARM resource id
      --cloud CLOUD          public, china or usgov [default: public]
                             [KVINIT_CLOUD]
      --keep-identity-env    leave IDENTITY_HEADER, MSI_SECRET and the other
                             credential variables in COMMAND's environment

Process:
      --user USER[:GROUP]    run COMMAND as this user (a name or an id), after
                             the files are written
      --init                 stay as COMMAND's parent, a correct PID 1: forward
                             signals, reap zombies, exit with COMMAND's code
                             [KVINIT_INIT=1]
      --signal-group         with --init: signal COMMAND's whole process group
      --remap-exit CODE      with --init: report COMMAND's exit code CODE as 0
                             (repeatable), e.g. 143
      --refresh DURATION     with --init: read the secrets again this often
                             and rewrite changed files, e.g. 5m
                             [KVINIT_REFRESH]
      --refresh-signal SIGNAL
                             sent to COMMAND when files changed [default: HUP]
      --on-change ACTION     with --refresh: signal (the default), restart
                             (stop COMMAND and start it with the new values)
                             or none [KVINIT_ON_CHANGE]
      --on-change-run 'CMD ARG...'
                             with --refresh: also run this after each change,
                             as COMMAND's user, split as a shell would but run
                             without one; killed after --stop-timeout
                             [KVINIT_ON_CHANGE_RUN]
      --stop-signal SIGNAL   how a restart stops COMMAND [default: TERM]
      --stop-timeout DURATION
                             then SIGKILL after this long [default: 10s]
      --refresh-sentinel REF read only REF each round, and every secret when
                             its version changed

Network:
      --timeout DURATION     deadline for every secret, retries included:
                             90s, 500ms, 2m [default: 120s] [KVINIT_TIMEOUT]
      --allow-vault-host HOST[:PORT]
                             also send tokens to this host, outside the Key
                             Vault domains (repeatable)
                             [KVINIT_ALLOW_VAULT_HOSTS: comma-separated]
  HTTPS_PROXY and NO_PROXY apply to Key Vault and Entra ID, never to IMDS;
  SSL_CERT_FILE adds trusted roots.

Diagnostics:
  -v, --verbose              more logging: -v debug, -vv trace
                             [KVINIT_LOG, else RUST_LOG]
  -q, --quiet                errors only
      --log-format FORMAT    text or json, one object a line [default: text]
                             [KVINIT_LOG_FORMAT]
  -h, --help                 this help
  -V, --version              the version

Examples:
  kvinit --vault myvault --env DB_PASSWORD=db-password -- /app --serve
  kvinit --vault myvault --all-secrets=myapp- --init -- node server.js
  kvinit --vault myvault --file tls.key=tls-cert?part=key --user 1000 -- nginx

Exit codes:
  2    usage or configuration error; nothing was fetched
  3    no access token from the identity source
  4    a secret could not be read or rendered; COMMAND was not started
  5    secret files could not be written, or --user could not be switched to
  126  COMMAND could not be executed
  127  COMMAND was not found
  COMMAND's own code otherwise (with --init, 128+N if signal N ended it)
";

#[derive(Parser, Debug)]
#[command(
    name = "kvinit",
    version,
    override_usage = "kvinit [OPTIONS] [--] COMMAND [ARG]...",
    override_help = HELP
)]
// The command line. Comments here are `//`, not `///`: clap would store
// doc comments as help text that `HELP` replaces.
pub struct Args {
    // Default vault: a name (myvault) or URL (https://myvault.vault.azure.net) [env: KVINIT_VAULT]
    #[arg(long, value_name = "NAME|HOST|URL")]
    pub vault: Option<String>,

    // Put secret REF (SECRET[/VERSION] or https://HOST/secrets/SECRET[/VERSION]) into variable VAR
    #[arg(long = "env", value_name = "VAR=REF")]
    pub env: Vec<String>,

    // Azure cloud for bare vault names and Entra ID: public, china, usgov [default: public] [env: KVINIT_CLOUD]
    #[arg(long, value_name = "CLOUD")]
    pub cloud: Option<String>,

    // Where tokens come from: auto, imds, app-service, aci-windows, arc, workload, client-secret,
    // cloud-shell, msi-legacy, service-fabric [default: auto] [env: KVINIT_IDENTITY_SOURCE]
    #[arg(long, value_name = "SOURCE")]
    pub identity_source: Option<String>,

    // Write secret REF to file PATH under --dir [env: KVINIT_FILE]
    #[arg(long = "file", value_name = "PATH=REF")]
    pub file: Vec<String>,

    // Render template file SRC into file DEST under --dir [env: KVINIT_TEMPLATE]
    #[arg(long = "template", value_name = "SRC=DEST")]
    pub template: Vec<String>,

    // Each key of secret REF (JSON object or dotenv) a variable [env: KVINIT_ENV_FROM]
    #[arg(long = "env-from", value_name = "REF")]
    pub env_from: Vec<String>,

    // With --all-secrets: only secrets with this tag (repeatable; all must match)
    #[arg(long = "all-secrets-tag", value_name = "KEY=VALUE")]
    pub all_secrets_tag: Vec<String>,

    // Directory for --file; must be tmpfs or ramfs [default: /run/secrets] [env: KVINIT_DIR]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<String>,

    // Mode of secret files, in octal [default: 0400] [env: KVINIT_FILE_MODE]
    #[arg(long, value_name = "MODE")]
    pub file_mode: Option<String>,

    // Owner of secret files [default: --user's, else kvinit's]
    #[arg(long, value_name = "UID[:GID]")]
    pub owner: Option<String>,

    // Let --dir be on a disk-backed filesystem
    #[arg(long)]
    pub allow_disk: bool,

    // Import every enabled secret of --vault (optionally only names starting with PREFIX) as env vars
    #[arg(long, value_name = "PREFIX", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub all_secrets: Option<String>,

    // Run COMMAND as this user, after writing files (numeric ids need no /etc/passwd)
    #[arg(long, value_name = "UID[:GID]|NAME[:GROUP]")]
    pub user: Option<String>,

    // Stay as the command's parent: forward signals, reap zombies, exit with its code [env: KVINIT_INIT=1]
    #[arg(long)]
    pub init: bool,

    // With --init: forward signals to the command's whole process group
    #[arg(long = "signal-group", alias = "group")]
    pub group: bool,

    // With --init: report this exit code of the command as 0 (repeatable), e.g. 143
    #[arg(long, value_name = "CODE")]
    pub remap_exit: Vec<u8>,

    // With --init: re-read the secrets this often, rewrite changed files (e.g. 5m) [env: KVINIT_REFRESH]
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,

    // With --refresh: signal (default), restart or none [env: KVINIT_ON_CHANGE]
    #[arg(long, value_name = "ACTION")]
    pub on_change: Option<String>,

    // With --refresh: run this after each change (split as a shell would, run without one) [env: KVINIT_ON_CHANGE_RUN]
    #[arg(long, value_name = "CMD")]
    pub on_change_run: Option<String>,

    // With --on-change restart: the signal that stops the command [default: TERM]
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    // With --on-change restart: how long before SIGKILL [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub stop_timeout: Option<String>,

    // With --refresh: read only this secret each round, and the rest when it changed
    #[arg(long, value_name = "REF")]
    pub refresh_sentinel: Option<String>,

    // Signal sent to the command after a refresh changed files [default: HUP]
    #[arg(long, value_name = "SIGNAL")]
    pub refresh_signal: Option<String>,

    // Use the user-assigned identity with this client id [env: AZURE_CLIENT_ID]
    #[arg(long, value_name = "ID", group = "identity")]
    pub client_id: Option<String>,

    // Use the user-assigned identity with this object (principal) id
    #[arg(long, value_name = "ID", group = "identity")]
    pub object_id: Option<String>,

    // Use the user-assigned identity with this ARM resource id
    #[arg(long, value_name = "ID", group = "identity")]
    pub resource_id: Option<String>,

    // Also send tokens to this vault host, outside the Key Vault domains [env: KVINIT_ALLOW_VAULT_HOSTS]
    #[arg(long = "allow-vault-host", value_name = "HOST[:PORT]")]
    pub allow_vault_host: Vec<String>,

    // Deadline for getting every secret, retries included (e.g. 90s, 500ms, 2m) [default: 120s] [env: KVINIT_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    // Read every secret, print what would be set, and exit without running COMMAND
    #[arg(long)]
    pub check: bool,

    // Leave IDENTITY_HEADER and MSI_SECRET in COMMAND's environment
    #[arg(long)]
    pub keep_identity_env: bool,

    // More logging (-v debug, -vv trace); overrides KVINIT_LOG
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    // Less logging: errors only
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,

    // Log lines as text, or as one JSON object each [default: text] [env: KVINIT_LOG_FORMAT]
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,

    // The command to run, with its arguments
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
    use clap::{CommandFactory, Parser};

    use super::{Args, HELP};

    #[test]
    fn help_names_every_flag_and_only_real_ones() {
        let mut command = Args::command();
        command.build(); // adds --help and --version
        let mut names: Vec<String> = Vec::new();
        for arg in command.get_arguments().filter(|a| !a.is_positional()) {
            let long = arg.get_long().expect("every option has a long name");
            assert!(HELP.contains(&format!("--{long}")), "--help does not mention --{long}");
            if let Some(short) = arg.get_short() {
                assert!(HELP.contains(&format!("-{short}, --{long}")), "--help does not show -{short}");
            }
            names.push(long.to_string());
            names.extend(arg.get_all_aliases().into_iter().flatten().map(str::to_string));
        }
        // The examples' commands have flags of their own.
        let options = HELP.split("Examples:").next().unwrap();
        let mentioned = options.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        for word in mentioned.filter_map(|w| w.strip_prefix("--")).filter(|w| !w.is_empty()) {
            assert!(names.iter().any(|n| n == word), "--help names --{word}, which kvinit does not have");
        }
    }

    #[test]
    fn help_fits_80_columns_and_its_examples_parse() {
        for line in HELP.lines() {
            assert!(line.chars().count() <= 80, "over 80 columns: {line:?}");
        }
        let examples = HELP.split("Examples:\n").nth(1).unwrap().split("\n\n").next().unwrap();
        assert_eq!(examples.lines().count(), 3);
        for example in examples.lines() {
            let words = example.split_whitespace();
            let args = Args::try_parse_from(words).unwrap_or_else(|e| panic!("{example}: {e}"));
            assert!(!args.command.is_empty(), "{example}");
        }
    }

    #[test]
    fn help_gives_the_exit_codes() {
        use crate::error::{EXIT_IDENTITY, EXIT_OUTPUT, EXIT_SECRET, EXIT_USAGE};
        let codes = HELP.split("Exit codes:\n").nth(1).unwrap();
        for (code, meaning) in [
            (EXIT_USAGE, "usage"),
            (EXIT_IDENTITY, "no access token"),
            (EXIT_SECRET, "a secret could not be read"),
            (EXIT_OUTPUT, "secret files could not be written"),
            (126, "could not be executed"),
            (127, "was not found"),
        ] {
            let line = format!("  {code:<5}");
            let found = codes.lines().find(|l| l.starts_with(&line));
            assert!(found.is_some_and(|l| l.contains(meaning)), "exit code {code}: {found:?}");
        }
    }

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
