//! What the database file holds: digests of tokens and hashes of passwords, never either in
//! clear.

use std::sync::Arc;

use tollgate_core::{Core, CoreConfig, Credential, LoginRequest, SystemClock, TokenKind};
use tollgate_store_sqlite::SqliteStore;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn tokens_and_passwords_are_stored_only_as_digests_and_hashes() {
    let dir = std::env::temp_dir().join(format!("tollgate-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tollgate.db");
    let core = Core::new(Arc::new(SqliteStore::open(&file).unwrap()), Arc::new(SystemClock), CoreConfig::default());
    core.bootstrap(Some("admin-pw".into())).await.unwrap();
    let outcome = core
        .login(LoginRequest {
            dialect: "vcd",
            source: "local",
            org: "System",
            username: "administrator",
            credential: Credential::Password("admin-pw"),
            correlation_id: "test",
            tokens: &[TokenKind::Hex128, TokenKind::Base64Url256],
            ..LoginRequest::default()
        })
        .await
        .unwrap();
    drop(core);
    let bytes = std::fs::read(&file).unwrap();
    let wal = std::fs::read(file.with_extension("db-wal")).unwrap_or_default();
    for token in &outcome.tokens {
        let needle = token.as_bytes();
        assert!(!contains(&bytes, needle) && !contains(&wal, needle), "a token was stored in clear");
    }
    assert!(!contains(&bytes, b"admin-pw") && !contains(&wal, b"admin-pw"), "a password was stored in clear");
    std::fs::remove_dir_all(dir).unwrap();
}
