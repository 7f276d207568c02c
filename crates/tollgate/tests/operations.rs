//! What an operator scrapes and probes on the real binary: `/metrics` linted by the real
//! `promtool`, its counters moving with real requests (logins through a real `slapd` among
//! them), `/readyz` with the store stopped or hung and with an identity source down, JSON log
//! lines, and metrics on a listener of their own.

#[path = "../../tollgate-source-ldap/tests/support/mod.rs"]
mod directories;
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use directories::{Slapd, installed, unreachable_source_table};
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, http, native_login, tool};

const SLAPD: &[&str] = &["slapd", "slapadd", "ldapadd"];

/// Every metric family Tollgate exports, as a scrape after logins, failures and directory
/// calls carries it.
const FAMILIES: &[(&str, &str)] = &[
    ("tollgate_http_requests_total", "counter"),
    ("tollgate_http_request_duration_seconds", "histogram"),
    ("tollgate_logins_total", "counter"),
    ("tollgate_session_cache_lookups_total", "counter"),
    ("tollgate_sessions_live", "gauge"),
    ("tollgate_lockouts_total", "counter"),
    ("tollgate_throttled_total", "counter"),
    ("tollgate_password_hash_queue_depth", "gauge"),
    ("tollgate_password_hash_wait_seconds", "histogram"),
    ("tollgate_store_operation_duration_seconds", "histogram"),
    ("tollgate_store_errors_total", "counter"),
    ("tollgate_identity_source_duration_seconds", "histogram"),
    ("tollgate_identity_source_errors_total", "counter"),
    ("tollgate_audit_events_total", "counter"),
    ("tollgate_build_info", "gauge"),
];

/// A configuration file in a temporary directory: org `corp`'s users in `slapd` (when given),
/// org `gone`'s in a directory nobody answers for; `TOLLGATE_CONFIG` names it.
fn directories_config(slapd: Option<&Slapd>) -> (tempfile::TempDir, (String, String)) {
    let dir = tempfile::tempdir().unwrap();
    let corp = slapd.map_or_else(String::new, |slapd| slapd.server_source_table("corp"));
    let config = format!(
        r#"{corp}{down}
[org_sources]
{corp_org}gone = "down"
"#,
        down = unreachable_source_table("down"),
        corp_org = if slapd.is_some() { "corp = \"corp\"\n" } else { "" },
    );
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, config).unwrap();
    let env = ("TOLLGATE_CONFIG".to_owned(), path.display().to_string());
    (dir, env)
}

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
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let (_config, config_env) = directories_config(Some(&slapd));
    let mut server_env = env(&[
        ("TOLLGATE_LOCKOUT__MAX_FAILURES", "2"),
        ("TOLLGATE_THROTTLE__UNKNOWN_TOKEN_BURST", "2"),
        ("TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND", "0.01"),
        ("TOLLGATE_SESSIONS__SWEEP_INTERVAL_SECONDS", "1"),
    ]);
    server_env.push(config_env);
    let server = Server::start(Options { http: true, env: server_env, ..Options::default() });
    server.add_tenant("org1", "alice", "alice-pw-1");
    server.cli_ok(&["org", "add", "corp"], None);
    server.cli_ok(&["org", "add", "gone"], None);
    let (client, url) = (http(), server.url.as_str());
    let (_, before) = scrape(&client, url).await;

    let (status, login) = native_login(&client, url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201);
    let token = login["token"].as_str().unwrap();
    for _ in 0..2 {
        let reply = client.get(format!("{url}/v1/sessions/current")).bearer_auth(token).send().await.unwrap();
        assert_eq!(reply.status(), 200);
    }
    // Two wrong passwords from one address lock alice out for it; the third try is refused
    // as locked, her right password or not.
    for _ in 0..2 {
        assert_eq!(native_login(&client, url, "org1", "alice", "wrong-password").await.0, 401);
    }
    assert_eq!(native_login(&client, url, "org1", "alice", "alice-pw-1").await.0, 401);
    // The directory's alice logs in to corp through slapd; gone's directory does not answer.
    assert_eq!(native_login(&client, url, "corp", "alice", "alice-pw-1").await.0, 201);
    assert_eq!(native_login(&client, url, "gone", "carol", "carol-pw-1").await.0, 503);
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
    assert_eq!(requests("/v1/sessions", 201), 2.0);
    assert_eq!(requests("/v1/sessions", 401), 3.0);
    assert_eq!(requests("/v1/sessions", 503), 1.0);
    assert_eq!(requests("/v1/sessions/current", 200), 2.0);
    assert_eq!(requests("/v1/sessions/current", 401), 2.0);
    assert_eq!(requests("/v1/sessions/current", 429), 1.0);
    assert_eq!(requests("unmatched", 404), 1.0, "an unknown path is counted without its ids");
    assert!(!text.contains("12345") && !text.contains("no-such-thing"), "no raw path reaches a label:\n{text}");
    // Each request's latency, by status class: the histogram counts what the counters count.
    let timed = |route: &str, class: &str| {
        grew(
            &before,
            &after,
            &format!(
                r#"tollgate_http_request_duration_seconds_count{{dialect="native",route="{route}",status_class="{class}"}}"#
            ),
        )
    };
    assert_eq!(timed("/v1/sessions", "2xx"), 2.0);
    assert_eq!(timed("/v1/sessions", "4xx"), 3.0);
    assert_eq!(timed("/v1/sessions", "5xx"), 1.0);
    assert_eq!(timed("/v1/sessions/current", "4xx"), 3.0, "the 401s and the 429");

    let logins = |outcome: &str| {
        grew(
            &before,
            &after,
            &format!(r#"tollgate_logins_total{{dialect="native",source="local",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(logins("success"), 1.0);
    assert_eq!(logins("wrong_password"), 2.0);
    assert_eq!(logins("locked"), 1.0, "the locked-out answer is counted");
    let directory_logins = |source: &str, outcome: &str| {
        let series = format!(r#"tollgate_logins_total{{dialect="native",source="{source}",outcome="{outcome}"}}"#);
        grew(&before, &after, &series)
    };
    assert_eq!(directory_logins("corp", "success"), 1.0);
    assert_eq!(directory_logins("down", "source_unavailable"), 1.0);
    assert_eq!(grew(&before, &after, r#"tollgate_lockouts_total{scope="address"}"#), 1.0);
    assert_eq!(grew(&before, &after, r#"tollgate_throttled_total{what="unknown_token"}"#), 1.0);
    assert!(grew(&before, &after, r#"tollgate_session_cache_lookups_total{result="hit"}"#) >= 1.0);
    assert_eq!(grew(&before, &after, r#"tollgate_session_cache_lookups_total{result="miss"}"#), 2.0);
    // The login, two failures and alice's creation each waited for a hashing thread.
    assert!(grew(&before, &after, "tollgate_password_hash_wait_seconds_count") >= 3.0);
    assert_eq!(after["tollgate_password_hash_queue_depth"], 0.0);
    assert_eq!(after[&format!(r#"tollgate_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))], 1.0);

    // Each identity source's checks are timed by source and kind; the one nobody answers for
    // counts an error. The locked-out try never reached a source.
    let checks = |source: &str, kind: &str| {
        let series = format!(r#"tollgate_identity_source_duration_seconds_count{{source="{source}",kind="{kind}"}}"#);
        grew(&before, &after, &series)
    };
    assert_eq!(checks("local", "local"), 3.0, "the administrator's login and alice's two guesses");
    assert_eq!(checks("corp", "ldap"), 1.0);
    assert_eq!(checks("down", "ldap"), 1.0);
    let source_errors = |source: &str, error: &str| {
        let series =
            format!(r#"tollgate_identity_source_errors_total{{source="{source}",kind="ldap",error="{error}"}}"#);
        grew(&before, &after, &series)
    };
    assert_eq!(source_errors("down", "unavailable"), 1.0);
    assert_eq!(source_errors("corp", "unavailable"), 0.0);

    // Every store call is timed by operation; none failed.
    let store_calls = |operation: &str| {
        grew(&before, &after, &format!(r#"tollgate_store_operation_duration_seconds_count{{operation="{operation}"}}"#))
    };
    assert_eq!(store_calls("insert_session"), 2.0, "the administrator's session and the directory alice's");
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
        if now.get(r#"tollgate_sessions_live{dialect="native"}"#) == Some(&2.0) {
            let (linted, said) = promtool(&promtool_path, &text);
            assert!(linted && said.trim().is_empty(), "promtool on the scrape with the gauge:\n{said}");
            // That scrape, which promtool passed, carries every family.
            for (family, kind) in FAMILIES {
                assert!(text.contains(&format!("# TYPE {family} {kind}\n")), "{family} ({kind}) missing:\n{text}");
            }
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the two live native sessions not counted: {now:?}");
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
    assert_eq!(
        body,
        json!({"status": "not_ready", "checks": {"store": "ok", "initialised": false, "sources": {"local": "ok"}}})
    );
    assert_eq!(client.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);

    server.cli_ok(&["bootstrap", "--password-stdin"], Some(ADMIN_PASSWORD));
    let ready = client.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {"store": "ok", "initialised": true, "sources": {"local": "ok"}}})
    );
}

/// `/readyz` of `server`: its status, its body, and how long it took.
async fn readiness(client: &reqwest::Client, server: &Server) -> (u16, Value, Duration) {
    let started = Instant::now();
    let reply = client.get(format!("{}/readyz", server.url)).send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap(), started.elapsed())
}

/// Asks `/readyz` until it says ready (the store's connections come back on their own).
async fn until_ready(client: &reqwest::Client, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body, _) = readiness(client, server).await;
        if status == 200 {
            assert_eq!(body["status"], "ready", "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "not ready again: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readyz_takes_the_node_out_while_its_store_is_stopped_or_hung_and_healthz_stays_alive() {
    let postgres = tollgate_store_postgres::testing::own_server();
    let server = support::cluster::node(&postgres.database().await, &[]);
    let client = http();
    let (status, body, _) = readiness(&client, &server).await;
    let ready = json!({"status": "ready", "checks": {"store": "ok", "initialised": true, "sources": {"local": "ok"}}});
    assert_eq!((status, &body), (200, &ready));

    postgres.stop();
    let (status, body, _) = readiness(&client, &server).await;
    let down = json!({"status": "not_ready", "checks": {"store": "unavailable", "initialised": false, "sources": {"local": "ok"}}});
    assert_eq!((status, &body), (503, &down));
    let alive = client.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(alive.status(), 200, "the process still serves: no restart wanted");
    postgres.start_again();
    until_ready(&client, &server).await;

    // A store that holds the connection and never answers: the probe gives up in time.
    let hung = postgres.hang();
    let (status, body, took) = readiness(&client, &server).await;
    drop(hung);
    assert_eq!((status, &body), (503, &down));
    assert!(took < Duration::from_secs(4), "readiness waited {took:?} for a hung store");
    until_ready(&client, &server).await;
}

#[tokio::test]
async fn readyz_names_an_unreachable_identity_source_as_degraded_and_keeps_the_node_in() {
    let slapd = installed(SLAPD).then(Slapd::start);
    let (_config, config_env) = directories_config(slapd.as_ref());
    let server = Server::start(Options { http: true, env: vec![config_env], ..Options::default() });
    let client = http();
    let (status, body, took) = readiness(&client, &server).await;
    let mut sources = json!({"local": "ok", "down": "unavailable"});
    if slapd.is_some() {
        sources["corp"] = json!("ok");
    }
    let degraded = json!({"status": "degraded", "checks": {"store": "ok", "initialised": true, "sources": sources}});
    assert_eq!((status, &body), (200, &degraded), "every node shares the directory: this one stays in");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Why goes to the operator's log, not to whoever can reach /readyz.
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    let log = server.log();
    let line = log
        .lines()
        .find(|line| line.contains("an identity source cannot be reached"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("down") && line.contains("127.0.0.1"), "{line}");
    // Probes in quick succession are answered from the last check: the directory is asked once.
    for _ in 0..5 {
        assert_eq!(readiness(&client, &server).await.1, degraded);
    }
    let asked = server.log().matches("an identity source cannot be reached").count();
    assert_eq!(asked, 1, "{}", server.log());
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
