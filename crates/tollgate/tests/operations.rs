//! What an operator scrapes and probes on the real binary: `/metrics` linted by the real
//! `promtool`, its counters moving with real requests, `/readyz`, and metrics on a listener of
//! their own.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, http, native_login, tool};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The scrape, and each sample's value by its series (`name{labels}`, as rendered).
async fn scrape(client: &reqwest::Client, url: &str) -> (String, HashMap<String, f64>) {
    let reply = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = reply.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse::<f64>().unwrap())
        })
        .collect();
    (text, samples)
}

/// How much `series` grew between two scrapes (absent counts as 0).
fn grew(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

/// `promtool check metrics` on `scrape`: its exit status and what it said.
fn promtool(promtool: &std::path::Path, scrape: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}

#[tokio::test]
async fn a_real_scrape_passes_promtool_and_its_counters_follow_the_requests() {
    let Some(promtool_path) = tool("promtool") else { return };
    let server = Server::start(Options {
        http: true,
        env: env(&[
            ("TOLLGATE_LOCKOUT__MAX_FAILURES", "2"),
            ("TOLLGATE_THROTTLE__UNKNOWN_TOKEN_BURST", "2"),
            ("TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND", "0.01"),
            ("TOLLGATE_SESSIONS__SWEEP_INTERVAL_SECONDS", "1"),
        ]),
        ..Options::default()
    });
    server.add_tenant("org1", "alice", "alice-pw-1");
    let (client, url) = (http(), server.url.as_str());
    let (_, before) = scrape(&client, url).await;

    let (status, login) = native_login(&client, url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201);
    let token = login["token"].as_str().unwrap();
    for _ in 0..2 {
        let reply = client.get(format!("{url}/v1/sessions/current")).bearer_auth(token).send().await.unwrap();
        assert_eq!(reply.status(), 200);
    }
    // Two wrong passwords from one address lock alice out for it.
    for _ in 0..2 {
        assert_eq!(native_login(&client, url, "org1", "alice", "wrong-password").await.0, 401);
    }
    // Tokens nobody issued: two are looked up, the third is throttled.
    let unknown: Vec<u16> = {
        let mut statuses = Vec::new();
        for n in 0..3 {
            let reply = client
                .get(format!("{url}/v1/sessions/current"))
                .bearer_auth(format!("not-a-token-{n}"))
                .send()
                .await
                .unwrap();
            statuses.push(reply.status().as_u16());
        }
        statuses
    };
    assert_eq!(unknown, [401, 401, 429]);
    let missing = client.get(format!("{url}/v1/no-such-thing/12345")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let (text, after) = scrape(&client, url).await;
    let (linted, said) = promtool(&promtool_path, &text);
    assert!(linted, "promtool check metrics refused the scrape:\n{said}\n{text}");
    assert_eq!(said.trim(), "", "promtool found problems:\n{said}");

    let requests = |route: &str, status: u16| {
        grew(
            &before,
            &after,
            &format!(r#"tollgate_http_requests_total{{dialect="native",route="{route}",status="{status}"}}"#),
        )
    };
    assert_eq!(requests("/v1/sessions", 201), 1.0);
    assert_eq!(requests("/v1/sessions", 401), 2.0);
    assert_eq!(requests("/v1/sessions/current", 200), 2.0);
    assert_eq!(requests("/v1/sessions/current", 401), 2.0);
    assert_eq!(requests("/v1/sessions/current", 429), 1.0);
    assert_eq!(requests("unmatched", 404), 1.0, "an unknown path is counted without its ids");
    assert!(!text.contains("12345") && !text.contains("no-such-thing"), "no raw path reaches a label:\n{text}");

    let logins = |outcome: &str| {
        grew(
            &before,
            &after,
            &format!(r#"tollgate_logins_total{{dialect="native",source="local",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(logins("success"), 1.0);
    assert_eq!(logins("wrong_password"), 2.0);
    assert_eq!(grew(&before, &after, r#"tollgate_lockouts_total{scope="address"}"#), 1.0);
    assert_eq!(grew(&before, &after, r#"tollgate_throttled_total{what="unknown_token"}"#), 1.0);
    assert!(grew(&before, &after, r#"tollgate_session_cache_lookups_total{result="hit"}"#) >= 1.0);
    assert_eq!(grew(&before, &after, r#"tollgate_session_cache_lookups_total{result="miss"}"#), 2.0);
    // The login, two failures and alice's creation each waited for a hashing thread.
    assert!(grew(&before, &after, "tollgate_password_hash_wait_seconds_count") >= 3.0);
    assert_eq!(after["tollgate_password_hash_queue_depth"], 0.0);
    assert_eq!(after[&format!(r#"tollgate_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))], 1.0);

    // Every store call is timed by operation; none failed.
    let store_calls = |operation: &str| {
        grew(&before, &after, &format!(r#"tollgate_store_operation_duration_seconds_count{{operation="{operation}"}}"#))
    };
    assert_eq!(store_calls("insert_session"), 1.0);
    // The server holds its store alone, so it learnt the live tokens (at its first sweep) and
    // refuses unknown ones without asking the store; timed like any other call.
    let learnt = r#"tollgate_store_operation_duration_seconds_count{operation="live_token_digests"}"#;
    assert!(after.get(learnt).is_some_and(|n| *n >= 1.0), "{text}");
    assert!(store_calls("reserve_attempt") >= 2.0);
    assert!(
        after.iter().filter(|(series, _)| series.starts_with("tollgate_store_errors_total")).all(|(_, n)| *n == 0.0)
    );
    // The sweep (every second here) counts the live sessions by dialect.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (text, now) = scrape(&client, url).await;
        if now.get(r#"tollgate_sessions_live{dialect="native"}"#) == Some(&1.0) {
            let (linted, said) = promtool(&promtool_path, &text);
            assert!(linted && said.trim().is_empty(), "promtool on the scrape with the gauge:\n{said}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no live native session counted: {now:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn metrics_on_a_listener_of_their_own_leave_the_shared_one() {
    let server = Server::start(Options {
        http: true,
        env: env(&[("TOLLGATE_METRICS__LISTEN", "[\"127.0.0.1:0\"]")]),
        ..Options::default()
    });
    let client = http();
    let shared = client.get(format!("{}/metrics", server.url)).send().await.unwrap();
    assert_eq!(shared.status(), 404);
    let body: Value = shared.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "answered in Tollgate's own shape");
    let index: Value = client.get(&server.url).send().await.unwrap().json().await.unwrap();
    assert_eq!(index.get("metrics"), None, "the shared listener's index does not offer it");

    let own = server.dialect_url("metrics");
    let (text, samples) = scrape(&client, own).await;
    assert!(text.contains("# TYPE tollgate_http_requests_total counter"), "{text}");
    assert!(samples.contains_key(r#"tollgate_http_requests_total{dialect="none",route="unmatched",status="404"}"#));
    let ready = client.get(format!("{own}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let login = client.post(format!("{own}/v1/sessions")).send().await.unwrap();
    assert_eq!(login.status(), 404, "the metrics listener serves no dialect");
}

#[tokio::test]
async fn readyz_waits_for_the_bootstrap_while_healthz_says_alive() {
    let server = Server::start(Options { http: true, no_bootstrap: true, ..Options::default() });
    let client = http();
    let ready = client.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, json!({"status": "not_ready", "checks": {"store": "ok", "initialised": false}}));
    assert_eq!(client.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);

    server.cli_ok(&["bootstrap", "--password-stdin"], Some(ADMIN_PASSWORD));
    let ready = client.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, json!({"status": "ready", "checks": {"store": "ok", "initialised": true}}));
}

#[tokio::test]
async fn json_logs_carry_each_requests_context_and_never_a_token() {
    let server = Server::start(Options {
        http: true,
        env: env(&[("TOLLGATE_LOG_FORMAT", "json"), ("TOLLGATE_LOG", "info,tollgate_dialects::envelope=debug")]),
        ..Options::default()
    });
    let (client, url) = (http(), server.url.as_str());
    let (status, login) = native_login(&client, url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201);
    let (token, session_id) = (login["token"].as_str().unwrap(), login["session"]["id"].as_str().unwrap());
    let current = client
        .get(format!("{url}/v1/sessions/current"))
        .bearer_auth(token)
        .header("x-request-id", "trace-ok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
    let refused =
        client.get(format!("{url}/api/session")).header("x-vmware-vcloud-client-request-id", "trace-refused-1");
    assert_eq!(refused.send().await.unwrap().status(), 401);

    let log = server.log();
    assert!(!log.contains(token), "a token reached the log");
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let line_of = |correlation_id: &str| {
        lines
            .iter()
            .find(|line| line["fields"]["correlation_id"] == correlation_id)
            .unwrap_or_else(|| panic!("no line for {correlation_id} in:\n{log}"))
    };
    let ok = line_of("trace-ok-1");
    assert!(ok["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{ok}");
    assert_eq!(ok["level"], "DEBUG");
    assert_eq!(ok["target"], "tollgate_dialects::envelope");
    assert_eq!(ok["fields"]["dialect"], "native");
    assert_eq!(ok["fields"]["session_id"], session_id, "the session the token named, not the token");
    assert_eq!(ok["fields"]["client"], "127.0.0.1");
    assert_eq!(ok["fields"]["status"], 200);
    assert!(ok["fields"]["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{ok}");
    let refused = line_of("trace-refused-1");
    assert_eq!(refused["level"], "INFO");
    assert_eq!(refused["fields"]["dialect"], "vcd");
    assert_eq!(refused["fields"]["code"], "invalid_token");
    assert_eq!(refused["fields"]["client"], "127.0.0.1");
    assert!(refused["fields"]["latency_ms"].is_number());
    let audit = lines.iter().find(|line| line["fields"]["event"] == "login").expect("the login's audit event");
    assert_eq!(audit["target"], "audit");
    assert_eq!(audit["fields"]["session_id"], session_id);
}
