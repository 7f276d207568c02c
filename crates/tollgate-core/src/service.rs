//! [`Core`]: the one object every dialect, the CLI and the native API talk to.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::audit::{self, FailedLogin};
use crate::cache::{Entry, SessionCache};
use crate::clock::{Clock, Timestamp};
use crate::config::CoreConfig;
use crate::directory::{
    LOCAL_SOURCE, Org, Role, SYSTEM_ADMINISTRATOR, SYSTEM_ORG, User, UserSpec, same_role, validate_name,
};
use crate::error::{AuthFailure, CoreError, FailureReason, SessionRejection};
use crate::known_tokens::KnownTokens;
use crate::lockout;
use crate::measured_store::MeasuredStore;
use crate::password::{MAX_PASSWORD_BYTES, PasswordHasher};
use crate::session::{Session, SessionState};
use crate::source::{Credential, IdentitySource, LocalSource, SourceAttempt, SourceConfig, Verdict};
use crate::store::{Activity, Page, SessionFilter, Store};
use crate::telemetry::{self, Metrics};
use crate::throttle::Throttle;
use crate::token::{self, TokenDigest};
use crate::touches::TouchQueue;

const BOOTSTRAPPED_KEY: &str = "bootstrapped_at";
const INSTALLATION_ID_KEY: &str = "installation_id";
/// The identity source of sessions opened by [`Core::exchange`].
const EXCHANGE_SOURCE: &str = "vcd-session";
/// Sessions the sweep ends or deletes per store call.
const SWEEP_BATCH: u32 = 1000;
/// Sessions beyond the per-user cap one login may end.
const EVICTION_SLACK: u32 = 16;
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
    touches: Arc<TouchQueue>,
    known_tokens: KnownTokens,
    /// Once true it stays true; until then each login asks the store.
    initialised: AtomicBool,
    roles: std::sync::OnceLock<Vec<Role>>,
    login_throttle: Throttle,
    unknown_token_throttle: Throttle,
    session_throttle: Throttle,
    metrics: Metrics,
}

impl Core {
    /// A core that records no metrics.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig) -> Self {
        Core::with_metrics(store, clock, config, Metrics::disabled())
    }

    /// A core that records `metrics`, its store's calls included.
    pub fn with_metrics(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig, metrics: Metrics) -> Self {
        let store: Arc<dyn Store> = match metrics.is_enabled() {
            true => Arc::new(MeasuredStore::new(store, metrics.clone())),
            false => store,
        };
        let hasher = PasswordHasher::with_metrics(config.max_concurrent_hashes, &metrics);
        let login_throttle = Throttle::new(config.login_throttle);
        let unknown_token_throttle = Throttle::new(config.unknown_token_throttle);
        let session_throttle = Throttle::new(config.session_throttle);
        let local: Arc<dyn IdentitySource> = Arc::new(LocalSource { hasher: hasher.clone() });
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
            unknown_token_throttle,
            store,
            clock,
            config,
            hasher,
            cache: SessionCache::default(),
            touches: Arc::default(),
            known_tokens: KnownTokens::default(),
            initialised: AtomicBool::new(false),
            roles: std::sync::OnceLock::new(),
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
    /// generate one. Fails with `Conflict` when the installation is already bootstrapped.
    pub async fn bootstrap(&self, password: Option<String>) -> Result<Option<String>, CoreError> {
        if self.is_initialised().await? {
            return Err(CoreError::Conflict("the server is already bootstrapped".into()));
        }
        let now = self.now();
        let system = match self.store.org_by_name(SYSTEM_ORG).await? {
            Some(org) => org,
            None => self.store.create_org(SYSTEM_ORG, "System Organization", now).await?,
        };
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = self.config.passwords.generate();
                (p.clone(), Some(p))
            }
        };
        self.config.passwords.check(&password)?;
        match self.store.user_by_name(system.id, BOOTSTRAP_ADMIN).await? {
            Some(admin) => {
                let hash = self.hasher.hash(&password).await?;
                self.store.set_password_hash(admin.id, &hash).await?;
            }
            None => {
                self.add_user(
                    UserSpec {
                        org: system.name.clone(),
                        name: BOOTSTRAP_ADMIN.into(),
                        roles: vec![SYSTEM_ADMINISTRATOR.into()],
                        identity_source: LOCAL_SOURCE.into(),
                        password_hash: None,
                    },
                    Some(&password),
                )
                .await?;
            }
        }
        self.store.init_meta(BOOTSTRAPPED_KEY, &now.millis().to_string()).await?;
        self.initialised.store(true, Ordering::Release);
        tracing::info!(target: audit::TARGET, event = "bootstrap", org = SYSTEM_ORG, user = BOOTSTRAP_ADMIN);
        Ok(generated)
    }

    // ---- directory ------------------------------------------------------------------------

    pub async fn add_org(&self, name: &str, full_name: Option<&str>) -> Result<Org, CoreError> {
        validate_name("org", name).map_err(CoreError::Invalid)?;
        if name.contains('@') || name.contains('/') {
            return Err(CoreError::Invalid("org name must not contain '@' or '/'".into()));
        }
        if self.store.org_by_name(name).await?.is_some() {
            return Err(CoreError::Conflict(format!("org {name:?} already exists")));
        }
        Ok(self.store.create_org(name, full_name.unwrap_or(name), self.now()).await?)
    }

    pub async fn org(&self, name: &str) -> Result<Org, CoreError> {
        self.store.org_by_name(name).await?.ok_or_else(|| CoreError::NotFound(format!("org {name:?}")))
    }

    pub async fn org_by_id(&self, id: Uuid) -> Result<Option<Org>, CoreError> {
        Ok(self.store.org_by_id(id).await?)
    }

    pub async fn orgs(&self) -> Result<Vec<Org>, CoreError> {
        Ok(self.store.list_orgs().await?)
    }

    /// The roles users can hold. They are fixed when the store is created, so they are read
    /// once and kept.
    pub async fn roles(&self) -> Result<Vec<Role>, CoreError> {
        if let Some(roles) = self.roles.get() {
            return Ok(roles.clone());
        }
        let roles = self.store.list_roles().await?;
        Ok(self.roles.get_or_init(|| roles).clone())
    }

    /// Creates a user; a local account gets `password` hashed with Argon2id.
    pub async fn add_user(&self, mut spec: UserSpec, password: Option<&str>) -> Result<User, CoreError> {
        validate_name("user", &spec.name).map_err(CoreError::Invalid)?;
        if spec.roles.is_empty() {
            return Err(CoreError::Invalid("a user needs at least one role".into()));
        }
        if let Some(password) = password {
            self.config.passwords.check(password)?;
            spec.password_hash = Some(self.hasher.hash(password).await?);
        } else if spec.identity_source == LOCAL_SOURCE && spec.password_hash.is_none() {
            return Err(CoreError::Invalid("a local user needs a password".into()));
        }
        Ok(self.store.create_user(&spec, self.now()).await?)
    }

    pub async fn user(&self, org: &str, name: &str) -> Result<User, CoreError> {
        let org = self.org(org).await?;
        self.store
            .user_by_name(org.id, name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {name:?} in org {:?}", org.name)))
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, CoreError> {
        Ok(self.store.user_by_id(id).await?)
    }

    /// One page of the users (of `org`, if named), in the order they were created.
    pub async fn users(&self, org: Option<&str>, page: Page) -> Result<Vec<User>, CoreError> {
        let org_id = match org {
            Some(name) => Some(self.org(name).await?.id),
            None => None,
        };
        Ok(self.store.list_users(org_id, page).await?)
    }

    /// What `user` is locked out for now (see [`crate::LockoutPolicy`]).
    pub async fn lockout(&self, user: &User) -> Result<AccountLocks, CoreError> {
        let (everywhere, addresses) = lockout::locks_of(&*self.store, user.id.as_bytes(), self.now()).await?;
        Ok(AccountLocks { everywhere, addresses })
    }

    /// Sets a password and ends the user's sessions.
    pub async fn set_password(&self, org: &str, name: &str, password: &str) -> Result<(), CoreError> {
        self.config.passwords.check(password)?;
        let user = self.user(org, name).await?;
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(user.id, &hash).await?;
        // Whoever held the old password holds no session of it any more.
        self.end_user_sessions(user.id, "cli").await?;
        Ok(())
    }

    /// Disabling a user also ends their sessions.
    pub async fn set_enabled(&self, org: &str, name: &str, enabled: bool) -> Result<(), CoreError> {
        let user = self.user(org, name).await?;
        self.store.set_enabled(user.id, enabled).await?;
        if !enabled {
            self.end_user_sessions(user.id, "cli").await?;
        }
        Ok(())
    }

    pub async fn unlock(&self, org: &str, name: &str) -> Result<(), CoreError> {
        let user = self.user(org, name).await?;
        self.store.forget_account(user.id.as_bytes()).await?;
        tracing::info!(target: audit::TARGET, event = "unlock", org = %user.org_name, user = %user.name);
        Ok(())
    }

    // ---- login ----------------------------------------------------------------------------

    /// Checks credentials against the request's identity source and opens a session. Every
    /// refusal takes the time of one password verification, whatever its reason.
    pub async fn login(&self, request: LoginRequest<'_>) -> Result<LoginOutcome, CoreError> {
        if !self.is_initialised().await? {
            return Err(CoreError::NotInitialised);
        }
        let (dialect, source) = (request.dialect, request.source);
        let outcome = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => {
                let outcome = match self.verify_credentials(&request).await {
                    Ok(user) => self.open_for(user, request).await,
                    Err(e) => Err(e),
                };
                attempt.settle(&outcome);
                outcome
            }
            Err(throttled) => Err(throttled),
        };
        self.metrics.login(dialect, source, login_outcome(outcome.as_ref()));
        outcome
    }

    /// Takes a login attempt from the client's address, before any password is hashed.
    fn throttle_login(&self, remote: Option<&str>) -> Result<ThrottledAttempt<'_>, CoreError> {
        if let Some(remote) = remote
            && let Err(throttled) = self.login_throttle.take(remote, self.now())
        {
            self.metrics.throttled(telemetry::Throttled::Login);
            if throttled.first_of_burst {
                audit::throttled("login", remote, throttled.retry_after.as_secs().max(1));
            }
            return Err(CoreError::Throttled(throttled.retry_after));
        }
        Ok(ThrottledAttempt { core: self, remote: remote.map(str::to_owned), counted: false })
    }

    /// Refuses a login a dialect found wrong before asking any source (an unknown SSO domain,
    /// say), in the same time and with the same audit event as any other refusal.
    pub async fn refuse_login(&self, request: LoginRequest<'_>, reason: FailureReason) -> CoreError {
        let refusal = self.refusal(&request, reason).await;
        self.metrics.login(request.dialect, request.source, login_outcome::<()>(Err(&refusal)));
        refusal
    }

    async fn refusal(&self, request: &LoginRequest<'_>, reason: FailureReason) -> CoreError {
        let attempt = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => attempt,
            Err(e) => return e,
        };
        if let Err(e) = self.hasher.verify_dummy(request.credential.password().unwrap_or_default()).await {
            return e;
        }
        audit::login_failed(&attempt_of(request), reason);
        attempt.count();
        CoreError::Auth(AuthFailure { reason })
    }

    /// Checks credentials like [`Core::login`] without opening a session (Cloud Director
    /// Availability adds a site to an existing session this way). Failures count and audit
    /// as any login's.
    pub async fn check_credentials(&self, request: LoginRequest<'_>) -> Result<User, CoreError> {
        if !self.is_initialised().await? {
            return Err(CoreError::NotInitialised);
        }
        let user = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => {
                let user = self.verify_credentials(&request).await;
                attempt.settle(&user);
                user
            }
            Err(throttled) => Err(throttled),
        };
        self.metrics.login(request.dialect, request.source, login_outcome(user.as_ref()));
        user
    }

    /// Checks a login's credential with its identity source. Around the source's answer:
    /// the same time and answer for a name nobody has as for a wrong password, lockout
    /// accounting (guesses count, outages never do), refusing locked, disabled and other
    /// sources' accounts without asking the backend, audit, and creating the account of a
    /// user the source vouches for on their first login, with the roles it maps.
    async fn verify_credentials(&self, request: &LoginRequest<'_>) -> Result<User, CoreError> {
        let attempt = attempt_of(request);
        let source = self.sources.get(request.source).ok_or_else(|| CoreError::UnknownSource(request.source.into()))?;
        // Failures are counted per account and address (see LockoutPolicy); logins that come
        // with no address (the CLI's) share one.
        let address = request.remote_addr.as_deref().unwrap_or("-");
        let fail = |reason: FailureReason| {
            audit::login_failed(&attempt, reason);
            CoreError::Auth(AuthFailure { reason })
        };
        // Refused before any backend sees them: an empty password would be an anonymous bind
        // to many directories, which "succeeds".
        let password = request.credential.password();
        if password.is_some_and(|p| p.is_empty() || p.len() > MAX_PASSWORD_BYTES) {
            return Err(fail(FailureReason::WrongPassword));
        }
        // What a refusal costs when the backend is not asked, so that it tells nothing.
        let burn_time = || self.hasher.verify_dummy(password.unwrap_or_default());

        let username = source.account_name(request.username);
        let username = username.as_ref();
        let org = self.store.org_by_name(request.org).await?;
        let account = match &org {
            Some(org) => self.store.user_by_name(org.id, username).await?,
            None => None,
        };
        let now = self.now();
        let unknown_key = unknown_name_key(request.org, username);
        let lock_key: &[u8] = match &account {
            Some(user) if user.identity_source != request.source => {
                burn_time().await?;
                return Err(fail(FailureReason::WrongSource));
            }
            Some(user) => user.id.as_bytes(),
            None => &unknown_key,
        };
        let locked = lockout::is_locked(&*self.store, lock_key, address, now).await?;
        if locked || org.is_none() {
            // Whatever the password, the backend is not asked: it can neither be guessed
            // through a lock nor be made to lock the account on its side.
            burn_time().await?;
            if locked {
                return Err(fail(FailureReason::Locked));
            }
        }

        let verdict = match &org {
            None => Verdict::Refused(crate::source::Refusal::UnknownUser),
            Some(org) => {
                let source_attempt = SourceAttempt {
                    org: &org.name,
                    username,
                    credential: request.credential,
                    account: account.as_ref(),
                };
                let unavailable = |detail: String| {
                    audit::source_unavailable(&attempt, request.source, &detail);
                    CoreError::SourceUnavailable { name: request.source.to_owned(), detail }
                };
                match tokio::time::timeout(source.deadline(), source.verify(&source_attempt)).await {
                    Ok(Ok(verdict)) => verdict,
                    Ok(Err(e)) => return Err(unavailable(e.0)),
                    Err(_) => return Err(unavailable(format!("no answer within {:?}", source.deadline()))),
                }
            }
        };

        let now = self.now();
        let identity = match verdict {
            Verdict::Refused(refusal) => {
                if refusal.is_guess() {
                    let locks =
                        lockout::count_failure(&*self.store, lock_key, address, now, &self.config.lockout).await?;
                    self.audit_locks(&attempt, locks, now);
                }
                let reason = match (refusal.reason(), &org) {
                    (FailureReason::UnknownUser, None) => FailureReason::UnknownOrg,
                    (reason, _) => reason,
                };
                return Err(fail(reason));
            }
            Verdict::Accepted(identity) => identity,
        };
        let roles = match identity.roles {
            Some(roles) => Some(self.known_roles(roles).await?),
            None => None,
        };
        if roles.as_ref().is_some_and(Vec::is_empty) {
            return Err(fail(FailureReason::NoRole));
        }
        let user = match (account, org) {
            (Some(user), _) => {
                if !user.enabled {
                    return Err(fail(FailureReason::Disabled));
                }
                match roles {
                    Some(roles) if !same_roles(&user.role_names(), &roles) => {
                        self.store.set_user_roles(user.id, &roles).await?;
                        self.store.user_by_id(user.id).await?.ok_or_else(|| CoreError::NotFound("user".into()))?
                    }
                    _ => user,
                }
            }
            (None, Some(org)) => self.provision(&org, username, request, roles.unwrap_or_default()).await?,
            (None, None) => return Err(fail(FailureReason::UnknownOrg)),
        };
        // Guesses running in parallel may have locked the account since it was read.
        if !lockout::reset_after_success(&*self.store, user.id.as_bytes(), address, now).await? {
            return Err(fail(FailureReason::Locked));
        }
        self.store.set_last_login(user.id, now).await?;
        Ok(user)
    }

    /// Creates the account of a user an identity source vouched for, in the org they logged
    /// into, on their first login.
    async fn provision(
        &self,
        org: &Org,
        username: &str,
        request: &LoginRequest<'_>,
        roles: Vec<String>,
    ) -> Result<User, CoreError> {
        if roles.is_empty() {
            // A source that keeps the roles Tollgate holds has nothing to give a new account.
            return Err(CoreError::Auth(AuthFailure { reason: FailureReason::UnknownUser }));
        }
        let spec = UserSpec {
            org: org.name.clone(),
            name: username.to_owned(),
            roles,
            identity_source: request.source.to_owned(),
            password_hash: None,
        };
        validate_name("user", &spec.name).map_err(CoreError::Invalid)?;
        match self.store.create_user(&spec, self.now()).await {
            Ok(user) => {
                audit::provisioned(&user, request.correlation_id);
                Ok(user)
            }
            // A first login running in parallel created it.
            Err(crate::store::StoreError::Conflict(_)) => self
                .store
                .user_by_name(org.id, &spec.name)
                .await?
                .ok_or_else(|| CoreError::NotFound(format!("user {:?}", spec.name))),
            Err(e) => Err(e.into()),
        }
    }

    /// `roles` less the names no role has (a mapping may name a role removed since), each
    /// spelled as the store spells it.
    async fn known_roles(&self, roles: Vec<String>) -> Result<Vec<String>, CoreError> {
        let known = self.roles().await?;
        let mut kept: Vec<String> = Vec::new();
        for role in roles {
            match known.iter().find(|k| crate::directory::same_role(&k.name, &role)) {
                Some(k) if !kept.contains(&k.name) => kept.push(k.name.clone()),
                Some(_) => {}
                None => tracing::warn!(role = %role, "an identity source granted a role that does not exist"),
            }
        }
        Ok(kept)
    }

    /// Opens the session a verified login asked for: as the principal it impersonates, if
    /// any, and only for a user holding one of the required roles.
    async fn open_for(&self, user: User, request: LoginRequest<'_>) -> Result<LoginOutcome, CoreError> {
        let attempt = attempt_of(&request);
        let now = self.now();
        let user = match request.impersonate {
            None => user,
            Some((org, name)) => {
                if !user.is_provider_admin() {
                    audit::login_failed(&attempt, FailureReason::NoImpersonation);
                    return Err(CoreError::NotPermitted(format!("{} may not impersonate", user.name)));
                }
                let principal = self.user(org, name).await?;
                if !principal.enabled {
                    return Err(CoreError::NotPermitted(format!("{name} is disabled")));
                }
                tracing::info!(
                    target: audit::TARGET,
                    event = "impersonation",
                    by = %user.name,
                    org = %principal.org_name,
                    user = %principal.name,
                    correlation_id = %request.correlation_id,
                );
                principal
            }
        };
        let permitted =
            request.required_roles.is_empty() || request.required_roles.iter().any(|role| user.has_role(role));
        if !permitted {
            audit::login_failed(&attempt, FailureReason::NoRole);
            return Err(CoreError::NotPermitted(format!("{} holds none of the roles this login needs", user.name)));
        }
        let source = user.identity_source.clone();
        self.open_session(&user, &request, &source, now).await
    }

    /// Opens a session in `request.dialect` for the holder of a live session of one of
    /// `from_dialects` (Cloud Director Availability accepts Cloud Director tokens). The new
    /// session's source is `vcd-session`; the presented session lives on.
    pub async fn exchange(
        &self,
        token: &str,
        from_dialects: &[&str],
        request: LoginRequest<'_>,
    ) -> Result<LoginOutcome, CoreError> {
        let dialect = request.dialect;
        let outcome = self.exchange_session(token, from_dialects, request).await;
        self.metrics.login(dialect, EXCHANGE_SOURCE, login_outcome(outcome.as_ref()));
        outcome
    }

    async fn exchange_session(
        &self,
        token: &str,
        from_dialects: &[&str],
        request: LoginRequest<'_>,
    ) -> Result<LoginOutcome, CoreError> {
        if !self.is_initialised().await? {
            return Err(CoreError::NotInitialised);
        }
        let presented = match self.authenticate_any(from_dialects, token, true).await {
            Ok(session) => session,
            Err(CoreError::Session(rejection)) => {
                tracing::warn!(
                    target: audit::TARGET,
                    event = "login_failed",
                    dialect = %request.dialect,
                    reason = %rejection,
                    remote = request.remote_addr.as_deref().unwrap_or("-"),
                    correlation_id = %request.correlation_id,
                );
                return Err(CoreError::Auth(AuthFailure { reason: FailureReason::WrongPassword }));
            }
            Err(other) => return Err(other),
        };
        let user = self
            .store
            .user_by_id(presented.user_id)
            .await?
            .filter(|u| u.enabled)
            .ok_or(CoreError::Auth(AuthFailure { reason: FailureReason::Disabled }))?;
        self.open_session(&user, &request, EXCHANGE_SOURCE, self.now()).await
    }

    async fn open_session(
        &self,
        user: &User,
        request: &LoginRequest<'_>,
        source: &str,
        now: Timestamp,
    ) -> Result<LoginOutcome, CoreError> {
        if let Err(throttled) = self.session_throttle.take(&user.id.to_string(), now) {
            self.metrics.throttled(telemetry::Throttled::SessionsOfUser);
            if throttled.first_of_burst {
                audit::throttled("sessions_of_user", &user.name, throttled.retry_after.as_secs().max(1));
            }
            return Err(CoreError::Throttled(throttled.retry_after));
        }
        let policy = self.config.policy_for(request.dialect);
        let mut session = Session {
            id: Uuid::new_v4(),
            number: 0,
            user_id: user.id,
            user_name: user.name.clone(),
            org_id: user.org_id,
            org_name: user.org_name.clone(),
            roles: user.role_names(),
            dialect: request.dialect.to_owned(),
            identity_source: source.to_owned(),
            remote_addr: request.remote_addr.clone(),
            correlation_id: request.correlation_id.to_owned(),
            created_at: now,
            last_seen_at: now,
            idle_timeout: policy.idle_timeout,
            expires_at: now.plus(policy.lifetime),
            state: SessionState::LoggedIn,
            ended_at: None,
            read_only: request.read_only,
        };
        let tokens: Vec<String> = request.tokens.iter().map(|kind| kind.generate()).collect();
        let digests: Vec<TokenDigest> = tokens.iter().map(|t| TokenDigest::of(t)).collect();
        session.number = self.store.insert_session(&session, &digests).await?;
        self.known_tokens.issued(&digests);
        audit::login(&session);
        self.evict_beyond_cap(&session, request.correlation_id, now).await?;
        let entry = self
            .cache
            .insert(session, &digests, now)
            .map_err(|_| CoreError::Internal("a new session was already ended".into()))?;
        crate::context::note_session(entry.session.id);
        Ok(LoginOutcome { session: LiveSession(entry), tokens })
    }

    /// Audits and counts the locks a failure set, each once: for its address, and for every
    /// address.
    fn audit_locks(&self, attempt: &FailedLogin<'_>, locks: lockout::Locks, now: Timestamp) {
        if let Some(until) = locks.address_until {
            self.metrics.lockout(false);
            audit::lockout(attempt, "address", until.since(now).as_secs());
        }
        if let Some(until) = locks.account_until {
            self.metrics.lockout(true);
            audit::lockout(attempt, "all_addresses", until.since(now).as_secs());
        }
    }

    /// Ends the user's oldest live sessions of the new session's dialect beyond the per-user
    /// cap, never the new one. Per dialect: a client that never logs out must not end the
    /// user's others. Nothing is kept of them (the audit log has them): a client that logs in
    /// before every request must not grow the store by a row each time. Logins racing here
    /// each end what they see beyond the cap; ending is idempotent, so they agree.
    async fn evict_beyond_cap(&self, new: &Session, correlation_id: &str, now: Timestamp) -> Result<(), CoreError> {
        let filter = SessionFilter {
            user_id: Some(new.user_id),
            dialect: Some(new.dialect.clone()),
            live_only: true,
            ..SessionFilter::default()
        };
        // The newest few beyond the cap: each login ends what the cap and the logins racing it
        // left over, and a lowered cap wears down what is beyond it a few at a time.
        let cap = self.config.max_sessions_per_user;
        let live = self.store.list_sessions(&filter, Page::first(cap.saturating_add(EVICTION_SLACK))).await?;
        let keep_others = cap.saturating_sub(1) as usize;
        let beyond: Vec<Uuid> = live.iter().filter(|s| s.id != new.id).skip(keep_others).map(|s| s.id).collect();
        if beyond.is_empty() {
            return Ok(());
        }
        for mut old in self.store.delete_live_sessions(&beyond).await? {
            old.state = SessionState::Terminated;
            old.ended_at = Some(now);
            self.cache.end(old.id, old.state, now);
            audit::session_ended("eviction", &old, correlation_id);
        }
        Ok(())
    }

    // ---- validation -----------------------------------------------------------------------

    /// The live session `token` names, if it was issued by `dialect`. Slides the idle timeout.
    pub async fn authenticate(&self, dialect: &str, token: &str) -> Result<LiveSession, CoreError> {
        self.authenticate_any(&[dialect], token, true).await
    }

    /// [`Core::authenticate`] for a request from `remote`: an address that keeps presenting
    /// tokens nobody issued is throttled before the store is asked about another.
    pub async fn authenticate_from(
        &self,
        dialect: &str,
        token: &str,
        remote: Option<&str>,
    ) -> Result<LiveSession, CoreError> {
        self.authenticate_any_from(&[dialect], token, remote).await
    }

    /// [`Core::authenticate_from`] for a token of any of `dialects` (all: empty).
    pub async fn authenticate_any_from(
        &self,
        dialects: &[&str],
        token: &str,
        remote: Option<&str>,
    ) -> Result<LiveSession, CoreError> {
        let Some(remote) = remote else { return self.authenticate_any(dialects, token, true).await };
        let now = self.now();
        let digest = TokenDigest::of(token);
        let cached = self.cache.get(&digest);
        if cached.is_none()
            && let Err(throttled) = self.unknown_token_throttle.check(remote, now)
        {
            self.metrics.throttled(telemetry::Throttled::UnknownToken);
            if throttled.first_of_burst {
                audit::throttled("unknown_token", remote, throttled.retry_after.as_secs().max(1));
            }
            return Err(CoreError::Throttled(throttled.retry_after));
        }
        let result = self.validate(dialects, &digest, cached, true).await;
        if matches!(result, Err(CoreError::Session(SessionRejection::Unknown))) {
            let _ = self.unknown_token_throttle.take(remote, now);
        }
        result
    }

    /// Like [`Core::authenticate`] for a token of any of `dialects`; `slide` false looks without
    /// counting as a use (introspection).
    pub async fn authenticate_any(
        &self,
        dialects: &[&str],
        token: &str,
        slide: bool,
    ) -> Result<LiveSession, CoreError> {
        let digest = TokenDigest::of(token);
        let cached = self.cache.get(&digest);
        self.validate(dialects, &digest, cached, slide).await
    }

    /// The live session a token's `digest` names, from `cached` (the cache's entry for it, if
    /// any) while it may be trusted, else from the store.
    async fn validate(
        &self,
        dialects: &[&str],
        digest: &TokenDigest,
        cached: Option<Arc<Entry>>,
        slide: bool,
    ) -> Result<LiveSession, CoreError> {
        let now = self.now();
        let entry = match cached {
            Some(entry) if !entry.is_ended() && now.since(entry.verified_at()) < self.config.revalidate_after => {
                self.metrics.cache_hits.increment(1);
                entry
            }
            _ => {
                self.metrics.cache_misses.increment(1);
                self.reload(digest, now).await?
            }
        };
        let session = &entry.session;
        if !dialects.is_empty() && !dialects.contains(&session.dialect.as_str()) {
            return Err(SessionRejection::Unknown.into());
        }
        match session.state_at(now, entry.last_seen()) {
            SessionState::LoggedIn => {}
            ended => {
                if let Some(ended) = self.store.end_session(session.id, ended, now).await? {
                    audit::session_ended("expiry", &ended, &session.correlation_id);
                }
                self.cache.end(session.id, ended, now);
                return Err(SessionRejection::Ended(ended).into());
            }
        }
        if slide {
            entry.seen(now);
            let granularity = (session.idle_timeout / 4).min(Duration::from_secs(60));
            if let Some(seen) = entry.claim_touch(granularity.as_millis() as i64) {
                // Off the request path, batched with other sessions' (see `touches`).
                let activity = Activity { session_id: session.id, last_seen: seen, ends_at: session.ends_at(seen) };
                self.touches.push(activity, &self.store);
            }
        }
        crate::context::note_session(entry.session.id);
        Ok(LiveSession(entry))
    }

    /// Whether `session` may pass a gate that admits holders of any of `roles` (every live
    /// session when `roles` is empty): the forward-auth endpoint's decision.
    pub fn require_any_role(&self, session: &Session, roles: &[&str]) -> Result<(), CoreError> {
        let holds = |wanted: &&str| session.roles.iter().any(|held| same_role(held, wanted));
        if roles.is_empty() || roles.iter().any(holds) {
            return Ok(());
        }
        Err(CoreError::NotPermitted(format!("{} holds none of the roles {}", session.user_name, roles.join(", "))))
    }

    /// The dialect that issued `token`, whether or not its session is still live.
    pub async fn token_dialect(&self, token: &str) -> Option<String> {
        let digest = TokenDigest::of(token);
        if let Some(entry) = self.cache.get(&digest) {
            return Some(entry.session.dialect.clone());
        }
        if !self.known_tokens.may_exist(&digest) {
            return None;
        }
        match self.store.session_by_digest(&digest).await {
            Ok(session) => session.map(|s| s.dialect),
            Err(e) => {
                tracing::warn!(error = %e, "could not look a token up");
                None
            }
        }
    }

    async fn reload(&self, digest: &TokenDigest, now: Timestamp) -> Result<Arc<Entry>, CoreError> {
        if !self.known_tokens.may_exist(digest) {
            return Err(SessionRejection::Unknown.into());
        }
        match self.store.session_by_digest(digest).await? {
            None => {
                self.cache.forget_digest(digest);
                Err(SessionRejection::Unknown.into())
            }
            Some(session) if session.state != SessionState::LoggedIn => {
                self.cache.end(session.id, session.state, now);
                self.cache.forget_digest(digest);
                Err(SessionRejection::Ended(session.state).into())
            }
            // Ended here while the store was being read: the store's answer is already stale.
            Some(session) => self
                .cache
                .insert(session, std::slice::from_ref(digest), now)
                .map_err(|state| SessionRejection::Ended(state).into()),
        }
    }

    // ---- ending sessions ------------------------------------------------------------------

    /// The holder ends their own session.
    pub async fn logout(&self, session: &LiveSession, correlation_id: &str) -> Result<(), CoreError> {
        self.end_session(session.id, SessionState::LoggedOut, "logout", correlation_id).await.map(|_| ())
    }

    /// Ends one session by id; `Ok(None)` when it was not live.
    pub async fn end_session(
        &self,
        id: Uuid,
        state: SessionState,
        event: &'static str,
        correlation_id: &str,
    ) -> Result<Option<Session>, CoreError> {
        let now = self.now();
        let ended = self.store.end_session(id, state, now).await?;
        self.cache.end(id, state, now);
        if let Some(ended) = &ended {
            audit::session_ended(event, ended, correlation_id);
        }
        Ok(ended)
    }

    /// An administrator revokes one session.
    pub async fn revoke_session(&self, id: Uuid, correlation_id: &str) -> Result<Session, CoreError> {
        self.end_session(id, SessionState::Terminated, "revocation", correlation_id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("live session {id}")))
    }

    /// An administrator revokes all of a user's sessions; returns how many were live.
    pub async fn revoke_user_sessions(&self, org: &str, name: &str, correlation_id: &str) -> Result<usize, CoreError> {
        let user = self.user(org, name).await?;
        self.end_user_sessions(user.id, correlation_id).await
    }

    async fn end_user_sessions(&self, user_id: Uuid, correlation_id: &str) -> Result<usize, CoreError> {
        let now = self.now();
        let ended = self.store.end_user_sessions(user_id, SessionState::Terminated, now).await?;
        for session in &ended {
            self.cache.end(session.id, session.state, now);
            audit::session_ended("revocation", session, correlation_id);
        }
        Ok(ended.len())
    }

    pub async fn session_by_number(&self, number: i64) -> Result<Option<Session>, CoreError> {
        Ok(self.store.session_by_number(number).await?)
    }

    pub async fn user_by_number(&self, number: i64) -> Result<Option<User>, CoreError> {
        Ok(self.store.user_by_number(number).await?)
    }

    /// The dialect's own state attached to a session (a JSON document), if any.
    pub async fn session_data(&self, id: Uuid) -> Result<Option<String>, CoreError> {
        Ok(self.store.session_data(id).await?)
    }

    pub async fn set_session_data(&self, id: Uuid, data: &str) -> Result<(), CoreError> {
        Ok(self.store.set_session_data(id, data).await?)
    }

    /// Sessions of one dialect, newest first.
    pub async fn dialect_sessions(
        &self,
        dialect: &str,
        org_id: Option<Uuid>,
        live_only: bool,
    ) -> Result<Vec<Session>, CoreError> {
        let filter = SessionFilter { dialect: Some(dialect.to_owned()), org_id, live_only, ..SessionFilter::default() };
        Ok(self.store.list_sessions(&filter, Page::ALL).await?)
    }

    /// One page of the sessions (of an org, or of one of its users), newest first.
    pub async fn sessions(
        &self,
        org: Option<&str>,
        user: Option<&str>,
        live_only: bool,
        page: Page,
    ) -> Result<Vec<Session>, CoreError> {
        let mut filter = SessionFilter { live_only, ..SessionFilter::default() };
        match (org, user) {
            (Some(org), Some(user)) => filter.user_id = Some(self.user(org, user).await?.id),
            (Some(org), None) => filter.org_id = Some(self.org(org).await?.id),
            (None, Some(_)) => return Err(CoreError::Invalid("--user needs --org".into())),
            (None, None) => {}
        }
        Ok(self.store.list_sessions(&filter, page).await?)
    }

    // ---- housekeeping ---------------------------------------------------------------------

    /// Writes pending activity, ends sessions that timed out, drops what memory no longer
    /// needs and deletes long-ended sessions. The server runs this periodically.
    pub async fn sweep(&self) -> Result<(), CoreError> {
        let now = self.now();
        self.touches.flush(self.store.as_ref()).await;
        match self.known_tokens.learn_if_due(self.store.as_ref(), now).await {
            Ok(Some(held)) => tracing::debug!(tokens = held, "learnt the live tokens"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the live tokens; unknown tokens ask the store"),
        }
        let pending: Vec<Activity> = self
            .cache
            .unflushed()
            .iter()
            .map(|e| Activity {
                session_id: e.session.id,
                last_seen: e.last_seen(),
                ends_at: e.session.ends_at(e.last_seen()),
            })
            .collect();
        // A failed write only makes some sessions end a little early; expiry must go on.
        if !pending.is_empty()
            && let Err(e) = self.store.touch_sessions(&pending).await
        {
            tracing::warn!(error = %e, "could not record session activity");
        }
        self.cache.prune(Timestamp(now.millis() - 5 * 60 * 1000));
        self.metrics.upkeep();
        match self.store.count_live_sessions().await {
            Ok(counts) => self.metrics.live_sessions(&counts),
            Err(e) => tracing::warn!(error = %e, "could not count the live sessions"),
        }
        self.login_throttle.prune(now);
        self.unknown_token_throttle.prune(now);
        self.session_throttle.prune(now);
        // Each step runs whatever became of the one before: a failed expiry must not keep the
        // store from shedding what it no longer needs.
        let expired = self.expire_sessions(now).await;
        let purged = self.purge_ended_sessions(now).await;
        let forgotten = lockout::purge(&*self.store, now, &self.config.lockout).await;
        expired?;
        purged?;
        forgotten?;
        Ok(())
    }

    /// Ends, in batches, the live sessions whose stored end has passed: timed out when idle
    /// too long, expired when past their lifetime.
    async fn expire_sessions(&self, now: Timestamp) -> Result<(), CoreError> {
        loop {
            let due = self.store.sessions_ending_by(now, SWEEP_BATCH).await?;
            let ends: Vec<(Uuid, SessionState)> = due
                .iter()
                .map(|s| (s.id, s.state_at(now, s.last_seen_at)))
                .filter(|(_, state)| *state != SessionState::LoggedIn)
                .collect();
            let ended = if ends.is_empty() { Vec::new() } else { self.store.end_sessions(&ends, now).await? };
            for session in &ended {
                self.cache.end(session.id, session.state, now);
                audit::session_ended("expiry", session, &session.correlation_id);
            }
            // A short batch was the last; one that ended nothing would only come back.
            if due.len() < SWEEP_BATCH as usize || ended.is_empty() {
                return Ok(());
            }
        }
    }

    /// Deletes sessions ended before the retention period, a batch per transaction: logins
    /// wait for one batch, not for all.
    async fn purge_ended_sessions(&self, now: Timestamp) -> Result<(), CoreError> {
        let cutoff = Timestamp(now.millis() - self.config.ended_session_retention.as_millis() as i64);
        let mut purged = 0;
        loop {
            let batch = self.store.purge_ended_sessions(cutoff, SWEEP_BATCH).await?;
            purged += batch;
            if batch < u64::from(SWEEP_BATCH) {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "deleted sessions ended before the retention period");
        }
        Ok(())
    }
}

/// A login attempt taken from its address's bucket. Only a refused login keeps it: a good one
/// gives it back, and so does one that never finished (the client went away mid-hash) or that
/// failed on our side (an outage must not use up anyone's attempts).
struct ThrottledAttempt<'a> {
    core: &'a Core,
    remote: Option<String>,
    counted: bool,
}

impl ThrottledAttempt<'_> {
    fn count(mut self) {
        self.counted = true;
    }

    fn settle<T>(self, outcome: &Result<T, CoreError>) {
        if matches!(outcome, Err(CoreError::Auth(_))) {
            self.count();
        }
    }
}

impl Drop for ThrottledAttempt<'_> {
    fn drop(&mut self) {
        if let (false, Some(remote)) = (self.counted, &self.remote) {
            self.core.login_throttle.refund(remote, self.core.now());
        }
    }
}

/// The `outcome` label of a login: `success`, or why it was refused.
fn login_outcome<T>(result: Result<&T, &CoreError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(CoreError::Auth(failure)) => failure.reason.as_str(),
        Err(CoreError::NotPermitted(_)) => "not_permitted",
        Err(CoreError::Throttled(_)) => "throttled",
        Err(CoreError::NotInitialised) => "not_initialised",
        Err(CoreError::SourceUnavailable { .. }) => "source_unavailable",
        Err(_) => "error",
    }
}

/// Identifies a login name no account has, without keeping the name itself.
fn unknown_name_key(org: &str, name: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(org.to_lowercase().as_bytes());
    digest.update([0]);
    digest.update(name.to_lowercase().as_bytes());
    digest.finalize().into()
}

/// Whether two lists name the same roles, in any order.
fn same_roles(a: &[String], b: &[String]) -> bool {
    let covers = |x: &[String], y: &[String]| x.iter().all(|r| y.iter().any(|o| crate::directory::same_role(r, o)));
    covers(a, b) && covers(b, a)
}

fn attempt_of<'a>(request: &'a LoginRequest<'_>) -> FailedLogin<'a> {
    FailedLogin {
        dialect: request.dialect,
        org: request.org,
        user: request.username,
        remote: request.remote_addr.as_deref(),
        correlation_id: request.correlation_id,
    }
}
