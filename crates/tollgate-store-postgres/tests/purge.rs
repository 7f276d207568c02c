//! Ended sessions are purged by one node at a time, under an advisory lock, in batches.

use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{
    Actor, BOOTSTRAP_ADMIN, Core, CoreConfig, Credential, DialectPolicy, LoginRequest, SessionStore, SystemClock,
    Timestamp, TokenKind,
};
use tollgate_store_postgres::{PURGE_LOCK, PostgresStore, Timeouts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_purges_nothing_while_another_holds_the_purge_lock_then_purges_in_batches() {
    let url = tollgate_store_postgres::testing::server().database().await;
    let store = Arc::new(PostgresStore::open(&url, Timeouts::default()).await.unwrap());
    let mut config = CoreConfig::default();
    config.dialects.insert(
        "vcd".into(),
        DialectPolicy { idle_timeout: Duration::from_secs(60), lifetime: Duration::from_secs(600) },
    );
    let core = Core::new(store.clone(), Arc::new(SystemClock), config);
    core.bootstrap(Some("Admin-Pw-1".into())).await.unwrap();
    for _ in 0..5 {
        let request = LoginRequest {
            dialect: "vcd",
            source: "local",
            org: "System",
            username: BOOTSTRAP_ADMIN,
            credential: Credential::Password("Admin-Pw-1"),
            correlation_id: "test",
            tokens: &[TokenKind::Hex128],
            ..LoginRequest::default()
        };
        core.login(request).await.unwrap();
    }
    assert_eq!(core.revoke_user_sessions(&Actor::Operator, "System", BOOTSTRAP_ADMIN, "test").await.unwrap(), 5);
    let later = Timestamp(i64::MAX);

    // Another node is purging: its transaction holds the lock.
    let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let holding = other.transaction().await.unwrap();
    holding.execute("SELECT pg_advisory_xact_lock($1)", &[&PURGE_LOCK]).await.unwrap();
    assert_eq!(store.purge_ended_sessions(later, 2).await.unwrap(), 0, "this node leaves it to the other");
    holding.commit().await.unwrap();

    let mut batches = Vec::new();
    loop {
        let purged = store.purge_ended_sessions(later, 2).await.unwrap();
        batches.push(purged);
        if purged == 0 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1, 0]);
}
