//! Service Fabric: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` +
//! `IDENTITY_SERVER_THUMBPRINT`, over HTTPS to the cluster's own endpoint,
//! whose certificate is trusted by thumbprint alone.

use super::{
    endpoint, fetch_token, Context, Error, Kind, SetupError, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT,
};
use crate::http::Client;
use crate::request::Call;
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

const API_VERSION: &str = "2019-07-01-preview";

pub struct ServiceFabric {
    client: Client,
    endpoint: String,
    header: Secret,
}

impl ServiceFabric {
    pub fn new(cx: &Context<'_>) -> Result<ServiceFabric, SetupError> {
        if cx.user_assigned.is_some() {
            return Err(cx.unsupported(
                Kind::ServiceFabric,
                "uses the identity the application manifest assigns, and cannot choose one at run time",
            ));
        }
        let value = cx.var("IDENTITY_SERVER_THUMBPRINT");
        let thumbprint = parse_thumbprint(value).ok_or_else(|| SetupError::Endpoint {
            var: "IDENTITY_SERVER_THUMBPRINT",
            value: value.to_string(),
            why: "not a SHA-1 thumbprint (40 hex digits)",
        })?;
        Ok(ServiceFabric {
            client: Client::pinned(thumbprint),
            endpoint: endpoint("IDENTITY_ENDPOINT", cx.var("IDENTITY_ENDPOINT"))?,
            header: Secret::new(cx.var("IDENTITY_HEADER").to_string()),
        })
    }
}

impl TokenSource for ServiceFabric {
    fn name(&self) -> &'static str {
        "Service Fabric identity endpoint"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let query = [("api-version", API_VERSION), ("resource", resource)];
        let call = Call {
            query: &query,
            secret_headers: &[("secret", &self.header)],
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        // The default policy does not retry 404, as Service Fabric asks.
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }
}

/// 40 hex digits, in either case, with optional spaces or colons between bytes.
fn parse_thumbprint(s: &str) -> Option<[u8; 20]> {
    let hex: String = s.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints() {
        let t = parse_thumbprint("0123456789abcdefABCDEF0123456789abcdef01").unwrap();
        assert_eq!(t[0], 0x01);
        assert_eq!(t[19], 0x01);
        assert!(parse_thumbprint("01:23:45:67:89:ab:cd:ef:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01").is_some());
        assert!(parse_thumbprint("0123").is_none());
        assert!(parse_thumbprint("zz23456789abcdefABCDEF0123456789abcdef01").is_none());
    }
}
