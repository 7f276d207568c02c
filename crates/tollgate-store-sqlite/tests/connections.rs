//! A database file is read through several connections and written through one: what one
//! writes, the others read at once.

use std::sync::Arc;

use tollgate_core::{DirectoryStore, Timestamp};
use tollgate_store_sqlite::SqliteStore;

#[tokio::test]
async fn reads_see_every_committed_write_at_once() {
    let dir = std::env::temp_dir().join(format!("tollgate-conn-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("tollgate.db")).unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("org{i}");
            store.create_org(&name, &name, Timestamp(i)).await.unwrap();
            // Straight after the write, through whichever read connection is free.
            assert!(store.org_by_name(&name).await.unwrap().is_some(), "{name} is visible");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.list_orgs().await.unwrap().len(), 40);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_second_store_on_the_same_file_sees_the_first_ones_writes() {
    let dir = std::env::temp_dir().join(format!("tollgate-conn-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tollgate.db");
    let server = SqliteStore::open(&path).unwrap();
    let cli = SqliteStore::open(&path).unwrap();
    cli.create_org("org1", "Org One", Timestamp(1)).await.unwrap();
    assert_eq!(server.org_by_name("ORG1").await.unwrap().unwrap().full_name, "Org One");
    std::fs::remove_dir_all(dir).unwrap();
}
