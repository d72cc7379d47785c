//! Azure Container Instances, Windows containers: no IMDS; the platform
//! injects `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` and documents
//! `GET $IDENTITY_ENDPOINT?resource=...[&principalId=...]` with header `secret`.

use super::UserAssigned;
use super::{
    endpoint, fetch_token, Context, Error, ErrorKind, Kind, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT,
};
use crate::http::{self, Client};
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

pub struct AciWindows {
    client: Client,
    endpoint: String,
    header: Secret,
    principal_id: Option<String>,
}

impl AciWindows {
    pub fn new(cx: &Context<'_>) -> Result<AciWindows, super::SetupError> {
        let principal_id = match cx.user_assigned {
            None => None,
            Some(UserAssigned::ObjectId(id)) => Some(id.clone()),
            Some(_) => {
                return Err(cx.unsupported(
                    Kind::AciWindows,
                    "selects a user-assigned identity only by principal (object) id: use --object-id",
                ))
            }
        };
        Ok(AciWindows {
            client: cx.direct.clone(),
            endpoint: endpoint("IDENTITY_ENDPOINT", cx.var("IDENTITY_ENDPOINT"))?,
            header: Secret::new(cx.var("IDENTITY_HEADER").to_string()),
            principal_id,
        })
    }
}

impl TokenSource for AciWindows {
    fn name(&self) -> &'static str {
        "ACI Windows identity endpoint"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let mut query = vec![("resource", resource)];
        if let Some(id) = &self.principal_id {
            query.push(("principalId", id));
        }
        // App Service's header too, in case detection guessed wrong: harmless.
        let call = Call {
            query: &query,
            secret_headers: &[("secret", &self.header), ("X-IDENTITY-HEADER", &self.header)],
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }

    fn hint(&self, failure: &ErrorKind) -> Option<String> {
        hint(failure)
    }
}

fn hint(kind: &ErrorKind) -> Option<String> {
    match kind {
        ErrorKind::Http(http::Error::Connect(_) | http::Error::Timeout) => Some(
            "Windows container groups in a virtual network cannot get managed identity tokens; \
             if this is not ACI, pass --identity-source app-service"
                .to_string(),
        ),
        ErrorKind::Status { status: 400 | 404, .. } => Some(
            "check that the container group has a managed identity (az container create --assign-identity); \
             if this is App Service or Automation rather than ACI, pass --identity-source app-service"
                .to_string(),
        ),
        _ => None,
    }
}
