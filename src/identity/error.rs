//! Why a source cannot be used as configured, and why no token was had.

use std::fmt;

use serde_json::Value;

use super::detect::Kind;
use crate::http;
use crate::request::Failed;
use crate::retry::Failure;

/// Why a source cannot be used as configured (exit code 2, before any request).
#[derive(Debug)]
pub enum SetupError {
    /// A source was forced with `--identity-source` but its variables are unset.
    Missing { kind: Kind, vars: Vec<&'static str> },
    /// A user-assigned identity was named for a source that cannot select one
    /// that way; `takes` says what it can take.
    UserAssigned { kind: Kind, by: &'static str, takes: &'static str },
    /// An endpoint variable that is not an http(s) URL, or not https where
    /// a credential would travel.
    Endpoint { var: &'static str, value: String, why: &'static str },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Missing { kind, vars } => {
                write!(f, "identity source {} needs {} (unset or empty)", kind.name(), vars.join(", "))
            }
            SetupError::UserAssigned { kind, by: "AZURE_CLIENT_ID", takes } => write!(
                f,
                "AZURE_CLIENT_ID is set, but identity source {} {takes}; unset AZURE_CLIENT_ID \
                 rather than have kvinit silently use another identity",
                kind.name()
            ),
            SetupError::UserAssigned { kind, by, takes } => {
                write!(f, "{by} was given, but identity source {} {takes}", kind.name())
            }
            SetupError::Endpoint { var, value, why } => write!(f, "{var}={value:?}: {why}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// Strips the query string for messages (it may name an identity, nothing
/// secret, but the endpoint reads better without it).
fn display_endpoint(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
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
    Status {
        status: u16,
        error: Option<String>,
        description: Option<String>,
        body: String,
        /// Entra ID's numeric AADSTS codes, when it sends them.
        codes: Vec<u64>,
    },
    /// No usable answer came back.
    Http(http::Error),
    /// A 2xx answer that is not a token response.
    BadResponse(String),
    /// A local file the source needs could not be used (Arc's key file,
    /// the federated token file).
    File(String),
}

impl Error {
    /// The failure of `source_name` at `endpoint`, with the source's hint
    /// for it, if it has one.
    pub(crate) fn from_failure(
        source_name: &'static str,
        hint: impl FnOnce(&ErrorKind) -> Option<String>,
        endpoint: &str,
        failure: Failure<ErrorKind>,
    ) -> Error {
        Error {
            source_name,
            endpoint: display_endpoint(endpoint).to_string(),
            hint: hint(&failure.error).or_else(|| match &failure.error {
                ErrorKind::Http(e) => e.proxy_hint(),
                _ => None,
            }),
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
            ErrorKind::Status { status, error, description, body, .. } => {
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
            ErrorKind::File(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ErrorKind {}

/// Reads an error answer of a token endpoint: `{"error","error_description"}`
/// from IMDS and Entra, `{"error":{"code","message"}}` from some others, or
/// plain text (ACI's IMDS answers a bad request in text).
pub(crate) fn error_status(response: &http::Response) -> ErrorKind {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    // Codes on one line, as Key Vault's are; descriptions may span lines.
    let code = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::text::printable_line);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(crate::text::printable);
    let (error, description) = match &json {
        Some(Value::Object(o)) => match o.get("error") {
            Some(Value::Object(inner)) => (code(inner.get("code")), text(inner.get("message"))),
            e => (code(e), text(o.get("error_description")).or_else(|| text(o.get("message")))),
        },
        _ => (None, None),
    };
    let body = if error.is_none() && description.is_none() { response.snippet(200) } else { String::new() };
    let codes = json
        .as_ref()
        .and_then(|j| j.get("error_codes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    ErrorKind::Status { status: response.status, error, description, body, codes }
}

impl Failed for ErrorKind {
    fn http(e: http::Error) -> ErrorKind {
        ErrorKind::Http(e)
    }

    fn status(r: &http::Response) -> ErrorKind {
        error_status(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
