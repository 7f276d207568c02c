//! Three `tollgate` nodes on one PostgreSQL the test starts itself, under contention and
//! faults: parallel guessing across the nodes.

mod support;

use support::cluster::{node, total};
use support::{Server, http};

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
