//! Placeholders in `--env` values: `{{ REF | FILTER }}` inside text, each
//! secret read once, filters applied, grammar errors before any request.

mod support;

use support::World;

/// Needs every kind of percent-encoding, and JSON escaping.
const PASSWORD: &str = "p@ss:w/rd%&\"q\"\\ é";

fn world() -> World {
    let w = World::new();
    w.vault.put("db-password", PASSWORD);
    w.vault.put("db-user", "app");
    w
}

#[test]
fn a_url_gets_its_password_percent_encoded() {
    let w = world();
    let run = w
        .kvinit()
        .args([
            "--env",
            "DATABASE_URL=postgres://{{db-user}}:{{ db-password | urlencode }}@db:5432/{{ db-user }}",
        ])
        .args(["--env", "PASSWORD=db-password", "--", "sh", "-c", "echo \"$DATABASE_URL\""])
        .run();
    run.assert_success()
        .assert_stdout("postgres://app:p%40ss%3Aw%2Frd%25%26%22q%22%5C%20%C3%A9@db:5432/app\n");
    // Three outputs, two secrets: each read once.
    assert_eq!(w.vault.secret_requests().len(), 2, "{:?}", w.vault.secret_requests());
}

#[test]
fn the_json_filter_makes_a_string_literal_and_base64_encodes() {
    let w = world();
    let run = w
        .kvinit()
        .args(["--env", r#"CONFIG={"password": {{ db-password | json }}, "user": {{db-user|json}}}"#])
        .args(["--env", "B64={{ db-user | base64 }}"])
        .args(["--", "sh", "-c", "printf '%s\\n%s' \"$CONFIG\" \"$B64\""])
        .run();
    run.assert_success();
    let stdout = run.stdout();
    let (config, b64) = stdout.split_once('\n').unwrap();
    let config: serde_json::Value = serde_json::from_str(config).unwrap_or_else(|e| panic!("{e}: {config}"));
    assert_eq!(config["password"], PASSWORD);
    assert_eq!(config["user"], "app");
    assert_eq!(b64, "YXBw");
}

#[test]
fn an_optional_placeholder_renders_empty_and_a_missing_one_fails_closed() {
    let w = world();
    w.kvinit()
        .args(["--env", "X=a{{ gone?optional }}b", "--", "sh", "-c", "echo \"$X\""])
        .run()
        .assert_success()
        .assert_stdout("ab\n")
        .assert_stderr_contains("env:X: gone is missing; left empty (optional)");
    w.kvinit()
        .args(["--env", "X=a{{ gone }}b{{ db-user }}", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("reading secret gone from vault")
        .assert_stderr_contains("1 secret could not be read");
}

#[test]
fn grammar_errors_are_usage_errors_before_any_request() {
    let w = world();
    for (value, message) in [
        ("X=a{{ db-user", "column 2: {{ is not closed by }}"),
        ("X={{ db-user | upper }}", "column 14: unknown filter \"upper\" (urlencode, json or base64)"),
        ("X={{ }}", "column 1: a placeholder names no secret"),
    ] {
        w.kvinit().args(["--env", value, "--", "true"]).run().assert_code(2).assert_stderr_contains(message);
    }
    assert!(w.imds.server.requests().is_empty(), "a grammar error is found before any token is asked for");
}

#[test]
fn check_lists_each_placeholder_by_name_only() {
    let w = world();
    let run = w.kvinit().args(["--check", "--env", "U={{db-user}}:{{ db-password | urlencode }}"]).run();
    run.assert_success()
        .assert_stdout_contains("env:U placeholder=1 secret=db-user version=")
        .assert_stdout_contains("env:U placeholder=2 secret=db-password version=")
        .assert_output_lacks("p@ss")
        .assert_output_lacks("p%40ss");
}

#[test]
fn trace_logging_shows_no_rendered_value() {
    let w = world();
    let run = w
        .kvinit()
        .env("KVINIT_LOG", "trace")
        .args(["--env", "U=postgres://{{ db-user }}:{{ db-password | urlencode }}@db", "--", "true"])
        .run();
    run.assert_success()
        .assert_output_lacks("p%40ss")
        .assert_output_lacks("p@ss")
        .assert_output_lacks("postgres://app");
    for token in w.tokens.all() {
        run.assert_output_lacks(&token[token.len() - 16..]);
    }
}
