//! A store that times every call of the store it wraps and counts its backend failures
//! (`tollgate_store_operation_duration_seconds`, `tollgate_store_errors_total`, by operation),
//! and gives up on a call past the wrapped store's [`SessionStore::call_deadline`]. The core
//! wraps its store in one when it records metrics or the store has a deadline.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use metrics::{Counter, Histogram, Label};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::directory::{ApiToken, ApiTokenSpec, Org, Role, User, UserSpec};
use crate::session::{Session, SessionState};
use crate::store::{
    Activity, DirectoryStore, LockoutStore, MetaStore, Page, Revocation, RevocationLog, SessionFilter, SessionStore,
    Store, StoreError, StoreResult,
};
use crate::telemetry::{self, Metrics};
use crate::token::TokenDigest;

pub(crate) struct MeasuredStore {
    inner: Arc<dyn Store>,
    metrics: Metrics,
    /// Each operation's handles, registered on its first call.
    handles: Mutex<HashMap<&'static str, (Histogram, Counter)>>,
}

impl MeasuredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Metrics) -> Self {
        MeasuredStore { inner, metrics, handles: Mutex::new(HashMap::new()) }
    }

    fn handles(&self, operation: &'static str) -> (Histogram, Counter) {
        let mut handles = self.handles.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        handles
            .entry(operation)
            .or_insert_with(|| {
                let label = || vec![Label::from_static_parts("operation", operation)];
                (
                    self.metrics.histogram(telemetry::STORE_DURATION, label()),
                    self.metrics.counter(telemetry::STORE_ERRORS, label()),
                )
            })
            .clone()
    }

    async fn timed<T>(&self, operation: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let started = Instant::now();
        let result = match self.inner.call_deadline() {
            Some(deadline) => tokio::time::timeout(deadline, call).await.unwrap_or_else(|_| {
                Err(StoreError::Backend(format!("the store did not answer {operation} within {deadline:?}")))
            }),
            None => call.await,
        };
        let (duration, errors) = self.handles(operation);
        duration.record(started.elapsed());
        // Not found and conflicts are answers; only a backend that failed is an error.
        if matches!(result, Err(StoreError::Backend(_))) {
            errors.increment(1);
        }
        result
    }
}

/// Implements a store trait for [`MeasuredStore`]: each method forwards to the inner store,
/// timed under its own name; the items after the braces go into the impl as they are. Every
/// method, those with defaults included, must be listed: a default would answer in place of
/// the inner store's own.
macro_rules! measured {
    ($trait:ident { $(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* } $($item:item)*) => {
        #[async_trait::async_trait]
        impl $trait for MeasuredStore {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.timed(stringify!($name), self.inner.$name($($arg),*)).await
            })*
            $($item)*
        }
    };
}

measured!(MetaStore {
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String>;
    async fn spend_nonce(&self, key: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool>;
    async fn purge_nonces(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
});

measured!(DirectoryStore {
    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org>;
    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>>;
    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>>;
    async fn list_orgs(&self) -> StoreResult<Vec<Org>>;
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User>;
    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>>;
    async fn list_users(&self, org_id: Option<Uuid>, page: Page) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()>;
    async fn replace_password_hash(&self, user_id: Uuid, current: &str, new: &str) -> StoreResult<bool>;
    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()>;
    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()>;
    async fn set_last_login(&self, user_id: Uuid, at: Timestamp) -> StoreResult<()>;
    async fn delete_org(&self, id: Uuid) -> StoreResult<()>;
    async fn delete_user(&self, id: Uuid, now: Timestamp) -> StoreResult<()>;
    async fn create_api_token(&self, spec: &ApiTokenSpec, digest: &TokenDigest, now: Timestamp) -> StoreResult<ApiToken>;
    async fn api_token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<ApiToken>>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>>;
    async fn api_token_digests(&self) -> StoreResult<Vec<(ApiToken, TokenDigest)>>;
    async fn revoke_api_token(&self, name: &str, now: Timestamp) -> StoreResult<Option<ApiToken>>;
});

measured!(LockoutStore {
    async fn reserve_attempt(
        &self,
        account: &[u8],
        limits: &[(&str, u32)],
        now: Timestamp,
        window_start: Timestamp
    ) -> StoreResult<Option<Vec<u32>>>;
    async fn release_attempt(&self, account: &[u8], addresses: &[&str], reserved_at: Timestamp) -> StoreResult<()>;
    async fn lock(&self, account: &[u8], address: &str, until: Timestamp) -> StoreResult<()>;
    async fn reset_unless_locked(&self, account: &[u8], addresses: &[&str], now: Timestamp) -> StoreResult<bool>;
    async fn locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>>;
    async fn forget_account(&self, account: &[u8]) -> StoreResult<()>;
    async fn purge_counters(&self, now: Timestamp, window_start: Timestamp) -> StoreResult<u64>;
});

measured!(SessionStore {
    async fn insert_session(&self, session: &Session, digests: &[TokenDigest]) -> StoreResult<i64>;
    async fn insert_sessions(&self, sessions: &[(Session, Vec<TokenDigest>)]) -> StoreResult<Vec<i64>>;
    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>>;
    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>>;
    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>>;
    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>>;
    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()>;
    async fn list_sessions(&self, filter: &SessionFilter, page: Page) -> StoreResult<Vec<Session>>;
    async fn count_live_sessions(&self) -> StoreResult<Vec<(String, u64)>>;
    async fn touch_sessions(&self, activity: &[Activity]) -> StoreResult<()>;
    async fn end_sessions(&self, ends: &[(Uuid, SessionState)], now: Timestamp) -> StoreResult<Vec<Session>>;
    async fn end_session(&self, id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Option<Session>>;
    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>>;
    async fn delete_live_sessions(&self, ids: &[Uuid], now: Timestamp) -> StoreResult<Vec<Session>>;
    async fn sessions_ending_by(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Session>>;
    async fn purge_ended_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
    async fn live_token_digests(&self, after: Option<TokenDigest>, limit: u32) -> StoreResult<Vec<TokenDigest>>;
}
    fn sole_issuer(&self) -> bool {
        self.inner.sole_issuer()
    }

    fn call_deadline(&self) -> Option<std::time::Duration> {
        self.inner.call_deadline()
    }
);

measured!(RevocationLog {
    async fn latest_revocation(&self) -> StoreResult<i64>;
    async fn revocations(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<Revocation>>;
    async fn purge_revocations(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}
    fn revocation_wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.revocation_wakeups()
    }
);
