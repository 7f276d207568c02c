//! Configuration: built-in defaults, then a TOML file (`--config`), then `TOLLGATE_*`
//! environment variables (nested keys joined with `__`), then command-line flags.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tollgate_core::password::MAX_PASSWORD_BYTES;
use tollgate_core::{CoreConfig, DialectPolicy, LockoutPolicy, PasswordPolicy, ThrottlePolicy};
use tollgate_dialects::settings::{SSO, VcdVersion};
use tollgate_dialects::{Dialect, DialectSettings, Settings, SsoDomain};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Holds the SQLite store and the generated TLS certificate.
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    /// Address of the listener that serves every dialect.
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS (for loopback and tests).
    pub http: bool,
    pub tls: TlsConfig,
    /// Prefix of the absolute URLs handed to clients (`href`, `LoginUrl`); by default derived
    /// from each request's `Host`.
    pub public_url: Option<String>,
    /// What Cloud Director clients see as the site name.
    pub site_name: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    pub limits: Limits,
    pub sessions: SessionsConfig,
    pub lockout: LockoutConfig,
    pub passwords: PasswordsConfig,
    pub throttle: ThrottleConfig,
    pub metrics: MetricsConfig,
    pub testing: TestingConfig,
    /// Proxies (IP addresses) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Per dialect (`vcd`, `vcda`, `loginsight`, `hcx`, `bluecat`, `native`).
    pub dialects: HashMap<String, DialectConfig>,
    /// Identity sources by name (`[sources.NAME]` with a `kind`); `local` is always there.
    pub sources: HashMap<String, crate::sources::SourceTable>,
    /// vCD org → the identity source that checks its users (default `local`).
    pub org_sources: HashMap<String, String>,
    /// `vsphere.local`-style SSO domains: where the users of `user@domain` live.
    pub sso_domains: HashMap<String, SsoDomainConfig>,
    /// The domain of SSO user names given without `@domain`.
    pub default_sso_domain: String,
}

/// Where the state lives: the embedded SQLite store in the data directory, or a PostgreSQL
/// database that several nodes share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database`; unset, the SQLite store in `data_dir`.
    pub url: Option<String>,
    /// `redis://[:password@]host:port[/db]` beside a PostgreSQL store: lockout counters and the
    /// revocation bus in Redis (or Valkey), with PostgreSQL as the fallback.
    pub redis_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; without it a self-signed one is generated in the data directory.
    pub cert: Option<PathBuf>,
    /// PEM private key matching `cert`.
    pub key: Option<PathBuf>,
    /// Who may send plain HTTP to an HTTPS listener: `never`, `loopback` or `any`.
    pub plain_http: crate::listener::PlainHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest time a request may take, headers and body included.
    pub request_timeout_seconds: u64,
    /// Longest time a client may take to send its request headers.
    pub header_read_timeout_seconds: u64,
    /// Password hashes computed at once (19 MiB each), on threads that yield to request
    /// handling; by default one per core.
    pub max_concurrent_hashes: usize,
    /// Connections held at once, over every listener; more are closed as they arrive.
    pub max_connections: usize,
    /// Connections held at once from one client address.
    pub max_connections_per_address: usize,
    /// A connection silent this long in both directions is closed (keep-alive included).
    pub idle_connection_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    pub max_per_user: u32,
    /// How often timed-out sessions are ended and activity is written back.
    pub sweep_interval_seconds: u64,
    /// How long ended sessions are kept for listing.
    pub retention_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures from one address that lock the account for that address; 0 disables lockout.
    pub max_failures: u32,
    /// Failures from all addresses together that lock the account for everyone.
    pub max_failures_all_addresses: u32,
    pub window_seconds: u64,
    pub lock_seconds: u64,
}

/// What a new local password must be: checked by the core when a password is set (bootstrap
/// with TOLLGATE_ADMIN_PASSWORD or --password-stdin, `user add`, `user passwd`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordsConfig {
    /// Fewest characters; NIST SP 800-63B's 8 by default.
    pub min_length: usize,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        PasswordsConfig { min_length: PasswordPolicy::NIST.min_length }
    }
}

/// Per client address: login attempts (a good login gives its attempt back) and tokens that
/// name no session, each a bucket of `*_burst` refilled at `*_per_second`; 0 turns one off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    pub login_burst: u32,
    pub login_per_second: f64,
    pub unknown_token_burst: u32,
    pub unknown_token_per_second: f64,
    /// New sessions per user (not per address), however they are opened.
    pub sessions_per_user_burst: u32,
    pub sessions_per_user_per_second: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        let core = CoreConfig::default();
        ThrottleConfig {
            login_burst: core.login_throttle.burst,
            login_per_second: core.login_throttle.per_second,
            unknown_token_burst: core.unknown_token_throttle.burst,
            unknown_token_per_second: core.unknown_token_throttle.per_second,
            sessions_per_user_burst: core.session_throttle.burst,
            sessions_per_user_per_second: core.session_throttle.per_second,
        }
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listeners of its own for `/metrics` (with `/healthz` and `/readyz`); when set, the shared
    /// listener no longer serves it. Empty: served on the shared listener.
    pub listen: Vec<SocketAddr>,
}

/// What a server run as a stand-in for tests offers them; all on with `serve --ephemeral`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestingConfig {
    /// Serve `/v1/admin/faults` (also on with `--fixtures`): rules that make requests fail.
    pub faults: bool,
    /// Keep the request journal (`/v1/admin/journal`).
    pub journal: bool,
    /// Requests the journal keeps (at most 100000); the oldest go first.
    pub journal_capacity: usize,
}

impl Default for TestingConfig {
    fn default() -> Self {
        TestingConfig { faults: false, journal: false, journal_capacity: 1000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialectConfig {
    pub idle_timeout_seconds: u64,
    pub lifetime_seconds: u64,
    /// The org whose users log in when the credentials name none (all but vcd).
    pub org: String,
    /// Provider (HCX `authType`, Log Insight `provider`, VCDA `type`) → identity source, or
    /// `sso` to resolve `user@domain` through `sso_domains`; an empty value turns it off.
    pub providers: HashMap<String, String>,
    /// Listeners of this dialect's own (HCX's product port is 9443, Log Insight's 9543).
    pub listen: Vec<SocketAddr>,
    /// Also serve this dialect on the shared listener.
    pub shared: bool,
    /// Cloud Director only: the API versions `/api/versions` lists (`MAJOR.MINOR`).
    pub api_versions: Vec<String>,
    /// Cloud Director only: listed versions older than this are marked deprecated.
    pub deprecated_below: Option<String>,
}

impl Default for DialectConfig {
    fn default() -> Self {
        DialectConfig {
            idle_timeout_seconds: 30 * 60,
            lifetime_seconds: 24 * 3600,
            org: tollgate_core::directory::SYSTEM_ORG.to_owned(),
            providers: HashMap::new(),
            listen: Vec::new(),
            shared: true,
            api_versions: Vec::new(),
            deprecated_below: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoDomainConfig {
    pub org: String,
    pub source: String,
}

impl Default for Config {
    fn default() -> Self {
        let settings = Settings::default();
        let dialects = Dialect::ALL
            .iter()
            .map(|&dialect| {
                let defaults = &settings.dialects[&dialect];
                let idle_minutes = match dialect {
                    Dialect::BlueCat => 20,
                    _ => 30,
                };
                let (api_versions, deprecated_below) = match dialect {
                    Dialect::Vcd => (
                        settings.vcd_versions.iter().map(|v| v.version.clone()).collect(),
                        settings.vcd_versions.iter().find(|v| !v.deprecated).map(|v| v.version.clone()),
                    ),
                    _ => (Vec::new(), None),
                };
                let config = DialectConfig {
                    listen: default_listeners(dialect),
                    idle_timeout_seconds: idle_minutes * 60,
                    org: defaults.org.clone(),
                    providers: defaults.providers.clone(),
                    api_versions,
                    deprecated_below,
                    ..DialectConfig::default()
                };
                (dialect.name().to_owned(), config)
            })
            .collect();
        let sso_domains = settings
            .sso_domains
            .iter()
            .map(|(name, d)| (name.clone(), SsoDomainConfig { org: d.org.clone(), source: d.source.clone() }))
            .collect();
        Config {
            data_dir: PathBuf::from("./tollgate-data"),
            store: StoreConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            http: false,
            tls: TlsConfig::default(),
            public_url: None,
            site_name: "Tollgate".into(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            sessions: SessionsConfig::default(),
            lockout: LockoutConfig::default(),
            passwords: PasswordsConfig::default(),
            throttle: ThrottleConfig::default(),
            metrics: MetricsConfig::default(),
            testing: TestingConfig::default(),
            trusted_proxies: Vec::new(),
            dialects,
            sources: crate::sources::default_sources(),
            org_sources: HashMap::new(),
            sso_domains,
            default_sso_domain: settings.default_sso_domain,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            max_concurrent_hashes: CoreConfig::default().max_concurrent_hashes,
            max_connections: 4096,
            max_connections_per_address: 256,
            idle_connection_seconds: 60,
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { max_per_user: 32, sweep_interval_seconds: 15, retention_hours: 7 * 24 }
    }
}

impl Default for LockoutConfig {
    fn default() -> Self {
        let policy = LockoutPolicy::default();
        LockoutConfig {
            max_failures: policy.max_failures,
            max_failures_all_addresses: policy.max_failures_all_addresses,
            window_seconds: policy.window.as_secs(),
            lock_seconds: policy.lock_for.as_secs(),
        }
    }
}

/// Top-level keys that `TOLLGATE_*` variables may set; other variables with that prefix
/// (TOLLGATE_ADMIN_PASSWORD, TOLLGATE_LOG, a test harness's own) are not configuration.
const ENV_KEYS: &[&str] = &[
    "data",
    "data_dir",
    "store",
    "listen",
    "http",
    "tls",
    "public_url",
    "site_name",
    "log_format",
    "limits",
    "sessions",
    "lockout",
    "passwords",
    "throttle",
    "metrics",
    "testing",
    "trusted_proxies",
    "dialects",
    "sources",
    "org_sources",
    "sso_domains",
    "default_sso_domain",
];

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "configuration file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed("TOLLGATE_")
            .filter(|key| {
                ENV_KEYS.contains(&key.as_str().split("__").next().unwrap_or_default().to_ascii_lowercase().as_str())
            })
            .map(|key| if key == "data" { "data_dir".into() } else { key.into() })
            .split("__");
        let config: Config = figment.merge(env).extract().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.store.url {
            anyhow::ensure!(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "store.url must be a postgres:// URL (unset, the SQLite store in the data directory is used)"
            );
        }
        if let Some(url) = &self.store.redis_url {
            anyhow::ensure!(url.starts_with("redis://"), "store.redis_url must be a redis:// URL");
            anyhow::ensure!(
                self.store.url.is_some(),
                "store.redis_url assists a PostgreSQL store: set store.url too (the SQLite store needs no Redis)"
            );
        }
        crate::sources::validate(&self.sources)?;
        let known_source = |name: &str| self.sources.contains_key(name);
        for (name, dialect) in &self.dialects {
            let kind = Dialect::parse(name).ok_or_else(|| anyhow::anyhow!("unknown dialect {name:?} in [dialects]"))?;
            anyhow::ensure!(dialect.idle_timeout_seconds > 0, "dialects.{name}.idle_timeout_seconds must be positive");
            anyhow::ensure!(dialect.lifetime_seconds > 0, "dialects.{name}.lifetime_seconds must be positive");
            if kind == Dialect::Vcd {
                anyhow::ensure!(!dialect.api_versions.is_empty(), "dialects.vcd.api_versions must list a version");
                for version in dialect.api_versions.iter().chain(&dialect.deprecated_below) {
                    anyhow::ensure!(
                        api_version_number(version).is_some(),
                        "dialects.vcd: {version:?} is not an API version like \"37.0\""
                    );
                }
                if !dialect.api_versions.iter().any(|v| v == "37.0") {
                    tracing::warn!("dialects.vcd.api_versions lacks 37.0, which go-vcloud-director logs in with");
                }
            } else {
                anyhow::ensure!(
                    dialect.api_versions.is_empty() && dialect.deprecated_below.is_none(),
                    "dialects.{name}: api_versions and deprecated_below are Cloud Director's (dialects.vcd)"
                );
            }
            for (provider, target) in &dialect.providers {
                anyhow::ensure!(
                    canonical_provider(kind, provider).is_some(),
                    "dialects.{name}.providers.{provider}: {name} has no such provider (it has: {})",
                    if kind.providers().is_empty() { "none".to_owned() } else { kind.providers().join(", ") }
                );
                anyhow::ensure!(
                    target.is_empty() || target == SSO || known_source(target),
                    "dialects.{name}.providers.{provider}: no identity source {target:?}"
                );
            }
        }
        for (org, source) in &self.org_sources {
            anyhow::ensure!(known_source(source), "org_sources.{org}: no identity source {source:?}");
        }
        for (domain, d) in &self.sso_domains {
            anyhow::ensure!(known_source(&d.source), "sso_domains.{domain}.source: no identity source {:?}", d.source);
        }
        anyhow::ensure!(
            self.sso_domains.keys().any(|d| d.eq_ignore_ascii_case(&self.default_sso_domain)),
            "default_sso_domain {:?} is not one of sso_domains",
            self.default_sso_domain
        );
        anyhow::ensure!(self.sessions.max_per_user > 0, "sessions.max_per_user must be positive");
        let limits = &self.limits;
        anyhow::ensure!(
            limits.max_connections > 0 && limits.max_connections_per_address > 0,
            "limits.max_connections and limits.max_connections_per_address must be positive"
        );
        anyhow::ensure!(
            limits.idle_connection_seconds >= limits.request_timeout_seconds,
            "limits.idle_connection_seconds must be at least limits.request_timeout_seconds"
        );
        let rates = [
            ("login_per_second", self.throttle.login_per_second),
            ("unknown_token_per_second", self.throttle.unknown_token_per_second),
            ("sessions_per_user_per_second", self.throttle.sessions_per_user_per_second),
        ];
        for (name, rate) in rates {
            anyhow::ensure!(rate.is_finite() && rate >= 0.0, "throttle.{name} must be 0 or more tokens per second");
        }
        anyhow::ensure!(
            (1..=MAX_PASSWORD_BYTES).contains(&self.passwords.min_length),
            "passwords.min_length must be between 1 and {MAX_PASSWORD_BYTES}"
        );
        anyhow::ensure!(self.tls.cert.is_some() == self.tls.key.is_some(), "tls.cert and tls.key go together");
        if let Some(url) = &self.public_url {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "public_url must start with https:// or http://"
            );
        }
        Ok(())
    }

    /// The core's policies and identity sources (reading the files sources name).
    pub fn core(&self) -> anyhow::Result<CoreConfig> {
        let dialects = self
            .dialects
            .iter()
            .map(|(name, d)| {
                let policy = DialectPolicy {
                    idle_timeout: Duration::from_secs(d.idle_timeout_seconds),
                    lifetime: Duration::from_secs(d.lifetime_seconds),
                };
                (name.clone(), policy)
            })
            .collect();
        Ok(CoreConfig {
            dialects,
            lockout: LockoutPolicy {
                max_failures: self.lockout.max_failures,
                max_failures_all_addresses: self.lockout.max_failures_all_addresses,
                window: Duration::from_secs(self.lockout.window_seconds),
                lock_for: Duration::from_secs(self.lockout.lock_seconds),
            },
            max_sessions_per_user: self.sessions.max_per_user,
            ended_session_retention: Duration::from_secs(self.sessions.retention_hours * 3600),
            max_concurrent_hashes: self.limits.max_concurrent_hashes.max(1),
            login_throttle: ThrottlePolicy {
                burst: self.throttle.login_burst,
                per_second: self.throttle.login_per_second,
            },
            unknown_token_throttle: ThrottlePolicy {
                burst: self.throttle.unknown_token_burst,
                per_second: self.throttle.unknown_token_per_second,
            },
            session_throttle: ThrottlePolicy {
                burst: self.throttle.sessions_per_user_burst,
                per_second: self.throttle.sessions_per_user_per_second,
            },
            passwords: PasswordPolicy { min_length: self.passwords.min_length },
            sources: self
                .sources
                .iter()
                .map(|(name, table)| Ok((name.clone(), table.build().with_context(|| format!("sources.{name}"))?)))
                .collect::<anyhow::Result<_>>()?,
            ..CoreConfig::default()
        })
    }

    /// Which org and identity source serve each dialect's logins.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings {
            org_sources: self.org_sources.iter().map(|(org, source)| (org.to_lowercase(), source.clone())).collect(),
            sso_domains: self
                .sso_domains
                .iter()
                .map(|(name, d)| (name.to_lowercase(), SsoDomain { org: d.org.clone(), source: d.source.clone() }))
                .collect(),
            default_sso_domain: self.default_sso_domain.to_lowercase(),
            ..Settings::default()
        };
        for (name, config) in &self.dialects {
            if let Some(dialect) = Dialect::parse(name) {
                let providers = providers_of(dialect, config).into_iter().filter(|(_, target)| !target.is_empty());
                settings
                    .dialects
                    .insert(dialect, DialectSettings { org: config.org.clone(), providers: providers.collect() });
            }
        }
        settings.trusted_proxies = self.trusted_proxies.clone();
        if let Some(versions) = self.vcd_versions() {
            settings.vcd_versions = versions;
        }
        settings
    }

    /// Cloud Director's listed versions, oldest first, those below `deprecated_below` marked.
    fn vcd_versions(&self) -> Option<Vec<VcdVersion>> {
        let vcd = self.dialects.get(Dialect::Vcd.name())?;
        let below = vcd.deprecated_below.as_deref().and_then(api_version_number);
        let mut versions: Vec<_> = vcd
            .api_versions
            .iter()
            .filter_map(|v| Some((api_version_number(v)?, v)))
            .map(|(number, v)| {
                (number, VcdVersion { version: v.clone(), deprecated: below.is_some_and(|b| number < b) })
            })
            .collect();
        versions.sort_by_key(|(number, _)| *number);
        versions.dedup_by_key(|(number, _)| *number);
        Some(versions.into_iter().map(|(_, v)| v).collect())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tollgate.db")
    }
}

/// HCX's documentation prints its login URL with the appliance's port, 9443, so a
/// zero-configuration server serves HCX there too (on loopback, and only if the port is free).
fn default_listeners(dialect: Dialect) -> Vec<SocketAddr> {
    match dialect {
        Dialect::Hcx => vec![SocketAddr::from(([127, 0, 0, 1], 9443))],
        _ => Vec::new(),
    }
}

/// Whether `addr` is a listener `dialect` has by default: one that is skipped, with a
/// warning, when its port is taken.
pub fn is_default_listener(dialect: Dialect, addr: SocketAddr) -> bool {
    default_listeners(dialect).contains(&addr)
}

/// `MAJOR.MINOR` as a pair that sorts like the version.
fn api_version_number(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `provider` spelled as `dialect` spells it. Environment variables arrive lower-cased, so
/// names match whatever their case.
fn canonical_provider(dialect: Dialect, provider: &str) -> Option<&'static str> {
    dialect.providers().iter().copied().find(|p| p.eq_ignore_ascii_case(provider))
}

/// A dialect's provider map under canonical names. A key spelled otherwise than its canonical
/// name can only have come from the operator (defaults are canonical), so it wins.
fn providers_of(dialect: Dialect, config: &DialectConfig) -> HashMap<String, String> {
    let mut providers = HashMap::new();
    let (canonical, respelled): (Vec<_>, Vec<_>) =
        config.providers.iter().partition(|(p, _)| canonical_provider(dialect, p) == Some(p.as_str()));
    for (provider, target) in canonical.into_iter().chain(respelled) {
        if let Some(name) = canonical_provider(dialect, provider) {
            providers.insert(name.to_owned(), target.clone());
        }
    }
    providers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path))
    }

    fn error(toml: &str) -> String {
        format!("{:#}", load(toml).expect_err("the configuration should be refused"))
    }

    #[test]
    fn defaults_give_every_dialect_its_lifetimes_and_the_system_org() {
        let config = Config::default();
        assert_eq!(config.dialects.len(), Dialect::ALL.len());
        assert_eq!(config.dialects["bluecat"].idle_timeout_seconds, 20 * 60);
        assert_eq!(config.dialects["loginsight"].idle_timeout_seconds, 1800);
        assert_eq!(config.dialects["vcd"].idle_timeout_seconds, 30 * 60);
        assert!(config.dialects.values().all(|d| d.org == "System" && d.shared));
        // Seed 003 prints HCX's login URL with port 9443.
        assert_eq!(config.dialects["hcx"].listen, vec!["127.0.0.1:9443".parse().unwrap()]);
        assert!(config.dialects.iter().all(|(name, d)| name == "hcx" || d.listen.is_empty()));
        assert_eq!(config.core().unwrap().passwords.min_length, 8, "NIST SP 800-63B's minimum");
        config.validate().unwrap();
    }

    #[test]
    fn the_password_minimum_is_configurable_within_bounds() {
        assert_eq!(load("[passwords]\nmin_length = 12").unwrap().core().unwrap().passwords.min_length, 12);
        assert!(error("[passwords]\nmin_length = 0").contains("passwords.min_length must be between 1 and 1024"));
        assert!(error("[passwords]\nmin_length = 1025").contains("passwords.min_length"));
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let config = load(
            r#"
            listen = "127.0.0.1:9000"
            [dialects.hcx]
            listen = ["127.0.0.1:9443"]
            idle_timeout_seconds = 60
            [dialects.loginsight]
            shared = false
            providers = { vIDM = "" }
            [sso_domains."corp.example"]
            org = "System"
            source = "local"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        let hcx = &config.dialects["hcx"];
        assert_eq!((hcx.idle_timeout_seconds, hcx.lifetime_seconds), (60, 24 * 3600));
        assert_eq!(hcx.listen, vec!["127.0.0.1:9443".parse().unwrap()]);
        assert!(!config.dialects["loginsight"].shared);
        let settings = config.settings();
        let li = &settings.dialects[&Dialect::LogInsight];
        assert!(!li.providers.contains_key("vIDM"), "an empty provider turns it off");
        assert_eq!(li.providers["Local"], "local");
        assert!(
            settings.sso_domains.contains_key("corp.example") && settings.sso_domains.contains_key("vsphere.local")
        );
        assert_eq!(config.core().unwrap().policy_for("hcx").idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error("[dialects.ftp]\nidle_timeout_seconds = 5").contains("unknown dialect \"ftp\""));
        assert!(error("[dialects.hcx.providers]\nkerberos = \"local\"").contains("hcx has no such provider"));
        assert!(error("[dialects.native.providers]\ndefault = \"local\"").contains("native has no such provider"));
        assert!(error("[dialects.hcx.providers]\nlocal = \"ldap\"").contains("no identity source \"ldap\""));
        assert!(error("[org_sources]\norg1 = \"pam\"").contains("no identity source \"pam\""));
        assert!(error("default_sso_domain = \"corp.example\"").contains("not one of sso_domains"));
        assert!(error("[dialects.vcd]\nidle_timeout_seconds = 0").contains("must be positive"));
        assert!(error("public_url = \"ftp://x\"").contains("public_url"));
        assert!(error("[tls]\ncert = \"/x.pem\"").contains("go together"));
        assert!(error("listen = \"nowhere\"").contains("invalid configuration"));
        assert!(error("colour = \"blue\"").contains("unknown field"));
    }

    #[test]
    fn provider_names_match_whatever_their_case_and_the_operators_spelling_wins() {
        // As TOLLGATE_DIALECTS__LOGINSIGHT__PROVIDERS__VIDM= arrives.
        let config = load("[dialects.loginsight.providers]\nvidm = \"\"\nlocal = \"local\"").unwrap();
        let li = &config.settings().dialects[&Dialect::LogInsight];
        assert!(!li.providers.contains_key("vIDM") && !li.providers.contains_key("vidm"));
        assert_eq!(li.providers["Local"], "local");
        assert_eq!(li.providers["ActiveDirectory"], "local");
    }

    #[test]
    fn cloud_directors_versions_are_configurable() {
        let defaults = Config::default().settings().vcd_versions;
        assert_eq!(defaults, tollgate_dialects::settings::default_vcd_versions());
        let config =
            load("[dialects.vcd]\napi_versions = [\"37.0\", \"9.0\", \"36.0\"]\ndeprecated_below = \"36.0\"").unwrap();
        let listed: Vec<(String, bool)> =
            config.settings().vcd_versions.into_iter().map(|v| (v.version, v.deprecated)).collect();
        let expected = [("9.0", true), ("36.0", false), ("37.0", false)];
        assert_eq!(listed, expected.map(|(v, d)| (v.to_owned(), d)), "numeric order, the old ones deprecated");
        assert!(error("[dialects.vcd]\napi_versions = []").contains("must list a version"));
        assert!(error("[dialects.vcd]\napi_versions = [\"latest\"]").contains("not an API version"));
        assert!(error("[dialects.hcx]\napi_versions = [\"1.0\"]").contains("Cloud Director's"));
    }

    #[test]
    fn identity_sources_are_named_tables_with_a_kind_that_routes_refer_to() {
        let config = load(
            "[sources.staff]\nkind = \"local\"\n[org_sources]\norg1 = \"staff\"\n[dialects.hcx.providers]\nlocal = \"staff\"",
        )
        .unwrap();
        let core = config.core().unwrap();
        assert_eq!(core.sources.len(), 2, "local is always there");
        assert_eq!(core.sources["staff"].kind(), "local");
        assert_eq!(config.settings().source_of_org("org1"), "staff");
        assert!(error("[sources.x]\nkind = \"kerberos\"").contains("found `kerberos`"));
        assert!(error("[sources.x]\nurl = \"ldap://x\"").contains("missing field `kind`"));
        assert!(error("[sources.sso]\nkind = \"local\"").contains("reserved"));
        let ldap = load(
            "[sources.corp]\nkind = \"ldap\"\nurls = [\"ldaps://dc1.corp.example\"]\nbase_dn = \"dc=corp,dc=example\"\n\
             [sso_domains.\"corp.example\"]\norg = \"System\"\nsource = \"corp\"",
        )
        .unwrap();
        assert_eq!(ldap.core().unwrap().sources["corp"].kind(), "ldap");
        let plain = "[sources.corp]\nkind = \"ldap\"\nurls = [\"ldap://dc1.corp.example\"]\nbase_dn = \"dc=x\"";
        assert!(error(plain).contains("sources.corp: \"ldap://dc1.corp.example\" is plain LDAP to another host"));
        let typo = "[sources.corp]\nkind = \"ldap\"\nurls = [\"ldaps://x\"]\nbase_dn = \"dc=x\"\nbsae_dn = \"dc=x\"";
        assert!(error(typo).contains("bsae_dn"), "{}", error(typo));
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let missing = std::path::Path::new("/nonexistent/tollgate.toml");
        assert!(format!("{:#}", Config::load(Some(missing)).unwrap_err()).contains("does not exist"));
    }
}
