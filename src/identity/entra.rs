//! Entra ID client credentials: AKS Workload Identity (a federated token
//! file as the client assertion) and service principals with a secret.
//! `POST {authority}/{tenant}/oauth2/v2.0/token`.

use std::path::PathBuf;

use super::UserAssigned;
use super::{
    fetch_token, Context, Error, ErrorKind, Kind, SetupError, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT,
};
use crate::http::Client;
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A projected service account token is ~1 KiB.
const TOKEN_FILE_LIMIT: u64 = 64 * 1024;

enum Credential {
    /// Re-read for every request: the kubelet rotates it.
    FederatedTokenFile(PathBuf),
    ClientSecret(Secret),
}

pub struct Entra {
    kind: Kind,
    client: Client,
    endpoint: String,
    client_id: String,
    credential: Credential,
}

impl Entra {
    pub fn workload(cx: &Context<'_>) -> Result<Entra, SetupError> {
        let file = PathBuf::from(cx.var("AZURE_FEDERATED_TOKEN_FILE"));
        Entra::new(Kind::Workload, cx, Credential::FederatedTokenFile(file))
    }

    pub fn client_secret(cx: &Context<'_>) -> Result<Entra, SetupError> {
        let secret = Secret::new(cx.var("AZURE_CLIENT_SECRET").to_string());
        Entra::new(Kind::ClientSecret, cx, Credential::ClientSecret(secret))
    }

    fn new(kind: Kind, cx: &Context<'_>, credential: Credential) -> Result<Entra, SetupError> {
        let client_id = match cx.user_assigned {
            Some(UserAssigned::ClientId(id)) => id.clone(),
            None => cx.var("AZURE_CLIENT_ID").to_string(),
            Some(_) => return Err(cx.unsupported(kind, "is an app registration, named only by client id")),
        };
        let authority = cx.env.get("AZURE_AUTHORITY_HOST").unwrap_or(cx.cloud.authority());
        if !authority.to_ascii_lowercase().starts_with("https://") {
            return Err(SetupError::Endpoint {
                var: "AZURE_AUTHORITY_HOST",
                value: authority.to_string(),
                why: "the authority must be https://: a client credential is sent to it",
            });
        }
        let tenant = cx.var("AZURE_TENANT_ID");
        if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            return Err(SetupError::Endpoint {
                var: "AZURE_TENANT_ID",
                value: tenant.to_string(),
                why: "not a tenant id or domain",
            });
        }
        Ok(Entra {
            kind,
            client: cx.web.clone(),
            endpoint: format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/')),
            client_id,
            credential,
        })
    }
}

impl TokenSource for Entra {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Workload => "Entra ID (workload identity)",
            _ => "Entra ID (client secret)",
        }
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        // Read for every token: the kubelet rotates the file.
        let assertion = match &self.credential {
            Credential::FederatedTokenFile(path) => Some(read_token_file(path).map_err(|why| Error {
                source_name: self.name(),
                endpoint: self.endpoint.clone(),
                kind: ErrorKind::File(why),
                attempts: 1,
                hint: None,
            })?),
            Credential::ClientSecret(_) => None,
        };
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("scope", &scope),
        ];
        match (&self.credential, &assertion) {
            (_, Some(assertion)) => {
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", assertion.expose()));
            }
            (Credential::ClientSecret(secret), None) => form.push(("client_secret", secret.expose())),
            (Credential::FederatedTokenFile(_), None) => unreachable!("the token file was read above"),
        }
        let call = Call {
            headers: &[("Accept", "application/json")],
            form: Some(&form),
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }

    fn hint(&self, failure: &ErrorKind) -> Option<String> {
        hint(failure)
    }
}

fn read_token_file(path: &std::path::Path) -> Result<Secret, String> {
    let file_error =
        |e: std::io::Error| format!("reading AZURE_FEDERATED_TOKEN_FILE {}: {e}", path.display());
    let size = std::fs::metadata(path).map_err(file_error)?.len();
    if size > TOKEN_FILE_LIMIT {
        return Err(format!("AZURE_FEDERATED_TOKEN_FILE {} is {size} bytes, not a token", path.display()));
    }
    let token = std::fs::read_to_string(path).map_err(file_error)?;
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("AZURE_FEDERATED_TOKEN_FILE {} is empty", path.display()));
    }
    Ok(Secret::new(token.to_string()))
}

/// Entra's structured `error_codes` (AADSTS numbers) say what is wrong.
fn hint(kind: &ErrorKind) -> Option<String> {
    let ErrorKind::Status { codes, .. } = kind else { return None };
    let hint = codes.iter().find_map(|code| {
        Some(match code {
            700016 => "the client id is not an application in this tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID",
            70021 | 700213 => {
                "no federated credential matches this token: check the credential's issuer (the cluster's OIDC \
                 issuer URL) and subject (system:serviceaccount:NAMESPACE:SERVICE-ACCOUNT)"
            }
            700024 => "the federated token has expired: the token file is not being refreshed",
            7000215 | 7000222 => "the client secret is wrong or expired: create a new one",
            90002 | 900023 => "the tenant was not found: check AZURE_TENANT_ID and --cloud",
            _ => return None,
        })
    })?;
    Some(hint.to_string())
}
