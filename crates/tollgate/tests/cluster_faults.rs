//! `tollgate` nodes on one PostgreSQL the test starts itself, under contention and faults:
//! parallel guessing across the nodes, a client that never logs out, a node killed with SIGKILL
//! mid-load, and PostgreSQL hung (SIGSTOP) or stopped under the nodes and back again.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
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

/// A client whose every request gives up after `seconds`: a request the server leaves
/// unanswered shows as an error, never as a test that hangs.
fn client_with_timeout(seconds: u64) -> reqwest::Client {
    support::http_builder().http1_only().timeout(Duration::from_secs(seconds)).build().unwrap()
}

/// A native login of `user@org`: the session token on a 2xx, the status otherwise, the error
/// when no answer came.
async fn native_login(
    client: &reqwest::Client,
    url: &str,
    org: &str,
    user: &str,
) -> Result<Result<String, u16>, String> {
    let body = serde_json::json!({"org": org, "username": user, "password": USER_PASSWORD});
    let reply = client.post(format!("{url}/v1/sessions")).json(&body).send().await.map_err(|e| e.to_string())?;
    if !reply.status().is_success() {
        return Ok(Err(reply.status().as_u16()));
    }
    let body: serde_json::Value = reply.json().await.map_err(|e| e.to_string())?;
    Ok(Ok(body["token"].as_str().expect("a token in a 2xx login").to_owned()))
}

/// The status of GET /v1/sessions/current with `token`, or the error when no answer came.
async fn native_status(client: &reqwest::Client, url: &str, token: &str) -> Result<u16, String> {
    let reply = client.get(format!("{url}/v1/sessions/current")).bearer_auth(token).send().await;
    reply.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
}

const USER_PASSWORD: &str = "User-Pw-1234";

/// What one login of the load got, from which node, and whether node 2 was dead when it was
/// sent and when it ended.
#[derive(Debug)]
struct Outcome {
    node: usize,
    sent_after_kill: bool,
    ended_after_kill: bool,
    /// The token of a 2xx (the session the client was promised), the status of another
    /// answer, or the error when none came.
    answer: Result<Result<String, u16>, String>,
}

/// Six clients (each its own user, so no per-user cap ends anyone's older sessions) log in
/// over three nodes in turn while node 2 is killed with SIGKILL. Every login that was answered
/// 2xx, on any node, the dead one included, validates on both survivors; the only requests
/// without an answer went to the dead node, and the survivors answered every request of theirs
/// with a 2xx, before and after the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_load_loses_no_acknowledged_session_and_the_others_keep_serving() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let env = [
        ("TOLLGATE_THROTTLE__LOGIN_PER_SECOND", "0"),
        ("TOLLGATE_THROTTLE__SESSIONS_PER_USER_PER_SECOND", "0"),
        ("TOLLGATE_SESSIONS__MAX_PER_USER", "1000"),
    ];
    let mut nodes: Vec<Server> = (0..3).map(|_| node(&store_url, &env)).collect();
    nodes[0].cli_ok(&["org", "add", "acme"], None);
    const CLIENTS: usize = 6;
    for user in 0..CLIENTS {
        nodes[0].add_user("acme", &format!("user{user}"), "vApp User", USER_PASSWORD);
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let killed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let load = Duration::from_secs(5);
    let mut clients = Vec::new();
    for user in 0..CLIENTS {
        let (urls, killed) = (urls.clone(), killed.clone());
        clients.push(tokio::spawn(async move {
            let client = client_with_timeout(10);
            let mut outcomes = Vec::new();
            let mut turn = user;
            while started.elapsed() < load {
                let node = turn % 3;
                turn += 1;
                let sent_after_kill = killed.load(SeqCst);
                let answer = native_login(&client, &urls[node], "acme", &format!("user{user}")).await;
                outcomes.push(Outcome { node, sent_after_kill, ended_after_kill: killed.load(SeqCst), answer });
            }
            outcomes
        }));
    }
    tokio::time::sleep(load / 2).await;
    killed.store(true, SeqCst);
    nodes[2].crash();
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }

    let acknowledged: Vec<(&String, usize)> =
        outcomes.iter().filter_map(|o| Some((o.answer.as_ref().ok()?.as_ref().ok()?, o.node))).collect();
    let unanswered: Vec<&Outcome> = outcomes.iter().filter(|o| o.answer.is_err()).collect();
    let count = |what: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| what(o)).count();
    let served_after_kill = |node: usize| count(&|o: &Outcome| o.node == node && o.sent_after_kill && o.answer.is_ok());
    println!(
        "{} logins in {load:?}, node 2 killed half way: {} acknowledged (by node 0, 1, 2: {}, {}, {}), {} unanswered; \
         after the kill nodes 0 and 1 answered {} and {}",
        outcomes.len(),
        acknowledged.len(),
        count(&|o: &Outcome| o.node == 0 && o.answer.is_ok()),
        count(&|o: &Outcome| o.node == 1 && o.answer.is_ok()),
        count(&|o: &Outcome| o.node == 2 && o.answer.is_ok()),
        unanswered.len(),
        served_after_kill(0),
        served_after_kill(1),
    );
    for outcome in &outcomes {
        match &outcome.answer {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => panic!("a good login was refused with {status}: {outcome:?}"),
            Err(_) => assert!(
                outcome.node == 2 && outcome.ended_after_kill,
                "only the killed node left requests unanswered, once killed: {outcome:?}"
            ),
        }
    }
    assert_eq!(acknowledged.len() + unanswered.len(), outcomes.len(), "every request accounted for");
    assert!(
        count(&|o: &Outcome| o.node == 2 && o.answer.is_ok()) > 0 && !unanswered.is_empty(),
        "the kill came mid-load"
    );
    assert!(served_after_kill(0) > 0 && served_after_kill(1) > 0, "the survivors kept serving");

    // Every acknowledged session, whichever node issued it, is good on both survivors.
    let client = client_with_timeout(10);
    let survivors = &urls[..2];
    for (token, issuer) in &acknowledged {
        for (survivor, url) in survivors.iter().enumerate() {
            let status = native_status(&client, url, token).await;
            assert_eq!(status, Ok(200), "a session node {issuer} acknowledged, on node {survivor}");
        }
    }
    // And the survivors go on serving new logins.
    for (survivor, url) in survivors.iter().enumerate() {
        let login = native_login(&client, url, "acme", "user0").await;
        assert!(matches!(login, Ok(Ok(_))), "node {survivor} after the kill: {login:?}");
    }
}

/// How a test takes the store away.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outage {
    /// Every PostgreSQL process stopped with SIGSTOP: sockets open, nothing answers.
    Hung,
    /// `pg_ctl stop -m fast`: connections closed, new ones refused.
    Stopped,
}

/// One request sent while the store was away: what it was, and what came back how fast.
#[derive(Debug)]
struct Answered {
    what: &'static str,
    /// Status and body, or the error when no answer came within the client's timeout.
    reply: Result<(u16, String), String>,
    took: Duration,
}

/// Sends every request at once; their answers, in order.
async fn send_all(requests: Vec<(&'static str, reqwest::RequestBuilder)>) -> Vec<Answered> {
    let sent: Vec<_> = requests.into_iter().map(|(what, request)| tokio::spawn(send(what, request))).collect();
    let mut answers = Vec::new();
    for request in sent {
        answers.push(request.await.unwrap());
    }
    answers
}

async fn send(what: &'static str, request: reqwest::RequestBuilder) -> Answered {
    let sent = Instant::now();
    let reply = match request.send().await {
        Ok(reply) => {
            let status = reply.status().as_u16();
            reply.text().await.map(|body| (status, body)).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    Answered { what, reply, took: sent.elapsed() }
}

/// Two nodes on a PostgreSQL of the test's own, which goes away (`outage`) and comes back.
/// Sessions both nodes cached keep validating until the fence (1 s without a complete read of
/// the revocation log); past it every request is answered within the store's call deadline,
/// each dialect with its own server error (never a 401); no login or logout claims success;
/// `/readyz` says the store is unavailable. When the store is back, both nodes serve again by
/// themselves: the old sessions validate, logins work, and a logout reaches the other node.
async fn nodes_ride_out_a_store_outage(outage: Outage) {
    let postgres = tollgate_store_postgres::testing::own_server();
    let store_url = postgres.database().await;
    let env = [("TOLLGATE_THROTTLE__LOGIN_PER_SECOND", "0"), ("TOLLGATE_LOCKOUT__MAX_FAILURES", "0")];
    let nodes = [node(&store_url, &env), node(&store_url, &env)];
    let [a, b] = &nodes;
    a.add_tenant("acme", "alice", USER_PASSWORD);
    let client = client_with_timeout(15);
    let (vcd_token, _, _) = vcd_login(&client, &a.url, "alice", "acme", USER_PASSWORD).await;
    let (vcd_kept, _, _) = vcd_login(&client, &a.url, "alice", "acme", USER_PASSWORD).await;
    let native_token = native_login(&client, &b.url, "acme", "alice").await.unwrap().unwrap();
    let native_kept = native_login(&client, &b.url, "acme", "alice").await.unwrap().unwrap();
    for node in &nodes {
        for token in [&vcd_token, &vcd_kept] {
            assert_eq!(session_status(&client, &node.url, token).await, 200);
        }
        for token in [&native_token, &native_kept] {
            assert_eq!(native_status(&client, &node.url, token).await, Ok(200));
        }
    }

    let vcd_check = |node: &Server, token: &str| {
        client.get(format!("{}/api/session", node.url)).header("x-vcloud-authorization", token)
    };
    let native_check =
        |node: &Server, token: &str| client.get(format!("{}/v1/sessions/current", node.url)).bearer_auth(token);
    let went = Instant::now();
    let hung = match outage {
        Outage::Hung => Some(postgres.hang()),
        Outage::Stopped => {
            postgres.stop();
            None
        }
    };
    // Within the fence: the caches answer.
    let early = send_all(vec![
        ("vcd validation on A", vcd_check(a, &vcd_token)),
        ("vcd validation on B", vcd_check(b, &vcd_token)),
        ("native validation on A", native_check(a, &native_token)),
        ("native validation on B", native_check(b, &native_token)),
    ])
    .await;
    let early_by = went.elapsed();
    println!("{outage:?}, before the fence ({early_by:?} after the outage began): {early:?}");
    for answered in &early {
        let (status, _) = answered.reply.as_ref().unwrap_or_else(|e| panic!("{}: no answer: {e}", answered.what));
        match early_by < Duration::from_millis(800) {
            true => assert_eq!(*status, 200, "{} within the fence", answered.what),
            // A slow machine took us past the fence: a server error then, still never a 401.
            false => assert!([200, 503].contains(status), "{}: {status}", answered.what),
        }
    }

    // Past the fence: the store is asked, and is not there.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(went.elapsed())).await;
    let vcd_login_request =
        |node: &Server| support::vcd_login_request(&client, &node.url, "alice", "acme", USER_PASSWORD);
    let native_login_request = |node: &Server| {
        let body = serde_json::json!({"org": "acme", "username": "alice", "password": USER_PASSWORD});
        client.post(format!("{}/v1/sessions", node.url)).json(&body)
    };
    let late = send_all(vec![
        ("vcd validation on A", vcd_check(a, &vcd_token)),
        ("vcd validation on B", vcd_check(b, &vcd_token)),
        ("native validation on A", native_check(a, &native_token)),
        ("native validation on B", native_check(b, &native_token)),
        ("vcd login on A", vcd_login_request(a)),
        ("native login on B", native_login_request(b)),
        (
            "vcd logout on B",
            client.delete(format!("{}/api/session", b.url)).header("x-vcloud-authorization", &vcd_kept),
        ),
        ("native logout on A", client.delete(format!("{}/v1/sessions/current", a.url)).bearer_auth(&native_kept)),
        ("readiness of A", client.get(format!("{}/readyz", a.url))),
    ])
    .await;
    for answered in &late {
        println!("{outage:?}, past the fence: {} -> {:?} in {:?}", answered.what, answered.reply, answered.took);
        let (status, body) = answered.reply.as_ref().unwrap_or_else(|e| panic!("{}: no answer: {e}", answered.what));
        assert!(answered.took < Duration::from_secs(10), "{} answered after {:?}", answered.what, answered.took);
        assert_eq!(*status, 503, "{}: {body}", answered.what);
        let shape = match answered.what {
            w if w.starts_with("vcd validation") || w.starts_with("vcd logout") => {
                r#"majorErrorCode="503" minorErrorCode="SERVICE_UNAVAILABLE""#
            }
            w if w.starts_with("vcd login") => r#""minorErrorCode":"SERVICE_UNAVAILABLE""#,
            w if w.starts_with("native") => r#""error":"unavailable""#,
            _ => r#""store":"unavailable""#,
        };
        assert!(body.contains(shape), "{}: {body}", answered.what);
    }
    assert_eq!(early.len() + late.len(), 13, "every request accounted for");

    drop(hung);
    if outage == Outage::Stopped {
        postgres.start_again();
    }
    let back = Instant::now();
    // Both nodes recover by themselves: the sessions from before, new logins, readiness.
    for node in &nodes {
        loop {
            let ready = client.get(format!("{}/readyz", node.url)).send().await.is_ok_and(|r| r.status() == 200);
            let vcd = session_status(&client, &node.url, &vcd_token).await;
            let native = native_status(&client, &node.url, &native_token).await;
            if ready && vcd == 200 && native == Ok(200) {
                break;
            }
            assert!(back.elapsed() < Duration::from_secs(20), "{} not recovered: {ready} {vcd} {native:?}", node.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(matches!(native_login(&client, &node.url, "acme", "alice").await, Ok(Ok(_))), "{}", node.url);
    }
    println!("{outage:?}: both nodes serving again {:?} after the store came back", back.elapsed());
    // The logouts that failed during the outage: a stopped store stored nothing; a hung one
    // may have run the statement once woken, after the node gave up on it. Either way both
    // nodes agree.
    for (token, is_vcd) in [(&vcd_kept, true), (&native_kept, false)] {
        let status = |node: &Server| {
            let url = node.url.clone();
            let client = client.clone();
            async move {
                match is_vcd {
                    true => session_status(&client, &url, token).await,
                    false => native_status(&client, &url, token).await.unwrap(),
                }
            }
        };
        let on_a = status(a).await;
        if outage == Outage::Stopped {
            assert_eq!(on_a, 200, "a logout the stopped store never stored");
        }
        let agreed = Instant::now();
        while status(b).await != on_a {
            assert!(agreed.elapsed() < Duration::from_secs(2), "the nodes disagree on a session");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // A logout on B reaches A again.
    let logout = client.delete(format!("{}/api/session", b.url)).header("x-vcloud-authorization", &vcd_token);
    assert_eq!(logout.send().await.unwrap().status(), 204);
    let sent = Instant::now();
    while session_status(&client, &a.url, &vcd_token).await != 401 {
        assert!(sent.elapsed() < Duration::from_secs(1), "node A still accepts a token logged out on B");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_postgresql_hung_cached_sessions_last_until_the_fence_then_every_dialect_says_unavailable_and_the_nodes_recover()
 {
    nodes_ride_out_a_store_outage(Outage::Hung).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_postgresql_stopped_cached_sessions_last_until_the_fence_then_every_dialect_says_unavailable_and_the_nodes_recover()
 {
    nodes_ride_out_a_store_outage(Outage::Stopped).await;
}
