//! Secrets reach the command's environment, and the command replaces kvinit.

mod support;

use support::{Identities, World};

#[test]
fn a_secret_reaches_the_command() {
    let w = World::new();
    w.vault.put("db-password", "correct horse battery staple");
    w.kvinit()
        .args(["--env", "DB_PASSWORD=db-password", "--", "sh", "-c", "printf '%s' \"$DB_PASSWORD\""])
        .run()
        .assert_success()
        .assert_stdout("correct horse battery staple")
        .assert_stderr_contains("kvinit: 1 secret from 1 vault in ");
}

#[test]
fn the_command_takes_over_kvinits_process() {
    let w = World::new();
    w.vault.put("s", "v");
    let run = w.kvinit().args(["--env", "S=s", "sh", "-c", "echo $$"]).run();
    run.assert_success().assert_stdout(&format!("{}\n", run.pid));
}

#[test]
fn the_command_gets_its_arguments_and_exit_code() {
    let w = World::new();
    w.vault.put("s", "v");
    w.kvinit()
        .args(["--env", "S=s", "--", "sh", "-c", "echo \"$1 $2\"; exit 7", "sh", "--port", "-v"])
        .run()
        .assert_code(7)
        .assert_stdout("--port -v\n");
}

#[test]
fn values_are_passed_byte_for_byte() {
    let w = World::new();
    let tricky = "line one\nline \"two\" $HOME `x` \\ é ✓ \t end ";
    w.vault.put("tricky", tricky);
    w.kvinit()
        .args(["--env", "T=tricky", "--", "sh", "-c", "printf '%s' \"$T\""])
        .run()
        .assert_success()
        .assert_stdout(tricky);
}

#[test]
fn a_pinned_version_is_read_not_the_latest() {
    let w = World::new();
    let old = w.vault.put("api-key", "old-value");
    w.vault.put("api-key", "new-value");
    w.kvinit()
        .args(["--env", &format!("OLD=api-key/{old}"), "--env", "NEW=api-key"])
        .args(["--", "sh", "-c", "echo $OLD $NEW"])
        .run()
        .assert_success()
        .assert_stdout("old-value new-value\n");
    let paths: Vec<_> = w.vault.secret_requests().into_iter().map(|r| r.path).collect();
    assert!(paths.contains(&format!("/secrets/api-key/{old}")), "{paths:?}");
}

#[test]
fn many_secrets_one_token_and_requests_in_parallel() {
    let w = World::new();
    let mut args = Vec::new();
    for i in 0..20 {
        w.vault.put(&format!("secret-{i}"), &format!("value-{i}"));
        args.push("--env".to_string());
        args.push(format!("S{i}=secret-{i}"));
    }
    w.vault.server.set_latency(std::time::Duration::from_millis(300));
    w.kvinit()
        .args(&args)
        .args(["--", "sh", "-c", "echo $S0 $S7 $S19"])
        .run()
        .assert_success()
        .assert_stdout("value-0 value-7 value-19\n");
    assert_eq!(w.imds.server.requests().len(), 1, "one token for twenty secrets");
    assert_eq!(w.vault.secret_requests().len(), 20);
    // With 300 ms per request, only concurrency puts many in flight together.
    assert!(w.vault.server.max_in_flight() >= 10, "max in flight: {}", w.vault.server.max_in_flight());
}

#[test]
fn the_same_secret_twice_is_read_once() {
    let w = World::new();
    w.vault.put("shared", "v");
    w.kvinit()
        .args(["--env", "A=shared", "--env", "B=shared", "--", "sh", "-c", "echo $A$B"])
        .run()
        .assert_success()
        .assert_stdout("vv\n");
    assert_eq!(w.vault.secret_requests().len(), 1);
}

#[test]
fn app_service_references_in_the_environment_are_replaced() {
    let w = World::new();
    w.vault.put("conn", "Server=db;Password=pw");
    let reference = format!("@Microsoft.KeyVault(SecretUri={}/secrets/conn/)", w.vault.url());
    w.kvinit()
        .env("CONNECTION_STRING", &reference)
        .env("PLAIN", "@not a reference")
        .args(["--", "sh", "-c", "echo \"$CONNECTION_STRING|$PLAIN\""])
        .run()
        .assert_success()
        .assert_stdout("Server=db;Password=pw|@not a reference\n");
}

#[test]
fn kvinit_env_lists_secrets_too() {
    let w = World::new();
    w.vault.put("a", "1");
    w.vault.put("b", "2");
    w.vault.put("c", "3");
    w.kvinit()
        .env("KVINIT_ENV", "A=a,B=b\nC=c")
        .args(["--", "sh", "-c", "echo $A$B$C"])
        .run()
        .assert_success()
        .assert_stdout("123\n");
}

#[test]
fn secrets_from_two_vaults() {
    let w = World::new();
    let second = World::another_vault(&w.dir, &w.tokens);
    w.vault.put("a", "from-first");
    second.put("b", "from-second");
    let bundle = w.dir.path().join("both.pem");
    let pem = std::fs::read_to_string(&w.vault.ca_file).unwrap()
        + &std::fs::read_to_string(&second.ca_file).unwrap();
    std::fs::write(&bundle, pem).unwrap();
    w.kvinit()
        .env("SSL_CERT_FILE", &bundle)
        .args(["--allow-vault-host", &second.host()])
        .args(["--env", "A=a", "--env", &format!("B={}/secrets/b", second.url())])
        .args(["--", "sh", "-c", "echo $A $B"])
        .run()
        .assert_success()
        .assert_stdout("from-first from-second\n")
        .assert_stderr_contains("2 secrets from 2 vaults");
    assert_eq!(w.imds.server.requests().len(), 1, "both vaults share one resource, so one token");
}

#[test]
fn identity_variables_do_not_reach_the_command() {
    let w = World::new();
    w.vault.put("s", "v");
    w.kvinit()
        .env("IDENTITY_HEADER", "hdr")
        .env("MSI_SECRET", "msi")
        .env("KEEP_ME", "yes")
        .args([
            "--env",
            "S=s",
            "--",
            "sh",
            "-c",
            "echo \"${IDENTITY_HEADER:-none} ${MSI_SECRET:-none} $KEEP_ME\"",
        ])
        .run()
        .assert_success()
        .assert_stdout("none none yes\n");
}

#[test]
fn a_user_assigned_identity_is_chosen_by_id() {
    let ids = Identities {
        system_assigned: false,
        user_assigned: vec![(
            "11111111-2222-3333-4444-555555555555".into(),
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app".into(),
        )],
    };
    let w = World::with_identities(ids.clone());
    w.vault.put("s", "ok");
    let (client, object, resource) = ids.user_assigned[0].clone();
    let cases = [
        (vec!["--client-id", client.as_str()], vec![], "client_id", client.as_str()),
        (vec!["--object-id", object.as_str()], vec![], "object_id", object.as_str()),
        (vec!["--resource-id", resource.as_str()], vec![], "msi_res_id", resource.as_str()),
        (vec![], vec![("AZURE_CLIENT_ID", client.as_str())], "client_id", client.as_str()),
    ];
    for (flags, env, param, value) in cases {
        let mut k = w.kvinit();
        for (name, v) in &env {
            k.env(name, v);
        }
        k.args(&flags)
            .args(["--env", "S=s", "--", "sh", "-c", "echo $S"])
            .run()
            .assert_success()
            .assert_stdout("ok\n");
        let last = w.imds.server.requests().pop().unwrap();
        assert_eq!(last.param(param), Some(value), "{flags:?} {env:?}: {:?}", last.query);
    }
}

#[test]
fn nothing_requested_still_runs_the_command() {
    let w = World::new();
    w.kvinit()
        .args(["--", "sh", "-c", "echo ran"])
        .run()
        .assert_success()
        .assert_stdout("ran\n")
        .assert_stderr_contains("no secrets requested");
    assert!(w.imds.server.requests().is_empty());
}
