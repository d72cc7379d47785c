//! --file: contents, mode, owner, atomic replacement, and every refusal.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use support::{Shm, World};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn files_are_written_with_content_mode_and_owner() {
    let w = World::new();
    w.vault.put("db-password", "p4ss\nword");
    let shm = Shm::new();
    let dir = shm.0.join("secrets");
    w.kvinit()
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--file",
            "db/password=db-password",
            "--file",
            "flat=db-password",
        ])
        .args(["--", "sh", "-c", "cat \"$0/db/password\"", dir.to_str().unwrap()])
        .run()
        .assert_success()
        .assert_stdout("p4ss\nword")
        .assert_stderr_contains("1 secret from 1 vault, 2 files in");
    assert_eq!(mode(&dir), 0o700, "the directory is created 0700");
    assert_eq!(mode(&dir.join("db")), 0o700);
    assert_eq!(mode(&dir.join("db/password")), 0o400);
    assert_eq!(std::fs::read(dir.join("flat")).unwrap(), b"p4ss\nword");
    assert_eq!(listing(&dir), ["db", "flat"], "no temporary file is left behind");
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to give files another owner")]
fn mode_and_owner_can_be_chosen() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let w = World::new();
    w.vault.put("s", "v");
    let shm = Shm::new();
    let dir = shm.0.join("made");
    w.kvinit()
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--file",
            "sub/s=s",
            "--file-mode",
            "0440",
            "--owner",
            "1234:5678",
            "--",
            "true",
        ])
        .run()
        .assert_success();
    let meta = std::fs::metadata(dir.join("sub/s")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid()), (0o440, 1234, 5678));
    for created in [&dir, &dir.join("sub")] {
        let meta = std::fs::metadata(created).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            (0o700, 1234, 5678),
            "{}",
            created.display()
        );
    }
    assert_eq!(std::fs::metadata(&shm.0).unwrap().uid(), 0, "an existing directory keeps its owner");

    for bad in ["0666", "0622", "rw", "99999", "4755", "6555", "2440", "1400"] {
        let run = w
            .kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--file", "s=s", "--file-mode", bad, "--", "true"])
            .run();
        run.assert_code(2).assert_stderr_contains(&format!("--file-mode \"{bad}\" is not an octal mode"));
    }
}

#[test]
fn a_file_is_replaced_atomically() {
    let w = World::new();
    w.vault.put("s", "new value");
    let shm = Shm::new();
    let target = shm.0.join("s");
    std::fs::write(&target, "old value").unwrap();
    // A hard link keeps the old inode: after an atomic rename it still reads
    // the old value, whereas an in-place rewrite would change it.
    let witness = shm.0.join("witness");
    std::fs::hard_link(&target, &witness).unwrap();
    w.kvinit().args(["--dir", shm.0.to_str().unwrap(), "--file", "s=s", "--", "true"]).run().assert_success();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "new value");
    assert_eq!(std::fs::read_to_string(&witness).unwrap(), "old value");
}

#[test]
fn a_disk_directory_is_refused_before_anything_happens() {
    let w = World::new();
    w.vault.put("s", "v");
    let dir = w.dir.path().join("on-disk/secrets");
    let run = w.kvinit().args(["--dir", dir.to_str().unwrap(), "--file", "s=s", "--", "true"]).run();
    run.assert_code(5)
        .assert_stderr_contains("not in memory")
        .assert_stderr_contains("mount a tmpfs there")
        .assert_stderr_contains("--allow-disk");
    assert!(!dir.exists() && !dir.parent().unwrap().exists(), "nothing may be created");
    assert!(w.imds.server.requests().is_empty(), "refused before any network traffic");

    w.kvinit()
        .args(["--dir", dir.to_str().unwrap(), "--allow-disk", "--file", "s=s", "--", "true"])
        .run()
        .assert_success();
    assert_eq!(std::fs::read(dir.join("s")).unwrap(), b"v");
}

#[test]
fn paths_that_escape_the_directory_are_refused() {
    let w = World::new();
    w.vault.put("s", "v");
    let shm = Shm::new();
    for bad in ["../s", "a/../../s", "/etc/s", "", "dir/", "./s"] {
        let run = w
            .kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--file", &format!("{bad}=s"), "--", "true"])
            .run();
        run.assert_code(2).assert_stderr_contains("must be relative to --dir");
    }
    assert!(w.imds.server.requests().is_empty());
}

#[test]
fn symlinks_are_never_written_through() {
    let w = World::new();
    w.vault.put("s", "secret-value");
    let shm = Shm::new();
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, shm.0.join("link")).unwrap();
    let target = outside.join("target");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, shm.0.join("name")).unwrap();

    for (file, what) in [("link/s", "link"), ("name", "name")] {
        let run = w
            .kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--file", &format!("{file}=s"), "--", "true"])
            .run();
        run.assert_code(5).assert_stderr_contains(&format!(
            "refusing to write through the symlink {}",
            shm.0.join(what).display()
        ));
    }
    assert_eq!(listing(&outside), ["target"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
}

#[test]
fn a_pfx_secret_becomes_binary_with_base64() {
    let w = World::new();
    let pfx: Vec<u8> = (0u8..=255).collect();
    let encoded = base64(&pfx);
    w.vault.put("tls", &encoded);
    w.vault.set_content_type("tls", "application/x-pkcs12");
    w.vault.put("pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let shm = Shm::new();
    w.kvinit()
        .args([
            "--dir",
            shm.0.to_str().unwrap(),
            "--file",
            "tls.pfx=tls?base64",
            "--file",
            "tls.pem=pem",
            "--",
            "true",
        ])
        .run()
        .assert_success();
    assert_eq!(std::fs::read(shm.0.join("tls.pfx")).unwrap(), pfx);
    assert!(std::fs::read_to_string(shm.0.join("tls.pem"))
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn kvinit_file_and_kvinit_dir_come_from_the_environment() {
    let w = World::new();
    w.vault.put("a", "1");
    w.vault.put("b", "2");
    let shm = Shm::new();
    w.kvinit()
        .env("KVINIT_DIR", &shm.0)
        .env("KVINIT_FILE", "a.txt=a,b.txt=b")
        .args(["--", "true"])
        .run()
        .assert_success();
    assert_eq!(listing(&shm.0), ["a.txt", "b.txt"]);
}

/// Files are all or nothing: when a later file cannot be written, the
/// earlier ones are not left behind either, nor any temporary.
#[test]
fn a_file_that_cannot_be_written_leaves_none_written() {
    let w = World::new();
    w.vault.put("a", "1");
    w.vault.put("b", "2");
    let shm = Shm::new();
    std::fs::write(shm.0.join("blocker"), "a file where a directory must be").unwrap();
    w.kvinit()
        .args(["--dir", shm.0.to_str().unwrap(), "--file", "a=a", "--file", "blocker/b=b", "--", "true"])
        .run()
        .assert_code(5)
        .assert_stderr_contains(&format!("opening the directory {}", shm.0.join("blocker").display()));
    assert_eq!(listing(&shm.0), ["blocker"]);
}

/// A kvinit killed mid-write (pid 1 again on restart) leaves temporaries:
/// they neither block the next start nor stay behind with old values.
#[test]
fn an_earlier_runs_temporaries_are_cleared_not_tripped_over() {
    let w = World::new();
    w.vault.put("s", "new");
    let shm = Shm::new();
    for stale in [".s.kvinit-1-0.tmp", ".s.kvinit-00000000000000ff.tmp"] {
        std::fs::write(shm.0.join(stale), "old value").unwrap();
    }
    std::fs::write(shm.0.join(".keep.tmp"), "not ours").unwrap();
    w.kvinit().args(["--dir", shm.0.to_str().unwrap(), "--file", "s=s", "--", "true"]).run().assert_success();
    assert_eq!(listing(&shm.0), [".keep.tmp", "s"]);
}
