//! Redis (or Valkey) beside the PostgreSQL store, for what it does better: lockout counters
//! (the [`LockoutStore`] role), which every failed login writes, and a revocation bus (pub/sub)
//! that wakes every node's revocation feed as soon as a session ends, beside PostgreSQL's
//! `NOTIFY`. Sessions, the directory and the revocation log stay in the store it wraps: Redis
//! is never the only copy of a session.
//!
//! Redis down never locks anyone out and never loses a revocation: lockout counts fall back to
//! the wrapped store (and a lock set there is honoured after Redis is back), and revocations
//! still arrive through the log, which the nodes poll. Every call is bounded by short
//! timeouts, and after a failure Redis is left alone for a second before it is tried again.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tollgate_core::store::{
    Activity, DirectoryStore, LockoutStore, MetaStore, Page, Revocation, RevocationLog, SessionFilter, SessionStore,
    Store, StoreError, StoreResult,
};
use tollgate_core::token::TokenDigest;
use tollgate_core::{ApiToken, ApiTokenSpec, Org, Role, Session, SessionState, Timestamp, User, UserSpec};
use uuid::Uuid;

mod bus;
mod lockout;
#[cfg(feature = "testing")]
pub mod testing;

/// Opening a connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// One command's answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a failure.
const BACK_OFF: Duration = Duration::from_secs(1);

/// A [`Store`] whose lockout counters live in Redis and whose session ends are announced on
/// Redis pub/sub; everything else is the wrapped store's.
pub struct RedisAssisted {
    inner: Arc<dyn Store>,
    client: redis::Client,
    redis: ConnectionManager,
    /// Until when Redis is not asked, after a failure.
    resting_until: Arc<Mutex<Option<Instant>>>,
    wakeups: OnceLock<Wakeups>,
}

/// The revocation feed's wakeups: the bus subscription and the wrapped store's own push.
struct Wakeups {
    notify: Arc<Notify>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for RedisAssisted {
    fn drop(&mut self) {
        for task in self.wakeups.get().map(|w| &w.tasks[..]).unwrap_or_default() {
            task.abort();
        }
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The client for `url`. `rediss://` speaks TLS (rustls) and checks the server's certificate
/// and name against the machine's roots, or against the CA certificates of the PEM file that
/// an `sslrootcert=PATH` query parameter names, as in the PostgreSQL store's URL.
fn client(url: &str) -> StoreResult<redis::Client> {
    let bad = |e: &dyn std::fmt::Display| backend(format!("bad Redis URL: {e}"));
    let parsed = url::Url::parse(url).map_err(|e| bad(&e))?;
    let root = parsed.query_pairs().find(|(key, _)| key == "sslrootcert").map(|(_, path)| path.into_owned());
    match root {
        None => redis::Client::open(url).map_err(|e| bad(&e)),
        Some(_) if parsed.scheme() != "rediss" => Err(bad(&"sslrootcert needs a rediss:// URL (TLS)")),
        Some(path) => {
            let pem = std::fs::read(&path).map_err(|e| backend(format!("cannot read sslrootcert {path}: {e}")))?;
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
            redis::Client::build_with_tls(url, certificates).map_err(|e| bad(&e))
        }
    }
}

impl RedisAssisted {
    /// Wraps `inner` with the Redis at `url` (`redis://[:password@]host:port[/db]`, or
    /// `rediss://…` for TLS: see [`client`]). Connects lazily: a Redis that is down at start
    /// only means the fallbacks are used until it is up.
    pub fn new(inner: Arc<dyn Store>, url: &str) -> StoreResult<Self> {
        let client = client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(backend)?;
        Ok(RedisAssisted { inner, client, redis, resting_until: Arc::default(), wakeups: OnceLock::new() })
    }

    /// A connection to Redis, unless it failed less than [`BACK_OFF`] ago.
    fn redis(&self) -> Option<ConnectionManager> {
        let resting = self.resting_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match *resting {
            Some(until) if Instant::now() < until => None,
            _ => Some(self.redis.clone()),
        }
    }

    /// Notes a failed Redis call: the next ones use the fallback for a while.
    fn failed(&self, what: &str, error: &redis::RedisError) {
        let mut resting = self.resting_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if resting.is_none_or(|until| Instant::now() >= until) {
            tracing::warn!(error = %error, "Redis failed at {what}; using PostgreSQL for lockout for a while");
        }
        *resting = Some(Instant::now() + BACK_OFF);
    }

    /// Runs `call` on Redis if it may be asked; `None` when it may not or failed.
    async fn try_redis<T, F, Fut>(&self, what: &str, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.redis()?;
        match call(connection).await {
            Ok(value) => Some(value),
            Err(e) => {
                self.failed(what, &e);
                None
            }
        }
    }

    /// Tells every node that sessions ended (a hint: they read the log to learn which).
    fn announce_ended(&self) {
        let Some(mut connection) = self.redis() else { return };
        let resting_until = self.resting_until.clone();
        tokio::spawn(async move {
            let published: redis::RedisResult<i64> =
                redis::cmd("PUBLISH").arg(bus::CHANNEL).arg("").query_async(&mut connection).await;
            if let Err(e) = published {
                tracing::debug!(error = %e, "could not announce ended sessions on Redis; nodes read the log all the same");
                *resting_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(Instant::now() + BACK_OFF);
            }
        });
    }
}

#[async_trait]
impl RevocationLog for RedisAssisted {
    async fn latest_revocation(&self) -> StoreResult<i64> {
        self.inner.latest_revocation().await
    }

    async fn revocations(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<Revocation>> {
        self.inner.revocations(after, also, limit).await
    }

    async fn purge_revocations(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.purge_revocations(before, limit).await
    }

    fn revocation_wakeups(&self) -> Option<Arc<Notify>> {
        let wakeups = self.wakeups.get_or_init(|| {
            let notify = Arc::new(Notify::new());
            let mut tasks = vec![tokio::spawn(bus::follow(self.client.clone(), notify.clone())).abort_handle()];
            if let Some(inner) = self.inner.revocation_wakeups() {
                let forwarded = notify.clone();
                let forward = tokio::spawn(async move {
                    loop {
                        inner.notified().await;
                        forwarded.notify_one();
                    }
                });
                tasks.push(forward.abort_handle());
            }
            Wakeups { notify, tasks }
        });
        Some(wakeups.notify.clone())
    }
}

#[async_trait]
impl LockoutStore for RedisAssisted {
    async fn reserve_attempt(
        &self,
        account: &[u8],
        limits: &[(&str, u32)],
        now: Timestamp,
        window_start: Timestamp,
    ) -> StoreResult<Option<Vec<u32>>> {
        if self.redis().is_none() {
            return self.inner.reserve_attempt(account, limits, now, window_start).await;
        }
        // Locks set in PostgreSQL while Redis was down still hold.
        let locked_in_fallback = self.inner.locks(account).await?;
        if locked_in_fallback.iter().any(|(address, until)| *until > now && limits.iter().any(|(a, _)| a == address)) {
            return Ok(None);
        }
        let reserved = self
            .try_redis("reserve_attempt", |mut c| async move {
                lockout::reserve_attempt(&mut c, account, limits, now, window_start).await
            })
            .await;
        match reserved {
            Some(counts) => Ok(counts),
            None => self.inner.reserve_attempt(account, limits, now, window_start).await,
        }
    }

    async fn release_attempt(&self, account: &[u8], addresses: &[&str], reserved_at: Timestamp) -> StoreResult<()> {
        // Given back where it would be counted now: Redis, unless it is down.
        let released = self
            .try_redis("release_attempt", |mut c| async move {
                lockout::release_attempt(&mut c, account, addresses, reserved_at).await
            })
            .await;
        match released {
            Some(()) => Ok(()),
            None => self.inner.release_attempt(account, addresses, reserved_at).await,
        }
    }

    async fn lock(&self, account: &[u8], address: &str, until: Timestamp) -> StoreResult<()> {
        let locked =
            self.try_redis("lock", |mut c| async move { lockout::lock(&mut c, account, address, until).await }).await;
        match locked {
            Some(()) => Ok(()),
            None => self.inner.lock(account, address, until).await,
        }
    }

    async fn reset_unless_locked(&self, account: &[u8], addresses: &[&str], now: Timestamp) -> StoreResult<bool> {
        let reset = self
            .try_redis("reset_unless_locked", |mut c| async move {
                lockout::reset_unless_locked(&mut c, account, addresses, now).await
            })
            .await;
        if reset == Some(false) {
            return Ok(false);
        }
        self.inner.reset_unless_locked(account, addresses, now).await
    }

    async fn locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>> {
        let mut locks = self.inner.locks(account).await?;
        if let Some(in_redis) =
            self.try_redis("locks", |mut c| async move { lockout::locks(&mut c, account).await }).await
        {
            for (address, until) in in_redis {
                match locks.iter_mut().find(|(a, _)| *a == address) {
                    Some((_, held)) => *held = (*held).max(until),
                    None => locks.push((address, until)),
                }
            }
        }
        locks.sort();
        Ok(locks)
    }

    async fn forget_account(&self, account: &[u8]) -> StoreResult<()> {
        if self
            .try_redis("forget_account", |mut c| async move { lockout::forget(&mut c, account).await })
            .await
            .is_none()
        {
            tracing::warn!("could not clear the account's counters in Redis; they expire by themselves");
        }
        self.inner.forget_account(account).await
    }

    async fn purge_counters(&self, now: Timestamp, window_start: Timestamp) -> StoreResult<u64> {
        // Redis expires its counters by itself; these are the fallback's.
        self.inner.purge_counters(now, window_start).await
    }
}

#[async_trait]
impl MetaStore for RedisAssisted {
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.meta(key).await
    }

    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String> {
        self.inner.init_meta(key, value).await
    }

    async fn spend_nonce(&self, key: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool> {
        self.inner.spend_nonce(key, until, now).await
    }

    async fn purge_nonces(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.purge_nonces(before, limit).await
    }
}

#[async_trait]
impl DirectoryStore for RedisAssisted {
    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org> {
        self.inner.create_org(name, full_name, now).await
    }

    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>> {
        self.inner.org_by_name(name).await
    }

    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>> {
        self.inner.org_by_id(id).await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        self.inner.list_orgs().await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.inner.list_roles().await
    }

    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User> {
        self.inner.create_user(spec, now).await
    }

    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(org_id, name).await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.inner.user_by_id(id).await
    }

    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>> {
        self.inner.user_by_number(number).await
    }

    async fn list_users(&self, org_id: Option<Uuid>, page: Page) -> StoreResult<Vec<User>> {
        self.inner.list_users(org_id, page).await
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()> {
        self.inner.set_password_hash(user_id, hash).await
    }

    async fn replace_password_hash(&self, user_id: Uuid, current: &str, new: &str) -> StoreResult<bool> {
        self.inner.replace_password_hash(user_id, current, new).await
    }

    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()> {
        self.inner.set_enabled(user_id, enabled).await
    }

    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()> {
        self.inner.set_user_roles(user_id, roles).await
    }

    async fn set_last_login(&self, user_id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.inner.set_last_login(user_id, at).await
    }

    async fn delete_org(&self, id: Uuid) -> StoreResult<()> {
        self.inner.delete_org(id).await
    }

    async fn delete_user(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        let ended = self.inner.delete_user(id, now).await?;
        self.announce_ended();
        Ok(ended)
    }

    async fn create_api_token(
        &self,
        spec: &ApiTokenSpec,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<ApiToken> {
        self.inner.create_api_token(spec, digest, now).await
    }

    async fn api_token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<ApiToken>> {
        self.inner.api_token_by_digest(digest).await
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.inner.list_api_tokens().await
    }

    async fn api_token_digests(&self) -> StoreResult<Vec<(ApiToken, TokenDigest)>> {
        self.inner.api_token_digests().await
    }

    async fn revoke_api_token(&self, name: &str, now: Timestamp) -> StoreResult<Option<ApiToken>> {
        self.inner.revoke_api_token(name, now).await
    }
}

#[async_trait]
impl SessionStore for RedisAssisted {
    async fn insert_session(&self, session: &Session, digests: &[TokenDigest]) -> StoreResult<i64> {
        self.inner.insert_session(session, digests).await
    }

    async fn insert_sessions(&self, sessions: &[(Session, Vec<TokenDigest>)]) -> StoreResult<Vec<i64>> {
        self.inner.insert_sessions(sessions).await
    }

    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>> {
        self.inner.session_by_digest(digest).await
    }

    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>> {
        self.inner.session_by_number(number).await
    }

    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>> {
        self.inner.session_by_id(id).await
    }

    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>> {
        self.inner.session_data(id).await
    }

    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()> {
        self.inner.set_session_data(id, data).await
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: Page) -> StoreResult<Vec<Session>> {
        self.inner.list_sessions(filter, page).await
    }

    async fn count_live_sessions(&self) -> StoreResult<Vec<(String, u64)>> {
        self.inner.count_live_sessions().await
    }

    async fn touch_sessions(&self, activity: &[Activity]) -> StoreResult<()> {
        self.inner.touch_sessions(activity).await
    }

    async fn end_sessions(&self, ends: &[(Uuid, SessionState)], now: Timestamp) -> StoreResult<Vec<Session>> {
        let ended = self.inner.end_sessions(ends, now).await?;
        self.announce_ended();
        Ok(ended)
    }

    async fn end_session(&self, id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Option<Session>> {
        let ended = self.inner.end_session(id, state, now).await?;
        self.announce_ended();
        Ok(ended)
    }

    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>> {
        let ended = self.inner.end_user_sessions(user_id, state, now).await?;
        self.announce_ended();
        Ok(ended)
    }

    async fn delete_live_sessions(&self, ids: &[Uuid], now: Timestamp) -> StoreResult<Vec<Session>> {
        let ended = self.inner.delete_live_sessions(ids, now).await?;
        self.announce_ended();
        Ok(ended)
    }

    async fn sessions_ending_by(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Session>> {
        self.inner.sessions_ending_by(now, limit).await
    }

    async fn purge_ended_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.purge_ended_sessions(before, limit).await
    }

    async fn live_token_digests(&self, after: Option<TokenDigest>, limit: u32) -> StoreResult<Vec<TokenDigest>> {
        self.inner.live_token_digests(after, limit).await
    }

    fn sole_issuer(&self) -> bool {
        self.inner.sole_issuer()
    }

    fn call_deadline(&self) -> Option<std::time::Duration> {
        self.inner.call_deadline()
    }
}
