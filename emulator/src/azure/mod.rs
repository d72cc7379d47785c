//! Fakes of Azure's token endpoints and Key Vault that follow
//! docs/azure-wire.md and the recorded exchanges in tests/recordings: the
//! same paths, parameters, headers, bodies and error shapes as the real
//! services. One file per dialect.

mod endpoint;
mod imds;
mod vault;

pub use endpoint::{FakeTokenEndpoint, Style};
pub use imds::{identity_fault, FakeImds};
pub use vault::{add_version, new_version, vault_fault, Denial, FakeVault, Paging, StoredSecret, Throttle};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::server::Reply;
use crate::token;

/// The tenant every fake token is issued in.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Tokens the fake IMDS issued, and for which resource.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Mutex<Vec<(String, String)>>>);

impl Tokens {
    pub(crate) fn issue(&self, resource: &str) -> String {
        let token = token::mint(resource, TENANT);
        self.0.lock().unwrap().push((token.clone(), resource.to_string()));
        token
    }

    pub(crate) fn resource_of(&self, token: &str) -> Option<String> {
        self.0.lock().unwrap().iter().find(|(t, _)| t == token).map(|(_, r)| r.clone())
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }
}

/// Scripted replies served before the normal behaviour, in order.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<VecDeque<Reply>>>);

impl Script {
    pub fn push(&self, reply: Reply) {
        self.0.lock().unwrap().push_back(reply);
    }

    pub(crate) fn next(&self) -> Option<Reply> {
        self.0.lock().unwrap().pop_front()
    }
}

/// Which identities the fake VM has.
#[derive(Clone, Debug)]
pub struct Identities {
    pub system_assigned: bool,
    /// (client_id, object_id, msi_res_id) of each user-assigned identity.
    pub user_assigned: Vec<(String, String, String)>,
}

/// The `{"error","error_description"}` body of IMDS and its kin.
pub(crate) fn imds_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, &format!(r#"{{"error":"{error}","error_description":"{description}"}}"#))
}
