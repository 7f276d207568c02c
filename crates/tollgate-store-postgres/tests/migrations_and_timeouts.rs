//! Start-up against a real server: nodes migrating one database at once, and a server that
//! does not answer.

use std::time::{Duration, Instant};

use tollgate_core::{DirectoryStore, LockoutStore, MetaStore, Page, Timestamp};
use tollgate_store_postgres::{PostgresStore, Timeouts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_the_schema_once() {
    let url = tollgate_store_postgres::testing::server().database().await;
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let store = PostgresStore::connect(&url, Timeouts::default()).unwrap();
                let applied = store.migrate().await.expect("a migration that waits its turn");
                (store, applied)
            })
        })
        .collect();
    let mut applied = Vec::new();
    let mut stores = Vec::new();
    for node in nodes {
        let (store, count) = node.await.unwrap();
        applied.push(count);
        stores.push(store);
    }
    applied.sort();
    assert_eq!(applied[..3], [0, 0, 0], "the others found the work done");
    assert!(applied[3] > 0, "one node applied the migrations");
    let roles = stores[0].list_roles().await.unwrap();
    assert_eq!(roles.len(), tollgate_core::directory::PREDEFINED_ROLES.len(), "the predefined roles, seeded once");
    stores[0].init_meta("k", "v").await.unwrap();
    assert_eq!(stores[3].meta("k").await.unwrap().as_deref(), Some("v"), "one database");
    assert!(stores[1].list_users(None, Page::ALL).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_fails_a_call_within_its_timeouts() {
    // Accepts connections and says nothing, as a hung (SIGSTOPped) server does.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/tollgate", silent.local_addr().unwrap().port());
    let timeouts =
        Timeouts { connect: Duration::from_millis(500), acquire: Duration::from_millis(500), ..Timeouts::default() };
    let store = PostgresStore::connect(&url, timeouts).unwrap();
    let started = Instant::now();
    let result = store.meta("bootstrapped_at").await;
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "answered after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_statement_that_waits_past_its_timeout_is_cancelled_by_the_server() {
    let url = tollgate_store_postgres::testing::server().database().await;
    let timeouts = Timeouts { statement: Duration::from_millis(300), ..Timeouts::default() };
    let store = PostgresStore::open(&url, timeouts).await.unwrap();
    let now = Timestamp(1_700_000_000_000);
    store.reserve_attempt(b"account", &[("192.0.2.1", 5)], now, Timestamp(0)).await.unwrap();
    // Another session holds the counter's row, as a stuck transaction would.
    let (mut holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let held = holder.transaction().await.unwrap();
    held.execute("SELECT * FROM failure_counters FOR UPDATE", &[]).await.unwrap();
    let started = Instant::now();
    let waited = store.reset_unless_locked(b"account", &["192.0.2.1"], now).await;
    assert!(waited.is_err(), "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "cancelled after {:?}", started.elapsed());
    drop(held);
}
