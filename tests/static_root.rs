//! The static build runs in an empty root: only the binary, /etc/hosts,
//! /etc/resolv.conf and the test CA. `scripts/static-check.sh` builds it,
//! sets KVINIT_STATIC_BIN and runs these with `--ignored` (as root, for chroot).

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::World;

fn binary() -> PathBuf {
    PathBuf::from(
        std::env::var_os("KVINIT_STATIC_BIN").expect("KVINIT_STATIC_BIN: run scripts/static-check.sh"),
    )
}

#[test]
#[ignore = "needs the static build and root: scripts/static-check.sh runs it"]
fn the_static_binary_reads_secrets_in_an_empty_root() {
    let w = World::new();
    w.vault.put("db-password", "from-an-empty-root");
    let root = w.dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(binary(), root.join("kvinit")).unwrap();
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    std::fs::copy(&w.vault.ca_file, root.join("ca.pem")).unwrap();
    let mut entries: Vec<_> = support::walk(&root)
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    entries.sort();
    assert_eq!(entries, ["ca.pem", "etc/hosts", "etc/resolv.conf", "kvinit"], "the root holds nothing else");

    let out = Command::new("/usr/sbin/chroot")
        .arg(&root)
        .args(["/kvinit", "--check", "--vault", &w.vault.url(), "--allow-vault-host", &w.vault.host()])
        .args(["--env", "DB_PASSWORD=db-password", "--user", "65534"])
        .env_clear()
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", w.imds.authority_host())
        .env("SSL_CERT_FILE", "/ca.pem")
        .output()
        .expect("chroot");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("env:DB_PASSWORD secret=db-password version="), "{stdout}");
    assert!(!stdout.contains("from-an-empty-root"));
}
