//! Which org and identity source serve each login: dialects whose credentials carry no org
//! log users of one configured org in; each provider a request names (HCX `authType`, Log
//! Insight `provider`, VCDA `type`) maps onto a source, or onto SSO domains for `user@domain`.

use std::collections::HashMap;

use tollgate_core::directory::{LOCAL_SOURCE, SYSTEM_ORG};

use crate::Dialect;

/// A provider mapped here resolves `user@domain` through [`Settings::sso_domains`].
pub const SSO: &str = "sso";

#[derive(Debug, Clone)]
pub struct DialectSettings {
    /// The org whose users log in through this dialect when the credentials name none.
    pub org: String,
    /// Provider name → identity source name, or [`SSO`]. A provider missing here is not
    /// configured and gets the dialect's documented error.
    pub providers: HashMap<String, String>,
}

/// A `vsphere.local`-style domain: its users are those of `org`, checked by `source`.
#[derive(Debug, Clone)]
pub struct SsoDomain {
    pub org: String,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub dialects: HashMap<Dialect, DialectSettings>,
    /// vCD org (lower case) → identity source; orgs not named use `local`.
    pub org_sources: HashMap<String, String>,
    /// SSO domain (lower case) → where its users live.
    pub sso_domains: HashMap<String, SsoDomain>,
    /// The domain of SSO user names given without `@domain`.
    pub default_sso_domain: String,
    /// The API versions Cloud Director's `/api/versions` lists, oldest first.
    pub vcd_versions: Vec<VcdVersion>,
    /// Proxies whose `X-Forwarded-For` names the client (throttling, audit, BlueCat's
    /// `remoteAddress`); nobody's by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// One Cloud Director API version and whether it is listed as deprecated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcdVersion {
    pub version: String,
    pub deprecated: bool,
}

/// Cloud Director versions listed by default: from 27.0 (seed 000 logs in with it) to 37.0
/// (go-vcloud-director needs exactly that one; pyvcloud picks the highest up to 36.0). Real
/// servers mark old versions deprecated; clients ignore the mark.
pub fn default_vcd_versions() -> Vec<VcdVersion> {
    (27..=37).map(|major| VcdVersion { version: format!("{major}.0"), deprecated: major < 33 }).collect()
}

/// Where a login goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Ask `source` about `username` in `org`.
    Source { org: String, source: String, username: String },
    /// `user@domain` for a domain nobody configured: refuse like a wrong password.
    UnknownDomain,
    /// The dialect's provider has no source configured.
    NotConfigured,
}

impl Default for Settings {
    fn default() -> Self {
        let providers = |dialect: Dialect| -> HashMap<String, String> {
            let sso_providers = ["vsphere", "vIDM", "ssoCredentials", "ssoToken"];
            dialect
                .providers()
                .iter()
                .map(|p| {
                    let target = if sso_providers.contains(p) { SSO } else { LOCAL_SOURCE };
                    (p.to_string(), target.to_owned())
                })
                .collect()
        };
        let dialects = Dialect::ALL
            .iter()
            .map(|&d| (d, DialectSettings { org: SYSTEM_ORG.to_owned(), providers: providers(d) }))
            .collect();
        Settings {
            dialects,
            org_sources: HashMap::new(),
            sso_domains: HashMap::from([(
                "vsphere.local".to_owned(),
                SsoDomain { org: SYSTEM_ORG.to_owned(), source: LOCAL_SOURCE.to_owned() },
            )]),
            default_sso_domain: "vsphere.local".to_owned(),
            vcd_versions: default_vcd_versions(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Settings {
    pub fn dialect(&self, dialect: Dialect) -> Option<&DialectSettings> {
        self.dialects.get(&dialect)
    }

    /// The org orgless credentials of `dialect` log into.
    pub fn org_of(&self, dialect: Dialect) -> &str {
        self.dialect(dialect).map(|d| d.org.as_str()).unwrap_or(SYSTEM_ORG)
    }

    /// The source that checks the users of a vCD org.
    pub fn source_of_org(&self, org: &str) -> &str {
        self.org_sources.get(&org.to_lowercase()).map(String::as_str).unwrap_or(LOCAL_SOURCE)
    }

    /// The SSO domain a Windows `DOMAIN\\user` name means: the one whose first label is
    /// `DOMAIN` (`TG` for `tg.test`), if exactly one is.
    fn domain_of_netbios(&self, netbios: &str) -> Option<&str> {
        let mut matching = self
            .sso_domains
            .keys()
            .filter(|d| d.split('.').next().is_some_and(|label| label.eq_ignore_ascii_case(netbios)));
        let domain = matching.next()?;
        matching.next().is_none().then_some(domain.as_str())
    }

    /// Where `username` logging in through `provider` of `dialect` goes: `user@domain` and
    /// `DOMAIN\\user` name an SSO domain, a bare name the default one.
    pub fn route(&self, dialect: Dialect, provider: &str, username: &str) -> Route {
        let Some(target) = self.dialect(dialect).and_then(|d| d.providers.get(provider)) else {
            return Route::NotConfigured;
        };
        if target != SSO {
            let org = self.org_of(dialect).to_owned();
            return Route::Source { org, source: target.clone(), username: username.to_owned() };
        }
        let (user, domain) = match (username.split_once('\\'), username.rsplit_once('@')) {
            (Some((domain, user)), _) => (user, self.domain_of_netbios(domain).unwrap_or(domain)),
            (None, Some((user, domain))) => (user, domain),
            (None, None) => (username, self.default_sso_domain.as_str()),
        };
        match self.sso_domains.get(&domain.to_lowercase()) {
            Some(d) if !user.is_empty() => {
                Route::Source { org: d.org.clone(), source: d.source.clone(), username: user.to_owned() }
            }
            _ => Route::UnknownDomain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_every_provider_reaches_the_system_orgs_local_users() {
        let settings = Settings::default();
        let local = |user: &str| Route::Source { org: "System".into(), source: "local".into(), username: user.into() };
        assert_eq!(settings.route(Dialect::Hcx, "local", "admin"), local("admin"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "admin@vsphere.local"), local("admin"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "admin@VSPHERE.LOCAL"), local("admin"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "admin"), local("admin"));
        assert_eq!(settings.route(Dialect::LogInsight, "ActiveDirectory", "bob"), local("bob"));
        assert_eq!(settings.route(Dialect::BlueCat, "default", "bob"), local("bob"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "VSPHERE\\admin"), local("admin"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "vsphere.local\\admin"), local("admin"));
    }

    #[test]
    fn windows_domain_names_route_to_the_domain_they_abbreviate() {
        let mut settings = Settings::default();
        let ad = SsoDomain { org: "corp".into(), source: "corp-ad".into() };
        settings.sso_domains.insert("tg.test".into(), ad);
        let to_ad = |user: &str| Route::Source { org: "corp".into(), source: "corp-ad".into(), username: user.into() };
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "TG\\alice"), to_ad("alice"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "alice@TG.TEST"), to_ad("alice"));
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "CORP\\alice"), Route::UnknownDomain);
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "TG\\"), Route::UnknownDomain);
    }

    #[test]
    fn unknown_domains_and_unconfigured_providers_are_told_apart() {
        let mut settings = Settings::default();
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "admin@corp.example"), Route::UnknownDomain);
        assert_eq!(settings.route(Dialect::Hcx, "vsphere", "@vsphere.local"), Route::UnknownDomain);
        assert_eq!(settings.route(Dialect::Hcx, "password", "admin"), Route::NotConfigured);
        settings.dialects.get_mut(&Dialect::LogInsight).unwrap().providers.remove("vIDM");
        assert_eq!(settings.route(Dialect::LogInsight, "vIDM", "a@vsphere.local"), Route::NotConfigured);
    }

    #[test]
    fn vcd_orgs_use_local_unless_configured() {
        let mut settings = Settings::default();
        assert_eq!(settings.source_of_org("org1"), "local");
        settings.org_sources.insert("org1".into(), "corp-ldap".into());
        assert_eq!(settings.source_of_org("ORG1"), "corp-ldap");
    }
}
