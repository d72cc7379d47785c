//! Azure Cloud Shell: `MSI_ENDPOINT` alone, a form POST.

use super::{endpoint, fetch_token, Context, Error, Kind, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT};
use crate::http::Client;
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::AccessToken;

pub struct CloudShell {
    client: Client,
    endpoint: String,
}

impl CloudShell {
    pub fn new(cx: &Context<'_>) -> Result<CloudShell, super::SetupError> {
        if cx.user_assigned.is_some() {
            return Err(cx.unsupported(Kind::CloudShell, "acts only as the signed-in user"));
        }
        Ok(CloudShell {
            client: cx.direct.clone(),
            endpoint: endpoint("MSI_ENDPOINT", cx.var("MSI_ENDPOINT"))?,
        })
    }
}

impl TokenSource for CloudShell {
    fn name(&self) -> &'static str {
        "Cloud Shell identity endpoint"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let form = [("resource", resource)];
        let call = Call {
            headers: &[("Metadata", "true")],
            form: Some(&form),
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }
}
