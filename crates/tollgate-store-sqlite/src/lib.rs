//! The embedded store: one SQLite database in WAL mode.
//!
//! The server and the CLI open the same file at once; SQLite's locking serialises their
//! writes. Every acknowledged write is synced (`synchronous = FULL`), so a session handed to a
//! client survives a crash of the server or of the machine.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use tollgate_core::directory::PREDEFINED_ROLES;
use tollgate_core::store::{
    Activity, DirectoryStore, LockoutStore, MetaStore, Page, Revocation, RevocationLog, SessionFilter, SessionStore,
    StoreError, StoreResult,
};
use tollgate_core::token::TokenDigest;
use tollgate_core::{ApiToken, ApiTokenSpec, Org, Role, Session, SessionState, Timestamp, User, UserSpec};
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
    /// A read connection of its own for the long reads of the background work (learning every
    /// live token's digest), so that they never hold one a lookup is waiting for. `None` for an
    /// in-memory database.
    background: Option<Arc<Mutex<Connection>>>,
    /// Held by the one server that serves this database (see [`SqliteStore::open_for_serving`]).
    serving_lock: Option<std::fs::File>,
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
        let reader = || {
            let conn = Connection::open(path).map_err(backend)?;
            conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
            conn.pragma_update(None, "query_only", "ON").map_err(backend)?;
            Ok(Mutex::new(conn))
        };
        let readers = (0..READERS).map(|_| reader()).collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore { background: Some(Arc::new(reader()?)), ..Self::with_connections(writer, readers) })
    }

    /// Opens the store for `tollgate serve`: as [`SqliteStore::open`], holding an exclusive lock
    /// on `PATH.lock` while the store lives, so that one server at a time serves a database.
    /// That server then issues every session in it ([`SessionStore::sole_issuer`]); the CLI's
    /// commands, which may run beside it, never open sessions.
    pub fn open_for_serving(path: &Path) -> StoreResult<Self> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(backend)?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => {
                StoreError::Conflict(format!("another tollgate serve holds {}", path.display()))
            }
            std::fs::TryLockError::Error(e) => backend(e),
        })?;
        Ok(SqliteStore { serving_lock: Some(lock), ..Self::open(path)? })
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
        SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            readers: readers.into(),
            next_reader: AtomicUsize::new(0),
            background: None,
            serving_lock: None,
        }
    }

    /// Writes new sessions and their token digests in one transaction; returns their numbers.
    async fn write_sessions(&self, sessions: Vec<(Session, Vec<TokenDigest>)>) -> StoreResult<Vec<i64>> {
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let numbers = sessions
                .iter()
                .map(|(session, digests)| insert_session(&tx, session, digests))
                .collect::<rusqlite::Result<Vec<i64>>>()
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(numbers)
        })
        .await
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

    /// Runs `work`, a long read of the background work, on the connection kept for it (the
    /// writer when there is none).
    async fn read_in_background<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let Some(conn) = self.background.clone() else { return self.with(work).await };
        tokio::task::spawn_blocking(move || work(&mut lock(&conn))).await.map_err(backend)?
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

/// The id of the org or role (`kind`) named `name` (its column matches case-insensitively);
/// `NotFound` if none is.
fn id_by_name(conn: &Connection, kind: &str, name: &str) -> StoreResult<String> {
    let sql = match kind {
        "org" => "SELECT id FROM orgs WHERE name = ?1",
        _ => "SELECT id FROM roles WHERE name = ?1",
    };
    conn.query_row(sql, [name], |r| r.get(0))
        .optional()
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("{kind} {name:?}")))
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

const USER_COLUMNS: &str = "u.id, u.number, u.org_id, o.name AS org_name, u.name, u.enabled, u.identity_source, u.password_hash, u.created_at, u.last_login_at";

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

/// The users `condition` selects, by number, with a `limit` clause (`LIMIT ?n`) or none.
fn query_users(
    conn: &Connection,
    condition: &str,
    limit: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN orgs o ON o.id = u.org_id WHERE {condition} ORDER BY u.number {limit}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    let mut users = Vec::new();
    while let Some(row) = rows.next()? {
        users.push(user_from_row(conn, row)?);
    }
    Ok(users)
}

const API_TOKEN_QUERY: &str = "SELECT t.id, t.name, t.org_id, o.name AS org_name, r.name AS role, t.created_at,
    t.revoked_at FROM api_tokens t JOIN orgs o ON o.id = t.org_id JOIN roles r ON r.id = t.role_id";
const API_TOKEN_WITH_DIGEST_QUERY: &str = "SELECT t.id, t.name, t.org_id, o.name AS org_name, r.name AS role,
    t.created_at, t.revoked_at, t.digest FROM api_tokens t JOIN orgs o ON o.id = t.org_id JOIN roles r ON r.id = t.role_id";

fn api_token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: uuid_col(row, "id")?,
        name: row.get("name")?,
        org_id: uuid_col(row, "org_id")?,
        org_name: row.get("org_name")?,
        role: row.get("role")?,
        created_at: Timestamp(row.get("created_at")?),
        revoked_at: ts(row.get("revoked_at")?),
    })
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

/// `?` placeholders for `count` values, from `?{first}` on.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// The next number of a counter (see the `counters` table).
/// Writes one new session and its token digests in `tx`; returns the number it gave it.
fn insert_session(tx: &Transaction<'_>, session: &Session, digests: &[TokenDigest]) -> rusqlite::Result<i64> {
    let roles = serde_json::to_string(&session.roles).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let number = next_number(tx, "sessions")?;
    tx.prepare_cached(
        "INSERT INTO sessions (id, user_id, org_id, roles, dialect, identity_source, remote_addr, correlation_id,
             created_at, last_seen_at, idle_timeout_ms, expires_at, state, ended_at, read_only, number, ends_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, ?14, ?15, ?16)",
    )?
    .execute(params![
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
        session.ends_at(session.last_seen_at).millis(),
    ])?;
    let mut insert_digest = tx.prepare_cached("INSERT INTO session_tokens (digest, session_id) VALUES (?1, ?2)")?;
    for digest in digests {
        insert_digest.execute(params![&digest.0[..], session.id.to_string()])?;
    }
    Ok(number)
}

fn next_number(tx: &Transaction<'_>, counter: &str) -> rusqlite::Result<i64> {
    tx.query_row("UPDATE counters SET value = value + 1 WHERE name = ?1 RETURNING value", [counter], |r| r.get(0))
}

/// The sessions `condition` selects, newest (highest number) first.
fn query_sessions(conn: &Connection, condition: &str, args: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<Vec<Session>> {
    query_sessions_limited(conn, condition, "", args)
}

/// [`query_sessions`], with a `limit` clause (`LIMIT ?n`).
fn query_sessions_limited(
    conn: &Connection,
    condition: &str,
    limit: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = s.org_id
         WHERE {condition} ORDER BY s.number DESC {limit}"
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
        log_revocation(tx, session.id, state, now)?;
        session.state = state;
        session.ended_at = Some(now);
    }
    Ok(ended)
}

/// Appends a session's end to the revocation log, in the transaction that ends it.
fn log_revocation(tx: &Transaction<'_>, id: Uuid, state: SessionState, now: Timestamp) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO revocations (session_id, state, at) VALUES (?1, ?2, ?3)")?
        .execute(params![id.to_string(), state.as_str(), now.millis()])
        .map(|_| ())
}

#[async_trait]
impl MetaStore for SqliteStore {
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

    async fn spend_nonce(&self, key: &str, until: Timestamp, now: Timestamp) -> StoreResult<bool> {
        let key = key.to_owned();
        self.with(move |conn| {
            // A row past its `until` is taken over; a live one is left alone (0 rows changed).
            let sql = "INSERT INTO spent_nonces (key, until) VALUES (?1, ?2) \
                       ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE spent_nonces.until <= ?3";
            Ok(conn.execute(sql, params![key, until.millis(), now.millis()]).map_err(backend)? == 1)
        })
        .await
    }

    async fn purge_nonces(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.with(move |conn| {
            let sql = "DELETE FROM spent_nonces WHERE key IN \
                       (SELECT key FROM spent_nonces WHERE until <= ?1 LIMIT ?2)";
            Ok(conn.execute(sql, params![before.millis(), limit]).map_err(backend)? as u64)
        })
        .await
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
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
            let org_id = id_by_name(&tx, "org", &spec.org)?;
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
            let user = query_users(&tx, "u.id = ?1", "", &[&id.to_string()]).map_err(backend)?.pop();
            tx.commit().map_err(backend)?;
            user.ok_or_else(|| backend("user vanished after insert"))
        })
        .await
    }

    async fn user_by_name(&self, org_id: Uuid, name: &str) -> StoreResult<Option<User>> {
        let name = name.to_owned();
        self.read(move |conn| {
            Ok(query_users(conn, "u.org_id = ?1 AND u.name = ?2", "", &[&org_id.to_string(), &name])
                .map_err(backend)?
                .pop())
        })
        .await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.read(move |conn| Ok(query_users(conn, "u.id = ?1", "", &[&id.to_string()]).map_err(backend)?.pop())).await
    }

    async fn user_by_number(&self, number: i64) -> StoreResult<Option<User>> {
        self.read(move |conn| Ok(query_users(conn, "u.number = ?1", "", &[&number]).map_err(backend)?.pop())).await
    }

    async fn list_users(&self, org_id: Option<Uuid>, page: Page) -> StoreResult<Vec<User>> {
        self.read(move |conn| {
            let org = org_id.map(|id| id.to_string());
            query_users(
                conn,
                "(?1 IS NULL OR u.org_id = ?1) AND u.number > COALESCE(?2, -9223372036854775808)",
                "LIMIT ?3",
                &[&org, &page.after, &page.limit],
            )
            .map_err(backend)
        })
        .await
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.update_user(user_id, "UPDATE users SET password_hash = ?2 WHERE id = ?1", hash).await
    }

    async fn replace_password_hash(&self, user_id: Uuid, current: &str, new: &str) -> StoreResult<bool> {
        let (current, new) = (current.to_owned(), new.to_owned());
        self.with(move |conn| {
            let sql = "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2";
            Ok(conn.execute(sql, params![user_id.to_string(), current, new]).map_err(backend)? == 1)
        })
        .await
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

    async fn set_last_login(&self, user_id: Uuid, at: Timestamp) -> StoreResult<()> {
        self.update_user(user_id, "UPDATE users SET last_login_at = ?2 WHERE id = ?1", at.millis()).await
    }

    async fn delete_org(&self, id: Uuid) -> StoreResult<()> {
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let id = id.to_string();
            let (users, tokens): (i64, i64) = tx
                .query_row(
                    "SELECT (SELECT COUNT(*) FROM users WHERE org_id = ?1), (SELECT COUNT(*) FROM api_tokens WHERE org_id = ?1)",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(backend)?;
            if users > 0 || tokens > 0 {
                return Err(StoreError::Conflict(format!(
                    "the org still has {users} user(s) and {tokens} API token(s); delete them first"
                )));
            }
            if tx.execute("DELETE FROM orgs WHERE id = ?1", [&id]).map_err(backend)? == 0 {
                return Err(StoreError::NotFound(format!("org {id}")));
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn delete_user(&self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            tx.execute(
                "INSERT INTO revocations (session_id, state, at)
                 SELECT id, 'TERMINATED', ?2 FROM sessions WHERE user_id = ?1 AND state = 'LOGGED_IN'",
                params![id.to_string(), now.millis()],
            )
            .map_err(backend)?;
            match tx.execute("DELETE FROM users WHERE id = ?1", [id.to_string()]).map_err(backend)? {
                // Dropped, the transaction rolls back.
                0 => Err(StoreError::NotFound(format!("user {id}"))),
                _ => tx.commit().map_err(backend),
            }
        })
        .await
    }

    async fn create_api_token(
        &self,
        spec: &ApiTokenSpec,
        digest: &TokenDigest,
        now: Timestamp,
    ) -> StoreResult<ApiToken> {
        let (spec, digest) = (spec.clone(), *digest);
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let org_id = id_by_name(&tx, "org", &spec.org)?;
            let role_id = id_by_name(&tx, "role", &spec.role)?;
            let id = Uuid::new_v4().to_string();
            let inserted = tx
                .execute(
                    "INSERT INTO api_tokens (id, name, org_id, role_id, digest, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                    params![id, spec.name, org_id, role_id, &digest.0[..], now.millis()],
                )
                .map_err(backend)?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("an API token named {:?} already exists", spec.name)));
            }
            let token = tx
                .query_row(&format!("{API_TOKEN_QUERY} WHERE t.id = ?1"), [&id], api_token_from_row)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(token)
        })
        .await
    }

    async fn api_token_by_digest(&self, digest: &TokenDigest) -> StoreResult<Option<ApiToken>> {
        let digest = *digest;
        self.read(move |conn| {
            conn.query_row(&format!("{API_TOKEN_QUERY} WHERE t.digest = ?1"), [&digest.0[..]], api_token_from_row)
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!("{API_TOKEN_QUERY} ORDER BY t.name")).map_err(backend)?;
            let rows = stmt.query_map([], api_token_from_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }

    async fn api_token_digests(&self) -> StoreResult<Vec<(ApiToken, TokenDigest)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("{API_TOKEN_WITH_DIGEST_QUERY} ORDER BY t.name")).map_err(backend)?;
            let rows = stmt
                .query_map([], |row| Ok((api_token_from_row(row)?, row.get::<_, Vec<u8>>("digest")?)))
                .map_err(backend)?;
            rows.map(|row| {
                let (token, digest) = row.map_err(backend)?;
                let digest = digest.try_into().map_err(|_| backend("an API token's digest is not 32 bytes"))?;
                Ok((token, TokenDigest(digest)))
            })
            .collect()
        })
        .await
    }

    async fn revoke_api_token(&self, name: &str, now: Timestamp) -> StoreResult<Option<ApiToken>> {
        let name = name.to_owned();
        self.with(move |conn| {
            conn.execute(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE name = ?1",
                params![name, now.millis()],
            )
            .map_err(backend)?;
            conn.query_row(&format!("{API_TOKEN_QUERY} WHERE t.name = ?1"), [&name], api_token_from_row)
                .optional()
                .map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl LockoutStore for SqliteStore {
    async fn reserve_attempt(
        &self,
        account: &[u8],
        limits: &[(&str, u32)],
        now: Timestamp,
        window_start: Timestamp,
    ) -> StoreResult<Option<Vec<u32>>> {
        let account = account.to_vec();
        let limits: Vec<(String, u32)> = limits.iter().map(|(a, limit)| ((*a).to_owned(), *limit)).collect();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let mut counts = Vec::with_capacity(limits.len());
            {
                // Counts and returns the count, or returns nothing when the counter is locked
                // or full; a refusal by a later counter rolls the earlier ones back.
                let mut count = tx
                    .prepare_cached(
                        "INSERT INTO failure_counters (account, address, failures, first_failure_at)
                             VALUES (?1, ?2, 1, ?3)
                         ON CONFLICT (account, address) DO UPDATE SET
                             failures = CASE WHEN first_failure_at > ?4 THEN failures + 1 ELSE 1 END,
                             first_failure_at = CASE WHEN first_failure_at > ?4 THEN first_failure_at ELSE ?3 END
                         WHERE (locked_until IS NULL OR locked_until <= ?3)
                             AND (first_failure_at IS NULL OR first_failure_at <= ?4 OR failures < ?5)
                         RETURNING failures",
                    )
                    .map_err(backend)?;
                for (address, limit) in &limits {
                    let counted = count
                        .query_row(params![account, address, now.millis(), window_start.millis(), limit], |r| r.get(0))
                        .optional()
                        .map_err(backend)?;
                    match counted {
                        Some(counted) => counts.push(counted),
                        None => return Ok(None),
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(Some(counts))
        })
        .await
    }

    async fn release_attempt(&self, account: &[u8], addresses: &[&str], reserved_at: Timestamp) -> StoreResult<()> {
        let mut args = vec![Value::Blob(account.to_vec()), Value::Integer(reserved_at.millis())];
        args.extend(addresses.iter().map(|a| Value::Text((*a).to_owned())));
        let sql = format!(
            "UPDATE failure_counters SET failures = failures - 1
             WHERE account = ?1 AND address IN ({}) AND failures > 0 AND first_failure_at <= ?2",
            placeholders(3, addresses.len())
        );
        self.with(move |conn| conn.execute(&sql, params_from_iter(&args)).map(|_| ()).map_err(backend)).await
    }

    async fn lock(&self, account: &[u8], address: &str, until: Timestamp) -> StoreResult<()> {
        let (account, address) = (account.to_vec(), address.to_owned());
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO failure_counters (account, address, failures, first_failure_at, locked_until)
                     VALUES (?1, ?2, 0, NULL, ?3)
                 ON CONFLICT (account, address) DO UPDATE SET failures = 0, first_failure_at = NULL,
                     locked_until = MAX(COALESCE(locked_until, ?3), ?3)",
                params![account, address, until.millis()],
            )
            .map(|_| ())
            .map_err(backend)
        })
        .await
    }

    async fn reset_unless_locked(&self, account: &[u8], addresses: &[&str], now: Timestamp) -> StoreResult<bool> {
        let mut args = vec![Value::Blob(account.to_vec()), Value::Integer(now.millis())];
        args.extend(addresses.iter().map(|a| Value::Text((*a).to_owned())));
        let named = format!("account = ?1 AND address IN ({})", placeholders(3, addresses.len()));
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let locked: bool = tx
                .query_row(
                    &format!("SELECT EXISTS (SELECT 1 FROM failure_counters WHERE {named} AND locked_until > ?2)"),
                    params_from_iter(&args),
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if !locked {
                // ?2 goes unused: bound all the same, SQLite numbers parameters by their index.
                tx.execute(&format!("DELETE FROM failure_counters WHERE {named}"), params_from_iter(&args))
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(!locked)
        })
        .await
    }

    async fn locks(&self, account: &[u8]) -> StoreResult<Vec<(String, Timestamp)>> {
        let account = account.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT address, locked_until FROM failure_counters
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

    async fn forget_account(&self, account: &[u8]) -> StoreResult<()> {
        let account = account.to_vec();
        self.with(move |conn| {
            conn.execute("DELETE FROM failure_counters WHERE account = ?1", [&account[..]]).map(|_| ()).map_err(backend)
        })
        .await
    }

    async fn purge_counters(&self, now: Timestamp, window_start: Timestamp) -> StoreResult<u64> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM failure_counters WHERE (locked_until IS NULL OR locked_until <= ?1)
                     AND (first_failure_at IS NULL OR first_failure_at <= ?2)",
                params![now.millis(), window_start.millis()],
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &Session, digests: &[TokenDigest]) -> StoreResult<i64> {
        Ok(self.write_sessions(vec![(session.clone(), digests.to_vec())]).await?.remove(0))
    }

    async fn insert_sessions(&self, sessions: &[(Session, Vec<TokenDigest>)]) -> StoreResult<Vec<i64>> {
        self.write_sessions(sessions.to_vec()).await
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

    fn sole_issuer(&self) -> bool {
        self.serving_lock.is_some()
    }

    async fn live_token_digests(&self, after: Option<TokenDigest>, limit: u32) -> StoreResult<Vec<TokenDigest>> {
        let after = after.map_or_else(Vec::new, |d| d.0.to_vec());
        self.read_in_background(move |conn| {
            // CROSS JOIN makes SQLite walk the tokens in digest order from the cursor and stop at
            // the limit. Left to itself it started from the live sessions and sorted all their
            // tokens for every page: 3 s a page at 1M sessions, holding a read connection that
            // validations then queued behind (seconds of latency); 58 ms a page this way.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT t.digest FROM session_tokens t CROSS JOIN sessions s ON s.id = t.session_id
                     WHERE t.digest > ?1 AND s.state = 'LOGGED_IN' ORDER BY t.digest LIMIT ?2",
                )
                .map_err(backend)?;
            let digests = stmt
                .query_map(params![after, limit], |row| row.get::<_, Vec<u8>>(0))
                .map_err(backend)?
                .filter_map(|digest| digest.ok()?.try_into().ok().map(TokenDigest))
                .collect();
            Ok(digests)
        })
        .await
    }

    async fn session_by_number(&self, number: i64) -> StoreResult<Option<Session>> {
        self.read(move |conn| Ok(query_sessions(conn, "s.number = ?1", &[&number]).map_err(backend)?.pop())).await
    }

    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>> {
        self.read(move |conn| Ok(query_sessions(conn, "s.id = ?1", &[&id.to_string()]).map_err(backend)?.pop())).await
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

    async fn list_sessions(&self, filter: &SessionFilter, page: Page) -> StoreResult<Vec<Session>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let user = filter.user_id.map(|u| u.to_string());
            let org = filter.org_id.map(|o| o.to_string());
            // The cursor is a plain range on the number (no `?5 IS NULL OR`), so that a page
            // starts at the cursor in the index instead of scanning every row above it: a
            // listing of 1M sessions took 60 s that way.
            query_sessions_limited(
                conn,
                "(?1 IS NULL OR s.user_id = ?1) AND (?2 IS NULL OR s.org_id = ?2) AND (?3 = 0 OR s.state = 'LOGGED_IN')
                 AND (?4 IS NULL OR s.dialect = ?4) AND s.number < COALESCE(?5, 9223372036854775807)",
                "LIMIT ?6",
                &[&user, &org, &filter.live_only, &filter.dialect, &page.after, &page.limit],
            )
            .map_err(backend)
        })
        .await
    }

    async fn count_live_sessions(&self) -> StoreResult<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT dialect, live FROM live_session_counts WHERE live > 0").map_err(backend)?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))).map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn touch_sessions(&self, activity: &[Activity]) -> StoreResult<()> {
        let activity = activity.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?2), ends_at = MAX(ends_at, ?3)
                         WHERE id = ?1 AND state = 'LOGGED_IN'",
                    )
                    .map_err(backend)?;
                for seen in &activity {
                    stmt.execute(params![seen.session_id.to_string(), seen.last_seen.millis(), seen.ends_at.millis()])
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn end_sessions(&self, ends: &[(Uuid, SessionState)], now: Timestamp) -> StoreResult<Vec<Session>> {
        let ends = ends.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let mut ended = Vec::with_capacity(ends.len());
            for (id, state) in ends {
                ended.extend(end_sessions(&tx, "s.id = ?1", &[&id.to_string()], state, now).map_err(backend)?);
            }
            tx.commit().map_err(backend)?;
            Ok(ended)
        })
        .await
    }

    async fn end_user_sessions(&self, user_id: Uuid, state: SessionState, now: Timestamp) -> StoreResult<Vec<Session>> {
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let ended = end_sessions(&tx, "s.user_id = ?1", &[&user_id.to_string()], state, now).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(ended)
        })
        .await
    }

    async fn delete_live_sessions(&self, ids: &[Uuid], now: Timestamp) -> StoreResult<Vec<Session>> {
        let ids = ids.to_vec();
        self.with(move |conn| {
            let tx = write_transaction(conn).map_err(backend)?;
            let mut deleted = Vec::with_capacity(ids.len());
            {
                let mut delete = tx.prepare_cached("DELETE FROM sessions WHERE id = ?1").map_err(backend)?;
                for id in ids {
                    let id = id.to_string();
                    if let Some(session) =
                        query_sessions(&tx, "s.id = ?1 AND s.state = 'LOGGED_IN'", &[&id]).map_err(backend)?.pop()
                    {
                        delete.execute([id]).map_err(backend)?;
                        log_revocation(&tx, session.id, SessionState::Terminated, now).map_err(backend)?;
                        deleted.push(session);
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(deleted)
        })
        .await
    }

    async fn sessions_ending_by(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Session>> {
        self.read(move |conn| {
            query_sessions_limited(
                conn,
                "s.state = 'LOGGED_IN' AND s.ends_at <= ?1",
                "LIMIT ?2",
                &[&now.millis(), &limit],
            )
            .map_err(backend)
        })
        .await
    }

    async fn purge_ended_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
                     WHERE state <> 'LOGGED_IN' AND ended_at < ?1 LIMIT ?2)",
                params![before.millis(), limit],
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl RevocationLog for SqliteStore {
    async fn latest_revocation(&self) -> StoreResult<i64> {
        self.read(|conn| {
            // The counter, not MAX(seq): it survives the purge of every entry.
            conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'revocations'", [], |r| r.get(0))
                .optional()
                .map(Option::unwrap_or_default)
                .map_err(backend)
        })
        .await
    }

    async fn revocations(&self, after: i64, also: &[i64], limit: u32) -> StoreResult<Vec<Revocation>> {
        let mut args = vec![Value::Integer(after), Value::Integer(i64::from(limit))];
        args.extend(also.iter().map(|&seq| Value::Integer(seq)));
        let sql = format!(
            "SELECT seq, session_id, state, at FROM revocations WHERE seq > ?1 OR seq IN ({}) ORDER BY seq LIMIT ?2",
            placeholders(3, also.len())
        );
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(params_from_iter(&args), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (seq, id, state, at) = row.map_err(backend)?;
                Ok(Revocation {
                    seq,
                    session_id: Uuid::parse_str(&id).map_err(backend)?,
                    state: SessionState::parse(&state).ok_or_else(|| backend(format!("bad session state {state}")))?,
                    at: Timestamp(at),
                })
            })
            .collect()
        })
        .await
    }

    async fn purge_revocations(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations WHERE at < ?1 ORDER BY at LIMIT ?2)",
                params![before.millis(), limit],
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
        .await
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
