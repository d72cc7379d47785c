//! kvinit's logger: `RUST_LOG`-style filters, and lines on stderr as text
//! (`kvinit: warning: ...`) or, with `--log-format json`, one JSON object a
//! line: `time` (RFC 3339, UTC), `level`, `message`, then the record's
//! fields (`vault`, `secret`, `variable`, `elapsed_ms`, ...). Fields never
//! carry a value or a token: only names, counts, codes and times.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use log::kv::{self, VisitSource, VisitValue};
use log::{Level, LevelFilter, Log, Metadata, Record};

static JSON: AtomicBool = AtomicBool::new(false);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format a usage error is written in, before the command line
    /// parses: `--log-format json` (before any `--`), else the variable.
    pub fn guess(args: &[std::ffi::OsString], var: Option<&str>) -> Format {
        let mut args = args.iter().map(|a| a.to_str().unwrap_or("")).take_while(|a| *a != "--");
        while let Some(arg) = args.next() {
            let value = match arg.strip_prefix("--log-format") {
                Some("") => args.next(),
                Some(rest) => rest.strip_prefix('='),
                None => continue,
            };
            return value.and_then(Format::parse).unwrap_or(Format::Text);
        }
        var.and_then(Format::parse).unwrap_or(Format::Text)
    }
}

pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// `-v`/`-q` win; otherwise `KVINIT_LOG`, then `RUST_LOG`, then info.
pub fn init(verbose: u8, quiet: u8, format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
    let filter = match (verbose, quiet) {
        (0, 0) => match std::env::var(crate::vars::LOG).or_else(|_| std::env::var("RUST_LOG")) {
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

/// Writes `text` to stderr in one write, so that lines from threads do not interleave.
pub fn write(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
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

/// At trace level ureq-proto hex-dumps every byte on the wire, bearer
/// tokens and secret values included: no filter a user writes may turn that
/// on, so other crates' trace records are dropped.
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
        let line = if json() { json_line(record) } else { text_line(record) };
        write(&line);
    }

    fn flush(&self) {}
}

fn text_line(record: &Record<'_>) -> String {
    match record.level() {
        Level::Info => format!("kvinit: {}\n", record.args()),
        Level::Warn => format!("kvinit: warning: {}\n", record.args()),
        Level::Error => format!("kvinit: error: {}\n", record.args()),
        level => {
            format!("kvinit: {}: [{}] {}\n", level.as_str().to_lowercase(), record.target(), record.args())
        }
    }
}

fn json_line(record: &Record<'_>) -> String {
    let mut line = Line::new(record.level().as_str(), &record.args().to_string());
    if record.level() > Level::Info {
        line.field("target", Field::Str(record.target().to_string()));
    }
    let _ = record.key_values().visit(&mut line);
    line.finish()
}

/// A field's value: text or a number.
#[derive(Clone)]
pub enum Field {
    Str(String),
    Num(u64),
}

/// One JSON log line under construction.
pub struct Line(String);

impl Line {
    pub fn new(level: &str, message: &str) -> Line {
        let mut line = String::with_capacity(128);
        line.push_str("{\"time\":\"");
        line.push_str(&rfc3339(std::time::SystemTime::now()));
        line.push_str("\",\"level\":\"");
        line.push_str(&level.to_ascii_lowercase());
        line.push_str("\",\"message\":");
        push_str(&mut line, message);
        Line(line)
    }

    pub fn field(&mut self, key: &str, value: Field) -> &mut Line {
        self.0.push(',');
        push_str(&mut self.0, key);
        self.0.push(':');
        match value {
            Field::Str(s) => push_str(&mut self.0, &s),
            Field::Num(n) => self.0.push_str(&n.to_string()),
        }
        self
    }

    pub fn finish(&mut self) -> String {
        self.0.push_str("}\n");
        std::mem::take(&mut self.0)
    }
}

fn push_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

impl<'kvs> VisitSource<'kvs> for Line {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut visitor = FieldValue(None);
        value.visit(&mut visitor)?;
        match visitor.0 {
            Some(Ok(n)) => self.field(key.as_str(), Field::Num(n)),
            Some(Err(s)) => self.field(key.as_str(), Field::Str(s)),
            None => self, // an absent Option
        };
        Ok(())
    }
}

/// A field's value as a number where it is one, else as text. Fields are
/// strings and integers: nothing here formats a `Value` as a whole, which
/// would link float formatting (~9 KiB) for fields kvinit never logs.
struct FieldValue(Option<Result<u64, String>>);

impl<'v> VisitValue<'v> for FieldValue {
    fn visit_any(&mut self, _: kv::Value<'_>) -> Result<(), kv::Error> {
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        self.0 = Some(Ok(value));
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        self.0 = Some(u64::try_from(value).map_err(|_| value.to_string()));
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.0 = Some(Err(value.to_string()));
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        self.0 = Some(Err(value.to_string()));
        Ok(())
    }
}

/// `2026-11-29T19:11:35.123Z`. Days to a civil date after Howard Hinnant's
/// `civil_from_days`, so that no date crate is needed.
fn rfc3339(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
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

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |s: u64, ms: u64| {
            rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(s * 1000 + ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_796_000_000, 999), "2026-11-30T00:53:20.999Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn the_format_is_found_before_the_command_line_parses() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(Format::guess(&args(&["--log-format", "json", "--evn"]), None), Format::Json);
        assert_eq!(Format::guess(&args(&["--log-format=JSON"]), Some("text")), Format::Json);
        assert_eq!(Format::guess(&args(&["--", "app", "--log-format=json"]), None), Format::Text);
        assert_eq!(Format::guess(&args(&["--evn"]), Some("json")), Format::Json);
    }
}
