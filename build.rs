//! For the tests only: what this machine lacks that some tests need, as
//! cfgs, so that an ordinary user's `cargo test` counts those tests as
//! ignored, each with its reason, rather than as passed. On CI (`CI` set)
//! nothing is left out, and a missing need fails the test that has it
//! (`tests/support/require.rs`). The binary does not use these cfgs.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    for cfg in ["kvinit_no_root", "kvinit_no_openssl", "kvinit_no_setpriv", "kvinit_no_ip"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if std::env::var_os("CI").is_some() {
        return;
    }
    let runs = |program: &str, arg: &str| {
        Command::new(program).arg(arg).output().is_ok_and(|out| out.status.success())
    };
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let lacks = [
        ("kvinit_no_root", !root),
        ("kvinit_no_openssl", !runs("openssl", "version")),
        ("kvinit_no_setpriv", !runs("setpriv", "--version")),
        ("kvinit_no_ip", !runs("ip", "-V")),
    ];
    for (cfg, lacking) in lacks {
        if lacking {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
