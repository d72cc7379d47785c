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

/// Reads a file the test can expect to exist.
fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_template_file_renders_json_that_parses() {
    let w = world();
    let shm = support::Shm::new();
    let src = w.dir.path().join("appsettings.json.tmpl");
    std::fs::write(
        &src,
        "{\n  \"ConnectionStrings\": {\n    \"Db\": {{ db-password | json }}\n  },\n  \"User\": \"{{db-user}}\",\n  \"Literal\": \"{{ \"{{\" }}\"\n}\n",
    )
    .unwrap();
    let template = format!("{}=config/appsettings.json", src.display());
    w.kvinit()
        .args(["--dir", shm.0.to_str().unwrap(), "--template", &template, "--", "true"])
        .run()
        .assert_success();
    let text = read(&shm.0.join("config/appsettings.json"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json["ConnectionStrings"]["Db"], PASSWORD);
    assert_eq!((json["User"].as_str(), json["Literal"].as_str()), (Some("app"), Some("{{")));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(shm.0.join("config/appsettings.json")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o400, "a template's file follows --file-mode");
}

#[test]
fn template_file_errors_are_usage_errors_with_line_and_column() {
    let w = world();
    let shm = support::Shm::new();
    let dir = shm.0.to_str().unwrap();
    let bad = w.dir.path().join("bad.tmpl");
    std::fs::write(&bad, "ok: {{ db-user }}\nbad: {{ db-user | upper }}\n").unwrap();
    let unclosed = w.dir.path().join("unclosed.tmpl");
    std::fs::write(&unclosed, "line one\n  {{ db-user\n").unwrap();
    let binary = w.dir.path().join("binary.tmpl");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    for (template, extra, message) in [
        (format!("{}=out", bad.display()), vec![], "line 2, column 19: unknown filter \"upper\""),
        (format!("{}=out", unclosed.display()), vec![], "line 2, column 3: {{ is not closed by }}"),
        (format!("{}=out", binary.display()), vec![], "not UTF-8 text"),
        (format!("{}=out", w.dir.path().join("absent").display()), vec![], "No such file"),
        (format!("{}=../out", bad.display()), vec![], "../out"),
        (format!("{}=out", bad.display()), vec!["--file", "out=db-user"], "given twice"),
    ] {
        w.kvinit()
            .args(["--dir", dir, "--template", &template])
            .args(extra)
            .args(["--", "true"])
            .run()
            .assert_code(2)
            .assert_stderr_contains(message);
    }
    assert!(w.imds.server.requests().is_empty(), "every template error is found before any request");
    assert!(std::fs::read_dir(&shm.0).unwrap().next().is_none(), "nothing written");
}

#[test]
fn a_rotation_rewrites_only_the_templates_that_use_the_secret() {
    let w = world();
    let shm = support::Shm::new();
    let (a, b) = (w.dir.path().join("a.tmpl"), w.dir.path().join("b.tmpl"));
    std::fs::write(&a, "user={{ db-user }}\n").unwrap();
    std::fs::write(&b, "password={{ db-password | base64 }}\n").unwrap();
    let ready = w.dir.path().join("ready");
    let script = format!("trap : HUP; touch {}; while :; do sleep 0.05; done", ready.display());
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap()])
        .args([
            "--template",
            &format!("{}=a.conf", a.display()),
            "--template",
            &format!("{}=b.conf", b.display()),
        ])
        .args(["--", "sh", "-c", &script])
        .spawn();
    assert!(support::wait_for(std::time::Duration::from_secs(20), || ready.exists()));
    let inode =
        |name: &str| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(shm.0.join(name)).unwrap());
    let before = (inode("a.conf"), inode("b.conf"));
    w.vault.put("db-user", "admin");
    let rotated = support::wait_for(std::time::Duration::from_secs(15), || {
        read(&shm.0.join("a.conf")) == "user=admin\n"
    });
    // Another round, so that an unneeded rewrite of b.conf would have happened.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    support::signal(child.id(), 15);
    let (code, _, stderr) = support::finish(child, std::time::Duration::from_secs(20));
    assert!(rotated, "a.conf never changed:\n{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
    assert_ne!(inode("a.conf"), before.0, "a.conf was replaced");
    assert_eq!(inode("b.conf"), before.1, "b.conf uses no rotated secret and was left alone:\n{stderr}");
    assert!(stderr.contains("rewrote file:a.conf") && !stderr.contains("rewrote file:b.conf"), "{stderr}");
    assert!(!stderr.contains("admin"), "{stderr}");
}

/// Whether nobody but root can change `dir` or the way to it (a sticky
/// directory of root's, as /tmp is, lets nobody replace root's entries).
fn only_root_can_change(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let safe = |m: std::fs::Metadata| m.uid() == 0 && (m.mode() & 0o022 == 0 || m.mode() & 0o1000 != 0);
    dir.ancestors().all(|d| std::fs::metadata(d).is_ok_and(safe))
}

/// With `--user`, kvinit is root and the command is not: a template the
/// command's user could replace, or reach through a symlink of theirs, is
/// refused, since it would copy a file only root may read into a file they
/// own. Without `--user` there is no one to guard against.
#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to run kvinit with --user")]
fn with_user_a_template_is_read_only_where_only_root_can_change_it() {
    use std::os::unix::fs::{chown, lchown, symlink};
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = world();
    let shm = support::Shm::new();
    let planted = w.dir.path().join("planted");
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join("t.tpl"), "{{ db-user }}").unwrap();
    chown(&planted, Some(65534), Some(65534)).unwrap();
    let only_root = w.dir.path().join("root-only");
    std::fs::write(&only_root, "root's own text").unwrap();
    std::fs::set_permissions(&only_root, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let link = w.dir.path().join("link.tpl");
    symlink(&only_root, &link).unwrap();
    lchown(&link, Some(65534), Some(65534)).unwrap();
    let run = |src: &std::path::Path, user: bool| {
        let mut k = w.kvinit();
        k.args(["--dir", shm.0.to_str().unwrap(), "--template", &format!("{}=out", src.display())]);
        if user {
            k.args(["--user", "65534:65534"]);
        }
        k.args(["--", "true"]).run()
    };
    run(&planted.join("t.tpl"), true)
        .assert_code(2)
        .assert_stderr_contains(&format!("{} is writable by its owner, uid 65534", planted.display()));
    run(&link, true)
        .assert_code(2)
        .assert_stderr_contains(&format!("{} is a symlink made by uid 65534, not root", link.display()))
        .assert_output_lacks("root's own text");
    assert!(!shm.0.join("out").exists());
    // A symlink root made, in a directory the user owns: the user can swap
    // it between the check and the read, so the directory is refused.
    let made_by_root = planted.join("made-by-root.tpl");
    symlink(&only_root, &made_by_root).unwrap();
    run(&made_by_root, true)
        .assert_code(2)
        .assert_stderr_contains(&format!("{} is writable by its owner, uid 65534", planted.display()))
        .assert_output_lacks("root's own text");
    // A read-only mount excuses a directory of root's that is open to all
    // (a ConfigMap's), but not a file the user owns: they may write to it
    // through another view of the same files.
    let shared = w.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::write(shared.join("t.tpl"), "{{ db-user }}").unwrap();
    chown(shared.join("t.tpl"), Some(65534), Some(65534)).unwrap();
    let read_only = w.dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    let mounted = || {
        std::process::Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "mount --bind {p} {r} && mount -o remount,bind,ro {r} && exec \"$@\"",
                p = shared.display(),
                r = read_only.display()
            ))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_kvinit"))
            .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host(), "--user", "65534:65534"])
            .args([
                "--dir",
                shm.0.to_str().unwrap(),
                "--template",
                &format!("{}/t.tpl=out", read_only.display()),
            ])
            .args(["--", "true"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
            .env("SSL_CERT_FILE", &w.vault.ca_file)
            .output()
            .unwrap()
    };
    let refused = mounted();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    let file = read_only.join("t.tpl");
    assert!(stderr.contains(&format!("{} is writable by its owner, uid 65534", file.display())), "{stderr}");
    chown(shared.join("t.tpl"), Some(0), Some(0)).unwrap();
    let accepted = mounted();
    assert_eq!(accepted.status.code(), Some(0), "{}", String::from_utf8_lossy(&accepted.stderr));
    assert_eq!(read(&shm.0.join("out")), "app");
    run(&planted.join("t.tpl"), false).assert_success();
    assert_eq!(read(&shm.0.join("out")), "app");
    // In a directory anyone may add to (a sticky one, as /tmp), a file of
    // root's with a second name may be anyone's hard link to it.
    let sticky = w.dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    std::fs::write(sticky.join("one.tpl"), "sticky={{ db-user }}").unwrap();
    std::fs::hard_link(&only_root, sticky.join("linked.tpl")).unwrap();
    run(&sticky.join("linked.tpl"), true)
        .assert_code(2)
        .assert_stderr_contains("linked.tpl has other names (hard links) where anyone may add one")
        .assert_output_lacks("root's own text");
    if only_root_can_change(w.dir.path()) {
        run(&sticky.join("one.tpl"), true).assert_success();
        assert_eq!(read(&shm.0.join("out")), "sticky=app");
    }
    // A template where only root can write is read as before.
    let safe = w.dir.path().join("root-dir");
    std::fs::create_dir(&safe).unwrap();
    std::fs::write(safe.join("t.tpl"), "user={{ db-user }}").unwrap();
    if only_root_can_change(&safe) {
        run(&safe.join("t.tpl"), true).assert_success();
        assert_eq!(read(&shm.0.join("out")), "user=app");
    } else {
        eprintln!("skipped the accepted case: {} is writable by others than root", safe.display());
    }
}

/// A FIFO would block the start until someone writes to it: refused at
/// once, as a directory is, with `--user` or without.
#[test]
fn a_template_source_must_be_a_regular_file() {
    let w = world();
    let shm = support::Shm::new();
    let fifo = w.dir.path().join("fifo.tpl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for src in [fifo.as_path(), w.dir.path()] {
        let run = w
            .kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--template", &format!("{}=out", src.display())])
            .args(["--timeout", "5s", "--", "true"])
            .run_for(std::time::Duration::from_secs(10));
        run.assert_code(2);
        assert!(
            run.stderr().contains("not a regular file") || run.stderr().contains("Is a directory"),
            "{}",
            run.stderr()
        );
    }
}
