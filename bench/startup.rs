//! kvinit against the Azure SDK for Python and the physical floor, on the
//! test fakes with added latency. Run by `bench/run.sh`; writes BENCHMARKS.md.
//! This measures and reports; it asserts nothing about time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::rtt::RttProxy;
use support::World;

const RUNS: usize = 15;
const SDK_RUNS: usize = 5;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// CPU time (user + system) of the children reaped so far, in ms.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Wall time in ms and peak RSS in KiB of one run of `cmd` under /usr/bin/time.
fn measure(cmd: &mut Command) -> (f64, u64) {
    measure_cpu(cmd).0
}

/// `measure`, and the CPU time the run took in ms (all threads, kernel included).
fn measure_cpu(cmd: &mut Command) -> ((f64, u64), f64) {
    let cpu = children_cpu_ms();
    let started = Instant::now();
    let out = cmd.output().expect("run");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let cpu = children_cpu_ms() - cpu;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    ((ms, rss), cpu)
}

fn timed(program: &Path) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "maxrss=%M"]).arg(program).env_clear().env("PATH", "/usr/bin:/bin");
    c
}

/// Where the fakes are, as seen through the network model.
struct Net {
    secrets: usize,
    rtt: u64,
    server: u64,
}

impl Net {
    fn name(&self) -> String {
        match (self.rtt, self.server) {
            (0, 0) => "loopback, no delay".into(),
            (0, s) => format!("{s} ms server time, no RTT"),
            (r, 0) => format!("RTT {r} ms"),
            (r, s) => format!("RTT {r} ms + {s} ms server time"),
        }
    }

    /// Token (connect + request) then one parallel round of GETs; the
    /// vault's connect and TLS handshake can overlap the token.
    fn floor(&self, start_ms: f64) -> f64 {
        start_ms + 3.0 * self.rtt as f64 + 2.0 * self.server as f64
    }
}

/// One row: medians in ms, peak RSS in KiB; `None` for a peer not run.
struct Row {
    net: Net,
    floor_ms: f64,
    kvinit: (f64, u64),
    /// kvinit's median CPU time, in ms.
    kvinit_cpu: f64,
    rust_sdk: Option<(f64, u64)>,
    python_sdk: (f64, u64),
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

/// The fakes for one row, behind the network model when it has a round trip.
struct Setup {
    w: World,
    names: Vec<String>,
    _proxies: Vec<RttProxy>,
    identity_host: String,
    /// The App Service endpoint's URL (the Rust SDK reads no IMDS override).
    app_service_url: String,
    vault_url: String,
    vault_host: String,
}

fn setup(net: &Net) -> Setup {
    let w = World::new();
    let names: Vec<String> = (0..net.secrets).map(|i| format!("secret-{i}")).collect();
    for name in &names {
        w.vault.put(name, &format!("value-of-{name}"));
    }
    w.imds.server.set_latency(Duration::from_millis(net.server));
    w.vault.server.set_latency(Duration::from_millis(net.server));
    w.app_service.server.set_latency(Duration::from_millis(net.server));
    let mut proxies = Vec::new();
    // 127.0.0.1:PORT of each fake, or of a proxy in front of it.
    let mut reach = |port: u16| match net.rtt {
        0 => port,
        rtt => {
            let proxy = RttProxy::start(([127, 0, 0, 1], port).into(), Duration::from_millis(rtt));
            let port = proxy.port();
            proxies.push(proxy);
            port
        }
    };
    let identity_host = format!("http://127.0.0.1:{}", reach(w.imds.server.port()));
    let app_service_url = format!("http://127.0.0.1:{}/msi/token", reach(w.app_service.server.port()));
    let vault_host = format!("127.0.0.1:{}", reach(w.vault.server.port()));
    let vault_url = format!("https://{vault_host}");
    Setup { w, names, _proxies: proxies, identity_host, app_service_url, vault_url, vault_host }
}

fn kvinit_run(kvinit: &Path, s: &Setup) -> ((f64, u64), f64) {
    let mut c = timed(kvinit);
    c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &s.identity_host)
        .env("SSL_CERT_FILE", &s.w.vault.ca_file)
        .args(["--vault", &s.vault_url, "--allow-vault-host", &s.vault_host, "-q"]);
    for name in &s.names {
        c.arg("--env").arg(format!("{}={name}", name.to_uppercase().replace('-', "_")));
    }
    measure_cpu(c.args(["--", "/bin/true"]))
}

fn python_run(python: &Path, s: &Setup) -> (f64, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/sdk_fetch.py");
    let mut c = timed(python);
    c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &s.identity_host)
        .env("REQUESTS_CA_BUNDLE", &s.w.vault.ca_file)
        .arg(&script)
        .arg(&s.vault_url)
        .args(&s.names);
    measure(&mut c)
}

fn rust_sdk_run(program: &Path, s: &Setup) -> (f64, u64) {
    let mut c = timed(program);
    c.env("IDENTITY_ENDPOINT", &s.app_service_url)
        .env("IDENTITY_HEADER", &s.w.identity_header)
        .env("SSL_CERT_FILE", &s.w.vault.ca_file);
    c.arg(&s.vault_url).args(&s.names);
    measure(&mut c)
}

fn main() {
    let kvinit = PathBuf::from(
        std::env::var("KVINIT_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kvinit").into()),
    );
    let python =
        PathBuf::from(std::env::var("KVINIT_BENCH_PYTHON").expect("KVINIT_BENCH_PYTHON: run bench/run.sh"));
    let rust_sdk = std::env::var_os("KVINIT_BENCH_RUST_SDK").map(PathBuf::from);
    let mut rows = Vec::new();
    for (rtt, server) in [(0u64, 0u64), (2, 5), (20, 0), (0, 20)] {
        for secrets in [1usize, 5, 20] {
            let net = Net { secrets, rtt, server };
            let s = setup(&net);
            let (kv, cpu): (Vec<_>, Vec<_>) = (0..RUNS).map(|_| kvinit_run(&kvinit, &s)).unzip();
            let rs: Option<Vec<_>> =
                rust_sdk.as_ref().map(|p| (0..SDK_RUNS).map(|_| rust_sdk_run(p, &s)).collect());
            let py: Vec<_> = (0..SDK_RUNS).map(|_| python_run(&python, &s)).collect();
            let start: Vec<f64> = (0..RUNS).map(|_| measure(&mut timed(Path::new("/bin/true"))).0).collect();
            let summary = |xs: &[(f64, u64)]| {
                (median(xs.iter().map(|x| x.0).collect()), xs.iter().map(|x| x.1).max().unwrap_or(0))
            };
            let floor_ms = net.floor(median(start));
            rows.push(Row {
                kvinit: summary(&kv),
                kvinit_cpu: median(cpu),
                rust_sdk: rs.as_deref().map(summary),
                python_sdk: summary(&py),
                floor_ms,
                net,
            });
        }
    }
    let mut table = String::from(
        "| secrets | network | floor (ms) | kvinit (ms) | kvinit / floor | kvinit peak RSS (KiB) | kvinit CPU (ms) | Rust SDK (ms) | Rust SDK / floor | Rust SDK peak RSS (KiB) | Python SDK (ms) | Python SDK / floor | Python SDK peak RSS (KiB) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let peer = |p: Option<(f64, u64)>| match p {
            Some((ms, rss)) => format!("{ms:.1} | {:.2}x | {rss}", ms / r.floor_ms),
            None => "not run | | ".into(),
        };
        let _ = writeln!(
            table,
            "| {} | {} | {:.1} | {} | {:.1} | {} | {} |",
            r.net.secrets,
            r.net.name(),
            r.floor_ms,
            peer(Some(r.kvinit)),
            r.kvinit_cpu,
            peer(r.rust_sdk),
            peer(Some(r.python_sdk)),
        );
    }
    println!("{table}");
    let fleet = fleet(&kvinit);
    println!("{fleet}");
    let doc = format!(
        "# Benchmarks\n\nMade by `bash bench/run.sh` on {}: {} runs of kvinit (the binary below) and {} of each SDK per row, \
         all against the same test fakes on 127.0.0.1. The SDKs are what users write today: the official Azure SDK for Rust \
         (`azure_identity` ManagedIdentityCredential + `azure_security_keyvault_secrets` SecretClient, reads concurrent, then \
         exec, `bench/rust-sdk/`) and the Python SDK (`azure-identity` + `azure-keyvault-secrets`, `bench/sdk_fetch.py`). \
         kvinit execs `/bin/true` after injecting the secrets.\n\n\
         The network: a round-trip time is modelled by a TCP proxy in front of each fake (`tests/support/rtt.rs`) that delivers \
         every chunk RTT/2 after it was sent, in each direction, and a new connection's first bytes one RTT later (its TCP \
         handshake); server time is a delay before each HTTP reply. The floor is process start (median of `/bin/true`) plus \
         3 RTT plus 2 server times: a token (connect, then request), then one parallel round of GETs, with the vault's connect \
         and TLS handshake overlapping the token. Times are medians of wall time; RSS is the peak over the runs \
         (`/usr/bin/time`). The machine is shared and noisy; compare rows of one run, not runs of different days.\n\n\
         Binary: `{}` ({} bytes).\n\n{table}\n\
         On loopback kvinit is CPU-bound: its CPU time (all threads, kernel included, from `getrusage`) is the column \
         above, and the fakes run on the same two cores. A profile of the 20-secret run (`perf record`) puts most of it in \
         the kernel (creating and tearing down a thread per connection, faulting in their stacks and buffers) and in the \
         TLS handshakes (X25519 key agreement, ECDSA P-256 verification of the certificate and of the handshake), one \
         per connection since all are opened at once, before any session exists to resume. A cache of verified \
         certificates would save one of the two signature checks per handshake, about 3% of that CPU (measured on the profile): not built.\n\n## Fleet start against a throttling vault\n\n{fleet}\n",
        std::env::var("BENCH_DATE").unwrap_or_else(|_| "this machine".into()),
        RUNS,
        SDK_RUNS,
        kvinit.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&kvinit).display(),
        std::fs::metadata(&kvinit).map(|m| m.len()).unwrap_or(0),
    );
    std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md"), doc).unwrap();
}
