//! Several `tollgate` processes on one PostgreSQL store (a server this test starts): a login
//! on one node is good on the others, a logout on one ends it everywhere within the measured
//! bound, and the CLI works against the same store with `--store`.

mod support;

use std::time::{Duration, Instant};

use support::{ADMIN_PASSWORD, Options, Server, http, session_status, vcd_login, vcd_login_request};

fn node(store_url: &str) -> Server {
    Server::start(Options {
        http: true,
        env: vec![
            ("TOLLGATE_STORE__URL".into(), store_url.into()),
            // The measurement below opens 200 sessions for one user in a few seconds.
            ("TOLLGATE_THROTTLE__SESSIONS_PER_USER_BURST".into(), "1000".into()),
        ],
        ..Options::default()
    })
}

/// How long after `since` node `url` first refuses `token`, asking every 2 ms.
async fn refused_after(client: &reqwest::Client, url: &str, token: &str, since: Instant) -> Duration {
    loop {
        if session_status(client, url, token).await == 401 {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(2), "{url} still accepts a logged-out token after 2 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn three_nodes_share_sessions_and_a_logout_on_one_reaches_the_others_within_250_ms_at_p99() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let nodes = [node(&store_url), node(&store_url), node(&store_url)];
    let [a, b, c] = &nodes;
    let client = http();

    let (token, _, session_id) = vcd_login(&client, &a.url, "administrator", "System", ADMIN_PASSWORD).await;
    assert_eq!(session_status(&client, &a.url, &token).await, 200);
    assert_eq!(session_status(&client, &b.url, &token).await, 200, "node B reads the session A stored");

    // The CLI, on no node's data directory, lists it from the shared store.
    let listed = support::cli(tempfile::tempdir().unwrap().path(), &["session", "list", "--store", &store_url], None);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&session_id), "the session is listed");

    let logout = client.delete(format!("{}/api/session", c.url)).header("x-vcloud-authorization", &token);
    let logged_out = Instant::now();
    assert_eq!(logout.send().await.unwrap().status(), 204);
    assert_eq!(session_status(&client, &c.url, &token).await, 401);
    let on_a = refused_after(&client, &a.url, &token, logged_out).await;
    let on_b = refused_after(&client, &b.url, &token, logged_out).await;
    println!("logout on C refused on A after {on_a:?}, on B after {on_b:?}");

    // The bound: 200 logouts, each on the next node in turn, and how long each of the other
    // two nodes (which hold the session in their caches) goes on accepting the token.
    let mut delays = Vec::new();
    for round in 0..200 {
        let (by, others) = (&nodes[round % 3], [&nodes[(round + 1) % 3], &nodes[(round + 2) % 3]]);
        let (token, _, _) = vcd_login(&client, &by.url, "administrator", "System", ADMIN_PASSWORD).await;
        for other in others {
            assert_eq!(session_status(&client, &other.url, &token).await, 200, "round {round}");
        }
        let logout = client.delete(format!("{}/api/session", by.url)).header("x-vcloud-authorization", &token);
        let sent = Instant::now();
        assert_eq!(logout.send().await.unwrap().status(), 204);
        let (first, second) = tokio::join!(
            refused_after(&client, &others[0].url, &token, sent),
            refused_after(&client, &others[1].url, &token, sent),
        );
        delays.extend([first, second]);
    }
    delays.sort();
    let at = |quantile: f64| delays[((delays.len() as f64 * quantile).ceil() as usize).min(delays.len()) - 1];
    let (p50, p99, max) = (at(0.50), at(0.99), delays[delays.len() - 1]);
    println!("revocation reached the other nodes over {} samples: p50 {p50:?}, p99 {p99:?}, max {max:?}", delays.len());
    assert!(p99 <= Duration::from_millis(250), "p99 {p99:?} is above the 250 ms bound");
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
    let applied = String::from_utf8_lossy(&migrated.stdout);
    assert!(applied.contains("migration(s) applied") && !applied.contains("(0 migration(s)"), "{applied}");
    let again = support::cli(dir.path(), &["migrate", "--store", &store_url], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 migration(s) applied"));
    let listed = support::cli(dir.path(), &["roles", "--store", &store_url], None);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("System Administrator"));
}

/// The status of a vcd login of `user@org` with `password`.
async fn vcd_login_status(client: &reqwest::Client, url: &str, user: &str, org: &str, password: &str) -> u16 {
    vcd_login_request(client, url, user, org, password).send().await.unwrap().status().as_u16()
}

/// Keys of lockout counters the Redis at `port` holds.
fn lockout_keys_in_redis(port: u16) -> Vec<String> {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan", "--pattern", "tollgate:lockout:*"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn with_redis_down_lockout_falls_back_to_postgresql_and_logouts_still_reach_every_node() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let mut redis = tollgate_store_redis::testing::Server::start();
    let node = || {
        Server::start(Options {
            http: true,
            env: vec![
                ("TOLLGATE_STORE__URL".into(), store_url.clone()),
                ("TOLLGATE_STORE__REDIS_URL".into(), redis.url()),
            ],
            ..Options::default()
        })
    };
    let (a, b) = (node(), node());
    a.add_tenant("acme", "alice", "alice-password");
    let client = http();

    // Failures on either node count in Redis.
    for on in [&a, &b, &a] {
        assert_eq!(vcd_login_status(&client, &on.url, "alice", "acme", "wrong").await, 401);
    }
    assert!(!lockout_keys_in_redis(redis.port).is_empty(), "the counters are in Redis");

    redis.stop();
    // Redis is down: the next five failures from this address lock alice through PostgreSQL,
    // each answered as a wrong password (never a server error), and nobody else is locked out.
    for on in [&b, &a, &b, &a, &b] {
        assert_eq!(vcd_login_status(&client, &on.url, "alice", "acme", "wrong").await, 401);
    }
    assert_eq!(vcd_login_status(&client, &a.url, "alice", "acme", "alice-password").await, 401, "alice is locked");
    let listed = a.cli_ok(&["user", "list", "--org", "acme"], None);
    assert!(listed.contains("locked"), "{listed}");
    let (token, _, _) = vcd_login(&client, &a.url, "administrator", "System", ADMIN_PASSWORD).await;

    // Revocations still reach the other node.
    assert_eq!(session_status(&client, &b.url, &token).await, 200);
    let logout = client.delete(format!("{}/api/session", a.url)).header("x-vcloud-authorization", &token);
    let sent = Instant::now();
    assert_eq!(logout.send().await.unwrap().status(), 204);
    let delay = refused_after(&client, &b.url, &token, sent).await;
    assert!(delay <= Duration::from_millis(250), "node B refused the token after {delay:?}");

    a.cli_ok(&["user", "unlock", "alice", "--org", "acme"], None);
    assert_eq!(vcd_login_status(&client, &b.url, "alice", "acme", "alice-password").await, 200);
}

/// The README's cluster example starts every node with the same TOLLGATE_ADMIN_PASSWORD at
/// once, on an empty store: each bootstraps it, whichever comes second finds the org and the
/// administrator made and goes on, and all of them serve the one administrator.
#[tokio::test]
async fn nodes_starting_at_once_on_an_empty_store_all_come_up_with_one_administrator() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let store_url = store_url.clone();
            std::thread::spawn(move || node(&store_url))
        })
        .collect();
    let nodes: Vec<Server> = starting.into_iter().map(|start| start.join().expect("every node starts")).collect();
    let client = http();
    for node in &nodes {
        let (token, _, _) = vcd_login(&client, &node.url, "administrator", "System", ADMIN_PASSWORD).await;
        assert_eq!(session_status(&client, &node.url, &token).await, 200);
    }
    let users = support::cli(tempfile::tempdir().unwrap().path(), &["user", "list", "--store", &store_url], None);
    let users = String::from_utf8_lossy(&users.stdout).into_owned();
    assert_eq!(users.lines().filter(|line| line.contains("administrator")).count(), 1, "{users}");
}
