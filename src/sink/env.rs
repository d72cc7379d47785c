//! Secrets into the child's environment. kvinit's own environment is never
//! modified: the child's is built here and handed to `launch`.

use std::ffi::OsString;

use crate::config::Output;
use crate::secret::Secret;

/// Lays each output over `base`: a variable that exists (an App Service
/// reference, say) is replaced in place, a new one is appended.
pub fn build(
    mut base: Vec<(OsString, OsString)>,
    outputs: &[Output],
    values: &[&Secret],
) -> Vec<(OsString, OsString)> {
    for output in outputs {
        let value = OsString::from(values[output.secret].expose());
        match base.iter_mut().find(|(k, _)| k == output.var.as_str()) {
            Some((_, v)) => *v = value,
            None => base.push((OsString::from(&output.var), value)),
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    #[test]
    fn outputs_replace_and_extend_the_base() {
        let base = vec![("PATH".into(), "/bin".into()), ("DB".into(), "@Microsoft.KeyVault(...)".into())];
        let outputs = [
            Output { var: "DB".into(), secret: 0, origin: Origin::AppServiceReference },
            Output { var: "API".into(), secret: 1, origin: Origin::Flag },
            Output { var: "API2".into(), secret: 1, origin: Origin::Flag },
        ];
        let (a, b) = (Secret::new("one".into()), Secret::new("two".into()));
        let env = build(base, &outputs, &[&a, &b]);
        let env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.to_str().unwrap(), v.to_str().unwrap())).collect();
        assert_eq!(env, vec![("PATH", "/bin"), ("DB", "one"), ("API", "two"), ("API2", "two")]);
    }
}
