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
