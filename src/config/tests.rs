//! Flags and variables into plans, and every usage error.

use std::ffi::OsString;

use super::init::refuse_signals;
use super::values;
use super::*;
use crate::launch::{Init, OnChange};
use crate::sink::{Segment, Source};
use crate::template::Filter;
use clap::Parser;

fn plan(argv: &[&str], env: &[(&str, &str)]) -> Result<Plan, ConfigError> {
    let args = Args::try_parse_from(std::iter::once("kvinit").chain(argv.iter().copied())).unwrap();
    Plan::new(args, env.iter().map(|(k, v)| (*k, *v)).collect())
}

fn vars(p: &Plan) -> Vec<(String, String, Origin)> {
    p.outputs
        .iter()
        .map(|o| (o.dest.to_string(), p.secrets[o.slots().next().unwrap().secret].reference.url(), o.origin))
        .collect()
}

fn parse_duration(s: &str) -> Option<Duration> {
    values::duration(s).ok()
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("0.25ms"), Some(Duration::from_micros(250)));
    assert_eq!(parse_duration("1.0000000019s"), Some(Duration::from_nanos(1_000_000_001)));
    assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
    for bad in ["", "0s", "s", "-1s", "10 parsecs", "1d", "1e9s", ".", "1.2.3s", "0.0000000001s"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    let why = |s| values::duration(s).unwrap_err();
    assert_eq!(why("0.0"), "must be more than zero");
    for over in ["24.001h", "86401", "1441m", "340282366920938463463374607431768211456h"] {
        assert_eq!(why(over), "is over the maximum of 24h", "{over}");
    }
    assert_eq!(why("1.2.3"), "is not a duration like 90s, 500ms or 2m");
}

#[test]
fn flags_and_env_items_are_merged_flags_first() {
    let p = plan(
        &["--vault", "kv1", "--env", "A=a", "--env", "B=https://kv2.vault.azure.net/secrets/b/v1", "true"],
        &[("KVINIT_ENV", "C=c,\nA=ignored, D=d/v2")],
    )
    .unwrap();
    assert_eq!(
        vars(&p),
        vec![
            ("env:A".into(), "https://kv1.vault.azure.net/secrets/a".into(), Origin::Flag),
            ("env:B".into(), "https://kv2.vault.azure.net/secrets/b/v1".into(), Origin::Flag),
            ("env:C".into(), "https://kv1.vault.azure.net/secrets/c".into(), Origin::Flag),
            ("env:D".into(), "https://kv1.vault.azure.net/secrets/d/v2".into(), Origin::Flag),
        ]
    );
    assert_eq!(p.timeout, DEFAULT_TIMEOUT);
}

#[test]
fn the_cloud_decides_bare_names_and_allowed_hosts_resource() {
    let p = plan(&["--cloud", "usgov", "--vault", "kv1", "--env", "A=a", "true"], &[]).unwrap();
    assert_eq!(p.secrets[0].reference.url(), "https://kv1.vault.usgovcloudapi.net/secrets/a");
    assert_eq!(p.secrets[0].resource, "https://vault.usgovcloudapi.net");
    let p = plan(
        &["--allow-vault-host", "127.0.0.1", "--env", "A=https://127.0.0.1/secrets/a", "true"],
        &[("KVINIT_CLOUD", "china")],
    )
    .unwrap();
    assert_eq!(p.identity.cloud, Cloud::China);
    assert_eq!(p.secrets[0].resource, "https://vault.azure.cn");
    let p = plan(&["--identity-source", "ARC", "true"], &[("KVINIT_IDENTITY_SOURCE", "imds")]).unwrap();
    assert_eq!(p.identity.source, Some(Kind::Arc));
    let p = plan(&["true"], &[("KVINIT_IDENTITY_SOURCE", "auto")]).unwrap();
    assert_eq!(p.identity.source, None);
}

#[test]
fn signal_actions_are_refused_on_windows() {
    let args =
        |argv: &[&str]| Args::try_parse_from(std::iter::once("kvinit").chain(argv.iter().copied())).unwrap();
    for (argv, action, flag) in [
        (&["--on-change", "signal", "x"][..], Some("signal"), "--on-change signal"),
        (&["--refresh-signal", "USR1", "x"], None, "--refresh-signal"),
        (&["--stop-signal", "INT", "x"], None, "--stop-signal"),
        (&["--signal-group", "x"], None, "--signal-group"),
    ] {
        let e = refuse_signals(&args(argv), action, true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{flag} is not available on Windows")), "{e}");
        assert!(refuse_signals(&args(argv), action, false).is_ok());
    }
    let fine = args(&["--on-change", "restart", "--on-change-run", "cmd /c reload.cmd", "x"]);
    assert!(refuse_signals(&fine, Some("restart"), true).is_ok());
}

#[test]
fn init_options() {
    let p =
        plan(&["--init", "--remap-exit", "143", "--refresh", "5m", "--refresh-signal", "USR1", "true"], &[])
            .unwrap();
    assert_eq!(
        p.launch.init,
        Some(Init {
            group: false,
            remap: vec![143],
            refresh: Some(Duration::from_secs(300)),
            refresh_signal: 10,
            on_change: OnChange::Signal,
            hook: None,
            stop_signal: 15,
            stop_timeout: Duration::from_secs(10),
        })
    );
    let p =
        plan(&["--init", "--refresh", "1m", "--on-change", "restart", "--stop-timeout", "3s", "true"], &[]);
    let init = p.unwrap().launch.init.unwrap();
    assert_eq!((init.on_change, init.stop_timeout), (OnChange::Restart, Duration::from_secs(3)));
    let p = plan(&["--init", "--refresh", "1m", "true"], &[("KVINIT_ON_CHANGE_RUN", "nginx -s 'reload'")]);
    let hook: Vec<OsString> = ["nginx", "-s", "reload"].map(OsString::from).into();
    assert_eq!(p.unwrap().launch.init.unwrap().hook, Some(hook));
    let e = plan(&["--init", "--on-change-run", "x", "true"], &[]).unwrap_err().to_string();
    assert_eq!(e, "--on-change-run needs --refresh");
    let p = plan(&["true"], &[("KVINIT_INIT", "1"), ("KVINIT_REFRESH", "30s")]).unwrap();
    assert_eq!(p.launch.init.unwrap().refresh, Some(Duration::from_secs(30)));
    assert_eq!(plan(&["true"], &[("KVINIT_INIT", "0")]).unwrap().launch.init, None);
}

#[test]
fn the_vault_can_come_from_the_environment() {
    let p = plan(&["--env", "A=a", "true"], &[("KVINIT_VAULT", "https://kv9.vault.azure.cn")]).unwrap();
    assert_eq!(p.secrets[0].reference.url(), "https://kv9.vault.azure.cn/secrets/a");
    assert_eq!(p.secrets[0].resource, "https://vault.azure.cn");
}

#[test]
fn app_service_references_in_the_environment_are_resolved() {
    let p = plan(
        &["--vault", "kv1", "--env", "OVERRIDE=o", "true"],
        &[
            ("DB", "@Microsoft.KeyVault(VaultName=kv3;SecretName=db)"),
            ("OVERRIDE", "@Microsoft.KeyVault(VaultName=kv3;SecretName=x)"),
            ("PLAIN", "hello"),
        ],
    )
    .unwrap();
    assert_eq!(
        vars(&p),
        vec![
            ("env:OVERRIDE".into(), "https://kv1.vault.azure.net/secrets/o".into(), Origin::Flag),
            ("env:DB".into(), "https://kv3.vault.azure.net/secrets/db".into(), Origin::AppServiceReference),
        ]
    );
    let err = plan(&["true"], &[("X", "@Microsoft.KeyVault(VaultName=kv3)")]).unwrap_err();
    assert!(err.to_string().contains("variable X"), "{err}");
}

#[test]
fn the_same_secret_is_read_once() {
    let p = plan(&["--vault", "kv1", "--env", "A=s", "--env", "B=s", "--env", "C=s/v", "true"], &[]).unwrap();
    assert_eq!(p.secrets.len(), 2);
    assert_eq!(p.outputs.iter().map(|o| o.slots().next().unwrap().secret).collect::<Vec<_>>(), vec![0, 0, 1]);
}

#[test]
fn templates_read_each_secret_once() {
    let p = plan(
        &[
            "--vault",
            "kv1",
            "--env",
            "URL=postgres://{{ user }}:{{ pass | urlencode }}@db/{{user}}",
            "--env",
            "PASS=pass",
            "true",
        ],
        &[("KVINIT_ENV", "CFG={{ cfg?json=/a,b | json }},OTHER=other")],
    )
    .unwrap();
    let names: Vec<_> = p.secrets.iter().map(|s| s.reference.name.as_str()).collect();
    assert_eq!(names, ["user", "pass", "cfg"], "commas inside a template line are its own");
    let Source::Template(parts) = &p.outputs[0].source else { panic!("{:?}", p.outputs[0]) };
    assert_eq!(parts.len(), 6);
    assert_eq!(parts[0], Segment::Text("postgres://".into()));
    let Segment::Slot(slot) = &parts[3] else { panic!() };
    assert_eq!((slot.secret, slot.filters.as_slice()), (1, &[Filter::UrlEncode][..]));
    assert_eq!(p.outputs[1].slots().next().unwrap().secret, 1, "PASS reuses the placeholder's read");
    let Source::Template(parts) = &p.outputs[2].source else { panic!() };
    let Segment::Slot(slot) = &parts[0] else { panic!() };
    assert_eq!(slot.options.json.as_deref(), Some("/a,b"));
    // No commas were split on that line, so OTHER was never an item of its own.
    assert_eq!(p.outputs.len(), 3);
}

#[test]
fn usage_errors() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--env", "A=a", "true"], &[], "names no vault"),
        (&["--vault", "kv1", "--env", "A", "true"], &[], "is not VAR=REF"),
        (&["--vault", "kv1", "--env", "1A=a", "true"], &[], "not a valid variable name"),
        (&["--vault", "kv1", "--env", "A-B=a", "true"], &[], "not a valid variable name"),
        (&["--vault", "kv1", "--env", "A=a", "--env", "A=b", "true"], &[], "given twice"),
        (&["--vault", "kv1", "--env", "A=a"], &[], "no command"),
        (&["--vault", "x", "true"], &[], "invalid vault name"),
        (&["--vault", "kv1", "--timeout", "soon", "true"], &[], "--timeout \"soon\" is not a duration"),
        (&["--vault", "kv1", "--timeout", "0s", "true"], &[], "--timeout \"0s\" must be more than zero"),
        (&["--vault", "kv1", "--timeout", "25h", "true"], &[], "is over the maximum of 24h"),
        (&["--vault", "kv1", "true"], &[("KVINIT_TIMEOUT", "ten")], "KVINIT_TIMEOUT \"ten\" is not"),
        (&["--init", "true"], &[("KVINIT_REFRESH", "0")], "KVINIT_REFRESH \"0\" must be more than zero"),
        (&["--vault", "kv1", "--env", "A=bad_name", "true"], &[], "invalid secret name"),
        (&["--vault", "http://kv1.vault.azure.net", "true"], &[], "must use https"),
        (&["--allow-vault-host", "a b", "true"], &[], "--allow-vault-host"),
        (&["--cloud", "mars", "true"], &[], "is not one of public, china, usgov"),
        (&["--refresh", "5m", "true"], &[], "--refresh needs --init"),
        (&["--group", "true"], &[], "--signal-group needs --init"),
        (&["--init", "--refresh", "500ms", "true"], &[], "under the minimum of 1s"),
        (&["--init", "--on-change", "restart", "true"], &[], "--on-change needs --refresh"),
        (&["--init", "--refresh", "1m", "--on-change", "reload", "true"], &[], "not signal, restart or none"),
        (&["--stop-timeout", "5s", "true"], &[], "--stop-timeout needs --init"),
        (&["--init", "--refresh-signal", "SIGNOPE", "true"], &[], "not a signal"),
        (&["--identity-source", "magic", "true"], &[], "is not one of auto, imds, app-service"),
        (&["true"], &[("KVINIT_IDENTITY_SOURCE", "nope")], "--identity-source \"nope\""),
        (&["--vault", "kv1", "--env", "U=a{{ p", "true"], &[], "U=a{{ p column 2: {{ is not closed by }}"),
        (&["--vault", "kv1", "--env", "U={{ p | up }}", "true"], &[], "column 8: unknown filter \"up\""),
        (&["--vault", "kv1", "--env", "U=x{{ bad_name }}", "true"], &[], "column 5 invalid secret name"),
        (&["--vault", "kv1", "--env", "U=x{{ \"{{\" }}", "true"], &[], "column 1: no placeholder"),
        (&["--env", "U={{ p }}", "true"], &[], "column 4 secret \"p\" names no vault"),
    ];
    for (argv, env, expected) in cases {
        let err = plan(argv, env).unwrap_err();
        let text =
            format!("{err} {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
        assert!(text.contains(expected), "{argv:?}: {text}");
    }
}

#[test]
fn tokens_only_go_to_key_vault_hosts_unless_allowed() {
    let foreign = ["--env", "A=https://127.0.0.1:8443/secrets/a", "true"];
    let err = plan(&foreign, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::ForeignHost { .. }), "{err}");
    assert!(err.to_string().contains("--allow-vault-host 127.0.0.1:8443"), "{err}");

    for allow in ["127.0.0.1:8443", "127.0.0.1"] {
        let mut argv = vec!["--allow-vault-host", allow];
        argv.extend(foreign);
        let p = plan(&argv, &[]).unwrap();
        assert_eq!(p.secrets[0].resource, "https://vault.azure.net");
    }
    let mut argv = vec!["--allow-vault-host", "127.0.0.1:9999"];
    argv.extend(foreign);
    assert!(plan(&argv, &[]).is_err());
    assert!(plan(&foreign, &[("KVINIT_ALLOW_VAULT_HOSTS", "example.com, 127.0.0.1:8443")]).is_ok());

    let evil = ["--env", "A=https://kv.vault.azure.net.evil.example/secrets/a", "true"];
    assert!(matches!(plan(&evil, &[]), Err(ConfigError::ForeignHost { .. })));
}

#[test]
fn user_assigned_identity() {
    let p = plan(&["--check"], &[("AZURE_CLIENT_ID", "cid")]).unwrap();
    assert_eq!(p.identity.user_assigned, Some(UserAssigned::ClientId("cid".into())));
    let p = plan(&["--resource-id", "/subscriptions/x", "--check"], &[("AZURE_CLIENT_ID", "cid")]).unwrap();
    assert_eq!(p.identity.user_assigned, Some(UserAssigned::ResourceId("/subscriptions/x".into())));
    let p = plan(&["--check"], &[("AZURE_CLIENT_ID", "")]).unwrap();
    assert_eq!(p.identity.user_assigned, None);
    assert!(Args::try_parse_from(["kvinit", "--client-id", "a", "--object-id", "b", "true"]).is_err());
}

#[test]
fn identity_secrets_are_not_inherited() {
    let env = [("IDENTITY_HEADER", "h"), ("MSI_SECRET", "m"), ("PATH", "/bin")];
    let p = plan(&["true"], &env).unwrap();
    let names: Vec<_> = p.launch.env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
    assert_eq!(names, vec!["PATH"]);
    let p = plan(&["--keep-identity-env", "true"], &env).unwrap();
    assert_eq!(p.launch.env.len(), 3);
}

#[test]
fn the_command_keeps_its_hyphens() {
    let p = plan(&["--check", "--", "/app", "--port", "80", "-v"], &[]).unwrap();
    assert_eq!(p.launch.command, vec!["/app", "--port", "80", "-v"]);
    let p = plan(&["/app", "--port", "80"], &[]).unwrap();
    assert_eq!(p.launch.command, vec!["/app", "--port", "80"]);
}
