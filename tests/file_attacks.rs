//! The command as an attacker on `--init --refresh --user`: kvinit stays
//! root and rewrites files in a directory the command's user owns. Whatever
//! that user does there, swapping the directory or a subdirectory for a
//! symlink or racing kvinit's mkdir, no file outside the directory may be
//! created, changed or chowned. Needs root (as CI has); ignored otherwise.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{finish, signal, wait_for, Shm, World};

const NOBODY: &str = "65534:65534";

/// A root-owned directory with a root-owned 0600 file, both named as the
/// command's attack would aim them, inside a sticky world-writable one (as
/// /tmp and /dev/shm are), where the command may rename what it owns.
struct Scene {
    shm: Shm,
    victim: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let shm = Shm::new();
        std::fs::set_permissions(&shm.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let victim = shm.0.join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["s", "shadow"] {
            std::fs::write(victim.join(name), "root's own").unwrap();
            std::fs::set_permissions(victim.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::create_dir(victim.join("sub")).unwrap();
        Scene { shm, victim }
    }

    fn dir(&self) -> PathBuf {
        self.shm.0.join("secrets")
    }

    /// Created when the attack must end.
    fn stop(&self) -> PathBuf {
        self.shm.0.join("stop")
    }

    /// Every entry under the victim: (owner, group, mode, inode, content).
    fn snapshot(&self) -> BTreeMap<PathBuf, (u32, u32, u32, u64, Vec<u8>)> {
        support::walk(&self.victim)
            .into_iter()
            .chain([self.victim.clone(), self.victim.join("sub")])
            .map(|p| {
                let m = std::fs::symlink_metadata(&p).unwrap();
                let content = if m.is_file() { std::fs::read(&p).unwrap() } else { Vec::new() };
                (p, (m.uid(), m.gid(), m.mode(), m.ino(), content))
            })
            .collect()
    }
}

/// Runs kvinit as root with `--init --refresh 1s --user nobody`, the
/// command being `attack` (sh, as nobody), while the test rotates both
/// secrets `rounds` times, each time waiting (up to 20 s: rounds the attack
/// gets in the way of are tried again a second later) until kvinit has
/// written the new value to `lands`, where its writes go; returns stderr.
fn run_attack(scene: &Scene, attack: &str, rounds: usize, lands: &Path) -> String {
    let w = World::new();
    w.vault.put("s", "v0");
    w.vault.put("t", "v0");
    let ready = scene.shm.0.join("attacking");
    // SIGHUP tells the command a file changed; it ignores it and attacks on.
    let script = format!("trap '' HUP\n{attack}\ntouch {ready}\nexec sleep 120", ready = ready.display());
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--user", NOBODY, "--dir", scene.dir().to_str().unwrap()])
        .args(["--file", "s=s", "--file", "sub/s=t", "--", "sh", "-c", &script])
        .spawn();
    let attacking = wait_for(Duration::from_secs(20), || ready.exists());
    let mut written = 0;
    for round in 1..=rounds {
        let value = format!("v{round}");
        w.vault.put("s", &value);
        w.vault.put("t", &value);
        if wait_for(Duration::from_secs(20), || std::fs::read_to_string(lands).is_ok_and(|v| v == value)) {
            written += 1;
        }
    }
    std::fs::write(scene.stop(), "").unwrap();
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(attacking, "the attack never started:\n{stderr}");
    assert_eq!(written, rounds, "rotations that reached {}:\n{stderr}", lands.display());
    stderr
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to run the command as another user")]
fn a_directory_swapped_for_a_symlink_is_not_followed() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let scene = Scene::new();
    let before = scene.snapshot();
    // No race needed: once kvinit has written the files, the command moves
    // the directory it owns away and leaves a symlink to the victim.
    let attack = format!(
        "mv {dir} {moved} && ln -s {victim} {dir}",
        dir = scene.dir().display(),
        moved = scene.shm.0.join("moved").display(),
        victim = scene.victim.display()
    );
    let moved = scene.shm.0.join("moved");
    let stderr = run_attack(&scene, &attack, 3, &moved.join("s"));
    assert_eq!(scene.snapshot(), before, "root wrote through the symlink:\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(moved.join("s")).unwrap(),
        "v3",
        "rotations go on in the directory itself\n{stderr}"
    );
    assert_eq!(std::fs::read_to_string(moved.join("sub/s")).unwrap(), "v3", "{stderr}");
}

#[test]
#[cfg_attr(kvinit_no_root, ignore = "needs root to run the command as another user")]
fn racing_subdirectories_and_mkdir_reach_nothing_outside() {
    if !support::require(&[support::Need::Root]) {
        return;
    }
    let scene = Scene::new();
    let before = scene.snapshot();
    // In the background, as fast as sh goes, for the whole run: the
    // subdirectory kvinit writes into becomes a symlink to the victim, a
    // symlink to a root-owned file (for a chown after mkdir to follow), is
    // removed (so that kvinit makes it again), and comes back.
    let attack = format!(
        "(i=0; while [ $i -lt 100000 ] && [ -d {root} ] && [ ! -e {stop} ]; do i=$((i+1)); rm -rf {sub}; \
         ln -s {victim} {sub}; rm -f {sub}; ln -s {shadow} {sub}; rm -f {sub}; mkdir {sub}; done) >/dev/null 2>&1 &",
        root = scene.shm.0.display(),
        stop = scene.stop().display(),
        sub = scene.dir().join("sub").display(),
        victim = scene.victim.display(),
        shadow = scene.victim.join("shadow").display()
    );
    let stderr = run_attack(&scene, &attack, 6, &scene.dir().join("s"));
    assert_eq!(scene.snapshot(), before, "root reached outside the directory:\n{stderr}");
}
