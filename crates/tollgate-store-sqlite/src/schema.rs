//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL COLLATE NOCASE UNIQUE,
    full_name  TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE roles (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE
);
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    name             TEXT NOT NULL COLLATE NOCASE,
    password_hash    TEXT,
    identity_source  TEXT NOT NULL,
    enabled          INTEGER NOT NULL,
    failed_logins    INTEGER NOT NULL DEFAULT 0,
    first_failure_at INTEGER,
    locked_until     INTEGER,
    created_at       INTEGER NOT NULL,
    last_login_at    INTEGER,
    UNIQUE (org_id, name)
);
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id),
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    roles           TEXT NOT NULL,
    dialect         TEXT NOT NULL,
    identity_source TEXT NOT NULL,
    remote_addr     TEXT,
    correlation_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    idle_timeout_ms INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,
    ended_at        INTEGER,
    read_only       INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id, state, created_at);
CREATE INDEX sessions_by_state ON sessions (state, expires_at);
-- Only digests of tokens are stored; a session may have several (vCD issues two).
CREATE TABLE session_tokens (
    digest     BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX session_tokens_by_session ON session_tokens (session_id);
"#,
    r#"
-- Short numeric ids for dialects whose ids are integers (BlueCat), never reused.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
ALTER TABLE users ADD COLUMN number INTEGER;
UPDATE users SET number = rowid;
CREATE UNIQUE INDEX users_by_number ON users (number);
ALTER TABLE sessions ADD COLUMN number INTEGER;
UPDATE sessions SET number = rowid;
CREATE UNIQUE INDEX sessions_by_number ON sessions (number);
INSERT INTO counters (name, value) VALUES
    ('users', (SELECT COALESCE(MAX(number), 0) FROM users)),
    ('sessions', (SELECT COALESCE(MAX(number), 0) FROM sessions));
-- A dialect's own state for a session (JSON), e.g. the sites a VCDA session reached.
ALTER TABLE sessions ADD COLUMN data TEXT;
"#,
    r#"
-- Failed logins of names no account has, keyed by a digest of org and name: refusing them
-- costs the same write as a wrong password, and they lock like real accounts.
CREATE TABLE unknown_name_failures (
    key              BLOB PRIMARY KEY,
    failures         INTEGER NOT NULL,
    first_failure_at INTEGER,
    locked_until     INTEGER
) WITHOUT ROWID;
-- The sweep deletes long-ended sessions.
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE state <> 'LOGGED_IN';
"#,
    r#"
-- Failed logins per account (a user's id, or an unknown name's key) and client address: an
-- address that fails too often is locked out of that account alone.
CREATE TABLE address_failures (
    account          BLOB NOT NULL,
    address          TEXT NOT NULL,
    failures         INTEGER NOT NULL,
    first_failure_at INTEGER,
    locked_until     INTEGER,
    PRIMARY KEY (account, address)
) WITHOUT ROWID;
"#,
    r#"
-- Every failure counter in one table: an account's count over all addresses is the counter of
-- address '*' (the core's lockout rules read them alike, whatever the backend).
ALTER TABLE address_failures RENAME TO failure_counters;
INSERT INTO failure_counters (account, address, failures, first_failure_at, locked_until)
    SELECT key, '*', failures, first_failure_at, locked_until FROM unknown_name_failures;
INSERT INTO failure_counters (account, address, failures, first_failure_at, locked_until)
    SELECT unhex(replace(id, '-', '')), '*', failed_logins, first_failure_at, locked_until FROM users
    WHERE failed_logins > 0 OR locked_until IS NOT NULL;
DROP TABLE unknown_name_failures;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN first_failure_at;
ALTER TABLE users DROP COLUMN locked_until;
-- When a live session ends unless used again, as the core computes it: the sweep finds the
-- sessions due through an index instead of computing it for every row.
ALTER TABLE sessions ADD COLUMN ends_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET ends_at = MIN(expires_at, last_seen_at + idle_timeout_ms);
CREATE INDEX sessions_ending ON sessions (ends_at) WHERE state = 'LOGGED_IN';
"#,
    r#"
-- Credentials for the admin API held by programs: one role in one org, only a digest of the
-- secret kept. Revoked ones stay, so that the audit trail's names keep meaning something.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL COLLATE NOCASE UNIQUE,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    role_id    TEXT NOT NULL REFERENCES roles (id),
    digest     BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
"#,
    r#"
-- Every session end, numbered, for the server's cache (the CLI ends sessions beside it).
-- AUTOINCREMENT: a number is never reused, even after the newest entries are purged.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX revocations_by_time ON revocations (at);
"#,
    r#"
-- Single-use proofs (SAML holder-of-key nonces), each kept until it could not verify anyway.
CREATE TABLE spent_nonces (
    key   TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
CREATE INDEX spent_nonces_by_until ON spent_nonces (until);
"#,
    r#"
-- Live sessions by dialect, kept by triggers, so that the sweep's count for the metrics reads
-- a few rows instead of every session (325 ms at 1M, on a connection validations need).
CREATE TABLE live_session_counts (
    dialect TEXT PRIMARY KEY,
    live    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO live_session_counts (dialect, live)
    SELECT dialect, COUNT(*) FROM sessions WHERE state = 'LOGGED_IN' GROUP BY dialect;
CREATE TRIGGER live_session_inserted AFTER INSERT ON sessions WHEN NEW.state = 'LOGGED_IN' BEGIN
    INSERT INTO live_session_counts (dialect, live) VALUES (NEW.dialect, 1)
        ON CONFLICT (dialect) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER live_session_deleted AFTER DELETE ON sessions WHEN OLD.state = 'LOGGED_IN' BEGIN
    UPDATE live_session_counts SET live = live - 1 WHERE dialect = OLD.dialect;
END;
-- An update that keeps a session live runs both: one down, one up.
CREATE TRIGGER live_session_left AFTER UPDATE OF state, dialect ON sessions WHEN OLD.state = 'LOGGED_IN' BEGIN
    UPDATE live_session_counts SET live = live - 1 WHERE dialect = OLD.dialect;
END;
CREATE TRIGGER live_session_entered AFTER UPDATE OF state, dialect ON sessions WHEN NEW.state = 'LOGGED_IN' BEGIN
    INSERT INTO live_session_counts (dialect, live) VALUES (NEW.dialect, 1)
        ON CONFLICT (dialect) DO UPDATE SET live = live + 1;
END;
"#,
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    // Immediate: a server and a CLI starting on a new database at once must not both migrate.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()
}
