//! [`Core`]: the one object every dialect, the CLI and the native API talk to.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{AuditEvent, AuditTrail};
use crate::cache::{Entry, SessionCache};
use crate::clock::{Clock, Timestamp};
use crate::config::CoreConfig;
use crate::directory::{LOCAL_SOURCE, Role, SYSTEM_ADMINISTRATOR, SYSTEM_ORG, UserSpec};
use crate::error::CoreError;
use crate::feed::RevocationFeed;
use crate::known_tokens::KnownTokens;
use crate::measured_store::MeasuredStore;
use crate::password::PasswordHasher;
use crate::session::Session;
use crate::source::{Credential, IdentitySource, LocalSource, SourceConfig};
use crate::store::{Store, StoreError};
use crate::suspects::Suspects;
use crate::telemetry::Metrics;
use crate::throttle::Throttle;
use crate::token;
use crate::touches::TouchQueue;

mod administration;
mod api_tokens;
mod directory;
pub use administration::{SessionQuery, UserQuery};
pub use api_tokens::API_TOKEN_PREFIX;
mod housekeeping;
mod login;
mod readiness;
pub use readiness::SourceReadiness;
mod sessions;

const BOOTSTRAPPED_KEY: &str = "bootstrapped_at";
const INSTALLATION_ID_KEY: &str = "installation_id";
/// The installation-wide facts a store copy carries over.
pub(crate) const COPIED_META: [&str; 2] = [BOOTSTRAPPED_KEY, INSTALLATION_ID_KEY];
/// The administrator `bootstrap` creates.
pub const BOOTSTRAP_ADMIN: &str = "administrator";

/// The shape of a token a dialect hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// 32 hex characters (128 bits).
    Hex128,
    /// 43 base64url characters (256 bits).
    Base64Url256,
}

impl TokenKind {
    fn generate(self) -> String {
        match self {
            TokenKind::Hex128 => token::hex128(),
            TokenKind::Base64Url256 => token::base64url256(),
        }
    }
}

#[derive(Default)]
pub struct LoginRequest<'a> {
    pub dialect: &'a str,
    /// The identity source that checks the credentials (a name from [`CoreConfig::sources`]).
    pub source: &'a str,
    pub org: &'a str,
    pub username: &'a str,
    pub credential: Credential<'a>,
    pub remote_addr: Option<String>,
    pub correlation_id: &'a str,
    /// One token of each kind is issued, all naming the new session.
    pub tokens: &'a [TokenKind],
    pub read_only: bool,
    /// The user must hold at least one of these roles; empty lets any user in.
    pub required_roles: &'a [&'a str],
    /// Open the session for this user (org, name) instead: only a System Administrator may.
    pub impersonate: Option<(&'a str, &'a str)>,
}

pub struct LoginOutcome {
    pub session: LiveSession,
    /// In the order of [`LoginRequest::tokens`].
    pub tokens: Vec<String>,
}

impl std::fmt::Debug for LoginOutcome {
    // Tokens never reach a log, not even through a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOutcome").field("session", &self.session.id).field("tokens", &"<redacted>").finish()
    }
}

/// What an account is locked out for (see [`crate::LockoutPolicy`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountLocks {
    /// Locked for every address.
    pub everywhere: bool,
    /// Locked for these addresses alone.
    pub addresses: Vec<String>,
}

/// A session a token was just validated for.
#[derive(Clone, Debug)]
pub struct LiveSession(Arc<Entry>);

impl LiveSession {
    pub fn session(&self) -> &Session {
        &self.0.session
    }

    /// When the session ends unless it is used again.
    pub fn ends_at(&self) -> Timestamp {
        self.0.session.ends_at(self.0.last_seen())
    }

    /// `render` of the session's fields, made once and kept with the cached session, so that
    /// answering a validation costs the validation, not the rendering. Only for what depends on
    /// fields that never change (not `ends_at`). A session kept with one type of rendering makes
    /// any other afresh on each call.
    pub fn rendered<T: Any + Send + Sync>(&self, render: impl FnOnce(&Session) -> T) -> Arc<T> {
        if let Some(kept) = self.0.rendered.get() {
            return match kept.clone().downcast::<T>() {
                Ok(kept) => kept,
                Err(_) => Arc::new(render(&self.0.session)),
            };
        }
        let made = Arc::new(render(&self.0.session));
        // Two first requests may race; either rendering is the same.
        let _ = self.0.rendered.set(made.clone());
        made
    }
}

impl std::ops::Deref for LiveSession {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0.session
    }
}

pub struct Core {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: CoreConfig,
    hasher: PasswordHasher,
    /// By name, as `config.sources` names them.
    sources: HashMap<String, Arc<dyn IdentitySource>>,
    cache: SessionCache,
    /// Sessions other processes ended: while it is read, the cache may be trusted.
    feed: RevocationFeed,
    touches: Arc<TouchQueue>,
    known_tokens: KnownTokens,
    /// Once true it stays true; until then each login asks the store.
    initialised: AtomicBool,
    roles: std::sync::OnceLock<Vec<Role>>,
    login_throttle: Throttle,
    /// Addresses whose logins hash in the low lane.
    suspects: Suspects,
    unknown_token_throttle: Throttle,
    session_throttle: Throttle,
    metrics: Metrics,
    audit: AuditTrail,
    source_checks: readiness::SourceChecks,
}

impl Core {
    /// A core that records no metrics.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig) -> Self {
        Core::with_metrics(store, clock, config, Metrics::disabled())
    }

    /// A core that records `metrics`, its store's calls included (and bounds them by the
    /// store's [`crate::store::SessionStore::call_deadline`]).
    pub fn with_metrics(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig, metrics: Metrics) -> Self {
        let store: Arc<dyn Store> = match metrics.is_enabled() || store.call_deadline().is_some() {
            true => Arc::new(MeasuredStore::new(store, metrics.clone())),
            false => store,
        };
        let hasher = PasswordHasher::with_metrics(config.max_concurrent_hashes, config.hash_cost, &metrics);
        let login_throttle = Throttle::new(config.login_throttle);
        let unknown_token_throttle = Throttle::new(config.unknown_token_throttle);
        let session_throttle = Throttle::new(config.session_throttle);
        let local: Arc<dyn IdentitySource> = Arc::new(LocalSource { hasher: hasher.clone(), store: store.clone() });
        let sources = config
            .sources
            .iter()
            .map(|(name, source)| {
                let source = match source {
                    SourceConfig::Local => local.clone(),
                    SourceConfig::Backend(backend) => backend.clone(),
                };
                (name.clone(), source)
            })
            .collect();
        Core {
            sources,
            session_throttle,
            login_throttle,
            suspects: Suspects::new(config.lockout.window),
            unknown_token_throttle,
            store,
            clock,
            config,
            hasher,
            cache: SessionCache::default(),
            feed: RevocationFeed::default(),
            touches: Arc::default(),
            known_tokens: KnownTokens::default(),
            initialised: AtomicBool::new(false),
            roles: std::sync::OnceLock::new(),
            audit: AuditTrail::new(metrics.clone()),
            source_checks: readiness::SourceChecks::default(),
            metrics,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The audit trail: its ring of recent events is what the admin API reads.
    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    /// Records `event`, done now by `actor`, in every audit sink.
    fn audit(&self, actor: &Actor, correlation_id: Option<&str>, event: AuditEvent) {
        self.audit.record(self.now(), actor, correlation_id, event);
    }

    // ---- installation ---------------------------------------------------------------------

    pub async fn is_initialised(&self) -> Result<bool, CoreError> {
        if self.initialised.load(Ordering::Acquire) {
            return Ok(true);
        }
        let done = self.store.meta(BOOTSTRAPPED_KEY).await?.is_some();
        if done {
            self.initialised.store(true, Ordering::Release);
        }
        Ok(done)
    }

    /// Whether the server is bootstrapped, asking the store itself (not the remembered answer):
    /// for readiness probes, which must fail when the store does.
    pub async fn check_store(&self) -> Result<bool, CoreError> {
        Ok(self.store.meta(BOOTSTRAPPED_KEY).await?.is_some())
    }

    /// A stable id for this installation (Cloud Director's site id).
    pub async fn installation_id(&self) -> Result<Uuid, CoreError> {
        let stored = self.store.init_meta(INSTALLATION_ID_KEY, &Uuid::new_v4().to_string()).await?;
        Uuid::parse_str(&stored).map_err(|e| CoreError::Internal(format!("bad installation id: {e}")))
    }

    /// Creates the `System` org and its `administrator`. Returns the password when it had to
    /// generate one. Fails with `Conflict` when the installation is already bootstrapped. Only
    /// the operator bootstraps (the CLI, or `serve` with the administrator's password).
    pub async fn bootstrap(&self, password: Option<String>) -> Result<Option<String>, CoreError> {
        if self.is_initialised().await? {
            return Err(CoreError::Conflict("the server is already bootstrapped".into()));
        }
        let now = self.now();
        // Nodes of a cluster starting at once each bootstrap the shared store: whichever
        // creates the org or the administrator second finds it made and goes on with it.
        let system = match self.store.org_by_name(SYSTEM_ORG).await? {
            Some(org) => org,
            None => match self.store.create_org(SYSTEM_ORG, "System Organization", now).await {
                Ok(org) => org,
                Err(StoreError::Conflict(what)) => {
                    self.store.org_by_name(SYSTEM_ORG).await?.ok_or(CoreError::Conflict(what))?
                }
                Err(e) => return Err(e.into()),
            },
        };
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = self.config.passwords.generate();
                (p.clone(), Some(p))
            }
        };
        self.config.passwords.check(&password)?;
        let existing = match self.store.user_by_name(system.id, BOOTSTRAP_ADMIN).await? {
            Some(admin) => Some(admin),
            None => {
                let spec = UserSpec {
                    org: system.name.clone(),
                    name: BOOTSTRAP_ADMIN.into(),
                    roles: vec![SYSTEM_ADMINISTRATOR.into()],
                    identity_source: LOCAL_SOURCE.into(),
                    password_hash: None,
                };
                match self.add_user(&Actor::Operator, spec, Some(&password)).await {
                    Ok(_) => None,
                    Err(CoreError::Conflict(what)) => Some(
                        self.store.user_by_name(system.id, BOOTSTRAP_ADMIN).await?.ok_or(CoreError::Conflict(what))?,
                    ),
                    Err(e) => return Err(e),
                }
            }
        };
        // An administrator made before (a bootstrap cut short, or another node's just now)
        // gets this password.
        if let Some(admin) = existing {
            let hash = self.hasher.hash(&password).await?;
            self.store.set_password_hash(admin.id, &hash).await?;
        }
        self.store.init_meta(BOOTSTRAPPED_KEY, &now.millis().to_string()).await?;
        self.initialised.store(true, Ordering::Release);
        let event = AuditEvent::Bootstrap { org: SYSTEM_ORG.into(), user: BOOTSTRAP_ADMIN.into() };
        self.audit(&Actor::Operator, None, event);
        Ok(generated)
    }
}
