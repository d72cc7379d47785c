//! The `--secrets` file: a JSON object of secret name to either a value or
//! `{"value" | "versions", "contentType", "enabled", "tags"}`.

use std::collections::BTreeMap;

use crate::azure::{new_version, StoredSecret};

/// Parses the file's text; the error names the secret and what is wrong.
pub fn parse(text: &str) -> Result<BTreeMap<String, StoredSecret>, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = doc else {
        return Err("expected a JSON object of secret name to value".into());
    };
    let mut secrets = BTreeMap::new();
    for (name, spec) in map {
        if !valid_name(&name) {
            return Err(format!(
                "{name:?} is not a Key Vault secret name (1-127 letters, digits and dashes)"
            ));
        }
        let secret = stored(&spec).map_err(|why| format!("secret {name}: {why}"))?;
        secrets.insert(name, secret);
    }
    Ok(secrets)
}

fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn stored(spec: &serde_json::Value) -> Result<StoredSecret, String> {
    use serde_json::Value;
    let simple = |value: &str| StoredSecret {
        versions: vec![(new_version(), value.to_string())],
        enabled: true,
        content_type: None,
        tags: Default::default(),
    };
    let fields = match spec {
        Value::String(value) => return Ok(simple(value)),
        Value::Object(fields) => fields,
        _ => return Err("expected a string or an object".into()),
    };
    if let Some(unknown) =
        fields.keys().find(|k| !["value", "versions", "contentType", "enabled", "tags"].contains(&k.as_str()))
    {
        return Err(format!("unknown field {unknown:?} (value, versions, contentType, enabled, tags)"));
    }
    let versions = match (fields.get("value"), fields.get("versions")) {
        (Some(Value::String(v)), None) => vec![(new_version(), v.clone())],
        (None, Some(Value::Array(list))) if !list.is_empty() => {
            list.iter().map(version).collect::<Result<Vec<_>, String>>()?
        }
        (None, Some(_)) => return Err("\"versions\" must be a non-empty array, oldest first".into()),
        (Some(_), None) => return Err("\"value\" must be a string".into()),
        (Some(_), Some(_)) => return Err("give \"value\" or \"versions\", not both".into()),
        (None, None) => return Err("needs \"value\" or \"versions\"".into()),
    };
    let content_type = match fields.get("contentType") {
        None => None,
        Some(Value::String(ct)) => Some(ct.clone()),
        Some(_) => return Err("\"contentType\" must be a string".into()),
    };
    let enabled = match fields.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"enabled\" must be true or false".into()),
    };
    let tags = match fields.get("tags") {
        None => Default::default(),
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect::<Option<_>>()
            .ok_or("\"tags\" values must be strings")?,
        Some(_) => return Err("\"tags\" must be an object of strings".into()),
    };
    Ok(StoredSecret { versions, enabled, content_type, tags })
}

/// A version: a value, or `{"id": "<32 hex>", "value": "..."}` to fix its id.
fn version(spec: &serde_json::Value) -> Result<(String, String), String> {
    use serde_json::Value;
    match spec {
        Value::String(value) => Ok((new_version(), value.clone())),
        Value::Object(fields) => match (fields.get("id"), fields.get("value")) {
            (Some(Value::String(id)), Some(Value::String(value)))
                if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok((id.to_ascii_lowercase(), value.clone()))
            }
            _ => Err("a version is a string or {\"id\": \"<32 hex digits>\", \"value\": \"...\"}".into()),
        },
        _ => Err("a version is a string or an object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes() {
        let s = parse(
            r#"{"a": "x", "b": {"versions": ["1", {"id": "0123456789abcdef0123456789ABCDEF", "value": "2"}],
                "contentType": "text/plain", "enabled": false}}"#,
        )
        .unwrap();
        assert_eq!(s["a"].versions.len(), 1);
        assert_eq!(s["a"].versions[0].1, "x");
        assert!(s["a"].enabled);
        let b = &s["b"];
        assert_eq!(b.versions[1], ("0123456789abcdef0123456789abcdef".to_string(), "2".to_string()));
        assert_eq!(b.content_type.as_deref(), Some("text/plain"));
        assert!(!b.enabled);
        assert_ne!(b.versions[0].0, s["a"].versions[0].0);
    }

    #[test]
    fn errors_name_the_secret() {
        for (text, needle) in [
            ("[]", "JSON object"),
            ("{", "not JSON"),
            (r#"{"bad_name": "x"}"#, "\"bad_name\" is not a Key Vault secret name"),
            (r#"{"a": 1}"#, "secret a: expected a string"),
            (r#"{"a": {"value": "x", "versions": ["y"]}}"#, "secret a: give"),
            (r#"{"a": {"versions": []}}"#, "non-empty"),
            (r#"{"a": {"value": "x", "colour": 1}}"#, "unknown field \"colour\""),
            (r#"{"a": {"versions": [{"id": "12", "value": "x"}]}}"#, "32 hex"),
            (r#"{"a": {"value": "x", "enabled": "yes"}}"#, "true or false"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
