//! A vault (or whatever answers in its place) that attacks kvinit's output
//! and memory: its text is printed defused and bounded, its listing is
//! bounded and its names checked, and the command is never started.

mod support;

use support::{Reply, World};

#[test]
fn a_hostile_error_message_is_defused_and_bounded() {
    let w = World::new();
    let message = format!(
        "\u{1b}[2J\u{1b}[31mdenied\r\nkvinit: error: forged line\u{202e}desrever\u{2028}{}",
        "A".repeat(900_000)
    );
    let body = serde_json::json!({
        "error": {"code": "Forbidden\r\nkvinit: forged", "message": message, "innererror": {"code": "Odd\u{1b}[0m"}}
    });
    w.vault.script.push(Reply::json(403, &body.to_string()));
    let run = w.kvinit().args(["--env", "S=s", "--", "true"]).run();
    run.assert_code(4).assert_stderr_contains("more characters)");
    let stderr = run.stderr();
    assert!(stderr.len() < 8_000, "{} bytes of stderr", stderr.len());
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r') && !stderr.contains('\u{202e}'), "{stderr}");
    let starts: Vec<&str> = stderr.lines().filter(|l| l.starts_with("kvinit:")).collect();
    assert_eq!(starts.len(), 2, "only kvinit's own lines start with kvinit:\n{stderr}");
}

#[test]
fn listed_names_that_key_vault_could_not_have_fail_the_listing() {
    for name in ["a=b", "with space", "new%0Aline", "x".repeat(128).as_str()] {
        let w = World::new();
        let id = format!("https://127.0.0.1/secrets/{name}");
        let page = serde_json::json!({ "value": [{ "id": id }], "nextLink": null });
        w.vault.script.push(Reply::json(200, &page.to_string()));
        w.kvinit()
            .args(["--all-secrets", "--", "true"])
            .run()
            .assert_code(4)
            .assert_stderr_contains("the list names a secret Key Vault could not have");
    }
}

/// 2000 pages of one secret each: kvinit stops at its bound, says so, and
/// does not start the command.
#[test]
fn an_endless_listing_is_bounded() {
    let w = World::new();
    let url = w.vault.url();
    for i in 0..2000 {
        let page = serde_json::json!({
            "value": [{ "id": format!("https://127.0.0.1/secrets/s{i}") }],
            "nextLink": format!("{url}/secrets?api-version=7.4&$skiptoken={i}"),
        });
        w.vault.script.push(Reply::json(200, &page.to_string()));
    }
    w.kvinit()
        .args(["--all-secrets", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("the listing goes on past 1000 pages; kvinit stops there");
    assert_eq!(w.vault.list_requests().len(), 1000);

    let w = World::new();
    let items: Vec<_> =
        (0..26).map(|i| serde_json::json!({ "id": format!("https://h/secrets/s{i}") })).collect();
    w.vault.script.push(Reply::json(200, &serde_json::json!({ "value": items }).to_string()));
    w.kvinit()
        .args(["--all-secrets", "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("a page lists 26 secrets; Key Vault sends at most 25");
}

/// Connection buffers are 8 KiB, and so is the largest response head read:
/// a head several times Azure's (the recordings' largest is under 1 KiB)
/// is read, a larger one fails the read instead of growing a buffer.
#[test]
fn a_response_head_is_read_up_to_its_bound_and_refused_past_it() {
    let body = |w: &World| format!(r#"{{"value":"v","id":"{}/secrets/s/0123456789abcdef"}}"#, w.vault.url());
    let w = World::new();
    let mut large = Reply::json(200, &body(&w));
    for i in 0..6 {
        large = large.with_header(&format!("x-ms-filler-{i}"), &"f".repeat(700));
    }
    w.vault.script.push(large);
    let run = w.kvinit().args(["--env", "S=s", "--", "sh", "-c", "echo [$S]"]).run();
    run.assert_success();
    assert_eq!(run.stdout().trim(), "[v]");

    let w = World::new();
    let huge = Reply::json(200, &body(&w)).with_header("x-ms-filler", &"f".repeat(20_000));
    for _ in 0..8 {
        w.vault.script.push(huge.clone());
    }
    let run = w.kvinit().args(["--timeout", "5s", "--env", "S=s", "--", "sh", "-c", "echo [$S]"]).run();
    run.assert_code(4).assert_output_lacks("[v]");
}
