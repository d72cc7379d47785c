//! The 2017-09-01 MSI protocol (`MSI_ENDPOINT` + `MSI_SECRET`), still used by
//! Azure ML compute; its `expires_on` may be a date string.

use super::UserAssigned;
use super::{endpoint, fetch_token, Context, Error, Kind, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT};
use crate::http::Client;
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

const API_VERSION: &str = "2017-09-01";

pub struct MsiLegacy {
    client: Client,
    endpoint: String,
    secret: Secret,
    client_id: Option<String>,
}

impl MsiLegacy {
    pub fn new(cx: &Context<'_>) -> Result<MsiLegacy, super::SetupError> {
        let client_id = match cx.user_assigned {
            None => None,
            Some(UserAssigned::ClientId(id)) => Some(id.clone()),
            Some(_) => {
                return Err(cx.unsupported(
                    Kind::MsiLegacy,
                    "selects a user-assigned identity only by client id: use --client-id",
                ))
            }
        };
        Ok(MsiLegacy {
            client: cx.direct.clone(),
            endpoint: endpoint("MSI_ENDPOINT", cx.var("MSI_ENDPOINT"))?,
            secret: Secret::new(cx.var("MSI_SECRET").to_string()),
            client_id,
        })
    }
}

impl TokenSource for MsiLegacy {
    fn name(&self) -> &'static str {
        "MSI endpoint (2017-09-01)"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let mut query = vec![("api-version", API_VERSION), ("resource", resource)];
        if let Some(id) = &self.client_id {
            query.push(("clientid", id));
        }
        let call = Call {
            query: &query,
            secret_headers: &[("secret", &self.secret)],
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }
}
