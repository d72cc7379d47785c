//! Where access tokens come from. Each platform's token endpoint is one
//! `TokenSource` in a file of its own; `detect` picks one from the environment.

mod imds;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::{Env, UserAssigned};
use crate::http::{self, Client};
use crate::retry::{Deadline, Failure};
use crate::secret::{AccessToken, Secret};

pub use imds::Imds;

/// Token bodies are a few KiB; anything far larger is not a token endpoint.
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

/// A platform's way of turning its managed identity into access tokens.
pub trait TokenSource {
    /// A short name for messages, e.g. "IMDS".
    fn name(&self) -> &'static str;

    /// Gets a token for `resource` (e.g. `https://vault.azure.net`), retrying
    /// as the platform's guidance says, within `deadline`.
    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error>;
}

/// Chooses the token source for this environment.
pub fn detect(env: &Env, user_assigned: Option<UserAssigned>, direct: Client) -> Box<dyn TokenSource> {
    let imds = Imds::new(direct, env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST"), user_assigned);
    log::debug!("identity source: IMDS at {} (no platform identity variables set)", imds.endpoint());
    Box::new(imds)
}

/// Why no token was had.
#[derive(Debug)]
pub struct Error {
    /// The source's name, e.g. "IMDS".
    pub source_name: &'static str,
    /// The endpoint asked (no query string, nothing secret).
    pub endpoint: String,
    pub kind: ErrorKind,
    /// How many requests were made.
    pub attempts: u32,
    /// Something the operator can do, where the failure suggests it.
    pub hint: Option<String>,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// The endpoint answered with an error status.
    Status { status: u16, error: Option<String>, description: Option<String>, body: String },
    /// No usable answer came back.
    Http(http::Error),
    /// A 2xx answer that is not a token response.
    BadResponse(String),
}

impl Error {
    pub(crate) fn from_failure(
        source_name: &'static str,
        endpoint: &str,
        failure: Failure<ErrorKind>,
        hint: impl FnOnce(&ErrorKind) -> Option<String>,
    ) -> Error {
        Error {
            source_name,
            endpoint: endpoint.to_string(),
            hint: hint(&failure.error),
            kind: failure.error,
            attempts: failure.attempts,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "getting an access token from {} ({})", self.source_name, self.endpoint)?;
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Status { status, error, description, body } => {
                write!(f, "HTTP {status}")?;
                match (error, description) {
                    (Some(e), Some(d)) => write!(f, " {e}: {d}"),
                    (Some(e), None) => write!(f, " {e}"),
                    (None, Some(d)) => write!(f, ": {d}"),
                    (None, None) if !body.is_empty() => write!(f, ": {body}"),
                    (None, None) => Ok(()),
                }
            }
            ErrorKind::Http(e) => write!(f, "{e}"),
            ErrorKind::BadResponse(why) => write!(f, "unusable token response: {why}"),
        }
    }
}

impl std::error::Error for ErrorKind {}

/// Reads an error answer of a token endpoint: `{"error","error_description"}`
/// from IMDS and Entra, `{"error":{"code","message"}}` from some others, or
/// plain text (ACI's IMDS answers a bad request in text).
pub(crate) fn error_status(response: &http::Response) -> ErrorKind {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let (error, description) = match &json {
        Some(Value::Object(o)) => match o.get("error") {
            Some(Value::Object(inner)) => (text(inner.get("code")), text(inner.get("message"))),
            e => (text(e), text(o.get("error_description")).or_else(|| text(o.get("message")))),
        },
        _ => (None, None),
    };
    let body = if error.is_none() && description.is_none() { response.snippet(200) } else { String::new() };
    ErrorKind::Status { status: response.status, error, description, body }
}

/// Reads a token response, however the source spells its expiry:
/// `expires_on` or `expires_in`, as a number or a string of digits, or a
/// date like `06/20/2019 02:57:58 +00:00`.
pub(crate) fn parse_token(body: &[u8]) -> Result<AccessToken, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let mut json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let Some(obj) = json.as_object_mut() else { return Err(bad("the body is not a JSON object")) };
    let token = match obj.get_mut("access_token").map(Value::take) {
        Some(Value::String(t)) if !t.is_empty() => Secret::new(t),
        Some(Value::String(_)) => return Err(bad("access_token is empty")),
        Some(_) => return Err(bad("access_token is not a string")),
        None => return Err(bad("no access_token field")),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let expires_on = obj
        .get("expires_on")
        .and_then(parse_expiry_instant)
        .or_else(|| obj.get("expires_in").and_then(as_u64).map(|n| now + n));
    Ok(AccessToken { token, expires_on })
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_expiry_instant(v: &Value) -> Option<u64> {
    as_u64(v).or_else(|| v.as_str().and_then(parse_msi_date))
}

/// `MM/DD/YYYY HH:MM:SS +HH:MM`, as the 2017-09-01 MSI endpoints send.
fn parse_msi_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let (date, time, offset) = (parts.next()?, parts.next()?, parts.next().unwrap_or("+00:00"));
    let num = |s: &str| s.parse::<i64>().ok();
    let d: Vec<i64> = date.split('/').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let (sign, off) = match offset.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let (month, day, year) = (d[0], d[1], d[2]);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || t[0] > 23 || t[1] > 59 || t[2] > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
        - sign * (num(oh)? * 3600 + num(om)? * 60);
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_in_every_spelling() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let on = |body: &str| parse_token(body.as_bytes()).unwrap().expires_on;
        assert_eq!(on(r#"{"access_token":"t","expires_on":"1506484173"}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":1506484173}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 02:57:58 +00:00"}"#), Some(1560999478));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 04:57:58 +02:00"}"#), Some(1560999478));
        let e = on(r#"{"access_token":"t","expires_in":3599}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        let e = on(r#"{"access_token":"t","expires_in":"3599"}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        assert_eq!(on(r#"{"access_token":"t"}"#), None);
        assert_eq!(on(r#"{"access_token":"t","expires_on":"soon"}"#), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn bad_token_bodies_say_why_without_echoing() {
        for (body, why) in [
            ("", "not JSON"),
            ("<html>gateway</html>", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"token_type":"Bearer"}"#, "no access_token"),
            (r#"{"access_token":""}"#, "empty"),
            (r#"{"access_token":42}"#, "not a string"),
            (r#"{"access_token":"abc"#, "not JSON"),
        ] {
            let err = parse_token(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }

    fn response(status: u16, body: &str) -> http::Response {
        http::Response { status, retry_after: None, www_authenticate: None, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let shown = |status, body| error_status(&response(status, body)).to_string();
        assert_eq!(
            shown(400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#),
            "HTTP 400 invalid_request: Identity not found"
        );
        assert_eq!(
            shown(500, r#"{"error":{"code":"Boom","message":"it broke"}}"#),
            "HTTP 500 Boom: it broke"
        );
        assert_eq!(shown(400, "Bad Request\r\n"), "HTTP 400: Bad Request");
        assert_eq!(shown(503, ""), "HTTP 503");
    }
}
