//! Which token source this environment points to, as the Azure SDKs decide.

use super::Env;

/// The token sources kvinit knows, by their `--identity-source` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Imds,
    AppService,
    AciWindows,
    Arc,
    Workload,
    ClientSecret,
    CloudShell,
    MsiLegacy,
    ServiceFabric,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Imds,
        Kind::AppService,
        Kind::AciWindows,
        Kind::Arc,
        Kind::Workload,
        Kind::ClientSecret,
        Kind::CloudShell,
        Kind::MsiLegacy,
        Kind::ServiceFabric,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Imds => "imds",
            Kind::AppService => "app-service",
            Kind::AciWindows => "aci-windows",
            Kind::Arc => "arc",
            Kind::Workload => "workload",
            Kind::ClientSecret => "client-secret",
            Kind::CloudShell => "cloud-shell",
            Kind::MsiLegacy => "msi-legacy",
            Kind::ServiceFabric => "service-fabric",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        let name = name.trim().to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The variables this source cannot work without.
    pub(super) fn required(self) -> &'static [&'static str] {
        match self {
            Kind::Imds => &[],
            Kind::AppService | Kind::AciWindows => &["IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
            Kind::Arc => &["IDENTITY_ENDPOINT"],
            Kind::Workload => &["AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"],
            Kind::ClientSecret => &["AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"],
            Kind::CloudShell => &["MSI_ENDPOINT"],
            Kind::MsiLegacy => &["MSI_ENDPOINT", "MSI_SECRET"],
            Kind::ServiceFabric => &["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"],
        }
    }
}

/// Picks the source for this environment, as the Azure SDKs do
/// (docs/azure-wire.md section 1), and says why in variable names only.
///
/// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` mean App Service, Functions,
/// Container Apps or Automation, or an ACI Windows container. App Service sets
/// `WEBSITE_SITE_NAME` and Container Apps `CONTAINER_APP_NAME`; ACI sets
/// neither and has no IMDS on Windows. So: either marker means App Service;
/// neither, on Windows, means ACI Windows; neither elsewhere means App Service.
/// Both speak to the same variables and kvinit sends both headers, so a wrong
/// guess costs a clear error, not a silent success as someone else.
pub fn choose(env: &Env, windows: bool) -> (Kind, String) {
    let set = |names: &[&str]| names.iter().all(|n| env.get(n).is_some());
    let list = |names: &[&str]| names.join(" + ");
    let by_vars = |kind: Kind| (kind, format!("{} set", list(kind.required())));
    if set(Kind::ServiceFabric.required()) {
        return by_vars(Kind::ServiceFabric);
    }
    if set(Kind::AppService.required()) {
        let marker = ["WEBSITE_SITE_NAME", "CONTAINER_APP_NAME"].into_iter().find(|m| env.get(m).is_some());
        return match (marker, windows) {
            (Some(m), _) => (Kind::AppService, format!("IDENTITY_ENDPOINT + IDENTITY_HEADER and {m} set")),
            (None, true) => (
                Kind::AciWindows,
                "IDENTITY_ENDPOINT + IDENTITY_HEADER set on Windows, without WEBSITE_SITE_NAME or CONTAINER_APP_NAME"
                    .to_string(),
            ),
            (None, false) => (Kind::AppService, "IDENTITY_ENDPOINT + IDENTITY_HEADER set".to_string()),
        };
    }
    if set(&["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]) {
        return (Kind::Arc, "IDENTITY_ENDPOINT + IMDS_ENDPOINT set, IDENTITY_HEADER unset".to_string());
    }
    if set(Kind::MsiLegacy.required()) {
        return by_vars(Kind::MsiLegacy);
    }
    if set(Kind::CloudShell.required()) {
        return (Kind::CloudShell, "MSI_ENDPOINT set, MSI_SECRET unset".to_string());
    }
    if set(Kind::ClientSecret.required()) {
        return by_vars(Kind::ClientSecret);
    }
    if set(Kind::Workload.required()) {
        return by_vars(Kind::Workload);
    }
    (Kind::Imds, "no platform identity variables set".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_the_sdk_order() {
        let x = "VALUE-9f3";
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, Kind);
        let cases: &[Case] = &[
            (&[], false, Kind::Imds),
            (&[], true, Kind::Imds),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("IDENTITY_SERVER_THUMBPRINT", x)],
                false,
                Kind::ServiceFabric,
            ),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x)], false, Kind::AppService),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x)], true, Kind::AciWindows),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("WEBSITE_SITE_NAME", x)],
                true,
                Kind::AppService,
            ),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("CONTAINER_APP_NAME", x)],
                true,
                Kind::AppService,
            ),
            (
                &[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", x), ("IMDS_ENDPOINT", x)],
                false,
                Kind::AppService,
            ),
            (&[("IDENTITY_ENDPOINT", x), ("IMDS_ENDPOINT", x)], false, Kind::Arc),
            (&[("IDENTITY_ENDPOINT", x)], false, Kind::Imds),
            (&[("IDENTITY_ENDPOINT", x), ("IDENTITY_HEADER", "")], false, Kind::Imds),
            (&[("MSI_ENDPOINT", x), ("MSI_SECRET", x)], false, Kind::MsiLegacy),
            (&[("MSI_ENDPOINT", x)], false, Kind::CloudShell),
            (&[("MSI_ENDPOINT", x), ("MSI_SECRET", "")], false, Kind::CloudShell),
            (
                &[("AZURE_FEDERATED_TOKEN_FILE", x), ("AZURE_TENANT_ID", x), ("AZURE_CLIENT_ID", x)],
                false,
                Kind::Workload,
            ),
            (&[("AZURE_FEDERATED_TOKEN_FILE", x), ("AZURE_CLIENT_ID", x)], false, Kind::Imds),
            (
                &[("AZURE_CLIENT_SECRET", x), ("AZURE_TENANT_ID", x), ("AZURE_CLIENT_ID", x)],
                false,
                Kind::ClientSecret,
            ),
            (&[("AZURE_CLIENT_ID", x)], false, Kind::Imds),
            (
                &[
                    ("MSI_ENDPOINT", x),
                    ("AZURE_FEDERATED_TOKEN_FILE", x),
                    ("AZURE_TENANT_ID", x),
                    ("AZURE_CLIENT_ID", x),
                ],
                false,
                Kind::CloudShell,
            ),
        ];
        for (vars, windows, expected) in cases {
            let env: Env = vars.iter().map(|(k, v)| (*k, *v)).collect();
            let (kind, why) = choose(&env, *windows);
            assert_eq!(kind, *expected, "{vars:?} windows={windows}: {why}");
            assert!(!why.contains(x), "the reason names variables, never values: {why}");
        }
    }

    #[test]
    fn source_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("App-Service"), Some(Kind::AppService));
        assert_eq!(Kind::parse("auto"), None);
    }
}
