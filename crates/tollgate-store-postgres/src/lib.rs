//! The shared store: PostgreSQL, so that several Tollgate nodes serve one directory.
//!
//! tokio-postgres with a deadpool pool: a small, async-native client whose every wait can be
//! bounded (connect, pool acquire, statement), where the defaults of the bigger toolkits wait
//! tens of seconds. An outage fails fast, and the core answers it as a server error, never as
//! a wrong password.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use tollgate_core::directory::PREDEFINED_ROLES;
use tollgate_core::store::{
    Activity, DirectoryStore, LockoutStore, MetaStore, Page, Revocation, RevocationLog, SessionFilter, SessionStore,
    StoreError, StoreResult,
};
use tollgate_core::token::TokenDigest;
use tollgate_core::{ApiToken, ApiTokenSpec, Org, Role, Session, SessionState, Timestamp, User, UserSpec};
use uuid::Uuid;

mod listen;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

/// How long a store call may wait, at each step.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Opening a connection (TCP and authentication).
    pub connect: Duration,
    /// Waiting for a free connection of the pool.
    pub acquire: Duration,
    /// One statement on the server (`statement_timeout`), and any lock it waits for.
    pub statement: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(2), acquire: Duration::from_secs(2), statement: Duration::from_secs(5) }
    }
}

/// Connections per node.
const POOL_SIZE: usize = 16;

/// The advisory lock (`pg_try_advisory_xact_lock`) the node purging ended sessions holds.
pub const PURGE_LOCK: i64 = 0x7467_2d70_7572_6765; // "tg-purge"

pub struct PostgresStore {
    pool: Pool,
    /// How to connect, for the `LISTEN` connection, which is not the pool's.
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    listener: OnceLock<Listener>,
    /// How long a call may take in all: waiting for a connection, then its statements.
    call_deadline: Duration,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// `error` and what caused it: tokio-postgres says only "db error" and keeps the server's
/// message in the cause.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text = format!("{text}: {next}");
        cause = next.source();
    }
    text
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, with
    /// `?sslmode=require` or `?sslmode=verify-full&sslrootcert=PATH` for TLS), applies the
    /// migrations the database lacks and seeds the predefined roles.
    pub async fn open(url: &str, timeouts: Timeouts) -> StoreResult<Self> {
        let store = Self::connect(url, timeouts)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A pool over `url`, without touching the schema.
    pub fn connect(url: &str, timeouts: Timeouts) -> StoreResult<Self> {
        let tls::Target { mut config, tls } = tls::read_url(url).map_err(backend)?;
        config.connect_timeout(timeouts.connect);
        let statement_ms = timeouts.statement.as_millis();
        config.options(format!("-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"));
        config.application_name("tollgate");
        // A dead peer (a node behind a failed switch) is noticed in seconds, not hours.
        config.keepalives_idle(Duration::from_secs(10));
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config.clone(), tls.clone(), manager_config),
            None => Manager::from_config(config.clone(), NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeouts.acquire))
            .create_timeout(Some(timeouts.connect))
            .recycle_timeout(Some(timeouts.acquire))
            .build()
            .map_err(backend)?;
        let call_deadline = timeouts.acquire + timeouts.statement;
        Ok(PostgresStore { pool, config, tls, listener: OnceLock::new(), call_deadline })
    }

    /// Applies the migrations the database lacks (under an advisory lock, so nodes starting
    /// at once take turns); returns how many.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut client = self.client().await?;
        let applied = schema::migrate(&mut client).await.map_err(backend)?;
        for name in PREDEFINED_ROLES {
            client
                .execute(
                    "INSERT INTO roles (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&Uuid::new_v4(), name],
                )
                .await
                .map_err(backend)?;
        }
        Ok(applied)
    }

    /// Whether every migration this build knows has been applied.
    pub async fn is_migrated(&self) -> StoreResult<bool> {
        let client = self.client().await?;
        schema::is_current(&client).await.map_err(backend)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| backend(format!("no connection to PostgreSQL: {}", with_causes(&e))))
    }

    async fn query(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(backend)?;
        client.query(&statement, args).await.map_err(backend)
    }

    async fn execute(&self, sql: &str, args: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(backend)?;
        client.execute(&statement, args).await.map_err(backend)
    }

    async fn sessions(&self, condition: &str, args: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Session>> {
        let sql = format!("{SESSION_SELECT} WHERE {condition}");
        self.query(&sql, args).await?.iter().map(session_from_row).collect()
    }

    async fn users(&self, condition: &str, args: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<User>> {
        let sql = format!("{USER_SELECT} WHERE {condition}");
        self.query(&sql, args).await?.iter().map(user_from_row).collect()
    }

    async fn update_user(&self, user_id: Uuid, sql: &str, value: &(dyn ToSql + Sync)) -> StoreResult<()> {
        match self.execute(sql, &[&user_id, value]).await? {
            0 => Err(StoreError::NotFound(format!("user {user_id}"))),
            _ => Ok(()),
        }
    }

    /// Ends the live sessions `condition` selects (over `s`, the sessions table) with `state`.
    async fn end_where(
        &self,
        condition: &str,
        args: &[&(dyn ToSql + Sync)],
        state: SessionState,
        now: Timestamp,
    ) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "WITH s AS (UPDATE sessions s SET state = '{state}', ended_at = {now}
                 WHERE s.state = 'LOGGED_IN' AND ({condition}) RETURNING s.*),
             logged AS (INSERT INTO revocations (session_id, state, at) SELECT id, state, ended_at FROM s)
             {SESSION_COLUMNS_FROM_S}",
            state = state.as_str(),
            now = now.millis(),
        );
        self.query(&sql, args).await?.iter().map(session_from_row).collect()
    }
}

const USER_SELECT: &str = "SELECT u.id, u.number, u.org_id, o.name AS org_name, u.name, u.enabled,
    u.identity_source, u.password_hash, u.created_at, u.last_login_at,
    ARRAY(SELECT r.id FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id ORDER BY r.name) AS role_ids,
    ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id ORDER BY r.name) AS role_names
    FROM users u JOIN orgs o ON o.id = u.org_id";

/// The columns of a session, read from `s` (the sessions table, or rows a statement returned).
const SESSION_COLUMNS_FROM_S: &str = "SELECT s.id, s.number, s.user_id, u.name AS user_name, s.org_id,
    o.name AS org_name, s.roles, s.dialect, s.identity_source, s.remote_addr, s.correlation_id, s.created_at,
    s.last_seen_at, s.idle_timeout_ms, s.expires_at, s.state, s.ended_at, s.read_only
    FROM s JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = s.org_id";

const SESSION_SELECT: &str = "SELECT s.id, s.number, s.user_id, u.name AS user_name, s.org_id,
    o.name AS org_name, s.roles, s.dialect, s.identity_source, s.remote_addr, s.correlation_id, s.created_at,
    s.last_seen_at, s.idle_timeout_ms, s.expires_at, s.state, s.ended_at, s.read_only
    FROM sessions s JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = s.org_id";

const API_TOKEN_SELECT: &str = "SELECT t.id, t.name, t.org_id, o.name AS org_name, r.name AS role, t.created_at,
    t.revoked_at FROM api_tokens t JOIN orgs o ON o.id = t.org_id JOIN roles r ON r.id = t.role_id";
const API_TOKEN_SELECT_WITH_DIGEST: &str = "SELECT t.id, t.name, t.org_id, o.name AS org_name, r.name AS role,
    t.created_at, t.revoked_at, t.digest FROM api_tokens t JOIN orgs o ON o.id = t.org_id JOIN roles r ON r.id = t.role_id";

fn api_token_from_row(row: &Row) -> ApiToken {
    ApiToken {
        id: row.get("id"),
        name: row.get("name"),
        org_id: row.get("org_id"),
        org_name: row.get("org_name"),
        role: row.get("role"),
        created_at: Timestamp(row.get("created_at")),
        revoked_at: row.get::<_, Option<i64>>("revoked_at").map(Timestamp),
    }
}

fn org_from_row(row: &Row) -> Org {
    Org {
        id: row.get("id"),
        name: row.get("name"),
        full_name: row.get("full_name"),
        created_at: Timestamp(row.get("created_at")),
    }
}

fn user_from_row(row: &Row) -> StoreResult<User> {
    let ids: Vec<Uuid> = row.get("role_ids");
    let names: Vec<String> = row.get("role_names");
    Ok(User {
        id: row.get("id"),
        number: row.get("number"),
        org_id: row.get("org_id"),
        org_name: row.get("org_name"),
        name: row.get("name"),
        roles: ids.into_iter().zip(names).map(|(id, name)| Role { id, name }).collect(),
        enabled: row.get("enabled"),
        identity_source: row.get("identity_source"),
        password_hash: row.get("password_hash"),
        created_at: Timestamp(row.get("created_at")),
        last_login_at: row.get::<_, Option<i64>>("last_login_at").map(Timestamp),
    })
}

fn session_from_row(row: &Row) -> StoreResult<Session> {
    let roles: String = row.get("roles");
    let state: String = row.get("state");
    let idle_ms: i64 = row.get("idle_timeout_ms");
    Ok(Session {
        id: row.get("id"),
        number: row.get("number"),
        user_id: row.get("user_id"),
        user_name: row.get("user_name"),
        org_id: row.get("org_id"),
        org_name: row.get("org_name"),
        roles: serde_json::from_str(&roles).map_err(backend)?,
        dialect: row.get("dialect"),
        identity_source: row.get("identity_source"),
        remote_addr: row.get("remote_addr"),
        correlation_id: row.get("correlation_id"),
        created_at: Timestamp(row.get("created_at")),
        last_seen_at: Timestamp(row.get("last_seen_at")),
        idle_timeout: Duration::from_millis(idle_ms.max(0) as u64),
        expires_at: Timestamp(row.get("expires_at")),
        state: SessionState::parse(&state).ok_or_else(|| backend(format!("bad session state {state}")))?,
        ended_at: row.get::<_, Option<i64>>("ended_at").map(Timestamp),
        read_only: row.get("read_only"),
    })
}

/// A page's limit as PostgreSQL takes it.
fn limit(page: Page) -> i64 {
    i64::from(page.limit)
}

/// The id of the org or role (`kind`) named `name`, case-insensitively; `NotFound` if none is.
async fn id_by_name(tx: &deadpool_postgres::Transaction<'_>, kind: &str, name: &str) -> StoreResult<Uuid> {
    let sql = match kind {
        "org" => "SELECT id FROM orgs WHERE lower(name) = lower($1)",
        _ => "SELECT id FROM roles WHERE lower(name) = lower($1)",
    };
    let row = tx.query_opt(sql, &[&name]).await.map_err(backend)?;
    row.map(|r| r.get(0)).ok_or_else(|| StoreError::NotFound(format!("{kind} {name:?}")))
}

/// Gives the user each of `roles` (matched case-insensitively) in `tx`.
async fn grant_roles(tx: &deadpool_postgres::Transaction<'_>, user_id: Uuid, roles: &[String]) -> StoreResult<()> {
    for role in roles {
        let granted = tx
            .execute(
                "INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE lower(name) = lower($2)
                 ON CONFLICT DO NOTHING",
                &[&user_id, role],
            )
            .await
            .map_err(backend)?;
        if granted == 0 {
            let known =
                tx.query_opt("SELECT 1 FROM roles WHERE lower(name) = lower($1)", &[role]).await.map_err(backend)?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("role {role:?}")));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl MetaStore for PostgresStore {
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.query("SELECT value FROM meta WHERE key = $1", &[&key]).await?.first().map(|r| r.get(0)))
    }

    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String> {
        self.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &value])
            .await?;
        let rows = self.query("SELECT value FROM meta WHERE key = $1", &[&key]).await?;
        rows.first().map(|r| r.get(0)).ok_or_else(|| backend("meta vanished after insert"))
    }

    async fn spend_nonce(&self, key: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool> {
        // A row past its `until` is taken over; a live one is left alone (0 rows changed). The
        // unique key makes two nodes spending the same nonce at once agree on one winner.
        let sql = "INSERT INTO spent_nonces (key, until) VALUES ($1, $2) \
                   ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE spent_nonces.until <= $3";
        Ok(self.execute(sql, &[&key, &until.millis(), &now.millis()]).await? == 1)
    }

    async fn purge_nonces(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let sql = "DELETE FROM spent_nonces WHERE key IN \
                   (SELECT key FROM spent_nonces WHERE until <= $1 LIMIT $2)";
        self.execute(sql, &[&before.millis(), &i64::from(limit)]).await
    }
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org> {
        let org = Org { id: Uuid::new_v4(), name: name.to_owned(), full_name: full_name.to_owned(), created_at: now };
        let inserted = self
            .execute(
                "INSERT INTO orgs (id, name, full_name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&org.id, &org.name, &org.full_name, &now.millis()],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("org {:?} already exists", org.name)));
        }
        Ok(org)
    }

    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>> {
        Ok(self.query("SELECT * FROM orgs WHERE lower(name) = lower($1)", &[&name]).await?.first().map(org_from_row))
    }

    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>> {
        Ok(self.query("SELECT * FROM orgs WHERE id = $1", &[&id]).await?.first().map(org_from_row))
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        Ok(self.query("SELECT * FROM orgs ORDER BY lower(name)", &[]).await?.iter().map(org_from_row).collect())
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let rows = self.query("SELECT id, name FROM roles ORDER BY name", &[]).await?;
        Ok(rows.iter().map(|r| Role { id: r.get(0), name: r.get(1) }).collect())
    }

    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User> {
        let id = Uuid::new_v4();
        {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            let org_id = id_by_name(&tx, "org", &spec.org).await?;
            let inserted = tx
                .execute(
                    "INSERT INTO users (id, org_id, name, password_hash, identity_source, enabled, created_at)
                     VALUES ($1, $2, $3, $4, $5, TRUE, $6) ON CONFLICT DO NOTHING",
                    &[&id, &org_id, &spec.name, &spec.password_hash, &spec.identity_source, &now.millis()],
                )
                .await
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("user {:?} already exists in org {:?}", spec.name, spec.org)));
            }
            grant_roles(&tx, id, &spec.roles).await?;
            tx.commit().await.map_err(backend)?;
        }
        self.user_by_id(id).await?.ok_or_else(|| backend("user vanished after insert"))
    }

    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>> {
        Ok(self.users("u.org_id = $1 AND lower(u.name) = lower($2)", &[&org_id, &name]).await?.pop())
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        Ok(self.users("u.id = $1", &[&id]).await?.pop())
    }

    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>> {
        Ok(self.users("u.number = $1", &[&number]).await?.pop())
    }

    async fn list_users(&self, org_id: Option<Uuid>, page: Page) -> StoreResult<Vec<User>> {
        self.users(
            "($1::uuid IS NULL OR u.org_id = $1) AND u.number > $2 ORDER BY u.number LIMIT $3",
            &[&org_id, &page.after.unwrap_or(i64::MIN), &limit(page)],
        )
        .await
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()> {
        self.update_user(user_id, "UPDATE users SET password_hash = $2 WHERE id = $1", &hash).await
    }

    async fn replace_password_hash(&self, user_id: Uuid, current: &str, new: &str) -> StoreResult<bool> {
        let sql = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
        Ok(self.execute(sql, &[&user_id, &current, &new]).await? == 1)
    }

    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()> {
        self.update_user(user_id, "UPDATE users SET enabled = $2 WHERE id = $1", &enabled).await
    }

    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("DELETE FROM user_roles WHERE user_id = $1", &[&user_id]).await.map_err(backend)?;
        grant_roles(&tx, user_id, roles).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_last_login(&self, user_id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.update_user(user_id, "UPDATE users SET last_login_at = $2 WHERE id = $1", &at.millis()).await
    }

    async fn delete_org(&self, id: Uuid) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The org's row locked first: a user created in it meanwhile waits, then fails.
        if tx.query_opt("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE", &[&id]).await.map_err(backend)?.is_none() {
            return Err(StoreError::NotFound(format!("org {id}")));
        }
        let row = tx
            .query_one(
                "SELECT (SELECT COUNT(*) FROM users WHERE org_id = $1), (SELECT COUNT(*) FROM api_tokens WHERE org_id = $1)",
                &[&id],
            )
            .await
            .map_err(backend)?;
        let (users, tokens): (i64, i64) = (row.get(0), row.get(1));
        if users > 0 || tokens > 0 {
            return Err(StoreError::Conflict(format!(
                "the org still has {users} user(s) and {tokens} API token(s); delete them first"
            )));
        }
        tx.execute("DELETE FROM orgs WHERE id = $1", &[&id]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn delete_user(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        // Every part of the statement sees the sessions as they were before the cascade.
        let rows = self
            .query(
                "WITH u AS (DELETE FROM users WHERE id = $1 RETURNING id),
                 logged AS (INSERT INTO revocations (session_id, state, at)
                     SELECT s.id, 'TERMINATED', $2 FROM sessions s JOIN u ON s.user_id = u.id
                     WHERE s.state = 'LOGGED_IN')
                 SELECT COUNT(*) FROM u",
                &[&id, &now.millis()],
            )
            .await?;
        match rows.first().map(|r| r.get::<_, i64>(0)) {
            Some(0) | None => Err(StoreError::NotFound(format!("user {id}"))),
            Some(_) => Ok(()),
        }
    }

    async fn create_api_token(
        &self,
        spec: &ApiTokenSpec,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<ApiToken> {
        let id = Uuid::new_v4();
        {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            let org_id = id_by_name(&tx, "org", &spec.org).await?;
            let role_id = id_by_name(&tx, "role", &spec.role).await?;
            let inserted = tx
                .execute(
                    "INSERT INTO api_tokens (id, name, org_id, role_id, digest, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[&id, &spec.name, &org_id, &role_id, &&digest.0[..], &now.millis()],
                )
                .await
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("an API token named {:?} already exists", spec.name)));
            }
            tx.commit().await.map_err(backend)?;
        }
        let rows = self.query(&format!("{API_TOKEN_SELECT} WHERE t.id = $1"), &[&id]).await?;
        rows.first().map(api_token_from_row).ok_or_else(|| backend("API token vanished after insert"))
    }

    async fn api_token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<ApiToken>> {
        let rows = self.query(&format!("{API_TOKEN_SELECT} WHERE t.digest = $1"), &[&&digest.0[..]]).await?;
        Ok(rows.first().map(api_token_from_row))
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let rows = self.query(&format!("{API_TOKEN_SELECT} ORDER BY lower(t.name)"), &[]).await?;
        Ok(rows.iter().map(api_token_from_row).collect())
    }

    async fn api_token_digests(&self) -> StoreResult<Vec<(ApiToken, TokenDigest)>> {
        let rows = self.query(&format!("{API_TOKEN_SELECT_WITH_DIGEST} ORDER BY lower(t.name)"), &[]).await?;
        rows.iter()
            .map(|row| {
                let digest: &[u8] = row.get("digest");
                let digest = digest.try_into().map_err(|_| backend("an API token's digest is not 32 bytes"))?;
                Ok((api_token_from_row(row), TokenDigest(digest)))
            })
            .collect()
    }

    async fn revoke_api_token(&self, name: &str, now: Timestamp) -> StoreResult<Option<ApiToken>> {
        self.execute(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE lower(name) = lower($1)",
            &[&name, &now.millis()],
        )
        .await?;
        let rows = self.query(&format!("{API_TOKEN_SELECT} WHERE lower(t.name) = lower($1)"), &[&name]).await?;
        Ok(rows.first().map(api_token_from_row))
    }
}

#[async_trait]
impl LockoutStore for PostgresStore {
    async fn reserve_attempt(
        &self,
        account: &[u8],
        limits: &[(&str, u32)],
        now: Timestamp,
        window_start: Timestamp,
    ) -> StoreResult<Option<Vec<u32>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // One statement per counter counts and returns the count, or returns nothing when the
        // counter is locked or full; its row stays locked until the transaction ends, so a
        // refusal by the next counter rolls this one back before anyone sees it.
        let statement = tx
            .prepare_cached(
                "INSERT INTO failure_counters AS c (account, address, failures, first_failure_at) VALUES ($1, $2, 1, $3)
                 ON CONFLICT (account, address) DO UPDATE SET
                     failures = CASE WHEN c.first_failure_at > $4 THEN c.failures + 1 ELSE 1 END,
                     first_failure_at = CASE WHEN c.first_failure_at > $4 THEN c.first_failure_at ELSE $3 END
                 WHERE (c.locked_until IS NULL OR c.locked_until <= $3)
                     AND (c.first_failure_at IS NULL OR c.first_failure_at <= $4 OR c.failures < $5)
                 RETURNING failures",
            )
            .await
            .map_err(backend)?;
        // Rows are locked in one order by every statement that locks several, so that two
        // logins never wait for each other.
        let mut order: Vec<usize> = (0..limits.len()).collect();
        order.sort_by_key(|&i| limits[i].0);
        let mut counts = vec![0; limits.len()];
        for i in order {
            let (address, limit) = limits[i];
            let limit = i32::try_from(limit).unwrap_or(i32::MAX);
            let row = tx
                .query_opt(&statement, &[&account, &address, &now.millis(), &window_start.millis(), &limit])
                .await
                .map_err(backend)?;
            match row {
                Some(row) => counts[i] = row.get::<_, i32>(0).max(0) as u32,
                None => return Ok(None),
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(Some(counts))
    }

    async fn release_attempt(&self, account: &[u8], addresses: &[&str], reserved_at: Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE failure_counters SET failures = failures - 1
             WHERE account = $1 AND address = ANY($2) AND failures > 0 AND first_failure_at <= $3",
            &[&account, &addresses, &reserved_at.millis()],
        )
        .await
        .map(|_| ())
    }

    async fn lock(&self, account: &[u8], address: &str, until: Timestamp) -> StoreResult<()> {
        self.execute(
            "INSERT INTO failure_counters AS c (account, address, failures, first_failure_at, locked_until)
                 VALUES ($1, $2, 0, NULL, $3)
             ON CONFLICT (account, address) DO UPDATE SET failures = 0, first_failure_at = NULL,
                 locked_until = GREATEST(c.locked_until, $3)",
            &[&account, &address, &until.millis()],
        )
        .await
        .map(|_| ())
    }

    async fn reset_unless_locked(&self, account: &[u8], addresses: &[&str], now: Timestamp) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Row locks, taken in the order reserve_attempt takes them: an attempt being counted
        // waits for this reset, or this reset sees the lock it set.
        let rows = tx
            .query(
                "SELECT locked_until FROM failure_counters WHERE account = $1 AND address = ANY($2)
                 ORDER BY address FOR UPDATE",
                &[&account, &addresses],
            )
            .await
            .map_err(backend)?;
        let locked = rows.iter().any(|r| r.get::<_, Option<i64>>(0).is_some_and(|until| until > now.millis()));
        if !locked {
            tx.execute(
                "DELETE FROM failure_counters WHERE account = $1 AND address = ANY($2)",
                &[&account, &addresses],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(!locked)
    }

    async fn locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>> {
        let rows = self
            .query(
                "SELECT address, locked_until FROM failure_counters
                 WHERE account = $1 AND locked_until IS NOT NULL ORDER BY address",
                &[&account],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), Timestamp(r.get(1)))).collect())
    }

    async fn forget_account(&self, account: &[u8]) -> StoreResult<()> {
        self.execute("DELETE FROM failure_counters WHERE account = $1", &[&account]).await.map(|_| ())
    }

    async fn purge_counters(&self, now: Timestamp, window_start: Timestamp) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM failure_counters WHERE (locked_until IS NULL OR locked_until <= $1)
                 AND (first_failure_at IS NULL OR first_failure_at <= $2)",
            &[&now.millis(), &window_start.millis()],
        )
        .await
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, session: &Session, digests: &[TokenDigest]) -> StoreResult<i64> {
        let roles = serde_json::to_string(&session.roles).map_err(backend)?;
        let digests: Vec<&[u8]> = digests.iter().map(|d| &d.0[..]).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let number: i64 = tx
            .query_one(
                "INSERT INTO sessions (id, user_id, org_id, roles, dialect, identity_source, remote_addr, correlation_id,
                     created_at, last_seen_at, idle_timeout_ms, expires_at, ends_at, state, read_only)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING number",
                &[
                    &session.id,
                    &session.user_id,
                    &session.org_id,
                    &roles,
                    &session.dialect,
                    &session.identity_source,
                    &session.remote_addr,
                    &session.correlation_id,
                    &session.created_at.millis(),
                    &session.last_seen_at.millis(),
                    &(session.idle_timeout.as_millis() as i64),
                    &session.expires_at.millis(),
                    &session.ends_at(session.last_seen_at).millis(),
                    &session.state.as_str(),
                    &session.read_only,
                ],
            )
            .await
            .map_err(backend)?
            .get(0);
        tx.execute(
            "INSERT INTO session_tokens (digest, session_id) SELECT d, $2 FROM unnest($1::bytea[]) AS d",
            &[&digests, &session.id],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(number)
    }

    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>> {
        let digest = &digest.0[..];
        Ok(self.sessions("s.id = (SELECT session_id FROM session_tokens WHERE digest = $1)", &[&digest]).await?.pop())
    }

    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>> {
        Ok(self.sessions("s.number = $1", &[&number]).await?.pop())
    }

    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>> {
        Ok(self.sessions("s.id = $1", &[&id]).await?.pop())
    }

    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>> {
        let rows = self.query("SELECT data FROM sessions WHERE id = $1", &[&id]).await?;
        Ok(rows.first().and_then(|r| r.get(0)))
    }

    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()> {
        match self.execute("UPDATE sessions SET data = $2 WHERE id = $1", &[&id, &data]).await? {
            0 => Err(StoreError::NotFound(format!("session {id}"))),
            _ => Ok(()),
        }
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: Page) -> StoreResult<Vec<Session>> {
        self.sessions(
            "($1::uuid IS NULL OR s.user_id = $1) AND ($2::uuid IS NULL OR s.org_id = $2)
             AND (NOT $3 OR s.state = 'LOGGED_IN') AND ($4::text IS NULL OR s.dialect = $4)
             AND s.number < $5 ORDER BY s.number DESC LIMIT $6",
            &[
                &filter.user_id,
                &filter.org_id,
                &filter.live_only,
                &filter.dialect,
                // A bound, never NULL: the walk down the number index starts there.
                &page.after.unwrap_or(i64::MAX),
                &limit(page),
            ],
        )
        .await
    }

    async fn touch_sessions(&self, activity: &[Activity]) -> StoreResult<()> {
        let ids: Vec<Uuid> = activity.iter().map(|a| a.session_id).collect();
        let seen: Vec<i64> = activity.iter().map(|a| a.last_seen.millis()).collect();
        let ends: Vec<i64> = activity.iter().map(|a| a.ends_at.millis()).collect();
        self.execute(
            "UPDATE sessions s SET last_seen_at = GREATEST(s.last_seen_at, v.seen), ends_at = GREATEST(s.ends_at, v.ends)
             FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS v (id, seen, ends)
             WHERE s.id = v.id AND s.state = 'LOGGED_IN'",
            &[&ids, &seen, &ends],
        )
        .await
        .map(|_| ())
    }

    async fn end_sessions(&self, ends: &[(Uuid, SessionState)], now: Timestamp) -> StoreResult<Vec<Session>> {
        // One statement per state (there are few), each atomic.
        let mut ended = Vec::with_capacity(ends.len());
        let mut states: Vec<SessionState> = ends.iter().map(|(_, state)| *state).collect();
        states.sort_by_key(|s| s.as_str());
        states.dedup();
        for state in states {
            let ids: Vec<Uuid> = ends.iter().filter(|(_, s)| *s == state).map(|(id, _)| *id).collect();
            ended.extend(self.end_where("s.id = ANY($1)", &[&ids], state, now).await?);
        }
        Ok(ended)
    }

    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>> {
        self.end_where("s.user_id = $1", &[&user_id], state, now).await
    }

    async fn delete_live_sessions(&self, ids: &[Uuid], now: Timestamp) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "WITH s AS (DELETE FROM sessions s WHERE s.id = ANY($1) AND s.state = 'LOGGED_IN' RETURNING s.*),
             logged AS (INSERT INTO revocations (session_id, state, at) SELECT id, 'TERMINATED', $2 FROM s)
             {SESSION_COLUMNS_FROM_S}"
        );
        self.query(&sql, &[&ids, &now.millis()]).await?.iter().map(session_from_row).collect()
    }

    async fn sessions_ending_by(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Session>> {
        self.sessions(
            "s.state = 'LOGGED_IN' AND s.ends_at <= $1 ORDER BY s.number DESC LIMIT $2",
            &[&now.millis(), &i64::from(limit)],
        )
        .await
    }

    async fn count_live_sessions(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows = self
            .query("SELECT dialect, COUNT(*) FROM sessions WHERE state = 'LOGGED_IN' GROUP BY dialect", &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64)).collect())
    }

    async fn purge_ended_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // One node purges at a time: the others would only fight over the same rows. The
        // lock ends with the batch's transaction, so a node that dies mid-purge holds nothing.
        let purging: bool =
            tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PURGE_LOCK]).await.map_err(backend)?.get(0);
        if !purging {
            return Ok(0);
        }
        // Row locks only, and none a login holds: the table stays open to everyone.
        let statement = tx
            .prepare_cached(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
                     WHERE state <> 'LOGGED_IN' AND ended_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await
            .map_err(backend)?;
        let purged = tx.execute(&statement, &[&before.millis(), &i64::from(limit)]).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(purged)
    }

    fn call_deadline(&self) -> Option<Duration> {
        Some(self.call_deadline)
    }
}

#[async_trait]
impl RevocationLog for PostgresStore {
    async fn latest_revocation(&self) -> StoreResult<i64> {
        let rows = self.query("SELECT COALESCE(MAX(seq), 0) FROM revocations", &[]).await?;
        rows.first().map(|r| r.get(0)).ok_or_else(|| backend("no answer"))
    }

    async fn revocations(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<Revocation>> {
        let rows = self
            .query(
                "SELECT seq, session_id, state, at FROM revocations WHERE seq > $1 OR seq = ANY($2)
                 ORDER BY seq LIMIT $3",
                &[&after, &also, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.get(2);
                Ok(Revocation {
                    seq: row.get(0),
                    session_id: row.get(1),
                    state: SessionState::parse(&state).ok_or_else(|| backend(format!("bad session state {state}")))?,
                    at: Timestamp(row.get(3)),
                })
            })
            .collect()
    }

    async fn purge_revocations(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations WHERE at < $1 ORDER BY seq LIMIT $2)",
            &[&before.millis(), &i64::from(limit)],
        )
        .await
    }

    fn revocation_wakeups(&self) -> Option<Arc<Notify>> {
        let listener = self.listener.get_or_init(|| {
            let wakeups = Arc::new(Notify::new());
            let task = tokio::spawn(listen::follow(self.config.clone(), self.tls.clone(), wakeups.clone()));
            Listener { wakeups, task: task.abort_handle() }
        });
        Some(listener.wakeups.clone())
    }
}

/// The `LISTEN` connection of a store, once asked for.
struct Listener {
    wakeups: Arc<Notify>,
    task: tokio::task::AbortHandle,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.get() {
            listener.task.abort();
        }
    }
}
