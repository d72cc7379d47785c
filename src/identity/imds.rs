//! Azure Instance Metadata Service: VMs, scale sets, AKS nodes, ACI Linux.

use std::time::Duration;

use super::UserAssigned;
use super::{fetch_token, Context, Error, ErrorKind, TokenSource, TOKEN_BODY_LIMIT};
use crate::http::{self, Client};
use crate::request::{Call, Policy};
use crate::retry::Deadline;
use crate::secret::AccessToken;

const DEFAULT_BASE: &str = "http://169.254.169.254";
const TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const API_VERSION: &str = "2018-02-01";

/// Microsoft's guidance: 404 and 410 mean IMDS is updating (410 for up to
/// 70 s), 429 is throttling, 5xx is transient; other 4xx are final. Backoff
/// starts around 1 s and doubles; the deadline, not a count, ends retries.
const POLICY: Policy = Policy {
    retryable: |s| matches!(s, 404 | 410 | 429 | 500..=599),
    base: Duration::from_secs(1),
    cap: Duration::from_secs(30),
    max_retries: 20,
    max_transient: 20,
    attempt_timeout: Duration::from_secs(20),
};

pub struct Imds {
    client: Client,
    endpoint: String,
    user_assigned: Option<UserAssigned>,
    /// Set from `AZURE_POD_IDENTITY_AUTHORITY_HOST`, rather than IMDS's own address.
    overridden: bool,
}

impl Imds {
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` replaces `http://169.254.169.254`,
    /// as it does for the Azure SDKs.
    pub fn new(cx: &Context<'_>) -> Imds {
        let overridden = cx.env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST");
        let base = overridden.unwrap_or(DEFAULT_BASE);
        Imds {
            client: cx.direct.clone(),
            endpoint: format!("{}{TOKEN_PATH}", base.trim_end_matches('/')),
            user_assigned: cx.user_assigned.cloned(),
            overridden: overridden.is_some(),
        }
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
        // Off Azure, IMDS's address drops packets: each attempt waits out
        // its timeout. Say at once what is going on, not only at the end.
        let explained = std::cell::Cell::new(false);
        let watch = |e: &http::Error| {
            if matches!(e, http::Error::Connect(_) | http::Error::Timeout) && !explained.replace(true) {
                log::warn!(identity_source = self.name(); "{}", self.unreachable(e, deadline));
            }
        };
        let call = Call {
            query: &query,
            headers: &[("Metadata", "true")],
            watch: Some(&watch),
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &POLICY, deadline)
    }

    fn hint(&self, failure: &ErrorKind) -> Option<String> {
        hint(failure, self.user_assigned.is_some())
    }
}

impl Imds {
    fn unreachable(&self, e: &http::Error, deadline: Deadline) -> String {
        let pointed =
            if self.overridden { " (AZURE_POD_IDENTITY_AUTHORITY_HOST points kvinit there)" } else { "" };
        format!(
            "cannot reach IMDS at {}{pointed}: {e}. This may not be an Azure host, IMDS may be blocked (a \
             firewall, a network policy), or the container started before IMDS was ready. To run elsewhere, use \
             kvinit-emulator or a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). \
             Retrying until --timeout ({} s left).",
            self.endpoint,
            deadline.remaining().as_secs()
        )
    }
}

fn hint(kind: &ErrorKind, user_assigned: bool) -> Option<String> {
    Some(match kind {
        ErrorKind::Http(http::Error::Connect(_) | http::Error::Timeout | http::Error::HostNotFound) => {
            "IMDS did not answer: kvinit must run on an Azure VM, scale set, AKS node or Container \
             Instances group with a managed identity; raise --timeout if IMDS is slow to start"
                .to_string()
        }
        ErrorKind::Status { status: 400, .. } if user_assigned => {
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
            assert!((POLICY.retryable)(s), "{s}");
        }
        for s in [200, 400, 401, 403, 405, 409] {
            assert!(!(POLICY.retryable)(s), "{s}");
        }
    }
}
