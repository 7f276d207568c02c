//! Several `tollgate` processes on one PostgreSQL store (a server this test starts): a login
//! on one node is good on the others, a logout on one ends it everywhere, and the CLI works
//! against the same store with `--store`.

mod support;

use std::time::{Duration, Instant};

use support::{ADMIN_PASSWORD, Options, Server, http, session_status, vcd_login};

fn node(store_url: &str) -> Server {
    Server::start(Options {
        http: true,
        env: vec![("TOLLGATE_STORE__URL".into(), store_url.into())],
        ..Options::default()
    })
}

#[tokio::test]
async fn a_login_on_one_node_is_good_on_another_and_a_logout_there_ends_it_everywhere() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let a = node(&store_url);
    let b = node(&store_url);
    let client = http();

    let (token, _, session_id) = vcd_login(&client, &a.url, "administrator", "System", ADMIN_PASSWORD).await;
    assert_eq!(session_status(&client, &a.url, &token).await, 200);
    assert_eq!(session_status(&client, &b.url, &token).await, 200, "node B reads the session A stored");

    // The CLI, on neither node's data directory, lists it from the shared store.
    let listed = support::cli(tempfile::tempdir().unwrap().path(), &["session", "list", "--store", &store_url], None);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&session_id), "the session is listed");

    let logout = client.delete(format!("{}/api/session", b.url)).header("x-vcloud-authorization", &token);
    assert_eq!(logout.send().await.unwrap().status(), 204);
    assert_eq!(session_status(&client, &b.url, &token).await, 401);
    // Node A trusted its cache for at most the revalidation interval (1 s).
    let logged_out = Instant::now();
    while session_status(&client, &a.url, &token).await == 200 {
        assert!(logged_out.elapsed() < Duration::from_millis(1500), "node A still accepts a logged-out token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(session_status(&client, &a.url, &token).await, 401);
}

#[tokio::test]
async fn commands_against_a_database_without_a_store_say_so_and_migrate_makes_one() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let dir = tempfile::tempdir().unwrap();
    let refused = support::cli(dir.path(), &["user", "list", "--store", &store_url], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("tollgate migrate"), "{refused:?}");
    let migrated = support::cli(dir.path(), &["migrate", "--store", &store_url], None);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("1 migration(s) applied"));
    let again = support::cli(dir.path(), &["migrate", "--store", &store_url], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 migration(s) applied"));
    let listed = support::cli(dir.path(), &["roles", "--store", &store_url], None);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("System Administrator"));
}
