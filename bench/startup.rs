//! kvinit against the Azure SDK for Python and the physical floor, on the
//! test fakes with added latency. Run by `bench/run.sh`; writes BENCHMARKS.md.
//! This measures and reports; it asserts nothing about time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::World;

const RUNS: usize = 15;
const SDK_RUNS: usize = 5;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Wall time in ms and peak RSS in KiB of one run of `cmd` under /usr/bin/time.
fn measure(cmd: &mut Command) -> (f64, u64) {
    let started = Instant::now();
    let out = cmd.output().expect("run");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (ms, rss)
}

fn timed(program: &Path) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "maxrss=%M"]).arg(program).env_clear().env("PATH", "/usr/bin:/bin");
    c
}

/// One row: medians in ms, peak RSS in KiB.
struct Row {
    secrets: usize,
    latency: u64,
    floor_ms: f64,
    kvinit_ms: f64,
    kvinit_rss: u64,
    sdk_ms: f64,
    sdk_rss: u64,
}

/// Many kvinit processes at once against a vault that admits `LIMIT` GETs
/// per second and answers 429 (with `Retry-After` only every other time).
fn fleet(kvinit: &Path) -> String {
    const PROCESSES: usize = 48;
    const SECRETS: usize = 5;
    const LIMIT: usize = 40;
    let w = World::new();
    let mut args = Vec::new();
    for i in 0..SECRETS {
        w.vault.put(&format!("s{i}"), "v");
        args.push("--env".to_string());
        args.push(format!("S{i}=s{i}"));
    }
    *w.vault.throttle.lock().unwrap() = Some(support::azure::Throttle::new(LIMIT, Duration::from_secs(1)));
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(kvinit)
                .env_clear()
                .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
                .env("SSL_CERT_FILE", &w.vault.ca_file)
                .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host(), "-q"])
                .args(&args)
                .args(["--", "/bin/true"])
                .spawn()
                .expect("spawn")
        })
        .collect();
    let ok = children.into_iter().filter_map(|mut c| c.wait().ok()).filter(|s| s.success()).count();
    let took = started.elapsed().as_secs_f64();
    let wanted = PROCESSES * SECRETS;
    let made = w.vault.secret_requests().len();
    let throttled = w.vault.throttle.lock().unwrap().as_ref().map_or(0, |t| t.throttled);
    let ideal = wanted as f64 / LIMIT as f64;
    format!(
        "{PROCESSES} processes x {SECRETS} secrets = {wanted} GETs against a limit of {LIMIT} per second \
         (ideal {ideal:.1} s): {ok}/{PROCESSES} succeeded in {took:.1} s ({:.2}x the ideal), \
         {made} requests in all, {throttled} answered 429.",
        took / ideal
    )
}

fn main() {
    let kvinit = PathBuf::from(
        std::env::var("KVINIT_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kvinit").into()),
    );
    let python = std::env::var("KVINIT_BENCH_PYTHON").expect("KVINIT_BENCH_PYTHON: run bench/run.sh");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/sdk_fetch.py");
    let mut rows = Vec::new();
    for latency in [0u64, 20] {
        for n in [1usize, 20] {
            let w = World::new();
            let names: Vec<String> = (0..n).map(|i| format!("secret-{i}")).collect();
            for name in &names {
                w.vault.put(name, &format!("value-of-{name}"));
            }
            w.imds.server.set_latency(Duration::from_millis(latency));
            w.vault.server.set_latency(Duration::from_millis(latency));

            let kv: Vec<(f64, u64)> = (0..RUNS)
                .map(|_| {
                    let mut c = timed(&kvinit);
                    c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
                        .env("SSL_CERT_FILE", &w.vault.ca_file)
                        .args(["--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host(), "-q"]);
                    for name in &names {
                        c.arg("--env").arg(format!("{}={name}", name.to_uppercase().replace('-', "_")));
                    }
                    measure(c.args(["--", "/bin/true"]))
                })
                .collect();
            let sdk: Vec<(f64, u64)> = (0..SDK_RUNS)
                .map(|_| {
                    let mut c = timed(Path::new(&python));
                    c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
                        .env("REQUESTS_CA_BUNDLE", &w.vault.ca_file)
                        .arg(&script)
                        .arg(w.vault.url())
                        .args(&names);
                    measure(&mut c)
                })
                .collect();
            let start: Vec<f64> = (0..RUNS).map(|_| measure(&mut timed(Path::new("/bin/true"))).0).collect();
            let floor = median(start) + 2.0 * latency as f64;
            let max_rss = |xs: &[(f64, u64)]| xs.iter().map(|x| x.1).max().unwrap_or(0);
            let median_ms = |xs: &[(f64, u64)]| median(xs.iter().map(|x| x.0).collect());
            rows.push(Row {
                secrets: n,
                latency,
                floor_ms: floor,
                kvinit_ms: median_ms(&kv),
                kvinit_rss: max_rss(&kv),
                sdk_ms: median_ms(&sdk),
                sdk_rss: max_rss(&sdk),
            });
        }
    }
    let mut table = String::from(
        "| secrets | added latency | floor (ms) | kvinit (ms) | kvinit / floor | kvinit peak RSS (KiB) | Python SDK (ms) | SDK / kvinit | SDK peak RSS (KiB) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "| {} | {} ms | {:.1} | {:.1} | {:.2}x | {} | {:.0} | {:.1}x | {} |",
            r.secrets,
            r.latency,
            r.floor_ms,
            r.kvinit_ms,
            r.kvinit_ms / r.floor_ms,
            r.kvinit_rss,
            r.sdk_ms,
            r.sdk_ms / r.kvinit_ms,
            r.sdk_rss
        );
    }
    println!("{table}");
    let fleet = fleet(&kvinit);
    println!("{fleet}");
    let doc = format!(
        "# Benchmarks\n\nMade by `bash bench/run.sh` on {}: {} runs of kvinit (the binary below) and {} of the Python SDK \
         (`azure-identity` ManagedIdentityCredential + `azure-keyvault-secrets` SecretClient, `bench/sdk_fetch.py`) per row, \
         against the test fakes on 127.0.0.1 with the given delay added to every HTTP response. \
         kvinit execs `/bin/true` after injecting the secrets. Times are medians of wall time; RSS is the peak over the runs \
         (`/usr/bin/time`). The floor is process start (median of `/bin/true`) plus one token round trip plus one Key Vault \
         round trip. The machine is shared and noisy; compare rows of one run, not runs of different days.\n\n\
         Binary: `{}` ({} bytes).\n\n{table}\n## Fleet start against a throttling vault\n\n{fleet}\n",
        std::env::var("BENCH_DATE").unwrap_or_else(|_| "this machine".into()),
        RUNS,
        SDK_RUNS,
        kvinit.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&kvinit).display(),
        std::fs::metadata(&kvinit).map(|m| m.len()).unwrap_or(0),
    );
    std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"), doc).unwrap();
}
