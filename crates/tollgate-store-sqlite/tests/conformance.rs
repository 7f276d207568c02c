//! The store conformance suite over the embedded store, in memory.

use std::sync::Arc;

use tollgate_core::Store;
use tollgate_store_sqlite::SqliteStore;

tollgate_store_conformance::conformance_tests!(async {
    Arc::new(SqliteStore::in_memory().expect("an in-memory store")) as Arc<dyn Store>
});
