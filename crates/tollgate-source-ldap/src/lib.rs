//! The `ldap` identity source: OpenLDAP, Active Directory and any LDAPv3 directory.
//!
//! A login is search-then-bind: a service account (or an anonymous bind) searches `base_dn`
//! with `user_filter` for the one entry the login name names (the name escaped into the
//! filter), then a *fresh* connection binds as the entry found with the password given, so the
//! service connection never changes identity. Groups come from the entry's `memberOf`, from a
//! search for groups whose `member` is the user, or from Active Directory's transitive
//! `LDAP_MATCHING_RULE_IN_CHAIN` (nested groups); `group_roles` maps them onto roles at every
//! login. Referrals are never chased.
//!
//! Every step is bounded: connecting (TCP, StartTLS, TLS handshake) by `connect_timeout`, each
//! operation by `operation_timeout`, the whole login by `login_timeout` (the core enforces it
//! and answers with a server error). A URL that cannot be reached is skipped for the next one.
//! Active Directory's bind sub-codes (`data 773` and friends in the diagnostic text) become the
//! [`Refusal`] they mean, so the audit log tells "must change password" from "wrong password"
//! while the client gets its dialect's ordinary refusal.
//!
//! The LDAP client panics on some malformed answers (ldap3 decodes a server's BER with
//! `expect`): a login catches that panic and turns it into a server error, so a broken or
//! hostile directory costs a login, never the task that serves it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::FutureExt;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, ldap_escape};
use serde::{Deserialize, Serialize};
use tollgate_core::{Identity, IdentitySource, ProbeStep, Refusal, SourceAttempt, SourceError, Verdict};

/// Where a user's groups are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLookup {
    /// No groups: everyone gets `default_roles`.
    None,
    /// Groups under `group_base_dn` whose `member` is the user (OpenLDAP `groupOfNames`).
    #[default]
    Member,
    /// The user entry's `memberOf` (OpenLDAP's memberof overlay, Active Directory; direct
    /// groups only).
    MemberOf,
    /// Groups that contain the user directly or through nested groups (Active Directory's
    /// `LDAP_MATCHING_RULE_IN_CHAIN`, 1.2.840.113556.1.4.1941).
    InChain,
}

/// One `[sources.NAME]` table of `kind = "ldap"`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:636` or `ldap://host:389` (with `starttls`), tried in order.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS before anything is sent.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CA(s) that sign the directory's certificate; the system's roots when
    /// unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The service account that searches; an anonymous search when unset.
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<String>,
    /// Where users are searched (subtree).
    pub base_dn: String,
    /// `{user}` is replaced by the login name, escaped (RFC 4515).
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Active Directory's DNS domain (`corp.example`): `user@corp.example` and `CORP\user`
    /// then name the account `user`.
    #[serde(default)]
    pub domain: Option<String>,
    /// The NetBIOS domain of `DOMAIN\user` names; by default the first label of `domain`.
    #[serde(default)]
    pub netbios_domain: Option<String>,
    #[serde(default)]
    pub groups: GroupLookup,
    /// Where groups are searched for `member` and `in_chain`; `base_dn` when unset.
    #[serde(default)]
    pub group_base_dn: Option<String>,
    /// Group DN → the roles its members hold (DNs match whatever their case and spacing).
    #[serde(default)]
    pub group_roles: HashMap<String, Vec<String>>,
    /// Roles every user of the directory holds, groups or not; with none, a user in no
    /// mapped group is refused.
    #[serde(default)]
    pub default_roles: Vec<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: f64,
    #[serde(default = "default_operation_timeout")]
    pub operation_timeout_seconds: f64,
    #[serde(default = "default_login_timeout")]
    pub login_timeout_seconds: f64,
}

fn default_user_filter() -> String {
    "(uid={user})".into()
}
fn default_connect_timeout() -> f64 {
    2.0
}
fn default_operation_timeout() -> f64 {
    3.0
}
fn default_login_timeout() -> f64 {
    5.0
}

// The service password stays out of debug output, and so out of any log.
impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("urls", &self.urls)
            .field("starttls", &self.starttls)
            .field("bind_dn", &self.bind_dn)
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// What a login found about its user before the password was tried.
struct Found {
    dn: String,
    member_of: Vec<String>,
}

#[derive(Debug)]
pub struct LdapSource {
    config: LdapConfig,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    operation_timeout: Duration,
    login_timeout: Duration,
    /// `group_roles` under normalised DNs.
    group_roles: HashMap<String, Vec<String>>,
}

impl LdapSource {
    /// Checks the configuration and loads the CA; connects to nothing yet.
    pub fn new(config: LdapConfig) -> Result<LdapSource, String> {
        if config.urls.is_empty() {
            return Err("urls must name at least one ldap:// or ldaps:// URL".into());
        }
        for url in &config.urls {
            let plain = match url.split_once("://") {
                Some(("ldaps", _)) => false,
                Some(("ldap", _)) => true,
                _ => return Err(format!("{url:?} is not an ldap:// or ldaps:// URL")),
            };
            // Passwords would cross the network in clear.
            if plain && !config.starttls && !is_loopback(url) {
                return Err(format!("{url:?} is plain LDAP to another host: use ldaps:// or starttls = true"));
            }
        }
        if !config.user_filter.contains("{user}") {
            return Err("user_filter must contain {user}".into());
        }
        if config.bind_dn.is_some() != config.bind_password.is_some() {
            return Err("bind_dn and bind_password go together".into());
        }
        let seconds = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 && value <= 600.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!("{name} must be more than 0 and at most 600"))
            }
        };
        let connect_timeout = seconds("connect_timeout_seconds", config.connect_timeout_seconds)?;
        let operation_timeout = seconds("operation_timeout_seconds", config.operation_timeout_seconds)?;
        let login_timeout = seconds("login_timeout_seconds", config.login_timeout_seconds)?;
        let group_roles = config.group_roles.iter().map(|(dn, roles)| (normalise_dn(dn), roles.clone())).collect();
        let tls = tls_config(config.ca_file.as_deref())?;
        Ok(LdapSource { config, tls, connect_timeout, operation_timeout, login_timeout, group_roles })
    }

    async fn connect(&self, url: &str) -> Result<Ldap, String> {
        let started = Instant::now();
        let address = host_and_port(url);
        let tcp = tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(&address))
            .await
            .map_err(|_| "no connection in time".to_owned())?
            .map_err(|e| e.to_string())?;
        // Requests are small: without this, delayed ACKs hold each one back some 40 ms.
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let tcp = tcp.into_std().map_err(|e| e.to_string())?;
        let settings = LdapConnSettings::new()
            .set_std_stream(ldap3::StdStream::Tcp(tcp))
            .set_conn_timeout(self.connect_timeout.saturating_sub(started.elapsed()))
            .set_starttls(self.config.starttls && url.starts_with("ldap://"))
            .set_config(self.tls.clone());
        let (connection, ldap) = LdapConnAsync::with_settings(settings, url).await.map_err(describe)?;
        ldap3::drive!(connection);
        Ok(ldap)
    }

    /// Connects to `url` and binds as `dn`: the bind's result, or why there is none.
    async fn connect_and_bind(&self, url: &str, dn: &str, password: &str) -> Result<(Ldap, ldap3::LdapResult), String> {
        let mut ldap = self.connect(url).await?;
        let result = ldap.with_timeout(self.operation_timeout).simple_bind(dn, password).await.map_err(describe)?;
        Ok((ldap, result))
    }

    /// Binds as `dn` on the first URL that answers, in order: a server that cannot be
    /// reached, or does not answer in time, passes the turn to the next.
    async fn bind_any(&self, dn: &str, password: &str) -> Result<(Ldap, ldap3::LdapResult, &str), String> {
        let mut failures = Vec::new();
        for url in &self.config.urls {
            match self.connect_and_bind(url, dn, password).await {
                Ok((ldap, result)) => return Ok((ldap, result, url)),
                Err(e) => {
                    tracing::warn!(url = %url, error = %e, "LDAP server unreachable; trying the next URL");
                    failures.push(format!("{url}: {e}"));
                }
            }
        }
        Err(failures.join("; "))
    }

    /// A new connection bound as the service account (or anonymously).
    async fn service_connection(&self) -> Result<(Ldap, &str), String> {
        let (dn, password) = match (&self.config.bind_dn, &self.config.bind_password) {
            (Some(dn), Some(password)) => (dn.as_str(), password.as_str()),
            _ => ("", ""),
        };
        let (ldap, result, url) = self.bind_any(dn, password).await?;
        if result.rc != 0 {
            return Err(format!("{url}: the service bind as {dn:?} was refused: {}", result_text(&result)));
        }
        Ok((ldap, url))
    }

    /// The login name as the directory knows the account: `DOMAIN\user` and `user@domain`
    /// of this directory's own domain are `user`.
    fn strip_domain<'a>(&self, typed: &'a str) -> &'a str {
        if let Some((prefix, user)) = typed.split_once('\\') {
            let netbios = self
                .config
                .netbios_domain
                .as_deref()
                .or_else(|| self.config.domain.as_deref().and_then(|d| d.split('.').next()));
            if netbios.is_some_and(|n| n.eq_ignore_ascii_case(prefix)) {
                return user;
            }
        }
        if let (Some((user, domain)), Some(own)) = (typed.rsplit_once('@'), &self.config.domain)
            && domain.eq_ignore_ascii_case(own)
        {
            return user;
        }
        typed
    }

    /// Searches for the one entry `user` names; `None` when there is none, or more than one.
    async fn find(&self, ldap: &mut Ldap, user: &str) -> Result<Option<Found>, String> {
        let filter = self.config.user_filter.replace("{user}", &ldap_escape(user));
        let attrs: &[&str] = match self.config.groups {
            GroupLookup::MemberOf => &["memberOf"],
            _ => &["1.1"],
        };
        let ldap3::SearchResult(entries, result) = ldap
            .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
            .with_timeout(self.operation_timeout)
            .search(&self.config.base_dn, Scope::Subtree, &filter, attrs)
            .await
            .map_err(describe)?;
        // sizeLimitExceeded: the filter names more than one entry, which must not log in.
        if !matches!(result.rc, 0 | 4) {
            return Err(format!("the search for the user failed: {}", result_text(&result)));
        }
        let mut entries = entries.into_iter().map(SearchEntry::construct);
        let (Some(entry), None) = (entries.next(), entries.next()) else {
            if result.rc == 4 {
                tracing::warn!(user = ?user, "user_filter matched more than one entry; refusing the login");
            }
            return Ok(None);
        };
        let member_of = entry.attrs.get("memberOf").cloned().unwrap_or_default();
        Ok(Some(Found { dn: entry.dn, member_of }))
    }

    /// The DNs of the groups `found` is in, as `groups` says to read them.
    async fn groups(&self, ldap: &mut Ldap, found: Found) -> Result<Vec<String>, String> {
        let filter = match self.config.groups {
            GroupLookup::None => return Ok(Vec::new()),
            GroupLookup::MemberOf => return Ok(found.member_of),
            GroupLookup::Member => format!("(member={})", ldap_escape(&found.dn)),
            GroupLookup::InChain => format!("(member:1.2.840.113556.1.4.1941:={})", ldap_escape(&found.dn)),
        };
        let base = self.config.group_base_dn.as_deref().unwrap_or(&self.config.base_dn);
        let ldap3::SearchResult(entries, result) = ldap
            .with_search_options(ldap3::SearchOptions::new().sizelimit(1000))
            .with_timeout(self.operation_timeout)
            .search(base, Scope::Subtree, &filter, &["1.1"])
            .await
            .map_err(describe)?;
        if result.rc != 0 {
            return Err(format!("the search for the user's groups failed: {}", result_text(&result)));
        }
        Ok(entries.into_iter().map(|e| SearchEntry::construct(e).dn).collect())
    }

    /// Binds a fresh connection as `dn`: the password check.
    async fn bind_as(&self, dn: &str, password: &str) -> Result<Option<Refusal>, String> {
        let (mut ldap, result, url) = self.bind_any(dn, password).await?;
        let _ = ldap.unbind().await;
        match result.rc {
            0 => Ok(None),
            49 => Ok(Some(ad_refusal(&result.text))),
            _ => Err(format!("{url}: the bind as the user failed: {}", result_text(&result))),
        }
    }

    /// The roles `groups` grant, with `default_roles`; each once, sorted.
    fn roles_of(&self, groups: &[String]) -> Vec<String> {
        let mut roles: Vec<String> = self.config.default_roles.clone();
        for group in groups {
            for role in self.group_roles.get(&normalise_dn(group)).into_iter().flatten() {
                if !roles.iter().any(|r| r.eq_ignore_ascii_case(role)) {
                    roles.push(role.clone());
                }
            }
        }
        roles.sort();
        roles
    }

    async fn check(&self, user: &str, password: &str) -> Result<Verdict, String> {
        // An empty password is an unauthenticated bind, which servers answer with success.
        if password.is_empty() {
            return Ok(Verdict::Refused(Refusal::WrongPassword));
        }
        let (mut service, _) = self.service_connection().await?;
        let Some(found) = self.find(&mut service, user).await? else {
            // Bind as nobody, so that an unknown name costs what a wrong password costs.
            let nobody = format!("cn={},{}", tollgate_core::token::hex128(), self.config.base_dn);
            self.bind_as(&nobody, password).await?;
            return Ok(Verdict::Refused(Refusal::UnknownUser));
        };
        if let Some(refusal) = self.bind_as(&found.dn, password).await? {
            return Ok(Verdict::Refused(refusal));
        }
        let groups = self.groups(&mut service, found).await?;
        let _ = service.unbind().await;
        let roles = self.roles_of(&groups);
        if roles.is_empty() {
            return Ok(Verdict::Refused(Refusal::NoRole));
        }
        Ok(Verdict::Accepted(Identity { roles: Some(roles), ..Identity::default() }))
    }
}

#[async_trait]
impl IdentitySource for LdapSource {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    fn deadline(&self) -> Duration {
        self.login_timeout
    }

    fn account_name<'a>(&self, typed: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(self.strip_domain(typed))
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        let Some(password) = attempt.credential.password() else {
            return Ok(Verdict::Refused(Refusal::UnsupportedCredential));
        };
        match AssertUnwindSafe(self.check(attempt.username, password)).catch_unwind().await {
            Ok(verdict) => verdict.map_err(SourceError),
            Err(panic) => Err(SourceError(client_panic(&*panic))),
        }
    }

    async fn probe(&self, user: Option<&str>, password: Option<&str>) -> Vec<ProbeStep> {
        let started = Instant::now();
        match AssertUnwindSafe(self.probe_steps(user, password)).catch_unwind().await {
            Ok(steps) => steps,
            Err(panic) => {
                vec![ProbeStep {
                    step: "probe".into(),
                    elapsed: started.elapsed(),
                    outcome: Err(client_panic(&*panic)),
                }]
            }
        }
    }
}

impl LdapSource {
    async fn probe_steps(&self, user: Option<&str>, password: Option<&str>) -> Vec<ProbeStep> {
        let mut steps = Vec::new();
        let mut step = |name: String, started: Instant, outcome: Result<String, String>| {
            let failed = outcome.is_err();
            steps.push(ProbeStep { step: name, elapsed: started.elapsed(), outcome });
            !failed
        };
        let started = Instant::now();
        let (mut ldap, url) = match self.service_connection().await {
            Ok(connected) => connected,
            Err(e) => {
                step("connect and service bind".into(), started, Err(e));
                return steps;
            }
        };
        let who = self.config.bind_dn.as_deref().unwrap_or("anonymous");
        step(
            format!("connect {url} ({}), service bind as {who}", tls_mode(url, self.config.starttls)),
            started,
            Ok(String::new()),
        );
        let Some(user) = user else { return steps };
        let user = self.strip_domain(user);
        let started = Instant::now();
        let found = match self.find(&mut ldap, user).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                step(format!("search {user}"), started, Err("no single entry matches user_filter".into()));
                return steps;
            }
            Err(e) => {
                step(format!("search {user}"), started, Err(e));
                return steps;
            }
        };
        let dn = found.dn.clone();
        step(format!("search {user}"), started, Ok(dn.clone()));
        let started = Instant::now();
        let groups = self.groups(&mut ldap, found).await;
        let roles = groups.as_ref().map(|g| self.roles_of(g)).unwrap_or_default();
        let described = groups.map(|g| format!("{} group(s) {g:?}; roles {roles:?}", g.len()));
        if !step("groups".into(), started, described) {
            return steps;
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            let started = Instant::now();
            let outcome = match self.bind_as(&dn, password).await {
                Ok(None) => Ok("password accepted".into()),
                Ok(Some(refusal)) => Err(format!("refused: {}", refusal.reason().as_str())),
                Err(e) => Err(e),
            };
            step("user bind".into(), started, outcome);
        }
        steps
    }
}

/// The refusal an invalidCredentials (49) bind result means: Active Directory names the
/// reason in its diagnostic text as `data XXX`.
fn ad_refusal(text: &str) -> Refusal {
    let code = text.split(", ").find_map(|part| part.strip_prefix("data ")).map(str::trim);
    match code {
        Some("525") => Refusal::UnknownUser,
        Some("530" | "531" | "533") => Refusal::Disabled,
        Some("532") => Refusal::PasswordExpired,
        Some("701") => Refusal::AccountExpired,
        Some("773") => Refusal::MustChangePassword,
        Some("775") => Refusal::LockedInSource,
        _ => Refusal::WrongPassword,
    }
}

/// A DN as `group_roles` keys are compared: lower case, no space around `,` and `=`.
fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

fn is_loopback(url: &str) -> bool {
    let host = url.split_once("://").map_or("", |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host:port` of an `ldap://` or `ldaps://` URL, with the scheme's default port.
fn host_and_port(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("ldap", url));
    let authority = rest.split('/').next().unwrap_or_default();
    let has_port = match authority.rsplit_once(':') {
        Some((host, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':'),
        None => false,
    };
    let has_port = has_port && !(authority.starts_with('[') && authority.ends_with(']'));
    match (has_port, scheme) {
        (true, _) => authority.to_owned(),
        (false, "ldaps") => format!("{authority}:636"),
        (false, _) => format!("{authority}:389"),
    }
}

fn tls_mode(url: &str, starttls: bool) -> &'static str {
    match (url.starts_with("ldaps://"), starttls) {
        (true, _) => "LDAPS",
        (false, true) => "StartTLS",
        (false, false) => "plain LDAP (loopback)",
    }
}

/// Trusts the CA(s) in `ca_file`, or the system's roots.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ca_file {} holds no PEM certificate", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What a panic of the LDAP client says, for the server error it becomes.
fn client_panic(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("the LDAP client could not decode the server's answer ({message})")
}

fn result_text(result: &ldap3::LdapResult) -> String {
    format!("result code {} {:?}", result.rc, result.text)
}

fn describe(error: LdapError) -> String {
    match error {
        LdapError::Timeout { .. } => "no answer in time".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_directory_sub_codes_name_the_refusal() {
        let text = |code: &str| {
            format!("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data {code}, v4563\0")
        };
        assert_eq!(ad_refusal(&text("52e")), Refusal::WrongPassword);
        assert_eq!(ad_refusal(&text("773")), Refusal::MustChangePassword);
        assert_eq!(ad_refusal(&text("533")), Refusal::Disabled);
        assert_eq!(ad_refusal(&text("532")), Refusal::PasswordExpired);
        assert_eq!(ad_refusal(&text("701")), Refusal::AccountExpired);
        assert_eq!(ad_refusal(&text("775")), Refusal::LockedInSource);
        assert_eq!(ad_refusal(""), Refusal::WrongPassword, "OpenLDAP says nothing more");
    }

    #[test]
    fn group_dns_match_whatever_their_case_and_spacing() {
        assert_eq!(normalise_dn("CN=Admins, OU=Groups ,DC=Example,DC=org"), "cn=admins,ou=groups,dc=example,dc=org");
    }

    #[test]
    fn urls_give_their_port_or_the_schemes() {
        assert_eq!(host_and_port("ldaps://127.0.0.2"), "127.0.0.2:636");
        assert_eq!(host_and_port("ldap://dc1.corp.example/"), "dc1.corp.example:389");
        assert_eq!(host_and_port("ldap://127.0.0.1:3389"), "127.0.0.1:3389");
        assert_eq!(host_and_port("ldaps://[::1]"), "[::1]:636");
        assert_eq!(host_and_port("ldaps://[::1]:1636"), "[::1]:1636");
    }

    #[test]
    fn plain_ldap_is_refused_off_loopback() {
        assert!(
            is_loopback("ldap://127.0.0.1:389") && is_loopback("ldap://[::1]:389/") && is_loopback("ldap://localhost")
        );
        assert!(!is_loopback("ldap://dc1.corp.example:389") && !is_loopback("ldap://10.0.0.1"));
    }
}
