//! kvinit: Azure Key Vault secrets into a container's environment, then exec.
//!
//! A binary first: `main.rs` calls [`main`]. The library exists so that the
//! fuzz targets can reach the parsers, through [`fuzz`] and nothing else.

// Errors are built once per process, on the way out; their size is irrelevant
// and boxing them would only obscure the types.
#![allow(clippy::result_large_err)]

mod base64;
mod cert;
mod cli;
mod config;
mod der;
mod error;
mod http;
mod identity;
mod import;
mod job;
mod launch;
mod logging;
mod pem;
mod reference;
mod request;
mod retry;
mod secret;
mod sink;
mod source_file;
mod template;
mod text;
mod transform;
mod trust;
mod vars;
mod vault;
mod words;

#[doc(hidden)]
pub mod fuzz;

#[global_allocator]
static ALLOCATOR: secret::WipingAllocator = secret::WipingAllocator;

use clap::Parser;

/// kvinit's whole life: parse, set up logging, run, exit with the code.
pub fn main() -> ! {
    // Before any thread exists, so that every thread inherits the mask.
    let original_mask = launch::signals::block();
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let var = std::env::var(vars::LOG_FORMAT).ok();
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
            match logging::Format::guess(&raw, var.as_deref()) {
                logging::Format::Text => logging::write(&format!("kvinit: error: {text}")),
                logging::Format::Json => {
                    let mut line = logging::Line::new("error", text.trim_end());
                    line.field("exit_code", logging::Field::Num(error::EXIT_USAGE as u64));
                    logging::write(&line.finish());
                }
            }
            std::process::exit(error::EXIT_USAGE);
        }
    };
    let format = match (&args.log_format, var.as_deref()) {
        (Some(f), _) => logging::Format::parse(f),
        (None, Some(v)) if !v.trim().is_empty() => logging::Format::parse(v),
        (None, _) => Some(logging::Format::Text),
    };
    let Some(format) = format else {
        let given = match &args.log_format {
            Some(flag) => format!("--log-format {flag:?}"),
            None => format!("{} {:?}", vars::LOG_FORMAT, var.unwrap_or_default()),
        };
        logging::write(&format!("kvinit: error: {given} is not text or json\n"));
        std::process::exit(error::EXIT_USAGE);
    };
    logging::init(args.verbose, args.quiet, format);
    secret::harden_process();
    let env = identity::Env::from_process();
    // SAFETY: no thread has been started yet: logging, clap and the
    // environment snapshot above run on this one.
    unsafe { secret::wipe_from_environ(identity::CREDENTIALS) };
    let result = config::Plan::new(args, env)
        .map_err(error::Error::Config)
        .and_then(|plan| job::run(plan, original_mask));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            logging::write(&e.report());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
