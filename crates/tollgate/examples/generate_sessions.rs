//! Fills a store with live sessions for `scripts/bench-scale.sh`, through the store's own
//! interface (not a million logins, each of which would cost a password hash).
//!
//! `generate_sessions DATA_DIR COUNT TOKENS_FILE [IDLE_SECONDS]`: opens the SQLite store in
//! DATA_DIR (made by `tollgate bootstrap`), gives its administrator COUNT native sessions that
//! live for a day and time out after IDLE_SECONDS unused (a day when not given), and writes
//! their tokens to TOKENS_FILE, one a line.
//!
//! Built by `cargo build --release -p tollgate --example generate_sessions`.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate_core::store::{DirectoryStore, SessionStore};
use tollgate_core::token::{TokenDigest, base64url256};
use tollgate_core::{BOOTSTRAP_ADMIN, Session, SessionState, Timestamp};
use tollgate_store_sqlite::SqliteStore;
use uuid::Uuid;

/// Sessions written per transaction.
const BATCH: usize = 10_000;
const DAY: Duration = Duration::from_secs(24 * 3600);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, count, tokens_file, idle_timeout) = match args.as_slice() {
        [data, count, tokens_file] => (data, count, tokens_file, DAY),
        [data, count, tokens_file, idle] => (data, count, tokens_file, Duration::from_secs(idle.parse()?)),
        _ => {
            eprintln!("usage: generate_sessions DATA_DIR COUNT TOKENS_FILE [IDLE_SECONDS]");
            std::process::exit(2);
        }
    };
    let count: usize = count.parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = SqliteStore::open(&std::path::Path::new(data).join("tollgate.db"))?;
        let system = store.org_by_name("System").await?.ok_or("no System org: run tollgate bootstrap first")?;
        let admin = store.user_by_name(system.id, BOOTSTRAP_ADMIN).await?.ok_or("no administrator")?;
        let now = Timestamp(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64);
        let mut tokens = std::io::BufWriter::new(std::fs::File::create(tokens_file)?);
        let mut left = count;
        while left > 0 {
            let mut batch = Vec::with_capacity(left.min(BATCH));
            for _ in 0..left.min(BATCH) {
                let token = base64url256();
                writeln!(tokens, "{token}")?;
                let session = Session {
                    id: Uuid::new_v4(),
                    number: 0,
                    user_id: admin.id,
                    user_name: admin.name.clone(),
                    org_id: admin.org_id,
                    org_name: admin.org_name.clone(),
                    roles: admin.role_names(),
                    dialect: "native".into(),
                    identity_source: admin.identity_source.clone(),
                    remote_addr: Some("127.0.0.1".into()),
                    correlation_id: "generated".into(),
                    created_at: now,
                    last_seen_at: now,
                    idle_timeout,
                    expires_at: now.plus(DAY),
                    state: SessionState::LoggedIn,
                    ended_at: None,
                    read_only: false,
                };
                batch.push((session, vec![TokenDigest::of(&token)]));
            }
            left -= batch.len();
            store.insert_sessions(&batch).await?;
        }
        tokens.flush()?;
        Ok(())
    })
}
