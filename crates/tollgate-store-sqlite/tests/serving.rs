//! The store as `tollgate serve` holds it: one server per database file, which therefore
//! knows every token that can name a session and refuses others without a store read.

use std::path::PathBuf;
use std::sync::Arc;

use tollgate_core::{
    Core, CoreConfig, CoreError, Credential, LoginRequest, SessionRejection, SessionStore, StoreError, SystemClock,
    ThrottlePolicy, TokenKind,
};
use tollgate_store_sqlite::SqliteStore;

fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-serving-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("tollgate.db")
}

fn core_over(store: SqliteStore) -> Core {
    let config = CoreConfig { unknown_token_throttle: ThrottlePolicy::OFF, ..CoreConfig::default() };
    Core::new(Arc::new(store), Arc::new(SystemClock), config)
}

fn native_login<'a>(password: &'a str) -> LoginRequest<'a> {
    LoginRequest {
        dialect: "native",
        source: "local",
        org: "System",
        username: "administrator",
        credential: Credential::Password(password),
        remote_addr: Some("127.0.0.1".into()),
        correlation_id: "test",
        tokens: &[TokenKind::Base64Url256],
        ..LoginRequest::default()
    }
}

#[tokio::test]
async fn one_server_at_a_time_holds_a_database() {
    let path = temp_db();
    let first = SqliteStore::open_for_serving(&path).unwrap();
    assert!(first.sole_issuer());
    match SqliteStore::open_for_serving(&path) {
        Err(StoreError::Conflict(why)) => assert!(why.contains("another tollgate serve"), "{why}"),
        other => panic!("a second server must be refused, got {:?}", other.map(|_| ())),
    }
    // The CLI's commands open it beside the server, and issue nothing.
    assert!(!SqliteStore::open(&path).unwrap().sole_issuer());
    drop(first);
    assert!(SqliteStore::open_for_serving(&path).is_ok(), "the lock ends with the server");
}

#[tokio::test]
async fn tokens_outlive_a_restart_and_tokens_nobody_issued_never_reach_the_store() {
    let path = temp_db();
    let token = {
        let core = core_over(SqliteStore::open_for_serving(&path).unwrap());
        core.bootstrap(Some("admin-pw".into())).await.unwrap();
        core.login(native_login("admin-pw")).await.unwrap().tokens.remove(0)
    };

    // A new server: nothing cached; its first sweep learns the live tokens.
    let core = core_over(SqliteStore::open_for_serving(&path).unwrap());
    core.sweep().await.unwrap();
    assert!(core.authenticate("native", &token).await.is_ok(), "a token issued before the restart");

    // A session written behind the server's back (which the lock exists to prevent) is in the
    // store, yet the server refuses its token without asking: proof that unknown tokens are
    // answered from memory.
    let intruder = core_over(SqliteStore::open(&path).unwrap());
    let smuggled = intruder.login(native_login("admin-pw")).await.unwrap().tokens.remove(0);
    assert!(intruder.authenticate("native", &smuggled).await.is_ok(), "the store holds it");
    match core.authenticate("native", &smuggled).await {
        Err(CoreError::Session(SessionRejection::Unknown)) => {}
        other => panic!("expected an unknown token, got {:?}", other.map(|s| s.id)),
    }

    // What this server issues itself validates at once, cached or not.
    let fresh = core.login(native_login("admin-pw")).await.unwrap().tokens.remove(0);
    assert!(core.authenticate("native", &fresh).await.is_ok());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
