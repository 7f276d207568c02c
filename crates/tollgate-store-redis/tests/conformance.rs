//! The store conformance suite over the Redis-assisted PostgreSQL store: servers this test
//! starts, a database per test and one Redis for them all (each store's counters are keyed by
//! account ids no other test shares).

use std::sync::{Arc, OnceLock};

use tollgate_core::Store;
use tollgate_store_postgres::{PostgresStore, Timeouts};
use tollgate_store_redis::RedisAssisted;
use tollgate_store_redis::testing::Server;

fn redis() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

tollgate_store_conformance::conformance_tests!(async {
    let url = tollgate_store_postgres::testing::server().database().await;
    let postgres =
        Arc::new(PostgresStore::open(&url, Timeouts::default()).await.expect("a store over the test database"));
    Arc::new(RedisAssisted::new(postgres, &redis().url()).expect("a Redis-assisted store")) as Arc<dyn Store>
});
