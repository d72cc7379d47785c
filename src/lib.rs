//! kvinit: Azure Key Vault secrets into a container's environment, then exec.
//!
//! A binary first: `main.rs` calls [`main`]. The library exists so that the
//! fuzz targets can reach the parsers, through [`fuzz`] and nothing else.

// Errors are built once per process, on the way out; their size is irrelevant
// and boxing them would only obscure the types.
#![allow(clippy::result_large_err)]

mod cli;
mod config;
mod error;
mod http;
mod identity;
mod import;
mod job;
mod launch;
mod reference;
mod request;
mod retry;
mod secret;
mod sink;
mod transform;
mod vault;

#[doc(hidden)]
pub mod fuzz;

#[global_allocator]
static ALLOCATOR: secret::WipingAllocator = secret::WipingAllocator;

use std::io::Write;

use clap::Parser;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// kvinit's whole life: parse, set up logging, run, exit with the code.
pub fn main() -> ! {
    // Before any thread exists, so that every thread inherits the mask.
    let original_mask = launch::signals::block();
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            std::process::exit(0);
        }
        Err(e) => {
            // Usage errors in the shape of every other error, with a "did
            // you mean" and the usage line after.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            // clap's other tip for an unknown option, to pass it as a value
            // after `--`, misleads more often than it helps: left out.
            let text = match e.kind() {
                clap::error::ErrorKind::UnknownArgument => format!(
                    "{}\n\n{}Usage: kvinit [OPTIONS] [--] COMMAND [ARG]...\n\nFor more information, try '--help'.\n",
                    text.lines().next().unwrap_or_default(),
                    cli::suggestion(&e).map(|s| format!("  tip: a similar argument exists: '{s}'\n\n")).unwrap_or_default(),
                ),
                _ => text.to_string(),
            };
            let _ = std::io::stderr().write_all(format!("kvinit: error: {text}").as_bytes());
            std::process::exit(error::EXIT_USAGE);
        }
    };
    init_logging(args.verbose, args.quiet);
    secret::harden_process();
    let env = identity::Env::from_process();
    secret::wipe_from_environ(identity::CREDENTIALS);
    let result = config::Plan::new(args, env)
        .map_err(error::Error::Config)
        .and_then(|plan| job::run(plan, original_mask));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stderr().write_all(e.report().as_bytes());
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// `-v`/`-q` win; otherwise `KVINIT_LOG`, then `RUST_LOG`, then info.
fn init_logging(verbose: u8, quiet: u8) {
    let filter = match (verbose, quiet) {
        (0, 0) => match std::env::var("KVINIT_LOG").or_else(|_| std::env::var("RUST_LOG")) {
            Ok(spec) if !spec.is_empty() => Filter::parse(&spec),
            _ => Filter::level(LevelFilter::Info),
        },
        (0, _) => Filter::level(LevelFilter::Error),
        (1, _) => Filter { default: LevelFilter::Warn, targets: vec![("kvinit".into(), LevelFilter::Debug)] },
        _ => Filter::level(LevelFilter::Trace),
    };
    log::set_max_level(filter.max());
    let _ = log::set_logger(Box::leak(Box::new(Logger(filter))));
}

/// `RUST_LOG`'s usual syntax: comma-separated `level` or `target=level`
/// directives; the longest matching target wins.
struct Filter {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    fn level(default: LevelFilter) -> Filter {
        Filter { default, targets: Vec::new() }
    }

    fn parse(spec: &str) -> Filter {
        let mut filter = Filter::level(LevelFilter::Error);
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                Some((target, level)) => {
                    if let Ok(level) = level.trim().parse() {
                        filter.targets.push((target.trim().to_string(), level));
                    }
                }
                None => match directive.parse() {
                    Ok(level) => filter.default = level,
                    Err(_) => filter.targets.push((directive.to_string(), LevelFilter::Trace)),
                },
            }
        }
        filter
    }

    fn allows(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        let level = self
            .targets
            .iter()
            .filter(|(t, _)| target.starts_with(t.as_str()))
            .max_by_key(|(t, _)| t.len())
            .map_or(self.default, |(_, level)| *level);
        metadata.level() <= level
    }

    fn max(&self) -> LevelFilter {
        self.targets.iter().map(|(_, level)| *level).fold(self.default, |a, b| a.max(b))
    }
}

/// kvinit's lines on stderr. At trace level ureq-proto hex-dumps every byte
/// on the wire, bearer tokens and secret values included: no filter a user
/// writes may turn that on, so other crates' trace records are dropped.
struct Logger(Filter);

impl Logger {
    fn allowed(metadata: &Metadata<'_>) -> bool {
        metadata.level() < Level::Trace || metadata.target().starts_with("kvinit")
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::allowed(metadata) && self.0.allows(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = match record.level() {
            Level::Info => format!("kvinit: {}\n", record.args()),
            Level::Warn => format!("kvinit: warning: {}\n", record.args()),
            Level::Error => format!("kvinit: error: {}\n", record.args()),
            level => format!(
                "kvinit: {}: [{}] {}\n",
                level.as_str().to_lowercase(),
                record.target(),
                record.args()
            ),
        };
        // One write per line, so that lines from threads do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(filter: &Filter, target: &str, level: Level) -> bool {
        filter.allows(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn filters_read_like_rust_log() {
        let f = Filter::parse("warn, kvinit=debug ,kvinit::http=trace,bogus=loud");
        assert!(allows(&f, "ureq", Level::Warn) && !allows(&f, "ureq", Level::Info));
        assert!(allows(&f, "kvinit::run", Level::Debug) && !allows(&f, "kvinit::run", Level::Trace));
        assert!(allows(&f, "kvinit::http::tls", Level::Trace), "the longest target wins");
        assert_eq!(f.max(), LevelFilter::Trace);
        let f = Filter::parse("kvinit");
        assert!(allows(&f, "kvinit", Level::Trace) && !allows(&f, "rustls", Level::Warn));
        assert!(allows(&Filter::parse("info"), "x", Level::Info));
    }
}
