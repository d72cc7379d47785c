//! What kvinit says when it succeeds: `--check`'s lines on stdout, and the
//! one log line before the command starts.

use std::io::Write;
use std::time::Instant;

use crate::sink::{Dest, Origin, Source};

use super::read::Reads;
use super::render::Rendered;

/// One line per secret of each output (a template has one per
/// placeholder): where it goes, which secret and version, and what asked
/// for it. Names only, never a value.
pub fn print_check(reads: &Reads, rendered: &[Rendered<'_>]) {
    let mut out = std::io::stdout().lock();
    for r in rendered {
        let origin = match r.output.origin {
            Origin::Flag => "flag",
            Origin::AppServiceReference => "reference",
            Origin::Import => "all-secrets",
            Origin::Template => "template",
        };
        if matches!(r.output.dest, Dest::EnvFrom(_)) {
            let Some(slot) = r.output.slots().next() else { continue };
            let reference = &reads.secrets[slot.secret].reference;
            let version = reads.fetched[slot.secret].as_ref().map_or("", |f| f.version());
            for (var, _) in &r.vars {
                let _ = writeln!(
                    out,
                    "env:{var} secret={} version={version} vault={} from=env-from",
                    reference.name, reference.vault
                );
            }
            continue;
        }
        let template = matches!(r.output.source, Source::Template(_));
        for (n, slot) in r.output.slots().enumerate() {
            let reference = &reads.secrets[slot.secret].reference;
            let placeholder = if template { format!(" placeholder={}", n + 1) } else { String::new() };
            let Ok(f) = &reads.fetched[slot.secret] else {
                let _ = writeln!(
                    out,
                    "{}{placeholder} secret={} missing (optional) vault={}",
                    r.output.dest, reference.name, reference.vault
                );
                continue;
            };
            let content_type =
                f.content_type.as_deref().map(|t| format!(" type={}", crate::text::field(t, 255)));
            let content_type = content_type.unwrap_or_default();
            let _ = writeln!(
                out,
                "{}{placeholder} secret={} version={} vault={} from={origin}{content_type}",
                r.output.dest,
                reference.name,
                f.version(),
                reference.vault
            );
        }
    }
}

/// "3 secrets from 1 vault, 1 file in 84 ms; starting /app".
pub fn success(program: &std::ffi::OsStr, reads: &Reads, rendered: &[Rendered<'_>], started: Instant) {
    let n = reads.secrets.len();
    if n == 0 {
        return;
    }
    let mut vaults: Vec<_> = reads.secrets.iter().map(|s| &s.reference.vault).collect();
    vaults.sort();
    vaults.dedup();
    let v = vaults.len();
    let file_count =
        rendered.iter().filter(|r| matches!(r.output.dest, Dest::File(_)) && r.value.is_some()).count();
    let files = if file_count > 0 {
        format!(", {file_count} file{}", if file_count == 1 { "" } else { "s" })
    } else {
        String::new()
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let program = program.to_string_lossy();
    log::info!(
        secrets = n, vaults = v, files = file_count, elapsed_ms, command = &*program;
        "{n} secret{} from {v} vault{}{files} in {elapsed_ms} ms; starting {program}",
        if n == 1 { "" } else { "s" },
        if v == 1 { "" } else { "s" },
    );
}
