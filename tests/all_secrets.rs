//! --all-secrets: every enabled secret of the vault, across list pages.

mod support;

use support::{Reply, World};

#[test]
fn every_enabled_secret_across_pages_becomes_a_variable() {
    let w = World::new();
    for i in 0..60 {
        w.vault.put(&format!("app-setting-{i:02}"), &format!("value-{i}"));
    }
    w.vault.put("db-password", "pw");
    w.vault.put("retired", "old");
    w.vault.disable("retired");
    w.vault.put("tls-cert", "MIIpfx");
    w.vault.set_content_type("tls-cert", "application/x-pkcs12");
    let run = w
        .kvinit()
        .args([
            "--all-secrets",
            "--",
            "sh",
            "-c",
            "echo $APP_SETTING_00 $APP_SETTING_59 $DB_PASSWORD ${RETIRED-unset} ${TLS_CERT-unset}",
        ])
        .run();
    run.assert_success()
        .assert_stdout("value-0 value-59 pw unset unset\n")
        .assert_stderr_contains("61 secrets from 1 vault");
    let pages = w.vault.list_requests();
    assert_eq!(pages.len(), 4, "an empty first page, as Key Vault serves, then 63 secrets at 25 a page");
    assert!(
        pages[1..].iter().all(|p| p.param("$skiptoken").is_some()),
        "every later page follows a nextLink"
    );
}

#[test]
fn many_small_pages_and_empty_ones_are_all_followed() {
    let w = World::new();
    for i in 0..7 {
        w.vault.put(&format!("s{i}"), &format!("v{i}"));
    }
    w.vault.set_paging(support::azure::Paging { page_size: 2, empty_pages: 3 });
    w.kvinit()
        .args(["--all-secrets", "--", "sh", "-c", "echo $S0 $S6"])
        .run()
        .assert_success()
        .assert_stdout("v0 v6\n");
    assert_eq!(w.vault.list_requests().len(), 3 + 4, "3 empty pages, then 7 secrets at 2 a page");
}

#[test]
fn a_prefix_selects_and_is_stripped_and_explicit_entries_win() {
    let w = World::new();
    w.vault.put("myapp-db-url", "postgres://db");
    w.vault.put("myapp-api-key", "from-import");
    w.vault.put("override", "from-flag");
    w.vault.put("other-app-key", "not-mine");
    w.kvinit()
        .args(["--all-secrets=myapp-", "--env", "API_KEY=override"])
        .args(["--", "sh", "-c", "echo $DB_URL $API_KEY ${OTHER_APP_KEY-unset}"])
        .run()
        .assert_success()
        .assert_stdout("postgres://db from-flag unset\n");
}

#[test]
fn invalid_and_colliding_names_are_reported_and_skipped() {
    let w = World::new();
    w.vault.put("1password", "a");
    w.vault.put("db-pass", "b");
    w.vault.put("DB-PASS", "c");
    w.vault.put("fine", "d");
    w.kvinit()
        .args(["--all-secrets", "--", "sh", "-c", "echo ${DB_PASS-unset} $FINE"])
        .run()
        .assert_success()
        .assert_stdout("unset d\n")
        .assert_stderr_contains("skipping 1password (\"1PASSWORD\" is not a valid variable name)")
        .assert_stderr_contains("skipping DB-PASS, db-pass: they all map to DB_PASS");
}

/// A `nextLink` to the same address on another port is another server: the
/// token must not go there, and kvinit must not even connect.
#[test]
fn a_next_link_to_another_port_is_refused() {
    let w = World::new();
    w.vault.put("a", "1");
    let elsewhere =
        support::Server::start(None, std::sync::Arc::new(|_: &support::Request| Reply::text(200, "{}")));
    w.vault.script.push(Reply::json(
        200,
        &format!(
            r#"{{"value":[{{"id":"https://127.0.0.1/secrets/a","attributes":{{"enabled":true}}}}],"nextLink":"https://127.0.0.1:{}/secrets?$skiptoken=1"}}"#,
            elsewhere.port()
        ),
    ));
    w.kvinit()
        .args(["--all-secrets", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("error: listing the secrets of vault")
        .assert_stderr_contains(&format!(
            "nextLink leads away from {}, to https://127.0.0.1:{}",
            w.vault.url(),
            elsewhere.port()
        ));
    assert_eq!(elsewhere.connections(), 0, "kvinit connected to where the nextLink led");
}

#[test]
fn listing_needs_a_vault_and_permission() {
    let w = World::new();
    support::Kvinit::new()
        .args(["--all-secrets", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("--all-secrets needs --vault");
    w.vault.script.push(Reply::json(
        403,
        r#"{"error":{"code":"Forbidden","message":"Caller is not authorized to perform action on resource.","innererror":{"code":"ForbiddenByRbac"}}}"#,
    ));
    w.kvinit()
        .args(["--all-secrets", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("Key Vault Secrets User");
}

/// Anyone who can write a secret in the vault must not be able to run code
/// in the app: imports never set variables that change how programs run,
/// nor replace one the environment already has; `--env` still can.
#[test]
fn imports_never_set_variables_that_change_how_programs_run() {
    let w = World::new();
    let hostile = [
        "path",
        "ld-preload",
        "bash-env",
        "home",
        "node-options",
        "pythonpath",
        "perl5opt",
        "java-tool-options",
        "dotnet-startup-hooks",
        "gconv-path",
        "malloc-check-",
        "kvinit-init",
        "azure-client-id",
        "identity-header",
        "https-proxy",
        "ifs",
        "env",
        "shell",
        "git-ssh-command",
        "requests-ca-bundle",
        "ps1",
        "lessopen",
        "node-tls-reject-unauthorized",
        "ftp-proxy",
    ];
    for name in hostile {
        w.vault.put(name, "/tmp/evil");
    }
    w.vault.put("greeting", "from-the-vault");
    w.vault.put("db-url", "postgres://db");
    let run = w
        .kvinit()
        .env("GREETING", "from-the-environment")
        .args(["--all-secrets", "--env", "SHELL=shell", "--", "/usr/bin/env"])
        .run();
    run.assert_success();
    let env: Vec<String> = run.stdout().lines().map(str::to_string).collect();
    assert!(env.contains(&"DB_URL=postgres://db".to_string()), "{env:?}");
    assert!(env.contains(&"GREETING=from-the-environment".to_string()), "{env:?}");
    assert!(env.contains(&"SHELL=/tmp/evil".to_string()), "named with --env, it is set: {env:?}");
    let leaked: Vec<_> =
        env.iter().filter(|l| l.ends_with("=/tmp/evil") && !l.starts_with("SHELL=")).collect();
    assert!(leaked.is_empty(), "an import set {leaked:?}");
    for name in hostile.iter().filter(|n| **n != "shell") {
        let var = name.to_ascii_uppercase().replace('-', "_");
        run.assert_stderr_contains(&format!(
            "--all-secrets: skipping {name}: {var} changes how programs run; to set it, name it: --env {var}={name}"
        ));
    }
    run.assert_stderr_contains("--all-secrets: skipping greeting: GREETING is already set");
}

/// A mistyped prefix must not start the app with none of its settings.
#[test]
fn a_prefix_that_matches_nothing_fails_unless_optional() {
    let w = World::new();
    for name in ["myapp-db-url", "myapp-api-key", "other"] {
        w.vault.put(name, "v");
    }
    let (command, ran) = support::tripwire(&w.dir);
    for args in [&["--all-secrets=myap-", "--"][..], &["--all-secrets=myap-", "--check"][..]] {
        w.kvinit()
            .args(args)
            .args(if args[1] == "--" { command.clone() } else { vec![] })
            .run()
            .assert_code(4)
            .assert_stderr_contains(&format!(
                "error: --all-secrets=myap- imported nothing from vault {}: no enabled secret whose name starts \
                 with \"myap-\" becomes a variable (the vault lists 3)",
                w.vault.url()
            ))
            .assert_stderr_contains("--all-secrets=myap-?optional");
    }
    assert!(!ran.exists(), "the command ran with nothing imported");
    w.kvinit().args(["--all-secrets=myap-?optional", "--", "true"]).run().assert_success();
    w.kvinit()
        .args(["--all-secrets=myapp-?required", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("the only option is ?optional");
}

/// Tags come with the listing, so filtering on them costs no request; every
/// tag given must match.
#[test]
fn tags_select_what_is_imported_at_no_extra_request() {
    let w = World::new();
    for (name, env, team) in [("db-url", "prod", "pay"), ("db-user", "prod", "ops"), ("cache", "dev", "pay")]
    {
        w.vault.put(name, &format!("{name}-value"));
        w.vault.tag(name, "env", env);
        w.vault.tag(name, "team", team);
    }
    w.vault.put("untagged", "u");
    let script = "echo \"${DB_URL-unset} ${DB_USER-unset} ${CACHE-unset} ${UNTAGGED-unset}\"";
    w.kvinit()
        .args(["--all-secrets", "--all-secrets-tag", "env=prod", "--all-secrets-tag", "team=pay"])
        .args(["--", "sh", "-c", script])
        .run()
        .assert_success()
        .assert_stdout("db-url-value unset unset unset\n");
    let gets = w.vault.secret_requests().len();
    assert_eq!(gets, 1, "one list, then one GET for the one match");
    w.kvinit()
        .args(["--all-secrets", "--all-secrets-tag", "env=qa", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("no enabled secret of it tagged env=qa becomes a variable")
        .assert_stderr_contains("hint: check the tags (--all-secrets-tag) and the prefix")
        .assert_stderr_contains("--query \"[?tags.env=='qa'].name\"");
    w.kvinit()
        .args(["--all-secrets-tag", "env=prod", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("--all-secrets-tag needs --all-secrets");
}

/// .NET reads `__` in a variable's name as its configuration section
/// separator: a secret named as Key Vault's configuration provider expects
/// (`--` between sections) arrives where .NET looks for it.
#[test]
fn dotnet_section_names_map_to_double_underscores() {
    let w = World::new();
    w.vault.put("Logging--LogLevel--Default", "Warning");
    w.kvinit()
        .args(["--all-secrets", "--", "sh", "-c", "echo \"$LOGGING__LOGLEVEL__DEFAULT\""])
        .run()
        .assert_success()
        .assert_stdout("Warning\n");
}
