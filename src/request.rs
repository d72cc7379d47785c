//! The request engine: every call kvinit makes to Azure (each token source,
//! each Key Vault read, each page of a listing) goes through [`send`]. It
//! builds the credential headers, wiped however it returns; classifies each
//! answer by the endpoint's [`Policy`]; retries within the deadline; and
//! hands the answer it was waiting for to the caller's reader.

use std::fmt::Display;
use std::time::Duration;

use crate::http::{self, Client};
use crate::retry::{retry, Attempt, Backoff, Deadline, Failure};
use crate::secret::Secret;

/// How an endpoint wants to be retried.
pub struct Policy {
    /// Statuses worth another try. 429 is throttling; any other is counted
    /// as transient, as are dropped connections and timeouts.
    pub retryable: fn(u16) -> bool,
    pub base: Duration,
    pub cap: Duration,
    /// Retries of any kind.
    pub max_retries: u32,
    /// Of those, how many may be transient failures.
    pub max_transient: u32,
    /// One attempt may not take the whole deadline.
    pub attempt_timeout: Duration,
}

/// One request, as every attempt sends it.
pub struct Call<'a> {
    /// What is being done, for the retry log: "IMDS token for `https://vault.azure.net`".
    pub what: &'a dyn Display,
    pub url: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    /// Headers whose values are credentials (`X-IDENTITY-HEADER`, `secret`).
    pub secret_headers: &'a [(&'a str, &'a Secret)],
    /// `Authorization: SCHEME CREDENTIAL`, e.g. `("Bearer", token)`.
    pub authorization: Option<(&'a str, &'a Secret)>,
    /// A form body, which makes the request a POST.
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub body_limit: u64,
    /// The statuses the reader is given; any other that is not retried is
    /// the endpoint's error.
    pub expect: &'a [u16],
    /// Sees every failure to get an answer (IMDS explains one at once).
    pub watch: Option<&'a dyn Fn(&http::Error)>,
}

impl<'a> Call<'a> {
    /// A GET of `url` that reads only a 200, with no headers yet.
    pub fn get(url: &'a str, body_limit: u64) -> Call<'a> {
        Call {
            what: &"request",
            url,
            query: &[],
            headers: &[],
            secret_headers: &[],
            authorization: None,
            form: None,
            body_limit,
            expect: &[200],
            watch: None,
        }
    }
}

/// An endpoint's error, in the caller's own terms.
pub trait Failed: Display {
    /// No answer came back.
    fn http(e: http::Error) -> Self;
    /// An answer with an error status.
    fn status(r: &http::Response) -> Self;
}

/// Sends `call` until an expected answer comes, which `read` turns into the
/// result; retries throttling and transient failures as `policy` says, and
/// never sleeps past `deadline`.
pub fn send<T, E: Failed>(
    client: &Client,
    call: &Call<'_>,
    policy: &Policy,
    deadline: Deadline,
    mut read: impl FnMut(&http::Response) -> Result<T, E>,
) -> Result<T, Failure<E>> {
    // A `Secret`, so that it is wiped however this returns.
    let authorization = call.authorization.map(|(scheme, c)| Secret::new(format!("{scheme} {}", c.expose())));
    let mut headers: Vec<(&str, &str)> = call.headers.to_vec();
    headers.extend(call.secret_headers.iter().map(|(name, value)| (*name, value.expose())));
    headers.extend(authorization.as_ref().map(|a| ("Authorization", a.expose())));
    let mut transient_failures = 0;
    let mut transient = |error| {
        transient_failures += 1;
        match transient_failures > policy.max_transient {
            true => Attempt::Fail(error),
            false => Attempt::Retry { error, after: None },
        }
    };
    let backoff = Backoff::new(policy.base, policy.cap);
    retry(call.what, deadline, backoff, policy.max_retries, |remaining| {
        let request = http::Request {
            url: call.url,
            query: call.query,
            headers: &headers,
            form: call.form,
            timeout: remaining.min(policy.attempt_timeout),
            body_limit: call.body_limit,
        };
        match client.send(&request) {
            Ok(r) if call.expect.contains(&r.status) => match read(&r) {
                Ok(value) => Attempt::Done(value),
                Err(e) => Attempt::Fail(e),
            },
            Ok(r) if r.status == 429 => Attempt::Retry { after: r.retry_after(), error: E::status(&r) },
            Ok(r) if (policy.retryable)(r.status) => match transient(E::status(&r)) {
                Attempt::Retry { error, .. } => Attempt::Retry { error, after: r.retry_after() },
                other => other,
            },
            Ok(r) => Attempt::Fail(E::status(&r)),
            Err(e) => {
                if let Some(watch) = call.watch {
                    watch(&e);
                }
                match e.is_transient() {
                    true => transient(E::http(e)),
                    false => Attempt::Fail(E::http(e)),
                }
            }
        }
    })
}
