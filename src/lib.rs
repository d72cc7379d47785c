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
mod launch;
mod reference;
mod retry;
mod run;
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
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { error::EXIT_USAGE } else { 0 });
        }
    };
    init_logging(args.verbose, args.quiet);
    secret::harden_process();
    let env = identity::Env::from_process();
    secret::wipe_from_environ(identity::CREDENTIALS);
    let result = config::Plan::new(args, env)
        .map_err(error::Error::Config)
        .and_then(|plan| run::run(plan, original_mask));
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
    let mut builder = env_logger::Builder::new();
    match (verbose, quiet) {
        (0, 0) => match std::env::var("KVINIT_LOG").or_else(|_| std::env::var("RUST_LOG")) {
            Ok(filters) if !filters.is_empty() => builder.parse_filters(&filters),
            _ => builder.filter_level(LevelFilter::Info),
        },
        (0, _) => builder.filter_level(LevelFilter::Error),
        (1, _) => builder.filter_level(LevelFilter::Warn).filter_module("kvinit", LevelFilter::Debug),
        _ => builder.filter_level(LevelFilter::Trace),
    };
    builder.format(|buf, record| match record.level() {
        Level::Info => writeln!(buf, "kvinit: {}", record.args()),
        Level::Warn => writeln!(buf, "kvinit: warning: {}", record.args()),
        Level::Error => writeln!(buf, "kvinit: error: {}", record.args()),
        level => writeln!(
            buf,
            "kvinit: {}: [{}] {}",
            level.as_str().to_lowercase(),
            record.target(),
            record.args()
        ),
    });
    let logger = builder.target(env_logger::Target::Stderr).build();
    log::set_max_level(logger.filter());
    let _ = log::set_boxed_logger(Box::new(NoWireDumps(logger)));
}

/// At trace level ureq-proto hex-dumps every byte on the wire, bearer tokens
/// and secret values included. No filter a user writes may turn that on, so
/// other crates' trace records are dropped here, in front of env_logger.
struct NoWireDumps(env_logger::Logger);

impl NoWireDumps {
    fn allowed(metadata: &Metadata<'_>) -> bool {
        metadata.level() < Level::Trace || metadata.target().starts_with("kvinit")
    }
}

impl Log for NoWireDumps {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::allowed(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if Self::allowed(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}
