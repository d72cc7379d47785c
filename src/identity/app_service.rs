//! App Service, Functions, Container Apps and Automation:
//! `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01.

use super::UserAssigned;
use super::{
    endpoint, fetch_token, Context, Error, ErrorKind, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT,
};
use crate::http::Client;
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

const API_VERSION: &str = "2019-08-01";

pub struct AppService {
    client: Client,
    endpoint: String,
    header: Secret,
    /// (parameter, id): `client_id`, `principal_id` or `mi_res_id`.
    selector: Option<(&'static str, String)>,
}

impl AppService {
    pub fn new(cx: &Context<'_>) -> Result<AppService, super::SetupError> {
        let selector = cx.user_assigned.map(|u| match u {
            UserAssigned::ClientId(id) => ("client_id", id.clone()),
            UserAssigned::ObjectId(id) => ("principal_id", id.clone()),
            UserAssigned::ResourceId(id) => ("mi_res_id", id.clone()),
        });
        Ok(AppService {
            client: cx.direct.clone(),
            endpoint: endpoint("IDENTITY_ENDPOINT", cx.var("IDENTITY_ENDPOINT"))?,
            header: Secret::new(cx.var("IDENTITY_HEADER").to_string()),
            selector,
        })
    }
}

impl TokenSource for AppService {
    fn name(&self) -> &'static str {
        "App Service identity endpoint"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let mut query = vec![("api-version", API_VERSION), ("resource", resource)];
        if let Some((param, id)) = &self.selector {
            query.push((param, id));
        }
        // `secret` is what ACI Windows wants; sending it too is harmless here.
        let call = Call {
            query: &query,
            secret_headers: &[("X-IDENTITY-HEADER", &self.header), ("secret", &self.header)],
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
        ErrorKind::Status { status: 400 | 404 | 500, .. } => Some(
            "check that the app has a managed identity (az webapp identity assign / az containerapp identity \
             assign) and that a user-assigned id, if given, is assigned to it; this endpoint answers a vague \
             500 for an unknown identity or resource"
                .to_string(),
        ),
        _ => None,
    }
}
