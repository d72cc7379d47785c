//! Azure Instance Metadata Service: VMs, scale sets, AKS nodes, ACI Linux.

use std::time::Duration;

use super::{error_status, parse_token, Error, ErrorKind, TokenSource, TOKEN_BODY_LIMIT};
use crate::config::UserAssigned;
use crate::http::{self, Client};
use crate::retry::{retry, Attempt, Backoff, Deadline};
use crate::secret::AccessToken;

const DEFAULT_BASE: &str = "http://169.254.169.254";
const TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const API_VERSION: &str = "2018-02-01";

/// One attempt may not hog the whole deadline: a dropped packet should cost
/// one attempt, not the start-up.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Microsoft's guidance: start around 1-2 s, double, cap well under a
/// minute; 410 may last 70 s, so the deadline, not a count, ends retries.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const MAX_RETRIES: u32 = 20;

pub struct Imds {
    client: Client,
    endpoint: String,
    user_assigned: Option<UserAssigned>,
}

impl Imds {
    /// `authority_host` replaces `http://169.254.169.254`, as
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` does for the Azure SDKs.
    pub fn new(client: Client, authority_host: Option<&str>, user_assigned: Option<UserAssigned>) -> Imds {
        let base = authority_host.unwrap_or(DEFAULT_BASE).trim_end_matches('/');
        Imds { client, endpoint: format!("{base}{TOKEN_PATH}"), user_assigned }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl TokenSource for Imds {
    fn name(&self) -> &'static str {
        "IMDS"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let mut query = vec![("api-version", API_VERSION), ("resource", resource)];
        match &self.user_assigned {
            Some(UserAssigned::ClientId(id)) => query.push(("client_id", id)),
            Some(UserAssigned::ObjectId(id)) => query.push(("object_id", id)),
            Some(UserAssigned::ResourceId(id)) => query.push(("msi_res_id", id)),
            None => {}
        }
        let what = format!("IMDS token for {resource}");
        let backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
        let result = retry(&what, deadline, backoff, MAX_RETRIES, |remaining| {
            let request = http::Request {
                url: &self.endpoint,
                query: &query,
                headers: &[("Metadata", "true")],
                form: None,
                timeout: remaining.min(ATTEMPT_TIMEOUT),
                body_limit: TOKEN_BODY_LIMIT,
            };
            match self.client.send(&request) {
                Ok(r) if r.status == 200 => match parse_token(&r.body) {
                    Ok(token) => Attempt::Done(token),
                    Err(e) => Attempt::Fail(e),
                },
                Ok(r) if is_retryable(r.status) => {
                    Attempt::Retry { after: r.retry_after(), error: error_status(&r) }
                }
                Ok(r) => Attempt::Fail(error_status(&r)),
                Err(e) if e.is_transient() => Attempt::Retry { error: ErrorKind::Http(e), after: None },
                Err(e) => Attempt::Fail(ErrorKind::Http(e)),
            }
        });
        result.map_err(|failure| {
            Error::from_failure(self.name(), &self.endpoint, failure, |kind| hint(kind, &self.user_assigned))
        })
    }
}

/// 404 and 410: IMDS is updating; 429: throttled; 5xx: transient.
fn is_retryable(status: u16) -> bool {
    matches!(status, 404 | 410 | 429 | 500..=599)
}

fn hint(kind: &ErrorKind, user_assigned: &Option<UserAssigned>) -> Option<String> {
    Some(match kind {
        ErrorKind::Http(http::Error::Connect(_) | http::Error::Timeout | http::Error::HostNotFound) => {
            "IMDS did not answer: kvinit must run on an Azure VM, scale set, AKS node or Container \
             Instances group with a managed identity; raise --timeout if IMDS is slow to start"
                .to_string()
        }
        ErrorKind::Status { status: 400, .. } if user_assigned.is_some() => {
            "check that the user-assigned identity named by --client-id/--object-id/--resource-id \
             (or AZURE_CLIENT_ID) is assigned to this VM or container group"
                .to_string()
        }
        ErrorKind::Status { status: 400, .. } => {
            "assign a managed identity to this VM or container group (az vm identity assign, or \
             az container create --assign-identity); with only user-assigned identities, pass --client-id"
                .to_string()
        }
        ErrorKind::Status { status: 404 | 410 | 429 | 500..=599, .. } => {
            "IMDS kept failing for the whole --timeout; it may be updating or overloaded, try again or raise --timeout"
                .to_string()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules_follow_microsoft_guidance() {
        for s in [404, 410, 429, 500, 503, 599] {
            assert!(is_retryable(s), "{s}");
        }
        for s in [200, 400, 401, 403, 405, 409] {
            assert!(!is_retryable(s), "{s}");
        }
    }

    #[test]
    fn the_authority_host_replaces_the_base() {
        let roots = crate::http::Roots::new(None).unwrap();
        let client = Client::new(crate::http::Proxy::Never, &roots);
        let imds = Imds::new(client.clone(), None, None);
        assert_eq!(imds.endpoint(), "http://169.254.169.254/metadata/identity/oauth2/token");
        let imds = Imds::new(client, Some("http://127.0.0.1:4000/"), None);
        assert_eq!(imds.endpoint(), "http://127.0.0.1:4000/metadata/identity/oauth2/token");
    }
}
