//! Versioned migrations, applied in order inside one transaction that holds an advisory lock:
//! nodes starting at once take turns, and the second finds the work done.

use tokio_postgres::Client;

/// Any number: the lock only has to be the same for every node of an installation.
const MIGRATION_LOCK: i64 = 0x746f_6c6c_6761_7465; // "tollgate"

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE orgs (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    full_name  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgs_by_name ON orgs (lower(name));
CREATE TABLE roles (
    id   UUID PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE UNIQUE INDEX roles_by_name ON roles (lower(name));
-- Short numeric ids for dialects whose ids are integers (BlueCat), never reused.
CREATE SEQUENCE user_numbers;
CREATE SEQUENCE session_numbers;
CREATE TABLE users (
    id              UUID PRIMARY KEY,
    number          BIGINT NOT NULL UNIQUE DEFAULT nextval('user_numbers'),
    org_id          UUID NOT NULL REFERENCES orgs (id),
    name            TEXT NOT NULL,
    password_hash   TEXT,
    identity_source TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT
);
CREATE UNIQUE INDEX users_by_name ON users (org_id, lower(name));
CREATE TABLE user_roles (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id UUID NOT NULL REFERENCES roles (id),
    PRIMARY KEY (user_id, role_id)
);
CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    number          BIGINT NOT NULL UNIQUE DEFAULT nextval('session_numbers'),
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL REFERENCES orgs (id),
    roles           TEXT NOT NULL,
    dialect         TEXT NOT NULL,
    identity_source TEXT NOT NULL,
    remote_addr     TEXT,
    correlation_id  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    idle_timeout_ms BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    -- When the session ends unless used again, as the core computes it.
    ends_at         BIGINT NOT NULL,
    state           TEXT NOT NULL,
    ended_at        BIGINT,
    read_only       BOOLEAN NOT NULL,
    -- A dialect's own state for the session (JSON).
    data            TEXT
);
CREATE INDEX sessions_live_by_user ON sessions (user_id, dialect, number) WHERE state = 'LOGGED_IN';
CREATE INDEX sessions_ending ON sessions (ends_at) WHERE state = 'LOGGED_IN';
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE state <> 'LOGGED_IN';
-- Only digests of tokens are stored; a session may have several (vCD issues two).
CREATE TABLE session_tokens (
    digest     BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX session_tokens_by_session ON session_tokens (session_id);
-- Failed logins per account (a user's id, or an unknown name's digest) and client address;
-- address '*' counts every address together.
CREATE TABLE failure_counters (
    account          BYTEA NOT NULL,
    address          TEXT NOT NULL,
    failures         INTEGER NOT NULL,
    first_failure_at BIGINT,
    locked_until     BIGINT,
    PRIMARY KEY (account, address)
);
"#,
    r#"
-- Credentials for the admin API held by programs: one role in one org, only a digest of the
-- secret kept. Revoked ones stay, so that the audit trail's names keep meaning something.
CREATE TABLE api_tokens (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    org_id     UUID NOT NULL REFERENCES orgs (id),
    role_id    UUID NOT NULL REFERENCES roles (id),
    digest     BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_by_name ON api_tokens (lower(name));
"#,
    r#"
-- Every session end, numbered, so that each node drops what it caches of sessions others
-- ended. Each insert wakes the nodes' LISTEN connections (one notification a transaction).
CREATE TABLE revocations (
    seq        BIGSERIAL PRIMARY KEY,
    session_id UUID NOT NULL,
    state      TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE FUNCTION tollgate_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tollgate_revocations', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
    FOR EACH ROW EXECUTE FUNCTION tollgate_revocations_notify();
"#,
    r#"
-- Single-use proofs (SAML holder-of-key nonces), each kept until it could not verify anyway:
-- one table for every node, so a proof spent on one is refused on the others.
CREATE TABLE spent_nonces (
    key   TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX spent_nonces_by_until ON spent_nonces (until);
"#,
];

/// Brings the schema up to date; returns how many migrations it applied.
pub async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    let mut count = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&(index as i32 + 1)]).await?;
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

/// Whether the database has every migration applied.
pub async fn is_current(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let table: Option<String> = client.query_one("SELECT to_regclass('schema_migrations')::text", &[]).await?.get(0);
    if table.is_none() {
        return Ok(false);
    }
    let applied: i32 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    Ok(applied as usize >= MIGRATIONS.len())
}
