//! Three `tollgate` nodes on one PostgreSQL the test starts itself, under contention and
//! faults: parallel guessing across the nodes, a client that never logs out.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{node, total};
use support::{ADMIN_PASSWORD, Server, http, session_status, vcd_login};

/// 40 wrong passwords at once, spread over three nodes: exactly the configured number (5, from
/// one address) reach the password check; the others are refused as locked before any hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_guesses_over_three_nodes_check_exactly_the_threshold() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    // The per-address throttle would answer most of the volley first; lockout is the subject.
    let env = [("TOLLGATE_THROTTLE__LOGIN_BURST", "0"), ("TOLLGATE_LOCKOUT__MAX_FAILURES", "5")];
    let nodes: Vec<Server> = (0..3).map(|_| node(&store_url, &env)).collect();
    nodes[0].add_tenant("org1", "alice", "Alice-Pw-1");
    let client = http();

    let mut guesses = Vec::new();
    for i in 0..40 {
        let (client, url) = (client.clone(), nodes[i % 3].url.clone());
        guesses.push(tokio::spawn(async move {
            let reply = client
                .post(format!("{url}/cloudapi/1.0.0/sessions"))
                .basic_auth("alice@org1", Some("wrong-password"))
                .header("accept", "application/json;version=36.0")
                .send()
                .await
                .unwrap();
            reply.status().as_u16()
        }));
    }
    for guess in guesses {
        assert_eq!(guess.await.unwrap(), 401);
    }
    let all: Vec<&Server> = nodes.iter().collect();
    let outcome = |outcome: &'static str| {
        let (client, all) = (&client, &all);
        async move { total(client, all, "tollgate_logins_total", &[&format!("outcome=\"{outcome}\"")]).await }
    };
    assert_eq!(outcome("wrong_password").await, 5.0, "exactly the threshold was checked");
    assert_eq!(outcome("locked").await, 35.0);
    // Locked now, on every node, even with the right password.
    for node in &nodes {
        let reply = client
            .post(format!("{}/cloudapi/1.0.0/sessions", node.url))
            .basic_auth("alice@org1", Some("Alice-Pw-1"))
            .header("accept", "application/json;version=36.0")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 401);
    }
    assert_eq!(outcome("locked").await, 38.0);
    assert_eq!(outcome("success").await, 0.0);
}

/// Rows in the sessions table of the store at `store_url`.
async fn stored_sessions(store_url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(store_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.query_one("SELECT COUNT(*) FROM sessions", &[]).await.unwrap().get(0)
}

/// The VCDA Terraform provider logs in before every request and never logs out. With idle
/// sessions ending after a second and ended ones kept for no time, the store stays small while
/// two nodes take turns purging, and empties once the client stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_logs_in_before_every_request_and_never_logs_out_leaves_the_store_bounded() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let env = [
        ("TOLLGATE_THROTTLE__LOGIN_BURST", "0"),
        ("TOLLGATE_THROTTLE__SESSIONS_PER_USER_BURST", "0"),
        ("TOLLGATE_DIALECTS__VCD__IDLE_TIMEOUT_SECONDS", "1"),
        ("TOLLGATE_SESSIONS__SWEEP_INTERVAL_SECONDS", "1"),
        ("TOLLGATE_SESSIONS__RETENTION_HOURS", "0"),
    ];
    let nodes: Vec<Server> = (0..2).map(|_| node(&store_url, &env)).collect();
    let client = http();
    let started = Instant::now();
    let mut logins = 0;
    let mut most_stored = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let url = &nodes[logins % 2].url;
        let (token, _, _) = vcd_login(&client, url, "administrator", "System", ADMIN_PASSWORD).await;
        assert_eq!(session_status(&client, url, &token).await, 200);
        logins += 1;
        if logins % 10 == 0 {
            most_stored = most_stored.max(stored_sessions(&store_url).await);
        }
    }
    println!("{logins} logins in 8 s; at most {most_stored} sessions stored at once");
    assert!(logins >= 40, "only {logins} logins");
    assert!(most_stored < logins as i64 / 2, "{most_stored} sessions stored after {logins} logins");
    // Idle for a second, ended at the next sweep, purged at the one after.
    let stopped = Instant::now();
    while stored_sessions(&store_url).await > 0 {
        assert!(stopped.elapsed() < Duration::from_secs(6), "the store still holds sessions");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
