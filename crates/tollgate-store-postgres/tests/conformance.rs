//! The store conformance suite over PostgreSQL: a server this test starts, a database per test.

use std::sync::Arc;

use tollgate_core::Store;
use tollgate_store_postgres::{PostgresStore, Timeouts};

tollgate_store_conformance::conformance_tests!(async {
    let url = tollgate_store_postgres::testing::server().database().await;
    Arc::new(PostgresStore::open(&url, Timeouts::default()).await.expect("a store over the test database"))
        as Arc<dyn Store>
});
