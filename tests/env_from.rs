//! `--env-from REF`: one secret, JSON object or dotenv, becomes many
//! variables; clashes and bad keys fail closed, naming the key, never a value.

mod support;

use support::World;

fn world() -> World {
    let w = World::new();
    w.vault.put("app-json", r#"{"HOST":"db.internal","PORT":5432,"DEBUG":false,"TOKEN":"s3cret-json"}"#);
    w.vault.put(
        "app-dotenv",
        "# settings\nexport QUEUE=orders\nWORKERS = 4 # per core\nGREETING=\"hello \\\"world\\\"\"\n",
    );
    w
}

#[test]
fn json_and_dotenv_keys_become_variables() {
    let w = world();
    let run = w
        .kvinit()
        .args(["--env-from", "app-json?prefix=APP_", "--env-from", "app-dotenv"])
        .args(["--env", "APP_PORT=app-json?json=/HOST"])
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$APP_HOST|$APP_PORT|$APP_DEBUG|$QUEUE|$WORKERS|$GREETING|${HOST-unset}\"",
        ])
        .run();
    // APP_PORT: the explicit --env wins over the key.
    run.assert_success().assert_stdout("db.internal|db.internal|false|orders|4|hello \"world\"|unset\n");
    assert_eq!(w.vault.secret_requests().len(), 2, "app-json is read once for both uses");
}

#[test]
fn clashes_and_bad_keys_fail_closed_without_values() {
    let w = world();
    w.vault.put("other-json", r#"{"QUEUE":"s3cret-clash"}"#);
    w.vault.put("nested", r#"{"DB":{"password":"s3cret-nested"}}"#);
    w.vault.put("bad-key", r#"{"not-a-name":"s3cret-key"}"#);
    for (args, message) in [
        (vec!["--env-from", "app-dotenv", "--env-from", "other-json"], "QUEUE is also given by app-dotenv"),
        (vec!["--env-from", "nested"], "key \"DB\" holds an object, array or null"),
        (vec!["--env-from", "bad-key"], "key \"not-a-name\" does not make a variable name"),
    ] {
        let run = w.kvinit().args(args).args(["--", "true"]).run();
        run.assert_code(4).assert_stderr_contains(message).assert_output_lacks("s3cret");
    }
    w.kvinit()
        .args(["--env-from", "app-json?prefix=1X", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("1X");
}

#[test]
fn a_key_that_changes_how_programs_run_is_left_out() {
    let w = world();
    w.vault.put("hostile", r#"{"LD_PRELOAD":"/tmp/evil.so","SAFE":"yes"}"#);
    w.kvinit()
        .args(["--env-from", "hostile", "--", "sh", "-c", "echo \"${LD_PRELOAD-unset} $SAFE\""])
        .run()
        .assert_success()
        .assert_stdout("unset yes\n")
        .assert_stderr_contains("--env-from: skipping LD_PRELOAD");
}

#[test]
fn check_lists_the_keys_by_name() {
    let w = world();
    let run = w.kvinit().args(["--check", "--env-from", "app-json?prefix=APP_"]).run();
    run.assert_success()
        .assert_stdout_contains("env:APP_HOST secret=app-json version=")
        .assert_stdout_contains("env:APP_TOKEN secret=app-json version=")
        .assert_output_lacks("s3cret-json")
        .assert_output_lacks("db.internal");
}

/// curl reads only the lower-case `http_proxy`, and most HTTP stacks read
/// both: an import sets neither case, nor Windows' `Path`.
#[test]
fn proxy_variables_are_left_out_in_every_case() {
    let w = world();
    w.vault.put(
        "hostile",
        r#"{"http_proxy":"http://attacker:3128","https_proxy":"http://attacker:3128","all_proxy":"socks5://attacker",
            "no_proxy":"*","Https_Proxy":"http://attacker","JAVA_OPTS":"-javaagent:/tmp/a.jar","ERL_AFLAGS":"-eval x",
            "COMPlus_DbgEnableMiniDump":"1","GRPC_DEFAULT_SSL_ROOTS_FILE_PATH":"/tmp/ca","SAFE":"yes"}"#,
    );
    let script = "env | grep -i -e proxy -e _OPTS -e ERL_ -e COMPLUS -e GRPC_ ; echo \"SAFE=$SAFE\"";
    let run = w.kvinit().args(["--env-from", "hostile", "--", "sh", "-c", script]).run();
    run.assert_success().assert_stdout("SAFE=yes\n").assert_output_lacks("attacker");
    for var in
        ["http_proxy", "https_proxy", "all_proxy", "no_proxy", "Https_Proxy", "JAVA_OPTS", "ERL_AFLAGS"]
    {
        run.assert_stderr_contains(&format!(
            "--env-from: skipping {var} from hostile: {var} changes how programs run"
        ));
    }
}

/// One rule for every import: a variable the image or the platform set is
/// never replaced; the warning names the `--env` that would replace it.
#[test]
fn an_inherited_variable_is_never_replaced() {
    let w = world();
    w.vault.put("settings", r#"{"GREETING":"from-the-vault","NEW":"added"}"#);
    w.vault.put("settings-dotenv", "REGION=from-the-vault\n");
    let run = w
        .kvinit()
        .env("GREETING", "from-the-image")
        .env("REGION", "westeurope")
        .args(["--env-from", "settings", "--env-from", "settings-dotenv"])
        .args(["--", "sh", "-c", "echo \"$GREETING $REGION $NEW\""])
        .run();
    run.assert_success().assert_stdout("from-the-image westeurope added\n");
    run.assert_stderr_contains(
        "--env-from: skipping GREETING from settings: GREETING is already set; to set it, name it: \
         --env GREETING=settings?json=/GREETING",
    );
    run.assert_stderr_contains("skipping REGION from settings-dotenv: REGION is already set");
    let replaced = w
        .kvinit()
        .env("GREETING", "from-the-image")
        .args(["--env-from", "settings", "--env", "GREETING=settings?json=/GREETING"])
        .args(["--", "sh", "-c", "echo \"$GREETING\""])
        .run();
    replaced.assert_success().assert_stdout("from-the-vault\n");
}

/// A quoted dotenv value runs across lines: none of its lines becomes a
/// variable, and an error names a line, never a line's text.
#[test]
fn multi_line_dotenv_values_stay_one_value() {
    let w = world();
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQ=\nLEAKED=s3cret-line\n-----END PRIVATE KEY-----";
    w.vault.put("tls-dotenv", &format!("TLS_KEY=\"{pem}\"\nPORT=443\n"));
    w.kvinit()
        .args([
            "--env-from",
            "tls-dotenv",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s' \"$TLS_KEY\" \"$PORT\" \"${LEAKED-unset}\"",
        ])
        .run()
        .assert_success()
        .assert_stdout(&format!("{pem}|443|unset"));
    let check = w.kvinit().args(["--check", "--env-from", "tls-dotenv"]).run();
    check.assert_success().assert_output_lacks("LEAKED").assert_output_lacks("s3cret-line");
    w.vault.put("broken-dotenv", "A=1\nB=\"never closed\ns3cret-name=s3cret-value\n");
    let run = w.kvinit().args(["--env-from", "broken-dotenv", "--", "true"]).run();
    run.assert_code(4)
        .assert_stderr_contains("line 2 opens a quote that is never closed")
        .assert_output_lacks("s3cret");
}
