//! The exit-code contract, as documented in the README.

mod support;

use support::{Kvinit, World};

#[test]
fn a_missing_command_is_127() {
    let w = World::new();
    w.vault.put("s", "v");
    // A PATH that any user can search: a directory it cannot enter would
    // make the miss EACCES (126), as execvp says.
    w.kvinit()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["--env", "S=s", "--", "no-such-command-kvinit-test"])
        .run()
        .assert_code(127)
        .assert_stderr_contains("cannot execute \"no-such-command-kvinit-test\"")
        .assert_stderr_contains("No such file or directory");
    assert!(w.imds.server.requests().is_empty(), "the command is looked for before any token is asked for");
}

/// `--all-secrets myapp-` (a space for the `=`): the prefix is not run as
/// the command after a fetch; it is a usage error with the fix.
#[test]
fn a_prefix_taken_for_the_command_is_a_usage_error_before_any_fetch() {
    let w = World::new();
    w.vault.put("myapp-db", "v");
    w.kvinit()
        // The test's own PATH may hold directories this user cannot search
        // (root's, under sudo), which makes exec's answer 126, not 127.
        .env("PATH", "/usr/bin:/bin")
        .args(["--all-secrets", "myapp-"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("did you mean --all-secrets=myapp- -- COMMAND?");
    assert!(w.imds.server.requests().is_empty());
}

/// A command this user may not run is 126, also found before any fetch.
#[test]
fn a_command_found_but_not_executable_is_126_before_any_fetch() {
    let w = World::new();
    let bin = w.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
    w.kvinit()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["--env", "S=s", "--", "tool"])
        .run()
        .assert_code(126)
        .assert_stderr_contains("Permission denied");
    assert!(w.imds.server.requests().is_empty());
}

#[test]
fn a_command_that_is_not_executable_is_126() {
    let w = World::new();
    w.vault.put("s", "v");
    let script = w.dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    w.kvinit()
        .args(["--env", "S=s", "--"])
        .arg(&script)
        .run()
        .assert_code(126)
        .assert_stderr_contains("Permission denied");
    w.kvinit().args(["--env", "S=s", "--"]).arg(w.dir.path()).run().assert_code(126);
}

#[test]
fn the_path_of_the_new_environment_finds_the_command() {
    let w = World::new();
    w.vault.put("s", "v");
    let bin = w.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("my-app");
    std::fs::write(&tool, "#!/bin/sh\necho my-app sees $S\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    w.kvinit()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["--env", "S=s", "--", "my-app"])
        .run()
        .assert_success()
        .assert_stdout("my-app sees v\n");
}

#[test]
fn usage_errors_are_2_and_touch_nothing() {
    let w = World::new();
    let cases: &[&[&str]] = &[
        &["--env", "A=s"],
        &["--env", "NOEQUALS", "--", "true"],
        &["--env", "A=bad_name!", "--", "true"],
        &["--timeout", "forever", "--", "true"],
        &["--client-id", "a", "--object-id", "b", "--", "true"],
        &["--no-such-flag", "--", "true"],
        &["--vault", "no"],
    ];
    for args in cases {
        let run = w.kvinit().args(*args).run();
        run.assert_code(2);
        assert!(run.stderr().contains("error"), "{args:?}: {}", run.stderr());
    }
    assert!(w.imds.server.requests().is_empty());
    assert!(w.vault.server.requests().is_empty());
}

#[test]
fn help_and_version_are_0() {
    Kvinit::new().arg("--help").run().assert_success();
    let run = Kvinit::new().arg("--version").run();
    run.assert_success().assert_stdout(&format!("kvinit {}\n", env!("CARGO_PKG_VERSION")));
    let help = Kvinit::new().arg("--help").run().stdout();
    for flag in [
        "--vault",
        "--env",
        "--client-id",
        "--object-id",
        "--resource-id",
        "--allow-vault-host",
        "--timeout",
        "--check",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    // Every REF option, and an example that writes a key file as a server loads one.
    for option in ["json=/POINTER", "base64", "optional", "part=PART"] {
        assert!(help.contains(option), "--help lacks the option {option}");
    }
    assert!(help.contains("tls.key=tls-cert?part=key") && !help.contains("?base64 --user"), "{help}");
}

#[test]
fn the_commands_own_code_comes_back() {
    let w = World::new();
    w.vault.put("s", "v");
    for code in [0, 1, 3, 4, 42, 255] {
        w.kvinit().args(["--env", "S=s", "--", "sh", "-c", &format!("exit {code}")]).run().assert_code(code);
    }
}

/// A signal that is not a stop signal, arriving while secrets are read,
/// must not kill the app the moment it starts (before it can install a
/// handler): kvinit drops it before exec, saying so.
#[test]
fn a_signal_during_the_reads_is_dropped_before_exec() {
    let w = World::new();
    w.vault.put("s", "v");
    w.vault.server.set_latency(std::time::Duration::from_millis(1500));
    let child = w.kvinit().args(["--env", "S=s", "--", "sh", "-c", "echo ran"]).spawn();
    let reading =
        support::wait_for(std::time::Duration::from_secs(20), || !w.vault.secret_requests().is_empty());
    support::signal(child.id(), 10); // SIGUSR1
    let (code, stdout, stderr) = support::finish(child, std::time::Duration::from_secs(30));
    assert!(reading, "kvinit never reached the vault:\n{stderr}");
    assert_eq!((code, stdout.as_str()), (Some(0), "ran\n"), "{stderr}");
    assert!(stderr.contains("dropping SIGUSR1, which arrived while secrets were read"), "{stderr}");
}

/// Typos get a "did you mean", and usage errors read like every other error.
#[test]
fn usage_errors_suggest_and_share_the_error_shape() {
    for (typo, meant) in [("--evn", "--env"), ("--vualt", "--vault"), ("--all-secret", "--all-secrets")] {
        let run = Kvinit::new().args([typo, "x", "--", "true"]).run();
        run.assert_code(2)
            .assert_stderr_contains(&format!("a similar argument exists: '{meant}'"))
            .assert_output_lacks("as a value, use");
        assert!(
            run.stderr().starts_with(&format!("kvinit: error: unexpected argument '{typo}' found")),
            "{}",
            run.stderr()
        );
    }
    let run = Kvinit::new().args(["--vault"]).run();
    run.assert_code(2);
    assert!(run.stderr().starts_with("kvinit: error: a value is required for '--vault"), "{}", run.stderr());
}

/// `--help` and `--version` go to stdout and exit 0; the help is grouped and
/// ends with examples and these very exit codes.
#[test]
fn help_and_version_exit_0() {
    let help = Kvinit::new().arg("--help").run();
    help.assert_success();
    for heading in ["Secrets:", "Files:", "Identity:", "Process:", "Network:", "Diagnostics:", "Examples:"] {
        help.assert_stdout_contains(&format!("\n{heading}\n"));
    }
    help.assert_stdout_contains("Exit codes:\n  2    usage");
    assert_eq!(Kvinit::new().arg("-h").run().stdout(), help.stdout());
    Kvinit::new().arg("--version").run().assert_success().assert_stdout_contains("kvinit ");
}
