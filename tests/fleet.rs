//! A fleet starting at once against a throttling vault: everyone gets their
//! secrets, and backoff keeps the retries few (no spinning). How long the
//! fleet takes is measured by the benchmark, not asserted here.

mod support;

use std::time::Duration;

use support::{azure::Throttle, finish, World};

#[test]
fn a_fleet_against_a_throttled_vault_all_succeeds_without_spinning() {
    const PROCESSES: usize = 24;
    const SECRETS: usize = 5;
    let w = World::new();
    let mut args = Vec::new();
    for i in 0..SECRETS {
        w.vault.put(&format!("s{i}"), &format!("v{i}"));
        args.push("--env".to_string());
        args.push(format!("S{i}=s{i}"));
    }
    // 120 GETs wanted, 40 admitted per second: about three seconds' worth.
    *w.vault.throttle.lock().unwrap() = Some(Throttle::new(40, Duration::from_secs(1)));
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| w.kvinit().args(&args).args(["--timeout", "60s", "--", "sh", "-c", "echo $S0$S4"]).spawn())
        .collect();
    for child in children {
        let (code, stdout, stderr) = finish(child, Duration::from_secs(90));
        assert_eq!((code, stdout.as_str()), (Some(0), "v0v4\n"), "{stderr}");
    }
    let wanted = PROCESSES * SECRETS;
    let made = w.vault.secret_requests().len();
    let throttled = w.vault.throttle.lock().unwrap().as_ref().unwrap().throttled;
    assert!(throttled > 0, "the test must actually throttle");
    // With backoff (1, 2, 4, 8 s and jitter), retries stay a small multiple of
    // the work; a client retrying without waiting would make thousands.
    assert!(made <= wanted * 4, "{made} requests for {wanted} secrets ({throttled} throttled)");
    eprintln!("fleet: {PROCESSES} processes, {wanted} secrets, {made} requests, {throttled} answered 429");
}
