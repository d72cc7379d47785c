//! What an app in `--init` mode can learn from kvinit, its parent, which
//! stays alive holding what refresh needs: not its environment, not its
//! memory, and in that memory no more copies of a credential or a value
//! than refresh needs. Needs root (to run kvinit as another user, and to
//! read kvinit's memory as a debugger would); ignored otherwise.

mod support;

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use support::{finish, signal, wait_for, FakeTokenEndpoint, Identities, Kvinit, Style, TempDir, World};

const HEADER: &str = "identity-header-d41d8cd98f00b204e980";
const VALUE: &str = "secret-value-9e107d9d372bb6826bd81d3542a419d6";

/// kvinit under App Service's identity (so an `IDENTITY_HEADER` is in its
/// environment), reading one secret, `--init`, the command being `script`.
fn kvinit(w: &World, endpoint: &FakeTokenEndpoint, extra: &[&str], script: &str) -> Kvinit {
    let mut k = w.kvinit();
    k.env("IDENTITY_ENDPOINT", endpoint.url("http", "/msi/token"))
        .env("IDENTITY_HEADER", HEADER)
        .args(["--init", "--env", "S=s"])
        .args(extra)
        .args(["--", "sh", "-c", script]);
    k
}

fn app_service(w: &World) -> FakeTokenEndpoint {
    let ids = Identities { system_assigned: true, user_assigned: vec![] };
    FakeTokenEndpoint::start(Style::AppService { header: HEADER.into() }, w.tokens.clone(), ids, None)
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to run kvinit and the app as one other user")]
fn the_app_cannot_read_kvinits_environment_or_memory() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", VALUE);
    let endpoint = app_service(&w);
    let out = TempDir::new();
    std::fs::set_permissions(out.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let o = out.path().display();
    // kvinit and the app run as the same user, as in a container without --user.
    let script = format!(
        "for f in environ maps mem; do cat /proc/$PPID/$f > {o}/$f 2> {o}/$f.err; done; touch {o}/done; exec sleep 30"
    );
    let mut k = kvinit(&w, &endpoint, &[], &script);
    k.cmd.uid(65534).gid(65534);
    let child = k.spawn();
    let done = wait_for(Duration::from_secs(20), || out.path().join("done").exists());
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(done, "the app never ran:\n{stderr}");
    for f in ["environ", "maps", "mem"] {
        let read = std::fs::read(out.path().join(f)).unwrap();
        let why = std::fs::read_to_string(out.path().join(format!("{f}.err"))).unwrap();
        assert!(
            read.is_empty() && why.contains("Permission denied"),
            "the app read /proc/<kvinit>/{f}: {why}"
        );
    }
}

/// Occurrences of each needle in the readable memory of `pid`.
fn copies_in_memory(pid: u32, needles: &[&str]) -> Vec<usize> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut counts = vec![0; needles.len()];
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
        if !perms.starts_with('r') || line.ends_with("[vvar]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (u64::from_str_radix(start, 16).unwrap(), u64::from_str_radix(end, 16).unwrap());
        let mut region = vec![0; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue;
        }
        for (count, needle) in counts.iter_mut().zip(needles) {
            *count += region.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count();
        }
    }
    counts
}

/// With `--refresh`, one copy each of the header (to renew the token), the
/// token and the value (to render from and compare with the next round),
/// whatever a change does (a hook, a restart); without it, none.
#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to read kvinit's memory")]
fn kvinit_keeps_only_the_copies_refresh_needs() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let hook = ["--refresh", "1h", "--on-change-run", "true"];
    let restart = ["--refresh", "1h", "--on-change", "restart"];
    let cases = [
        (&[][..], [0, 0, 0]),
        (&["--refresh", "1h"][..], [1, 1, 1]),
        (&hook[..], [1, 1, 1]),
        (&restart[..], [1, 1, 1]),
    ];
    for (extra, expected) in cases {
        let w = World::new();
        w.vault.put("s", VALUE);
        let endpoint = app_service(&w);
        let dir = TempDir::new();
        let ready = dir.path().join("ready");
        let child =
            kvinit(&w, &endpoint, extra, &format!("touch {}; exec sleep 30", ready.display())).spawn();
        let started = wait_for(Duration::from_secs(20), || ready.exists());
        std::thread::sleep(Duration::from_millis(200));
        let token = w.tokens.all().pop().unwrap_or_default();
        let counts = copies_in_memory(child.id(), &[HEADER, &token, VALUE]);
        signal(child.id(), 15);
        let (_, _, stderr) = finish(child, Duration::from_secs(20));
        assert!(started && !token.is_empty(), "kvinit never started the app:\n{stderr}");
        assert_eq!(counts, expected, "copies of [header, token, value] with {extra:?}");
    }
}
