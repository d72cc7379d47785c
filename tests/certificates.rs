//! `?part=` on certificate secrets: Key Vault's recorded PKCS#12 and PEM,
//! and chains made here with `openssl` (RSA and EC, Key Vault-style and
//! OpenSSL 3 PKCS#12, PEM in reverse order), give files `openssl` accepts.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use support::{finish, signal, wait_for, Shm, World};

/// Runs `openssl` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("openssl(1) runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = openssl(dir, args);
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// A recorded Key Vault GET's secret value and content type.
fn recorded(name: &str) -> (String, String) {
    let body = recorded_body(name);
    (body["value"].as_str().unwrap().to_string(), body["contentType"].as_str().unwrap().to_string())
}

/// Writes every part of secret `name` to files under a tmpfs directory.
fn parts(w: &World, name: &str) -> (Shm, support::Run) {
    let shm = Shm::new();
    let mut args = vec!["--dir".to_string(), shm.0.display().to_string()];
    for part in ["key", "cert", "chain", "fullchain", "pem", "pfx"] {
        args.push("--file".into());
        args.push(format!("{part}={name}?part={part}"));
    }
    let run = w.kvinit().args(&args).args(["--", "true"]).run();
    (shm, run)
}

/// The key matches the certificate, and the PFX opens with the empty password.
fn assert_a_matching_set(dir: &Path) {
    let key_public = ok(dir, &["pkey", "-in", "key", "-pubout"]);
    let cert_public = ok(dir, &["x509", "-in", "cert", "-pubkey", "-noout"]);
    assert_eq!(key_public, cert_public, "the key is the certificate's");
    let fullchain = std::fs::read_to_string(dir.join("fullchain")).unwrap();
    assert!(
        fullchain.starts_with(&std::fs::read_to_string(dir.join("cert")).unwrap()),
        "the leaf comes first"
    );
    let pem = std::fs::read_to_string(dir.join("pem")).unwrap();
    assert_eq!(pem, std::fs::read_to_string(dir.join("key")).unwrap() + &fullchain);
    let from_pfx = ok(dir, &["pkcs12", "-in", "pfx", "-passin", "pass:", "-nodes"]);
    assert!(from_pfx.contains("BEGIN PRIVATE KEY") && from_pfx.contains("BEGIN CERTIFICATE"), "{from_pfx}");
    let info = openssl(dir, &["pkcs12", "-in", "pfx", "-passin", "pass:", "-info", "-noout"]);
    let info = String::from_utf8_lossy(&info.stderr);
    assert!(info.contains("MAC: sha256") && info.contains("AES-256-CBC"), "{info}");
}

#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn key_vaults_recorded_pkcs12_and_pem_give_matching_files() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    for recording in ["certificate-pkcs12.json", "certificate-pem.json"] {
        let (value, content_type) = recorded(recording);
        w.vault.put("web", &value);
        w.vault.set_content_type("web", &content_type);
        let (shm, run) = parts(&w, "web");
        run.assert_success();
        assert_a_matching_set(&shm.0);
        assert_eq!(
            std::fs::read_to_string(shm.0.join("chain")).unwrap(),
            "",
            "a self-signed leaf has no chain"
        );
    }
}

/// root → intermediate → leaf, made with openssl in `dir`.
fn make_chain(dir: &Path, algorithm: &[&str]) {
    let key = |name: &str| {
        let mut args = vec!["genpkey", "-out", name];
        args.extend_from_slice(algorithm);
        ok(dir, &args);
    };
    for name in ["root.key", "int.key", "leaf.key"] {
        key(name);
    }
    std::fs::write(dir.join("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n").unwrap();
    ok(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/CN=Test Root",
            "-days",
            "2",
            "-out",
            "root.pem",
        ],
    );
    ok(dir, &["req", "-new", "-key", "int.key", "-subj", "/CN=Test Intermediate", "-out", "int.csr"]);
    ok(
        dir,
        &[
            "x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-days", "2",
            "-extfile", "ca.ext", "-out", "int.pem",
        ],
    );
    ok(dir, &["req", "-new", "-key", "leaf.key", "-subj", "/CN=web.example", "-out", "leaf.csr"]);
    ok(
        dir,
        &[
            "x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key", "-days", "2", "-out",
            "leaf.pem",
        ],
    );
}

fn read_base64(path: PathBuf) -> String {
    base64(&std::fs::read(path).unwrap())
}

#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn generated_chains_in_every_storage_give_leaf_first_verifiable_chains() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    for (label, algorithm) in [
        ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..]),
        ("ec", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..]),
    ] {
        let dir = w.dir.path().join(label);
        std::fs::create_dir_all(&dir).unwrap();
        make_chain(&dir, algorithm);
        let both = format!(
            "{}{}",
            std::fs::read_to_string(dir.join("int.pem")).unwrap(),
            std::fs::read_to_string(dir.join("root.pem")).unwrap()
        );
        std::fs::write(dir.join("cas.pem"), both).unwrap();
        // Key Vault's own: 3DES bags and a SHA-1 MAC.
        ok(
            &dir,
            &[
                "pkcs12",
                "-export",
                "-legacy",
                "-inkey",
                "leaf.key",
                "-in",
                "leaf.pem",
                "-certfile",
                "cas.pem",
                "-passout",
                "pass:",
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
                "-out",
                "kv.pfx",
            ],
        );
        // OpenSSL 3's default: PBES2, AES-256-CBC, SHA-256 MAC.
        ok(
            &dir,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "leaf.key",
                "-in",
                "leaf.pem",
                "-certfile",
                "cas.pem",
                "-passout",
                "pass:",
                "-out",
                "ossl.pfx",
            ],
        );
        ok(&dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-out", "leaf.p8"]);
        let reversed = ["root.pem", "int.pem", "leaf.pem", "leaf.p8"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
            .collect::<String>();
        for (name, value, content_type) in [
            (format!("{label}-kv"), read_base64(dir.join("kv.pfx")), "application/x-pkcs12"),
            (format!("{label}-ossl"), read_base64(dir.join("ossl.pfx")), "application/x-pkcs12"),
            (format!("{label}-pem"), reversed, "application/x-pem-file"),
        ] {
            w.vault.put(&name, &value);
            w.vault.set_content_type(&name, content_type);
            let (shm, run) = parts(&w, &name);
            run.assert_success();
            assert_a_matching_set(&shm.0);
            let chain = std::fs::read_to_string(shm.0.join("chain")).unwrap();
            assert_eq!(
                chain,
                std::fs::read_to_string(dir.join("int.pem")).unwrap(),
                "{name}: the intermediate only, not the root"
            );
            let root = dir.join("root.pem");
            let verified =
                ok(&shm.0, &["verify", "-CAfile", root.to_str().unwrap(), "-untrusted", "chain", "cert"]);
            assert!(verified.contains("cert: OK"), "{name}: {verified}");
        }
    }
}

#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn damaged_unsupported_and_plain_secrets_fail_with_their_reason() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    let (value, _) = recorded("certificate-pkcs12.json");
    let pfx = decode_base64(&value);
    let mut bad_mac = pfx.clone();
    let last = bad_mac.len() - 30;
    bad_mac[last] ^= 1;
    let dir = w.dir.path().join("rc2");
    std::fs::create_dir_all(&dir).unwrap();
    make_chain(&dir, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    ok(
        &dir,
        &[
            "pkcs12",
            "-export",
            "-legacy",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-passout",
            "pass:",
            "-certpbe",
            "PBE-SHA1-RC2-40",
            "-keypbe",
            "PBE-SHA1-RC2-40",
            "-out",
            "rc2.pfx",
        ],
    );
    for (name, value, content_type, message) in [
        ("bad-mac", base64(&bad_mac), "application/x-pkcs12", "MAC does not verify"),
        ("truncated", base64(&pfx[..pfx.len() / 2]), "application/x-pkcs12", "the certificate is malformed"),
        ("rc2", read_base64(dir.join("rc2.pfx")), "application/x-pkcs12", "RC2-CBC (an old Windows export)"),
        ("plain", "just a password".to_string(), "text/plain", "part= needs a certificate's secret (application/x-pkcs12 or application/x-pem-file), and this one is text/plain"),
    ] {
        w.vault.put(name, &value);
        w.vault.set_content_type(name, content_type);
        let shm = Shm::new();
        w.kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--file", &format!("k={name}?part=key"), "--", "true"])
            .run()
            .assert_code(4)
            .assert_stderr_contains(message)
            .assert_stderr_contains("for file:k");
        assert!(std::fs::read_dir(&shm.0).unwrap().next().is_none(), "{name}: nothing written");
    }
    w.kvinit()
        .args(["--env", "K=x?part=key&base64", "--", "true"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("part= does not combine with json= or base64");
}

/// Key Vault's recorded certificate and key GETs (public parts: *get* on
/// certificates or keys is enough) become PEM that `openssl` parses into
/// the very certificate and key numbers recorded.
#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn recorded_public_certificates_and_keys_become_pem() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    for (recording, path) in [
        ("certificate-public.json", "certificates/GetCertificate"),
        ("key-rsa.json", "keys/CreateRsaKey"),
        ("key-ec.json", "keys/GetSingleKey"),
    ] {
        let w = World::new();
        let body = recorded_body(recording);
        w.vault.script.push(support::Reply::json(200, &body.to_string()));
        let shm = Shm::new();
        let url = format!("{}/{path}", w.vault.url());
        w.kvinit()
            .args(["--dir", shm.0.to_str().unwrap(), "--file", &format!("out.pem={url}"), "--", "true"])
            .run()
            .assert_success();
        let pem = shm.0.join("out.pem");
        let pem = pem.to_str().unwrap();
        match recording {
            "certificate-public.json" => {
                std::fs::write(shm.0.join("cer.der"), decode_base64(body["cer"].as_str().unwrap())).unwrap();
                let expected = ok(&shm.0, &["x509", "-inform", "DER", "-in", "cer.der"]);
                assert_eq!(std::fs::read_to_string(pem).unwrap(), expected);
            }
            "key-rsa.json" => {
                let modulus = ok(&shm.0, &["rsa", "-pubin", "-in", pem, "-noout", "-modulus"]);
                assert_eq!(
                    modulus.trim(),
                    format!("Modulus={}", hex(&decode_base64(body["key"]["n"].as_str().unwrap())))
                );
            }
            _ => {
                let text = ok(&shm.0, &["pkey", "-pubin", "-in", pem, "-noout", "-text"]);
                let point: String = text
                    .split("pub:")
                    .nth(1)
                    .unwrap()
                    .split("ASN1 OID")
                    .next()
                    .unwrap()
                    .chars()
                    .filter(|c| c.is_ascii_hexdigit())
                    .collect();
                let key = &body["key"];
                let expected = format!(
                    "04{}{}",
                    hex(&decode_base64(key["x"].as_str().unwrap())),
                    hex(&decode_base64(key["y"].as_str().unwrap()))
                );
                assert_eq!(point.to_uppercase(), expected, "{text}");
                assert!(text.contains("prime256v1") || text.contains("P-256"), "{text}");
            }
        }
    }
}

/// The recorded response body of a GET, as JSON (recorders store it as a
/// string or as an object).
fn recorded_body(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings/keyvault").join(name);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    match &json["exchanges"][0]["response"]["body"] {
        serde_json::Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    }
}

/// base64 (standard or URL-safe, padding optional) decoded by base64(1),
/// not by the code under test.
fn decode_base64(text: &str) -> Vec<u8> {
    use std::io::Write;
    let text = text.replace('-', "+").replace('_', "/");
    let padded = format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4));
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(padded.as_bytes()).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// The emulator's certificates and keys APIs, as the recordings above show
/// them, read by name in the default vault's URL.
#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn the_emulator_serves_public_certificates_and_keys() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    let dir = w.dir.path().to_path_buf();
    ok(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=public.example",
            "-days",
            "1",
        ],
    );
    ok(&dir, &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"]);
    w.vault.put_certificate("web", &read_base64(dir.join("c.der")));
    let key = recorded_body("key-ec.json");
    w.vault.put_key("signing", key["key"].clone());
    let shm = Shm::new();
    let cert = format!("web.crt={}/certificates/web", w.vault.url());
    let key = format!("signing.pub={}/keys/signing", w.vault.url());
    let missing = format!("none.pub={}/keys/none", w.vault.url());
    w.kvinit()
        .args(["--dir", shm.0.to_str().unwrap(), "--file", &cert, "--file", &key, "--", "true"])
        .run()
        .assert_success();
    assert_eq!(
        std::fs::read_to_string(shm.0.join("web.crt")).unwrap(),
        std::fs::read_to_string(dir.join("c.pem")).unwrap()
    );
    ok(&shm.0, &["pkey", "-pubin", "-in", "signing.pub", "-noout"]);
    w.kvinit()
        .args(["--dir", shm.0.to_str().unwrap(), "--file", &missing, "--", "true"])
        .run()
        .assert_code(4)
        .assert_stderr_contains("reading key none from vault")
        .assert_stderr_contains("KeyNotFound");
}

/// A renewed certificate replaces its key and chain files together, and the
/// command gets one signal for the set, after the last rename.
#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn a_renewed_certificate_is_written_as_a_set_with_one_signal() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    let dir = w.dir.path().to_path_buf();
    let make = |n: &str| {
        ok(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("k{n}.pem"),
                "-out",
                &format!("c{n}.pem"),
                "-subj",
                &format!("/CN=v{n}.example"),
                "-days",
                "1",
            ],
        );
        ok(
            &dir,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                &format!("k{n}.pem"),
                "-in",
                &format!("c{n}.pem"),
                "-passout",
                "pass:",
                "-out",
                &format!("{n}.pfx"),
            ],
        );
        read_base64(dir.join(format!("{n}.pfx")))
    };
    w.vault.put("web", &make("1"));
    w.vault.set_content_type("web", "application/x-pkcs12");
    let shm = Shm::new();
    let (hups, ready) = (dir.join("hups"), dir.join("ready"));
    // On each HUP: the key and certificate must be a pair at that moment.
    let script = format!(
        "trap 'a=$(openssl pkey -in {d}/tls.key -pubout); b=$(openssl x509 -in {d}/tls.crt -pubkey -noout); \
         [ \"$a\" = \"$b\" ] && echo pair >> {h} || echo mismatch >> {h}' HUP; touch {r}; while :; do sleep 0.05; done",
        d = shm.0.display(),
        h = hups.display(),
        r = ready.display()
    );
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--dir", shm.0.to_str().unwrap()])
        .args([
            "--file",
            "tls.key=web?part=key",
            "--file",
            "tls.crt=web?part=fullchain",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .spawn();
    assert!(support::wait_for(std::time::Duration::from_secs(20), || ready.exists()));
    w.vault.put("web", &make("2"));
    let renewed = support::wait_for(std::time::Duration::from_secs(30), || {
        std::fs::read_to_string(&hups).is_ok_and(|h| !h.is_empty())
    });
    // Two more rounds: an unchanged certificate must not signal again.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    support::signal(child.id(), 15);
    let (code, _, stderr) = support::finish(child, std::time::Duration::from_secs(20));
    assert!(renewed, "no signal after the renewal:\n{stderr}");
    assert_eq!(code, Some(143), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&hups).unwrap(),
        "pair\n",
        "one signal, with a matching pair:\n{stderr}"
    );
    let subject = ok(&shm.0, &["x509", "-in", "tls.crt", "-noout", "-subject"]);
    assert!(subject.contains("v2.example"), "{subject}");
}

/// The emulator's generated certificate (`--certificate NAME`) is stored as
/// Key Vault stores a PEM certificate, and gives a verifiable chain.
#[test]
#[cfg_attr(kvinit_no_openssl, ignore = "needs openssl(1), which .ci/run installs")]
fn the_emulators_generated_certificate_gives_a_verifiable_chain() {
    if !support::require(&[support::Need::Openssl]) {
        return;
    }
    let w = World::new();
    let root = w.vault.put_generated_certificate("web-cert");
    let (shm, run) = parts(&w, "web-cert");
    run.assert_success();
    assert_a_matching_set(&shm.0);
    std::fs::write(shm.0.join("root.pem"), root).unwrap();
    let verified = ok(&shm.0, &["verify", "-CAfile", "root.pem", "-untrusted", "chain", "cert"]);
    assert!(verified.contains("cert: OK"), "{verified}");
}

/// Nothing changed in the vault, so nothing changes: not a `?part=pfx`
/// (written with a fresh salt each time it is encoded), not a filter, not
/// a template. Every round reads every secret and finds no change: no file
/// rewritten, no log of a change, no hook run.
#[test]
fn a_quiet_vault_changes_nothing_in_any_part_or_filter() {
    let w = World::new();
    let (pfx, content_type) = recorded("certificate-pkcs12.json");
    w.vault.put("pfx-cert", &pfx);
    w.vault.set_content_type("pfx-cert", &content_type);
    w.vault.put_generated_certificate("pem-cert");
    w.vault.put("plain", "p@ss w/rd \"quoted\"");
    let shm = Shm::new();
    let template = w.dir.path().join("t.tpl");
    std::fs::write(
        &template,
        "{{ plain | urlencode }} {{ plain | json }} {{ plain | base64 }} {{ pfx-cert?part=cert }}",
    )
    .unwrap();
    let mut args = vec!["--dir".to_string(), shm.0.display().to_string()];
    for name in ["pfx-cert", "pem-cert"] {
        for part in ["key", "cert", "chain", "fullchain", "pem", "pfx"] {
            args.extend(["--file".into(), format!("{name}.{part}={name}?part={part}")]);
        }
    }
    args.extend(["--template".into(), format!("{}=t.conf", template.display())]);
    args.extend(["--env".into(), "URL=x://{{ plain | urlencode }}".into()]);
    let hook = w.dir.path().join("hook-ran");
    let ready = w.dir.path().join("ready");
    let child = w
        .kvinit()
        .args(["--init", "--refresh", "1s", "--on-change", "restart"])
        .args(["--on-change-run", &format!("touch {}", hook.display())])
        .args(&args)
        .args(["--", "sh", "-c", &format!("touch {}; exec sleep 60", ready.display())])
        .spawn();
    assert!(wait_for(Duration::from_secs(30), || ready.exists()));
    let files: Vec<PathBuf> = support::walk(&shm.0);
    let written = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let before: Vec<_> = files.iter().map(written).collect();
    let reads = w.vault.secret_requests().len();
    let rounds = wait_for(Duration::from_secs(30), || w.vault.secret_requests().len() >= reads + 3 * 3);
    let after: Vec<_> = files.iter().map(written).collect();
    signal(child.id(), 15);
    let (_, _, stderr) = finish(child, Duration::from_secs(20));
    assert!(rounds, "three refresh rounds never ran:\n{stderr}");
    assert_eq!(files.len(), 13, "{files:?}");
    assert_eq!(before, after, "a file was rewritten:\n{stderr}");
    assert!(!stderr.contains("changed") && !stderr.contains("restart"), "{stderr}");
    assert!(!hook.exists(), "the hook ran with nothing changed:\n{stderr}");
}
