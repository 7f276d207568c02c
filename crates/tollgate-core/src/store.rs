//! The persistence interface, split by role as Ory Kratos splits its identity pool from its
//! session persister: a [`DirectoryStore`] (orgs, roles, users), a [`SessionStore`], a
//! [`LockoutStore`] (failed-login counters), a [`RevocationLog`] (sessions that ended, in the
//! order they ended, for every node's cache) and a [`MetaStore`] (installation-wide facts).
//!
//! Stores provide atomic primitives only. The rules built on them (when a run of failures
//! locks an account, which sessions the per-user cap ends, when a session is idle or expired)
//! live in the core, so that every backend gets them the same. A backend implements all four
//! roles and is then a [`Store`], which is what the core holds.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::directory::{ApiToken, ApiTokenSpec, Org, Role, User, UserSpec};
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

/// One page of a listing, by the items' numbers (see [`User::number`], [`Session::number`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The number of the last item of the previous page; `None` for the first page.
    pub after: Option<i64>,
    pub limit: u32,
}

impl Page {
    pub const fn first(limit: u32) -> Page {
        Page { after: None, limit }
    }

    /// Everything at once: for listings bounded by other means (a user's sessions of one
    /// dialect, say).
    pub const ALL: Page = Page { after: None, limit: u32::MAX };

    /// The page after `items`, or `None` when `items` was the last one.
    pub fn next<T>(self, items: &[T], number: impl Fn(&T) -> i64) -> Option<Page> {
        if (items.len() as u64) < u64::from(self.limit) {
            return None;
        }
        items.last().map(|last| Page { after: Some(number(last)), ..self })
    }
}

/// A session's last use, as the core writes it back: with the moment it ends if unused again
/// (computed by the core's expiry rules, see [`Session::ends_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub session_id: Uuid,
    pub last_seen: Timestamp,
    pub ends_at: Timestamp,
}

/// Installation-wide facts (bootstrap state, site id).
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` unless it is set already; returns the value that is stored afterwards.
    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String>;
    /// Remembers the single-use proof `key` until `until`, atomically: true when it was not
    /// remembered (or only past its `until` as of `now`), false when it is spent already, by
    /// this process or any other on the same store.
    async fn spend_nonce(&self, key: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool>;
    /// Forgets up to `limit` proofs remembered until `before` or earlier; returns how many.
    async fn purge_nonces(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// Orgs, roles and users.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org>;
    /// Case-insensitive, as Cloud Director matches org names.
    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>>;
    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>>;
    async fn list_orgs(&self) -> StoreResult<Vec<Org>>;
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    /// Fails with `NotFound` for an unknown org or role, `Conflict` for a taken name.
    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User>;
    /// Case-insensitive.
    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>>;
    /// In the order of their numbers (the order they were created in).
    async fn list_users(&self, org_id: Option<Uuid>, page: Page) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()>;
    /// Sets the hash only while it is still `current`: false when it has changed since (a new
    /// password set meanwhile must not be overwritten by a re-hash of the old one).
    async fn replace_password_hash(&self, user_id: Uuid, current: &str, new: &str) -> StoreResult<bool>;
    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()>;
    /// Replaces the user's roles (an identity source's group mapping, re-read at each login).
    /// Fails with `NotFound` for an unknown role.
    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()>;
    async fn set_last_login(&self, user_id: Uuid, at: Timestamp) -> StoreResult<()>;
    /// Deletes an org that holds no users and no API tokens: `Conflict` when it still does,
    /// `NotFound` when there is no such org.
    async fn delete_org(&self, id: Uuid) -> StoreResult<()>;
    /// Deletes a user and, with them, every session of theirs (the live ones entered in the
    /// [`RevocationLog`] as terminated at `now`); `NotFound` when there is none.
    async fn delete_user(&self, id: Uuid, now: Timestamp) -> StoreResult<()>;
    /// Stores a new API token reachable by `digest`. Fails with `NotFound` for an unknown org
    /// or role, `Conflict` for a name another token has (case-insensitive, revoked ones too).
    async fn create_api_token(
        &self,
        spec: &ApiTokenSpec,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<ApiToken>;
    /// The token `digest` names, revoked or not.
    async fn api_token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<ApiToken>>;
    /// Every API token, revoked ones included, by name.
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// Every API token, revoked ones included, by name, with the digest of its secret: for
    /// `store copy`, which moves tokens with their digests so that their secrets keep working.
    async fn api_token_digests(&self) -> StoreResult<Vec<(ApiToken, TokenDigest)>>;
    /// Marks a token revoked at `now`; returns it as it is afterwards, `None` when no token has
    /// that name. A token revoked already keeps its first revocation time.
    async fn revoke_api_token(&self, name: &str, now: Timestamp) -> StoreResult<Option<ApiToken>>;
}

/// Counters of failed logins, each named by an account (a user's id, or a digest of a name no
/// account has) and a client address. Each counter counts the failures of its current window
/// and may hold a lock; what a count means is the core's business.
#[async_trait]
pub trait LockoutStore: Send + Sync + 'static {
    /// Counts a login attempt before its credential is checked, so that attempts running at
    /// once, on any number of nodes, can never check more credentials than the limits allow.
    /// Each `(address, limit)` names a counter of `account`. Unless one of them is locked at
    /// `now` or already holds `limit` attempts in its window, each gains one, atomically, and
    /// the counts after it are returned in the order of `limits`; otherwise none changes and
    /// the answer is `None`. A counter whose window began at or before `window_start` (or that
    /// has none) starts a new one at `now` with this attempt.
    async fn reserve_attempt(
        &self,
        account: &[u8],
        limits: &[(&str, u32)],
        now: Timestamp,
        window_start: Timestamp,
    ) -> StoreResult<Option<Vec<u32>>>;
    /// Gives back an attempt [`LockoutStore::reserve_attempt`] counted at `reserved_at` that was
    /// no guess after all (the identity source could not answer, say): each named counter
    /// loses one, unless its window began after `reserved_at` or a lock emptied it since.
    async fn release_attempt(&self, account: &[u8], addresses: &[&str], reserved_at: Timestamp) -> StoreResult<()>;
    /// Locks the counter until `until` (a later lock already there is kept) and empties its
    /// count and window.
    async fn lock(&self, account: &[u8], address: &str, until: Timestamp) -> StoreResult<()>;
    /// Unless one of the named counters is locked at `now`, forgets them all and returns
    /// true; otherwise changes nothing and returns false. One atomic step: a failure counted
    /// at the same time cannot be lost between the check and the reset.
    async fn reset_unless_locked(&self, account: &[u8], addresses: &[&str], now: Timestamp) -> StoreResult<bool>;
    /// The account's locks, by address, and until when (past ones included until purged).
    async fn locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>>;
    /// Forgets every counter of the account, locks included.
    async fn forget_account(&self, account: &[u8]) -> StoreResult<()>;
    /// Forgets counters that are not locked at `now` and whose window began at or before
    /// `window_start`; returns how many.
    async fn purge_counters(&self, now: Timestamp, window_start: Timestamp) -> StoreResult<u64>;
}

/// Sessions and the digests of their tokens.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session reachable by each of `digests`; returns the number it gave it.
    /// Its end (for [`SessionStore::sessions_ending_by`]) is `session.ends_at(session.last_seen_at)`.
    async fn insert_session(&self, session: &Session, digests: &[TokenDigest]) -> StoreResult<i64>;
    /// [`SessionStore::insert_session`] for many sessions at once (a store may write them in
    /// one transaction), for tools that fill a store: `scripts/bench-scale.sh` makes a million.
    async fn insert_sessions(&self, sessions: &[(Session, Vec<TokenDigest>)]) -> StoreResult<Vec<i64>> {
        let mut numbers = Vec::with_capacity(sessions.len());
        for (session, digests) in sessions {
            numbers.push(self.insert_session(session, digests).await?);
        }
        Ok(numbers)
    }
    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>>;
    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// A dialect's own state attached to a session (a JSON document), if any.
    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>>;
    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()>;
    /// Newest first (by number, descending: a page's `after` is a number above the page's).
    async fn list_sessions(&self, filter: &SessionFilter, page: Page) -> StoreResult<Vec<Session>>;
    /// How many sessions are live (LOGGED_IN), by dialect: for the metrics, at each sweep. A
    /// backend that can count in one query should; this pages through them.
    async fn count_live_sessions(&self) -> StoreResult<Vec<(String, u64)>> {
        let filter = SessionFilter { live_only: true, ..SessionFilter::default() };
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        let mut page = Some(Page::first(1000));
        while let Some(current) = page {
            let sessions = self.list_sessions(&filter, current).await?;
            for session in &sessions {
                *counts.entry(session.dialect.clone()).or_default() += 1;
            }
            page = current.next(&sessions, |s| s.number);
        }
        Ok(counts.into_iter().collect())
    }
    /// Moves each live session's last use and end forward (never back).
    async fn touch_sessions(&self, activity: &[Activity]) -> StoreResult<()>;
    /// Ends each named session that is still live, in one atomic step, with its state; returns
    /// those it ended, as they were then. Like every call that ends or deletes live sessions,
    /// it appends each of them to the [`RevocationLog`] in the same transaction.
    async fn end_sessions(&self, ends: &[(Uuid, SessionState)], now: Timestamp) -> StoreResult<Vec<Session>>;
    /// Ends one live session; returns it as it was when it ended, `None` if it was not live.
    async fn end_session(&self, id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Option<Session>> {
        Ok(self.end_sessions(&[(id, state)], now).await?.pop())
    }
    /// Ends every live session of a user; returns those it ended.
    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>>;
    /// Deletes each named session that is still live, leaving nothing of it but its entry in
    /// the [`RevocationLog`] (as terminated at `now`); returns those it deleted, as they were.
    async fn delete_live_sessions(&self, ids: &[Uuid], now: Timestamp) -> StoreResult<Vec<Session>>;
    /// Up to `limit` live sessions whose stored end is at or before `now`.
    async fn sessions_ending_by(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Session>>;
    /// Deletes up to `limit` sessions that ended before `before`; returns how many. A store
    /// that several nodes share lets one node purge at a time and answers 0 to the others
    /// meanwhile, which ends their purge for this sweep.
    async fn purge_ended_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
    /// True when no session can enter this store but through this handle (an embedded store
    /// that one server holds locked): then a digest of a token the core has neither issued nor
    /// found among [`SessionStore::live_token_digests`] names no session, and the core refuses
    /// it without asking. A shared store, written by other nodes, says false.
    fn sole_issuer(&self) -> bool {
        false
    }
    /// How long any one call of this store may take before the core gives up on it and
    /// answers a server error; `None`: as long as it takes. A networked store says how long,
    /// since a hung server (SIGSTOP, a frozen VM) keeps its sockets open and never answers,
    /// and its own timeouts run on the server that is hung.
    fn call_deadline(&self) -> Option<std::time::Duration> {
        None
    }
    /// Up to `limit` digests of live sessions' tokens, in ascending order, after `after`.
    /// Asked only of a store that is its sessions' [`SessionStore::sole_issuer`].
    async fn live_token_digests(&self, after: Option<TokenDigest>, limit: u32) -> StoreResult<Vec<TokenDigest>> {
        let _ = (after, limit);
        Ok(Vec::new())
    }
}

/// One entry of the [`RevocationLog`]: a session that ended, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The entry's number: each entry's is above every earlier one's.
    pub seq: i64,
    pub session_id: Uuid,
    pub state: SessionState,
    pub at: Timestamp,
}

/// Every session end, numbered, so that each node can drop what it caches of sessions other
/// nodes (or the CLI) ended: a node reads the entries after the last number it has seen.
///
/// Numbers are taken before the entry commits, so with several writers an entry may become
/// visible after entries numbered above it. A reader therefore keeps asking for the numbers it
/// saw skipped (see `also` below) for a while: an entry commits within a statement's timeout
/// of taking its number, or never (its transaction rolled back).
#[async_trait]
pub trait RevocationLog: Send + Sync + 'static {
    /// The highest number in the log, 0 when it has never held an entry: where a reader that
    /// holds nothing yet starts.
    async fn latest_revocation(&self) -> StoreResult<i64>;
    /// Up to `limit` entries numbered above `after` or numbered one of `also`, by number.
    async fn revocations(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<Revocation>>;
    /// Deletes up to `limit` entries recorded before `before`; returns how many. Numbers are
    /// never reused after a purge.
    async fn purge_revocations(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
    /// Woken when another process may have appended entries (PostgreSQL's `LISTEN`, Redis
    /// pub/sub), so that readers need not wait for their next poll; `None` for a store that
    /// has no push channel. Pushes are hints that may be lost: readers poll all the same.
    fn revocation_wakeups(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// A backend that fills every role: what the core holds.
pub trait Store: MetaStore + DirectoryStore + LockoutStore + SessionStore + RevocationLog {}

impl<T: MetaStore + DirectoryStore + LockoutStore + SessionStore + RevocationLog> Store for T {}
