//! The persistence interface. The embedded SQLite store implements it; a shared store
//! (PostgreSQL, Redis) fills the same trait so that several nodes can serve one directory.

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::config::LockoutPolicy;
use crate::directory::{Org, Role, User, UserSpec};
use crate::session::{Session, SessionState};
use crate::token::TokenDigest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub org_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub dialect: Option<String>,
    /// Only sessions still marked LOGGED_IN.
    pub live_only: bool,
}

/// The locks a recorded failure set: for its address, and for every address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Locks {
    pub address_until: Option<Timestamp>,
    pub account_until: Option<Timestamp>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Installation-wide facts (bootstrap state, site id).
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` unless it is set already; returns the value that is stored afterwards.
    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String>;

    // Directory.
    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org>;
    /// Case-insensitive, as Cloud Director matches org names.
    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>>;
    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>>;
    async fn list_orgs(&self) -> StoreResult<Vec<Org>>;
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    /// Fails with `NotFound` for an unknown org or role, `Conflict` for a taken name.
    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User>;
    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>>;
    async fn list_users(&self, org_id: Option<Uuid>) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()>;
    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()>;
    /// Replaces the user's roles (an identity source's group mapping, re-read at each login).
    /// Fails with `NotFound` for an unknown role.
    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()>;
    /// Counts a failed login from `address` against the policy, atomically, for the account
    /// from that address and for the account over all addresses (see [`LockoutPolicy`]).
    async fn record_login_failure(
        &self,
        user_id: Uuid,
        address: &str,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> StoreResult<Locks>;
    /// Clears the failure counts of the account and of `address`, and stamps the last login,
    /// unless the account is locked at `now`, for everyone or for `address` (a concurrent
    /// failure may have locked it meanwhile): then returns false.
    async fn record_login_success(&self, user_id: Uuid, address: &str, now: Timestamp) -> StoreResult<bool>;
    /// Counts a failed login for a name no account has (`key` is a digest of org and name),
    /// so that refusing it costs the same store write as a wrong password, and such names
    /// lock like real ones.
    async fn record_unknown_failure(
        &self,
        key: &[u8; 32],
        address: &str,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> StoreResult<Locks>;
    /// Until when a name no account has is locked for everyone, if it is.
    async fn unknown_locked_until(&self, key: &[u8; 32]) -> StoreResult<Option<Timestamp>>;
    /// Until when `account` (a user's id, or an unknown name's key) is locked for `address`.
    async fn address_locked_until(&self, account: &[u8], address: &str) -> StoreResult<Option<Timestamp>>;
    /// The addresses `account` has been locked for, and until when (past locks included until
    /// they are purged).
    async fn address_locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>>;
    /// Forgets failures of unknown names and of addresses that neither lock nor count any more
    /// at `now`.
    async fn purge_unknown_failures(&self, now: Timestamp, policy: &LockoutPolicy) -> StoreResult<u64>;
    /// Lifts the user's locks, for everyone and for every address.
    async fn unlock_user(&self, user_id: Uuid) -> StoreResult<()>;

    // Sessions.
    /// Stores a new session reachable by each of `digests`, then ends (TERMINATED) the user's
    /// oldest live sessions beyond `max_live`, in the same transaction. Returns the number it
    /// gave the session, and the sessions it ended.
    async fn insert_session(
        &self,
        session: &Session,
        digests: &[TokenDigest],
        max_live: u32,
    ) -> StoreResult<(i64, Vec<Session>)>;
    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>>;
    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>>;
    /// A dialect's own state attached to a session (a JSON document), if any.
    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>>;
    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()>;
    /// Newest first.
    async fn list_sessions(&self, filter: &SessionFilter) -> StoreResult<Vec<Session>>;
    /// Moves `last_seen_at` forward (never back) for each live session named.
    async fn touch_sessions(&self, seen: &[(Uuid, Timestamp)]) -> StoreResult<()>;
    /// Ends one live session; returns it as it was when it ended, `None` if it was not live.
    async fn end_session(&self, id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Option<Session>>;
    /// Ends every live session of a user; returns those it ended.
    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>>;
    /// Marks live sessions past their idle timeout (by the stored last-seen) TIMED_OUT and those
    /// past their absolute expiry EXPIRED; returns them.
    async fn expire_sessions(&self, now: Timestamp) -> StoreResult<Vec<Session>>;
    /// Deletes sessions that ended before `before`; returns how many.
    async fn purge_ended_sessions(&self, before: Timestamp) -> StoreResult<u64>;
}
