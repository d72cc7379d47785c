//! `--log-format json`: every line kvinit writes to stderr, success or
//! failure, at trace level, is one JSON object with `time`, `level` and
//! `message`, carries its fields, and leaks no value and no token.

mod support;

use serde_json::{Map, Value};
use support::{Reply, Run, World};

const VALUE: &str = "Pa55w0rd-json-unique";

/// Every stderr line as a JSON object, checked for the fields every line has.
fn lines(run: &Run) -> Vec<Map<String, Value>> {
    let stderr = run.stderr();
    assert!(!stderr.is_empty(), "no log lines\n{stderr}");
    let mut objects = Vec::new();
    for line in stderr.lines() {
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
            panic!("not a JSON object: {line:?}\nstderr:\n{stderr}");
        };
        let time = object["time"].as_str().unwrap_or_default();
        let shape = time.len() == 24
            && time.as_bytes()[10] == b'T'
            && time.ends_with('Z')
            && time.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                13 | 16 => b == b':',
                19 => b == b'.',
                10 | 23 => true,
                _ => b.is_ascii_digit(),
            });
        assert!(shape, "time is not RFC 3339 UTC: {line}");
        assert!(
            ["error", "warn", "info", "debug", "trace"].contains(&object["level"].as_str().unwrap_or("")),
            "{line}"
        );
        assert!(object["message"].as_str().is_some_and(|m| !m.is_empty()), "{line}");
        objects.push(object);
    }
    objects
}

fn assert_no_secret(w: &World, run: &Run) {
    run.assert_output_lacks(VALUE);
    for token in w.tokens.all() {
        run.assert_output_lacks(&token[token.len() - 16..]);
    }
}

/// The error lines, each of which carries the process's exit code.
fn errors(run: &Run) -> Vec<Map<String, Value>> {
    let code = run.code().expect("exited");
    let errors: Vec<_> = lines(run).into_iter().filter(|l| l["level"] == "error").collect();
    assert!(!errors.is_empty(), "no error line\n{}", run.stderr());
    for e in &errors {
        assert_eq!(e.get("exit_code").and_then(Value::as_i64), Some(i64::from(code)), "{e:?}");
    }
    errors
}

fn world() -> World {
    let w = World::new();
    w.vault.put("db", VALUE);
    w
}

#[test]
fn a_successful_run_at_trace_level_is_json_throughout() {
    let w = world();
    w.vault.script.push(Reply::json(429, r#"{"error":{"code":"Throttled","message":"slow down"}}"#));
    let run = w
        .kvinit()
        .env("KVINIT_LOG", "trace")
        .args(["--log-format", "json", "--env", "DB=db", "--env", "GONE=gone?optional", "--", "true"])
        .run();
    run.assert_success();
    assert_no_secret(&w, &run);
    let lines = lines(&run);
    let retry = lines.iter().find(|l| l["level"] == "warn" && l.contains_key("retry_in_ms"));
    let retry = retry.unwrap_or_else(|| panic!("no retry line with fields\n{}", run.stderr()));
    assert_eq!(retry["attempt"], 1);
    let skipped = lines.iter().find(|l| l.get("variable").is_some_and(|v| v == "GONE"));
    let skipped = skipped.unwrap_or_else(|| panic!("no line for the optional secret\n{}", run.stderr()));
    assert_eq!(skipped["secret"], "gone");
    assert_eq!(skipped["vault"], w.vault.url());
    assert!(!skipped.contains_key("file"), "an absent field is left out: {skipped:?}");
    let summary = lines.iter().find(|l| l.contains_key("elapsed_ms"));
    let summary = summary.unwrap_or_else(|| panic!("no summary line\n{}", run.stderr()));
    assert_eq!((summary["secrets"].as_u64(), summary["vaults"].as_u64()), (Some(2), Some(1)));
    assert_eq!(summary["level"], "info");
    assert!(summary["elapsed_ms"].is_u64());
    assert!(lines.iter().any(|l| l.get("identity_source").is_some_and(|s| s == "IMDS")));
}

#[test]
fn every_failure_class_is_json_with_its_exit_code() {
    let w = world();
    let kvinit = || {
        let mut k = w.kvinit();
        k.env("KVINIT_LOG_FORMAT", "json").env("KVINIT_LOG", "trace");
        k
    };

    let usage = kvinit().args(["--evn", "DB=db", "--", "true"]).run();
    assert!(errors(&usage)[0]["message"].as_str().unwrap().contains("--env"), "{}", usage.stderr());

    let config = kvinit().args(["--timeout", "soon", "--env", "DB=db", "--", "true"]).run();
    errors(&config);

    let missing_command = kvinit().args(["--env", "DB=db", "--", "/nonexistent/app"]).run();
    assert_eq!(missing_command.code(), Some(127));
    errors(&missing_command);

    w.imds
        .script
        .push(Reply::json(400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#));
    let identity = kvinit().args(["--env", "DB=db", "--", "true"]).run();
    let e = &errors(&identity)[0];
    assert_eq!((e["identity_source"].as_str(), e["status"].as_u64()), (Some("IMDS"), Some(400)), "{e:?}");
    assert!(e["cause"].as_str().unwrap().contains("Identity not found"));

    w.vault.deny("db");
    let denied = kvinit().args(["--env", "DB=db", "--env", "X=nope", "--", "true"]).run();
    let errors = errors(&denied);
    let by_secret = |name: &str| errors.iter().find(|e| e.get("secret").is_some_and(|s| s == name)).cloned();
    let db = by_secret("db").unwrap_or_else(|| panic!("no line for db\n{}", denied.stderr()));
    assert_eq!((db["status"].as_u64(), db["code"].as_str()), (Some(403), Some("ForbiddenByRbac")));
    assert!(db["hint"].as_str().is_some_and(|h| h.contains("Key Vault Secrets User")), "{db:?}");
    assert_eq!(by_secret("nope").expect("a line for nope")["status"], 404);
    assert!(errors.last().unwrap()["message"].as_str().unwrap().contains("not starting the command"));

    let nothing = kvinit().args(["--all-secrets=zzz-", "--", "true"]).run();
    assert_eq!(nothing.code(), Some(4));

    for run in [&usage, &config, &missing_command, &identity, &denied, &nothing] {
        lines(run);
        assert_no_secret(&w, run);
    }
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let w = world();
    w.kvinit()
        .env("KVINIT_LOG_FORMAT", "xml")
        .args(["--env", "DB=db", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("KVINIT_LOG_FORMAT \"xml\" is not text or json");
    w.kvinit()
        .args(["--log-format=yaml", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("--log-format \"yaml\" is not text or json");
}
