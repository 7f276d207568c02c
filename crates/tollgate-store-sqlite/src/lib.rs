//! The embedded store: one SQLite database in WAL mode.
//!
//! The server and the CLI open the same file at once; SQLite's locking serialises their
//! writes. Every acknowledged write is synced (`synchronous = FULL`), so a session handed to a
//! client survives a crash of the server or of the machine.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tollgate_core::directory::PREDEFINED_ROLES;
use tollgate_core::store::{SessionFilter, Store, StoreError, StoreResult};
use tollgate_core::token::TokenDigest;
use tollgate_core::{LockoutPolicy, Locks, Org, Role, Session, SessionState, Timestamp, User, UserSpec};
use uuid::Uuid;

mod schema;

pub struct SqliteStore {
    /// The one connection that writes.
    writer: Arc<Mutex<Connection>>,
    /// Connections that only read, so that lookups (token revalidation above all) never wait
    /// behind a write's sync to disk. Empty for an in-memory database, whose one connection
    /// does both.
    readers: Arc<[Mutex<Connection>]>,
    next_reader: AtomicUsize,
}

/// Read connections of a database file.
const READERS: usize = 4;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let writer = Self::configure(Connection::open(path).map_err(backend)?)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open(path).map_err(backend)?;
                conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
                conn.pragma_update(None, "query_only", "ON").map_err(backend)?;
                Ok(Mutex::new(conn))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self::with_connections(writer, readers))
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> StoreResult<Self> {
        let writer = Self::configure(Connection::open_in_memory().map_err(backend)?)?;
        Ok(Self::with_connections(writer, Vec::new()))
    }

    fn configure(mut conn: Connection) -> StoreResult<Connection> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        schema::migrate(&mut conn).map_err(backend)?;
        seed_roles(&conn).map_err(backend)?;
        Ok(conn)
    }

    fn with_connections(writer: Connection, readers: Vec<Mutex<Connection>>) -> Self {
        SqliteStore { writer: Arc::new(Mutex::new(writer)), readers: readers.into(), next_reader: AtomicUsize::new(0) }
    }

    /// Runs `work` on the writing connection, on the blocking pool: SQLite calls block.
    async fn with<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || work(&mut lock(&writer))).await.map_err(backend)?
    }

    /// Runs `work`, which only reads, on a free read connection (the writer when there are none).
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        if self.readers.is_empty() {
            return self.with(work).await;
        }
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let count = readers.len();
            // The first idle one from a rotating start, else wait for the start's own.
            let idle = (0..count).find_map(|i| readers[(start + i) % count].try_lock().ok());
            let mut conn = idle.unwrap_or_else(|| lock(&readers[start % count]));
            work(&mut conn)
        })
        .await
        .map_err(backend)?
    }
}

/// A panic while holding a connection leaves no transaction open (rusqlite rolls back on
/// drop), so the connection stays usable.
fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn seed_roles(conn: &Connection) -> rusqlite::Result<()> {
    for name in PREDEFINED_ROLES {
        conn.execute(
            "INSERT INTO roles (id, name) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![Uuid::new_v4().to_string(), name],
        )?;
    }
    Ok(())
}

fn uuid_col(row: &Row<'_>, idx: &str) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp)
}

fn org_from_row(row: &Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org {
        id: uuid_col(row, "id")?,
        name: row.get("name")?,
        full_name: row.get("full_name")?,
        created_at: Timestamp(row.get("created_at")?),
    })
}

const USER_COLUMNS: &str = "u.id, u.number, u.org_id, o.name AS org_name, u.name, u.enabled, u.locked_until,
    u.identity_source, u.password_hash, u.created_at, u.last_login_at";

fn user_from_row(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<User> {
    let id = uuid_col(row, "id")?;
    Ok(User {
        id,
        number: row.get("number")?,
        org_id: uuid_col(row, "org_id")?,
        org_name: row.get("org_name")?,
        name: row.get("name")?,
        roles: user_roles(conn, id)?,
        enabled: row.get("enabled")?,
        locked_until: ts(row.get("locked_until")?),
        identity_source: row.get("identity_source")?,
        password_hash: row.get("password_hash")?,
        created_at: Timestamp(row.get("created_at")?),
        last_login_at: ts(row.get("last_login_at")?),
    })
}

fn user_roles(conn: &Connection, user_id: Uuid) -> rusqlite::Result<Vec<Role>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
         WHERE ur.user_id = ?1 ORDER BY r.name",
    )?;
    let rows =
        stmt.query_map([user_id.to_string()], |row| Ok(Role { id: uuid_col(row, "id")?, name: row.get("name")? }))?;
    rows.collect()
}

fn query_users(conn: &Connection, condition: &str, args: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN orgs o ON o.id = u.org_id WHERE {condition} ORDER BY o.name, u.name"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    let mut users = Vec::new();
    while let Some(row) = rows.next()? {
        users.push(user_from_row(conn, row)?);
    }
    Ok(users)
}

const SESSION_COLUMNS: &str = "s.id, s.number, s.user_id, u.name AS user_name, s.org_id, o.name AS org_name,
    s.roles, s.dialect, s.identity_source, s.remote_addr, s.correlation_id, s.created_at,
    s.last_seen_at, s.idle_timeout_ms, s.expires_at, s.state, s.ended_at, s.read_only";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let roles: String = row.get("roles")?;
    let state: String = row.get("state")?;
    let idle_ms: i64 = row.get("idle_timeout_ms")?;
    let conversion = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e)
    };
    Ok(Session {
        id: uuid_col(row, "id")?,
        number: row.get("number")?,
        user_id: uuid_col(row, "user_id")?,
        user_name: row.get("user_name")?,
        org_id: uuid_col(row, "org_id")?,
        org_name: row.get("org_name")?,
        roles: serde_json::from_str(&roles).map_err(|e| conversion(Box::new(e)))?,
        dialect: row.get("dialect")?,
        identity_source: row.get("identity_source")?,
        remote_addr: row.get("remote_addr")?,
        correlation_id: row.get("correlation_id")?,
        created_at: Timestamp(row.get("created_at")?),
        last_seen_at: Timestamp(row.get("last_seen_at")?),
        idle_timeout: Duration::from_millis(idle_ms.max(0) as u64),
        expires_at: Timestamp(row.get("expires_at")?),
        state: SessionState::parse(&state).ok_or_else(|| conversion(format!("bad state {state}").into()))?,
        ended_at: ts(row.get("ended_at")?),
        read_only: row.get("read_only")?,
    })
}

/// Every transaction that writes takes the write lock when it begins: one that read first and
/// wrote later could fail with SQLITE_BUSY_SNAPSHOT when another process (the CLI) committed
/// in between, and busy_timeout does not retry that.
fn write_transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Failure count, start of its window, and lock end after one more failed login.
fn next_failure(
    failed: u32,
    first: Option<i64>,
    now: Timestamp,
    policy: &LockoutPolicy,
) -> (u32, Option<i64>, Option<Timestamp>) {
    let in_window = first.is_some_and(|f| now.since(Timestamp(f)) < policy.window);
    let (failed, first) = if in_window { (failed + 1, first.unwrap_or(now.millis())) } else { (1, now.millis()) };
    if policy.max_failures > 0 && failed >= policy.max_failures {
        (0, None, Some(now.plus(policy.lock_for)))
    } else {
        (failed, Some(first), None)
    }
}

/// Counts a failure of `account` from `address` in `tx`; the lock's end when it locked them.
fn record_address_failure(
    tx: &Transaction<'_>,
    account: &[u8],
    address: &str,
    now: Timestamp,
    policy: &LockoutPolicy,
) -> StoreResult<Option<Timestamp>> {
    let (failed, first): (u32, Option<i64>) = tx
        .query_row(
            "SELECT failures, first_failure_at FROM address_failures WHERE account = ?1 AND address = ?2",
            params![account, address],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?
        .unwrap_or((0, None));
    let (failed, first, locked_until) = next_failure(failed, first, now, policy);
    tx.execute(
        "INSERT INTO address_failures (account, address, failures, first_failure_at, locked_until)
             VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, address) DO UPDATE SET failures = ?3, first_failure_at = ?4,
             locked_until = COALESCE(?5, locked_until)",
        params![account, address, failed, first, locked_until.map(Timestamp::millis)],
    )
    .map_err(backend)?;
    Ok(locked_until)
}

fn address_lock(conn: &Connection, account: &[u8], address: &str) -> StoreResult<Option<Timestamp>> {
    conn.query_row(
        "SELECT locked_until FROM address_failures WHERE account = ?1 AND address = ?2",
        params![account, address],
        |r| r.get(0),
    )
    .optional()
    .map(|until: Option<Option<i64>>| until.flatten().map(Timestamp))
    .map_err(backend)
}

/// Whether the user is locked at `now` for `address` (the account-wide lock is checked by the
/// caller's own statement).
fn locked_for(tx: &Transaction<'_>, account: &[u8], address: &str, now: Timestamp) -> StoreResult<bool> {
    Ok(address_lock(tx, account, address)?.is_some_and(|until| until > now))
}

/// Ended sessions deleted per transaction by the purge.
const PURGE_BATCH: i64 = 1000;

/// The next number of a counter (see the `counters` table).
fn next_number(tx: &Transaction<'_>, counter: &str) -> rusqlite::Result<i64> {
    tx.query_row("UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value", [counter], |r| r.get(0))
}

fn query_sessions(conn: &Connection, condition: &str, args: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = s.org_id
         WHERE {condition} ORDER BY s.created_at DESC, s.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args, session_from_row)?;
    rows.collect()
}

/// Ends the live sessions `condition` selects, returning them in their ended state.
fn end_sessions(
    tx: &Transaction<'_>,
    condition: &str,
    args: &[&dyn rusqlite::ToSql],
    state: SessionState,
    now: Timestamp,
) -> rusqlite::Result<Vec<Session>> {
    let condition = format!("s.state = 'LOGGED_IN' AND ({condition})");
    let mut ended = query_sessions(tx, &condition, args)?;
    let mut update =
        tx.prepare_cached("UPDATE sessions SET state = ?2, ended_at = ?3 WHERE id = ?1 AND state = 'LOGGED_IN'")?;
    for session in &mut ended {
        update.execute(params![session.id.to_string(), state.as_str(), now.millis()])?;
        session.state = state;
        session.ended_at = Some(now);
    }
    Ok(ended)
}

#[async_trait]
impl Store for SqliteStore {
    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(backend)
        })
        .await
    }

    async fn init_meta(&self, key: &str, value: &str) -> StoreResult<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with(move |conn| {
            conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", [&key, &value])
                .map_err(backend)?;
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).map_err(backend)
        })
        .await
    }

    async fn create_org(&self, name: &str, full_name: &str, now: Timestamp) -> StoreResult<Org> {
        let org = Org { id: Uuid::new_v4(), name: name.to_owned(), full_name: full_name.to_owned(), created_at: now };
        self.with(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT INTO orgs (id, name, full_name, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
                    params![org.id.to_string(), org.name, org.full_name, org.created_at.millis()],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("org {:?} already exists", org.name)));
            }
            Ok(org)
        })
        .await
    }

    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Org>> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.query_row("SELECT * FROM orgs WHERE name = ?1", [name], org_from_row).optional().map_err(backend)
        })
        .await
    }

    async fn org_by_id(&self, id: Uuid) -> StoreResult<Option<Org>> {
        self.read(move |conn| {
            conn.query_row("SELECT * FROM orgs WHERE id = ?1", [id.to_string()], org_from_row)
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT * FROM orgs ORDER BY name").map_err(backend)?;
            let rows = stmt.query_map([], org_from_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, name FROM roles ORDER BY name").map_err(backend)?;
            let rows = stmt
                .query_map([], |row| Ok(Role { id: uuid_col(row, "id")?, name: row.get("name")? }))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }

    async fn create_user(&self, spec: &UserSpec, now: Timestamp) -> StoreResult<User> {
        let spec = spec.clone();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let org_id: String = tx
                .query_row("SELECT id FROM orgs WHERE name = ?1", [&spec.org], |r| r.get(0))
                .optional()
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("org {:?}", spec.org)))?;
            let id = Uuid::new_v4();
            let number = next_number(&tx, "users").map_err(backend)?;
            let inserted = tx
                .execute(
                    "INSERT INTO users (id, number, org_id, name, password_hash, identity_source, enabled, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) ON CONFLICT (org_id, name) DO NOTHING",
                    params![
                        id.to_string(),
                        number,
                        org_id,
                        spec.name,
                        spec.password_hash,
                        spec.identity_source,
                        now.millis()
                    ],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("user {:?} already exists in org {:?}", spec.name, spec.org)));
            }
            grant_roles(&tx, id, &spec.roles)?;
            let user = query_users(&tx, "u.id = ?1", &[&id.to_string()]).map_err(backend)?.pop();
            tx.commit().map_err(backend)?;
            user.ok_or_else(|| backend("user vanished after insert"))
        })
        .await
    }

    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>> {
        let name = name.to_owned();
        self.read(move |conn| {
            Ok(query_users(conn, "u.org_id = ?1 AND u.name = ?2", &[&org_id.to_string(), &name])
                .map_err(backend)?
                .pop())
        })
        .await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.read(move |conn| Ok(query_users(conn, "u.id = ?1", &[&id.to_string()]).map_err(backend)?.pop())).await
    }

    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>> {
        self.read(move |conn| Ok(query_users(conn, "u.number = ?1", &[&number]).map_err(backend)?.pop())).await
    }

    async fn list_users(&self, org_id: Option<Uuid>) -> StoreResult<Vec<User>> {
        self.read(move |conn| {
            match org_id {
                Some(id) => query_users(conn, "u.org_id = ?1", &[&id.to_string()]),
                None => query_users(conn, "1 = 1", &[]),
            }
            .map_err(backend)
        })
        .await
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.update_user(user_id, "UPDATE users SET password_hash = ?2 WHERE id = ?1", hash).await
    }

    async fn set_enabled(&self, user_id: Uuid, enabled: bool) -> StoreResult<()> {
        self.update_user(user_id, "UPDATE users SET enabled = ?2 WHERE id = ?1", enabled).await
    }

    async fn set_user_roles(&self, user_id: Uuid, roles: &[String]) -> StoreResult<()> {
        let roles = roles.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            tx.execute("DELETE FROM user_roles WHERE user_id = ?1", [user_id.to_string()]).map_err(backend)?;
            grant_roles(&tx, user_id, &roles)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn record_login_failure(
        &self,
        user_id: Uuid,
        address: &str,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> StoreResult<Locks> {
        let (policy, address) = (*policy, address.to_owned());
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let (failed, first): (u32, Option<i64>) = tx
                .query_row(
                    "SELECT failed_logins, first_failure_at FROM users WHERE id = ?1",
                    [user_id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?;
            let (failed, first, account_until) = next_failure(failed, first, now, &policy.all_addresses());
            tx.execute(
                "UPDATE users SET failed_logins = ?2, first_failure_at = ?3, locked_until = COALESCE(?4, locked_until)
                 WHERE id = ?1",
                params![user_id.to_string(), failed, first, account_until.map(Timestamp::millis)],
            )
            .map_err(backend)?;
            let address_until = record_address_failure(&tx, user_id.as_bytes(), &address, now, &policy)?;
            tx.commit().map_err(backend)?;
            Ok(Locks { address_until, account_until })
        })
        .await
    }

    async fn record_login_success(&self, user_id: Uuid, address: &str, now: Timestamp) -> StoreResult<bool> {
        let address = address.to_owned();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            if locked_for(&tx, user_id.as_bytes(), &address, now)? {
                return Ok(false);
            }
            let updated = tx
                .execute(
                    "UPDATE users SET failed_logins = 0, first_failure_at = NULL, last_login_at = ?2
                     WHERE id = ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
                    params![user_id.to_string(), now.millis()],
                )
                .map_err(backend)?;
            tx.execute(
                "DELETE FROM address_failures WHERE account = ?1 AND address = ?2",
                params![&user_id.as_bytes()[..], address],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn record_unknown_failure(
        &self,
        key: &[u8; 32],
        address: &str,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> StoreResult<Locks> {
        let (key, policy, address) = (*key, *policy, address.to_owned());
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let (failed, first): (u32, Option<i64>) = tx
                .query_row("SELECT failures, first_failure_at FROM unknown_name_failures WHERE key = ?1", [&key[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(backend)?
                .unwrap_or((0, None));
            let (failed, first, account_until) = next_failure(failed, first, now, &policy.all_addresses());
            tx.execute(
                "INSERT INTO unknown_name_failures (key, failures, first_failure_at, locked_until) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET failures = ?2, first_failure_at = ?3,
                     locked_until = COALESCE(?4, locked_until)",
                params![&key[..], failed, first, account_until.map(Timestamp::millis)],
            )
            .map_err(backend)?;
            let address_until = record_address_failure(&tx, &key, &address, now, &policy)?;
            tx.commit().map_err(backend)?;
            Ok(Locks { address_until, account_until })
        })
        .await
    }

    async fn unknown_locked_until(&self, key: &[u8; 32]) -> StoreResult<Option<Timestamp>> {
        let key = *key;
        self.read(move |conn| {
            conn.query_row("SELECT locked_until FROM unknown_name_failures WHERE key = ?1", [&key[..]], |r| r.get(0))
                .optional()
                .map(|until: Option<Option<i64>>| until.flatten().map(Timestamp))
                .map_err(backend)
        })
        .await
    }

    async fn address_locked_until(&self, account: &[u8], address: &str) -> StoreResult<Option<Timestamp>> {
        let (account, address) = (account.to_vec(), address.to_owned());
        self.read(move |conn| address_lock(conn, &account, &address)).await
    }

    async fn address_locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>> {
        let account = account.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT address, locked_until FROM address_failures
                     WHERE account = ?1 AND locked_until IS NOT NULL ORDER BY address",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([&account[..]], |r| Ok((r.get::<_, String>(0)?, Timestamp(r.get(1)?))))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn purge_unknown_failures(&self, now: Timestamp, policy: &LockoutPolicy) -> StoreResult<u64> {
        let window_start = now.millis() - policy.window.as_millis() as i64;
        self.with(move |conn| {
            let stale =
                "(locked_until IS NULL OR locked_until <= ?1) AND (first_failure_at IS NULL OR first_failure_at < ?2)";
            let mut purged = 0;
            for table in ["unknown_name_failures", "address_failures"] {
                purged += conn
                    .execute(&format!("DELETE FROM {table} WHERE {stale}"), params![now.millis(), window_start])
                    .map_err(backend)? as u64;
            }
            Ok(purged)
        })
        .await
    }

    async fn unlock_user(&self, user_id: Uuid) -> StoreResult<()> {
        self.update_user(
            user_id,
            "UPDATE users SET failed_logins = 0, first_failure_at = NULL, locked_until = ?2 WHERE id = ?1",
            None::<i64>,
        )
        .await?;
        self.with(move |conn| {
            conn.execute("DELETE FROM address_failures WHERE account = ?1", [&user_id.as_bytes()[..]])
                .map(|_| ())
                .map_err(backend)
        })
        .await
    }

    async fn insert_session(
        &self,
        session: &Session,
        digests: &[TokenDigest],
        max_live: u32,
    ) -> StoreResult<(i64, Vec<Session>)> {
        let session = session.clone();
        let digests = digests.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let roles = serde_json::to_string(&session.roles).map_err(backend)?;
            let number = next_number(&tx, "sessions").map_err(backend)?;
            tx.execute(
                "INSERT INTO sessions (id, user_id, org_id, roles, dialect, identity_source, remote_addr, correlation_id,
                     created_at, last_seen_at, idle_timeout_ms, expires_at, state, ended_at, read_only, number)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, ?14, ?15)",
                params![
                    session.id.to_string(),
                    session.user_id.to_string(),
                    session.org_id.to_string(),
                    roles,
                    session.dialect,
                    session.identity_source,
                    session.remote_addr,
                    session.correlation_id,
                    session.created_at.millis(),
                    session.last_seen_at.millis(),
                    session.idle_timeout.as_millis() as i64,
                    session.expires_at.millis(),
                    session.state.as_str(),
                    session.read_only,
                    number,
                ],
            )
            .map_err(backend)?;
            for digest in &digests {
                tx.execute(
                    "INSERT INTO session_tokens (digest, session_id) VALUES (?1, ?2)",
                    params![&digest.0[..], session.id.to_string()],
                )
                .map_err(backend)?;
            }
            // The user's newest `max_live` live sessions of this dialect stay; older ones make
            // room. Per dialect: a client that never logs out must not end the user's others.
            let evicted = end_sessions(
                &tx,
                "s.user_id = ?1 AND s.dialect = ?4 AND s.id NOT IN (SELECT id FROM sessions
                     WHERE user_id = ?1 AND dialect = ?4 AND state = 'LOGGED_IN'
                     ORDER BY created_at DESC, id = ?3 DESC LIMIT ?2)",
                &[&session.user_id.to_string(), &max_live, &session.id.to_string(), &session.dialect],
                SessionState::Terminated,
                session.created_at,
            )
            .map_err(backend)?;
            // Nothing is kept of sessions the cap ended (the audit log has them): a client that
            // logs in before every request must not grow the store by a row each time.
            let mut delete = tx.prepare_cached("DELETE FROM sessions WHERE id = ?1").map_err(backend)?;
            for old in &evicted {
                delete.execute([old.id.to_string()]).map_err(backend)?;
            }
            drop(delete);
            tx.commit().map_err(backend)?;
            Ok((number, evicted))
        })
        .await
    }

    async fn session_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<Session>> {
        let digest = *digest;
        self.read(move |conn| {
            Ok(query_sessions(
                conn,
                "s.id = (SELECT session_id FROM session_tokens WHERE digest = ?1)",
                &[&&digest.0[..]],
            )
            .map_err(backend)?
            .pop())
        })
        .await
    }

    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>> {
        self.read(move |conn| Ok(query_sessions(conn, "s.number = ?1", &[&number]).map_err(backend)?.pop())).await
    }

    async fn session_data(&self, id: Uuid) -> StoreResult<Option<String>> {
        self.read(move |conn| {
            conn.query_row("SELECT data FROM sessions WHERE id = ?1", [id.to_string()], |r| r.get(0))
                .optional()
                .map(Option::flatten)
                .map_err(backend)
        })
        .await
    }

    async fn set_session_data(&self, id: Uuid, data: &str) -> StoreResult<()> {
        let data = data.to_owned();
        self.with(move |conn| {
            match conn.execute("UPDATE sessions SET data = ?2 WHERE id = ?1", params![id.to_string(), data]) {
                Ok(0) => Err(StoreError::NotFound(format!("session {id}"))),
                Ok(_) => Ok(()),
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn list_sessions(&self, filter: &SessionFilter) -> StoreResult<Vec<Session>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let user = filter.user_id.map(|u| u.to_string());
            let org = filter.org_id.map(|o| o.to_string());
            query_sessions(
                conn,
                "(?1 IS NULL OR s.user_id = ?1) AND (?2 IS NULL OR s.org_id = ?2) AND (?3 = 0 OR s.state = 'LOGGED_IN')
                 AND (?4 IS NULL OR s.dialect = ?4)",
                &[&user, &org, &filter.live_only, &filter.dialect],
            )
            .map_err(backend)
        })
        .await
    }

    async fn touch_sessions(&self, seen: &[(Uuid, Timestamp)]) -> StoreResult<()> {
        let seen = seen.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1 AND state = 'LOGGED_IN'",
                    )
                    .map_err(backend)?;
                for (id, at) in &seen {
                    stmt.execute(params![id.to_string(), at.millis()]).map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn end_session(&self, id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Option<Session>> {
        self.ending(state, now, "s.id = ?1", id.to_string()).await.map(|mut v| v.pop())
    }

    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>> {
        self.ending(state, now, "s.user_id = ?1", user_id.to_string()).await
    }

    async fn expire_sessions(&self, now: Timestamp) -> StoreResult<Vec<Session>> {
        let mut ended = self.ending(SessionState::Expired, now, "s.expires_at <= ?1", now.millis()).await?;
        ended.extend(
            self.ending(SessionState::TimedOut, now, "s.last_seen_at + s.idle_timeout_ms <= ?1", now.millis()).await?,
        );
        Ok(ended)
    }

    async fn purge_ended_sessions(&self, before: Timestamp) -> StoreResult<u64> {
        // In batches, each its own transaction: logins wait for one batch, not for all.
        let mut purged = 0;
        loop {
            let batch = self
                .with(move |conn| {
                    conn.execute(
                        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
                             WHERE state <> 'LOGGED_IN' AND ended_at < ?1 LIMIT ?2)",
                        params![before.millis(), PURGE_BATCH],
                    )
                    .map(|n| n as u64)
                    .map_err(backend)
                })
                .await?;
            purged += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(purged);
            }
        }
    }
}

impl SqliteStore {
    async fn update_user<V: rusqlite::ToSql + Send + 'static>(
        &self,
        user_id: Uuid,
        sql: &'static str,
        value: V,
    ) -> StoreResult<()> {
        self.with(move |conn| match conn.execute(sql, params![user_id.to_string(), value]).map_err(backend)? {
            0 => Err(StoreError::NotFound(format!("user {user_id}"))),
            _ => Ok(()),
        })
        .await
    }

    async fn ending<V: rusqlite::ToSql + Send + 'static>(
        &self,
        state: SessionState,
        now: Timestamp,
        condition: &'static str,
        value: V,
    ) -> StoreResult<Vec<Session>> {
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let ended = end_sessions(&tx, condition, &[&value], state, now).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(ended)
        })
        .await
    }
}

/// Gives the user each of `roles`, named as the roles table names them.
fn grant_roles(tx: &rusqlite::Transaction<'_>, user_id: Uuid, roles: &[String]) -> StoreResult<()> {
    for role in roles {
        let role_id: String = tx
            .query_row("SELECT id FROM roles WHERE name = ?1", [role], |r| r.get(0))
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("role {role:?}")))?;
        tx.execute(
            "INSERT INTO user_roles (user_id, role_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [user_id.to_string(), role_id],
        )
        .map_err(backend)?;
    }
    Ok(())
}
