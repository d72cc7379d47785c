//! Azure Arc-enabled servers: a local agent that proves the caller can read
//! a root-only key file. The first request is answered 401 with
//! `WWW-Authenticate: Basic realm=<key file>`; the file's contents are sent
//! back as `Authorization: Basic <contents>`.

use std::path::{Path, PathBuf};

use super::{
    endpoint, fetch_token, Context, Error, ErrorKind, Kind, TokenSource, DEFAULT_POLICY, TOKEN_BODY_LIMIT,
};
use crate::http::Client;
use crate::request::{self, Call};
use crate::retry::Deadline;
use crate::secret::{AccessToken, Secret};

const API_VERSION: &str = "2020-06-01";

/// The agent's key files are small; anything larger is not one.
const KEY_FILE_LIMIT: u64 = 4096;

pub struct Arc {
    client: Client,
    endpoint: String,
    key_dir: PathBuf,
}

impl Arc {
    pub fn new(cx: &Context<'_>) -> Result<Arc, super::SetupError> {
        if cx.user_assigned.is_some() {
            return Err(cx.unsupported(Kind::Arc, "supports only the machine's system-assigned identity"));
        }
        Ok(Arc {
            client: cx.direct.clone(),
            endpoint: endpoint("IDENTITY_ENDPOINT", cx.var("IDENTITY_ENDPOINT"))?,
            key_dir: key_dir(cx),
        })
    }

    /// The first round: the 401 challenge naming the key file.
    fn challenge(&self, query: &[(&str, &str)], deadline: Deadline) -> Result<PathBuf, Error> {
        let call = Call {
            what: &"Azure Arc challenge",
            query,
            headers: &[("Metadata", "true")],
            expect: &[401, 200],
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        let read = |r: &crate::http::Response| match r.www_authenticate.as_deref().and_then(realm) {
            Some(path) if r.status == 401 => Ok(PathBuf::from(path)),
            _ if r.status == 200 => Err(ErrorKind::BadResponse("expected a 401 challenge, got 200".into())),
            _ => Err(ErrorKind::BadResponse(
                "401 without a WWW-Authenticate: Basic realm=<key file> challenge".into(),
            )),
        };
        request::send(&self.client, &call, &DEFAULT_POLICY, deadline, read)
            .map_err(|f| Error::from_failure(self.name(), |e| self.hint(e), &self.endpoint, f))
    }
}

impl TokenSource for Arc {
    fn name(&self) -> &'static str {
        "Azure Arc agent"
    }

    fn token(&self, resource: &str, deadline: Deadline) -> Result<AccessToken, Error> {
        let query = [("api-version", API_VERSION), ("resource", resource)];
        let path = self.challenge(&query, deadline)?;
        let key = read_key(&path, &self.key_dir).map_err(|why| Error {
            source_name: self.name(),
            endpoint: self.endpoint.clone(),
            kind: ErrorKind::File(why),
            attempts: 1,
            hint: Some("kvinit must run as root (or in the himds group) to read the Arc agent's key".into()),
        })?;
        let call = Call {
            query: &query,
            headers: &[("Metadata", "true")],
            authorization: Some(("Basic", &key)),
            ..Call::get(&self.endpoint, TOKEN_BODY_LIMIT)
        };
        fetch_token(self, resource, &self.client, call, &DEFAULT_POLICY, deadline)
    }
}

fn key_dir(cx: &Context<'_>) -> PathBuf {
    if cfg!(windows) {
        let base = cx.env.get("ProgramData").unwrap_or(r"C:\ProgramData");
        Path::new(base).join("AzureConnectedMachineAgent").join("Tokens")
    } else {
        PathBuf::from("/var/opt/azcmagent/tokens")
    }
}

/// `Basic realm=/var/opt/azcmagent/tokens/x.key` → the path.
fn realm(challenge: &str) -> Option<&str> {
    let rest = challenge.trim().strip_prefix("Basic")?.trim_start();
    let value = rest.strip_prefix("realm=")?.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    (!value.is_empty()).then_some(value)
}

/// Reads the key file the agent named, but only if it is a `.key` file
/// directly inside the agent's token directory (after resolving symlinks)
/// and no larger than 4 KiB: the path comes from a server's answer, and
/// must not make kvinit read and send any other file.
fn read_key(path: &Path, key_dir: &Path) -> Result<Secret, String> {
    let shown = path.display();
    if path.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(format!("refusing the Arc key file {shown}: it does not end in .key"));
    }
    let dir =
        key_dir.canonicalize().map_err(|e| format!("the Arc token directory {}: {e}", key_dir.display()))?;
    let real = path.canonicalize().map_err(|e| format!("the Arc key file {shown}: {e}"))?;
    if real.parent() != Some(dir.as_path()) || real.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(format!("refusing the Arc key file {shown}: it is not a .key file in {}", dir.display()));
    }
    let size = std::fs::metadata(&real).map_err(|e| format!("the Arc key file {shown}: {e}"))?.len();
    if size > KEY_FILE_LIMIT {
        return Err(format!("refusing the Arc key file {shown}: {size} bytes, more than {KEY_FILE_LIMIT}"));
    }
    let contents =
        std::fs::read_to_string(&real).map_err(|e| format!("reading the Arc key file {shown}: {e}"))?;
    Ok(Secret::new(contents.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms() {
        assert_eq!(
            realm("Basic realm=/var/opt/azcmagent/tokens/a.key"),
            Some("/var/opt/azcmagent/tokens/a.key")
        );
        assert_eq!(realm(r#"Basic realm="C:\ProgramData\x.key""#), Some(r"C:\ProgramData\x.key"));
        assert_eq!(realm("Bearer realm=x"), None);
        assert_eq!(realm("Basic realm="), None);
    }

    #[test]
    fn only_small_key_files_inside_the_directory_are_read() {
        let base = std::env::temp_dir().join(format!("kvinit-arc-unit-{}", std::process::id()));
        let dir = base.join("tokens");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("good.key"), "s3cret\n").unwrap();
        std::fs::write(dir.join("big.key"), vec![b'a'; 5000]).unwrap();
        std::fs::write(dir.join("wrong.txt"), "x").unwrap();
        std::fs::write(base.join("outside.key"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("outside.key"), dir.join("link.key")).unwrap();

        assert_eq!(read_key(&dir.join("good.key"), &dir).unwrap().expose(), "s3cret");
        let refused = |p: PathBuf| read_key(&p, &dir).unwrap_err();
        assert!(refused(dir.join("big.key")).contains("more than 4096"));
        assert!(refused(dir.join("wrong.txt")).contains("does not end in .key"));
        assert!(refused(base.join("outside.key")).contains("not a .key file in"));
        assert!(refused(dir.join("..").join("outside.key")).contains("not a .key file in"));
        #[cfg(unix)]
        assert!(refused(dir.join("link.key")).contains("not a .key file in"));
        assert!(refused(dir.join("missing.key")).contains("No such file"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
