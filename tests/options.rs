//! Reference options: json=/pointer, base64, optional; and their errors.

mod support;

use support::{tripwire, Reply, World};

#[test]
fn a_json_field_becomes_the_value() {
    let w = World::new();
    w.vault.put("db", r#"{"user":"app","password":"hunter2-json","port":5432}"#);
    w.kvinit()
        .args([
            "--env",
            "DB_USER=db?json=/user",
            "--env",
            "DB_PASS=db?json=/password",
            "--env",
            "DB_PORT=db?json=/port",
        ])
        .args(["--", "sh", "-c", "echo $DB_USER $DB_PASS $DB_PORT"])
        .run()
        .assert_success()
        .assert_stdout("app hunter2-json 5432\n");
    assert_eq!(w.vault.secret_requests().len(), 1, "three fields, one read");
}

#[test]
fn a_missing_json_field_names_the_pointer_not_the_value() {
    let w = World::new();
    w.vault.put("db", r#"{"password":"hunter2-json"}"#);
    w.vault.put("plain", "not-json-value");
    let (cmd, marker) = tripwire(&w.dir);
    let run =
        w.kvinit().args(["--env", "A=db?json=/username", "--env", "B=plain?json=/x", "--"]).args(&cmd).run();
    run.assert_code(4)
        .assert_stderr_contains("error: preparing secret db from vault")
        .assert_stderr_contains("for env:A")
        .assert_stderr_contains("the JSON value has no field at \"/username\"")
        .assert_stderr_contains("the value is not JSON")
        .assert_stderr_contains("2 secrets could not be read")
        .assert_output_lacks("hunter2-json")
        .assert_output_lacks("not-json-value");
    assert!(!marker.exists());
}

#[test]
fn base64_values_are_decoded() {
    let w = World::new();
    w.vault.put("b64", "aGVsbG8gd29ybGQ=");
    w.vault.put("nul", "YQBi"); // "a\0b"
    w.kvinit()
        .args(["--env", "X=b64?base64", "--", "sh", "-c", "echo \"$X\""])
        .run()
        .assert_success()
        .assert_stdout("hello world\n");
    w.kvinit()
        .args(["--env", "X=nul?base64", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("cannot be an environment variable (it holds a NUL byte); use --file");
    w.kvinit()
        .args(["--env", "X=b64?json=/x&base64", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("not JSON");
    w.vault.put("bad", "%%% not base64");
    w.kvinit()
        .args(["--env", "X=bad?base64", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("the value is not base64");
}

#[test]
fn an_optional_missing_secret_is_skipped() {
    let w = World::new();
    w.vault.put("present", "here");
    w.vault.put("off", "disabled-value");
    w.vault.disable("off");
    let reference = format!("@Microsoft.KeyVault(SecretUri={}/secrets/nope)", w.vault.url());
    w.kvinit()
        .env("FROM_REF", &reference)
        .args([
            "--env",
            "A=present",
            "--env",
            "B=absent?optional",
            "--env",
            "C=off?optional",
            "--env",
            "FROM_REF=nope?optional",
        ])
        .args(["--", "sh", "-c", "echo \"$A ${B-unset} ${C-unset} ${FROM_REF-unset}\""])
        .run()
        .assert_success()
        .assert_stdout("here unset unset unset\n")
        .assert_stderr_contains("warning: env:B: absent is missing; skipped (optional)")
        .assert_stderr_contains("warning: env:C: off is disabled; skipped (optional)")
        .assert_output_lacks("disabled-value");
}

#[test]
fn optional_does_not_excuse_other_failures() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.deny("s");
    w.kvinit()
        .args(["--env", "A=s?optional", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("ForbiddenByRbac");

    let w = World::new();
    for _ in 0..10 {
        w.vault.script.push(Reply::json(500, r#"{"error":{"code":"InternalError","message":"boom"}}"#));
    }
    w.kvinit()
        .args(["--env", "A=s?optional", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("boom");
}

#[test]
fn optional_files_are_left_absent_in_check_too() {
    let w = World::new();
    w.vault.put("present", "here");
    w.kvinit()
        .args(["--check", "--env", "A=present", "--env", "B=absent?optional"])
        .run()
        .assert_success()
        .assert_stdout(&format!(
            "env:A secret=present version={} vault={} from=flag\nenv:B secret=absent missing (optional) vault={}\n",
            w.vault.secrets.lock().unwrap()["present"].versions[0].0,
            w.vault.url(),
            w.vault.url()
        ));
}

#[test]
fn unknown_options_are_usage_errors() {
    let w = World::new();
    for bad in ["A=s?decrypt", "A=s?json", "A=s?base64=1", "A=s?json=x"] {
        w.kvinit()
            .args(["--env", bad, "--", "true"])
            .run()
            .assert_code(2)
            .assert_stderr_contains("the options are json=/POINTER, base64, optional and part=KIND");
    }
}

/// KVINIT_INIT reads like every boolean: 1/0, true/false, yes/no, on/off in
/// any case; anything else is refused, never taken as "on".
#[test]
fn boolean_variables_mean_what_they_say() {
    let w = World::new();
    w.vault.put("s", "v");
    for (value, init) in [
        ("no", false),
        ("OFF", false),
        ("False", false),
        ("0", false),
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("TRUE", true),
    ] {
        let child =
            w.kvinit().env("KVINIT_INIT", value).args(["--env", "S=s", "--", "sh", "-c", "echo $$"]).spawn();
        let kvinit = child.id();
        let (code, stdout, stderr) = support::finish(child, std::time::Duration::from_secs(30));
        assert_eq!(code, Some(0), "KVINIT_INIT={value}: {stderr}");
        let in_init = stdout.trim() != kvinit.to_string();
        assert_eq!(in_init, init, "KVINIT_INIT={value}: the command's pid {stdout} vs kvinit's {kvinit}");
    }
    w.kvinit()
        .env("KVINIT_INIT", "garbage")
        .args(["--env", "S=s", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains(
            "KVINIT_INIT=\"garbage\" is not a boolean: use 1/0, true/false, yes/no or on/off",
        );
}
