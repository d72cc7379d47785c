//! --init: tini's contract. Signals forwarded, zombies reaped, the child's
//! code (or 128+N) returned; and signals handled while secrets are read.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{finish, signal, wait_for, Reply, World};

const TERM: i32 = 15;
const KILL: i32 = 9;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default().trim().to_string()
}

/// A child that writes `ready` once its trap is set.
fn world_and_dir() -> (World, std::path::PathBuf) {
    let w = World::new();
    w.vault.put("s", "v");
    let dir = w.dir.path().to_path_buf();
    (w, dir)
}

#[test]
fn sigterm_is_forwarded_and_the_childs_code_returned() {
    let (w, dir) = world_and_dir();
    let script = format!(
        "trap 'echo got-term > {d}/term; exit 42' TERM; echo $$ > {d}/ready; while :; do sleep 0.05; done",
        d = dir.display()
    );
    let child = w.kvinit().args(["--init", "--env", "S=s", "--", "sh", "-c", &script]).spawn();
    let kvinit = child.id();
    assert!(wait_for(Duration::from_secs(20), || dir.join("ready").exists()), "the command never started");
    assert_ne!(
        read(&dir.join("ready")),
        kvinit.to_string(),
        "with --init the command is a child, not kvinit itself"
    );
    signal(kvinit, TERM);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(42), "{stderr}");
    assert_eq!(read(&dir.join("term")), "got-term");
}

#[test]
fn a_child_killed_by_a_signal_gives_128_plus_n() {
    let (w, dir) = world_and_dir();
    let script = format!("echo $$ > {}/ready; while :; do sleep 0.05; done", dir.display());
    let child = w.kvinit().args(["--init", "--env", "S=s", "--", "sh", "-c", &script]).spawn();
    assert!(wait_for(Duration::from_secs(20), || !read(&dir.join("ready")).is_empty()));
    let pid: u32 = read(&dir.join("ready")).parse().unwrap();
    signal(pid, KILL);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(137), "{stderr}");
}

#[test]
fn remap_exit_turns_a_code_into_success() {
    let (w, _dir) = world_and_dir();
    let run = w
        .kvinit()
        .args(["--init", "--remap-exit", "143", "--env", "S=s", "--", "sh", "-c", "exit 143"])
        .run();
    run.assert_success();
    w.kvinit()
        .args(["--init", "--remap-exit", "143", "--env", "S=s", "--", "sh", "-c", "exit 3"])
        .run()
        .assert_code(3);
    w.kvinit()
        .args(["--init", "--env", "S=s", "--", "sh", "-c", "echo $S; exit 7"])
        .run()
        .assert_code(7)
        .assert_stdout("v\n");
}

#[test]
fn orphans_are_adopted_and_reaped() {
    let (w, dir) = world_and_dir();
    // The middle shell exits at once; its background child is orphaned,
    // records who adopted it, then exits and must not stay a zombie.
    let orphan = format!(
        "sleep 0.3; grep PPid /proc/$$/status | tr -dc 0-9 > {d}/ppid; echo $$ > {d}/orphan\n",
        d = dir.display()
    );
    std::fs::write(dir.join("orphan.sh"), orphan).unwrap();
    let script = format!("sh -c 'sh {}/orphan.sh &'; sleep 1.5; exit 5", dir.display());
    let child = w.kvinit().args(["--init", "--env", "S=s", "--", "sh", "-c", &script]).spawn();
    let kvinit = child.id();
    assert!(
        wait_for(Duration::from_secs(20), || !read(&dir.join("orphan")).is_empty()),
        "the orphan never ran"
    );
    assert_eq!(read(&dir.join("ppid")), kvinit.to_string(), "kvinit, a subreaper, adopts orphans");
    let orphan_pid = read(&dir.join("orphan"));
    let reaped = wait_for(Duration::from_secs(5), || !Path::new(&format!("/proc/{orphan_pid}")).exists());
    assert!(
        reaped,
        "orphan {orphan_pid} is still a zombie: {}",
        read(Path::new(&format!("/proc/{orphan_pid}/status")))
    );
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(5), "{stderr}");
}

#[test]
fn group_sends_signals_to_the_whole_process_group() {
    let (w, dir) = world_and_dir();
    // Each says it is ready only once its trap is set.
    let worker = format!(
        "trap 'echo worker > {d}/worker; exit 0' TERM; echo up > {d}/worker-ready; while :; do sleep 0.05; done",
        d = dir.display()
    );
    let script = format!(
        "sh -c \"{worker}\" & trap 'wait; exit 0' TERM; echo up > {d}/ready; while :; do sleep 0.05; done",
        d = dir.display()
    );
    let child =
        w.kvinit().args(["--init", "--signal-group", "--env", "S=s", "--", "sh", "-c", &script]).spawn();
    assert!(
        wait_for(Duration::from_secs(20), || dir.join("ready").exists() && dir.join("worker-ready").exists())
    );
    signal(child.id(), TERM);
    let (code, _, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(read(&dir.join("worker")), "worker", "the background worker got the signal too");
}

#[test]
fn exec_failures_keep_126_and_127() {
    let (w, _dir) = world_and_dir();
    let mut k = w.kvinit();
    // A PATH that any user can search (see exit_codes.rs).
    k.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    k.args(["--init", "--env", "S=s", "--", "no-such-command-kvinit"]).run().assert_code(127);
    w.kvinit().args(["--init", "--env", "S=s", "--", "/"]).run().assert_code(126);
}

#[test]
fn sigterm_while_reading_secrets_stops_kvinit() {
    for init in [true, false] {
        let (w, dir) = world_and_dir();
        for _ in 0..5 {
            w.imds.script.push(Reply::Hang);
        }
        let marker = dir.join("ran");
        let mut k = w.kvinit();
        if init {
            k.arg("--init");
        }
        let child = k.args(["--env", "S=s", "--", "touch"]).arg(&marker).spawn();
        assert!(wait_for(Duration::from_secs(20), || !w.imds.server.requests().is_empty()));
        signal(child.id(), TERM);
        let started = std::time::Instant::now();
        let (code, _, stderr) = finish(child, Duration::from_secs(30));
        assert_eq!(code, Some(143), "init={init}: {stderr}");
        assert!(stderr.contains("received SIGTERM while reading secrets; stopping"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "not prompt: {:?}", started.elapsed());
        assert!(!marker.exists());
    }
}

#[test]
fn the_command_gets_an_unblocked_signal_mask() {
    let (w, _dir) = world_and_dir();
    for extra in [&[][..], &["--init"][..]] {
        w.kvinit()
            .args(extra)
            .args(["--env", "S=s", "--", "sh", "-c", "grep SigBlk /proc/self/status"])
            .run()
            .assert_success()
            .assert_stdout("SigBlk:\t0000000000000000\n");
    }
}

/// kvinit forks the command with no other thread alive (preconnect threads
/// included), so nothing between fork and exec can meet a lock another
/// thread held. The command counts its parent's threads, 20 times.
#[test]
fn no_thread_but_kvinits_own_is_alive_at_fork() {
    let w = World::new();
    for i in 0..5 {
        w.vault.put(&format!("s{i}"), "v");
    }
    for _ in 0..20 {
        // The connections opened ahead of the reads (one a secret, opened
        // while the token is fetched) are slow to answer; the reads then
        // open their own, and are done long before those are.
        w.vault.server.control().slow_connections(5, Duration::from_secs(1));
        let run = w
            .kvinit()
            .args([
                "--init", "--env", "A=s0", "--env", "B=s1", "--env", "C=s2", "--env", "D=s3", "--env", "E=s4",
            ])
            .args(["--", "sh", "-c", "ls /proc/$PPID/task | wc -l"])
            .run();
        run.assert_success().assert_stdout("1\n");
    }
}
