//! Fault rules and the request journal against the real binary: the real clients see their
//! product's own failures (pyvcloud, bluecat-libraries, the Log Insight clients), raw HCX and
//! VCDA flows see their shapes, network faults cut the connection, a rule stays in its
//! dialect, and the journal names what fired with every secret redacted.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, binary, http, python_summary, vcd_login, venv};

/// A server that serves fault rules and keeps its journal, and an API token to drive them.
struct TestServer {
    server: Server,
    token: String,
    client: reqwest::Client,
}

impl TestServer {
    fn start(http_only: bool) -> TestServer {
        let env = vec![
            ("TOLLGATE_TESTING__FAULTS".to_owned(), "true".to_owned()),
            ("TOLLGATE_TESTING__JOURNAL".to_owned(), "true".to_owned()),
        ];
        let server = Server::start(Options { http: http_only, env, ..Options::default() });
        let token = server.cli_ok(&["token", "create", "--name", "faults", "--role", "System Administrator"], None);
        TestServer { server, token: token.trim().to_owned(), client: http() }
    }

    fn url(&self) -> &str {
        &self.server.url
    }

    /// `POST path` with a JSON body, as a dialect's client sends a login.
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.url())).json(&body).send().await.unwrap()
    }

    /// `POST /v1/admin/faults`: the status and the answer.
    async fn add_fault(&self, rule: Value) -> (u16, Value) {
        let reply = self
            .client
            .post(format!("{}/v1/admin/faults", self.url()))
            .bearer_auth(&self.token)
            .json(&rule)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    async fn fault(&self, rule: Value) {
        let (status, answer) = self.add_fault(rule).await;
        assert_eq!(status, 201, "{answer}");
    }

    async fn admin_get(&self, path_and_query: &str) -> (u16, Value) {
        let reply =
            self.client.get(format!("{}{path_and_query}", self.url())).bearer_auth(&self.token).send().await.unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    async fn faults(&self) -> Value {
        let (status, answer) = self.admin_get("/v1/admin/faults").await;
        assert_eq!(status, 200, "{answer}");
        answer["items"].clone()
    }

    async fn journal(&self, query: &str) -> Vec<Value> {
        let (status, answer) = self.admin_get(&format!("/v1/admin/journal?{query}")).await;
        assert_eq!(status, 200, "{answer}");
        answer["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_rule_with_bad_input_is_a_clear_400() {
    let server = TestServer::start(true);
    for (rule, says) in [
        (json!({"dialect": "vsphere", "status": 500}), "unknown dialect \"vsphere\""),
        (json!({"status": 99}), "status must be an error status from 400 to 599, not 99"),
        (json!({"latency_ms": -5}), "latency_ms must be from 0 to 300000 milliseconds, not -5"),
        (json!({"network": "flood"}), "unknown network fault \"flood\""),
        (json!({"status": 500, "probability": 2}), "probability must be from 0 to 1"),
        (json!({"status": 500, "colour": "red"}), "unknown field `colour`"),
        (json!({"path": "/api/*"}), "a rule needs an effect"),
    ] {
        let (status, answer) = server.add_fault(rule.clone()).await;
        assert_eq!(status, 400, "{rule}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{rule}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{rule}: {answer}");
    }
    assert_eq!(server.faults().await, json!([]));
}

#[tokio::test]
async fn fault_rules_are_for_test_servers_only() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let token = server.cli_ok(&["token", "create", "--name", "t", "--role", "System Administrator"], None);
    let reply = http()
        .post(format!("{}/v1/admin/faults", server.url))
        .bearer_auth(token.trim())
        .json(&json!({"status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 409);
    let answer: Value = reply.json().await.unwrap();
    assert!(answer["message"].as_str().unwrap().contains("test server only"), "{answer}");
}

#[tokio::test]
async fn pyvcloud_gets_its_exception_for_a_forced_5xx_exactly_twice_then_succeeds() {
    let Some(venv) = venv() else { return };
    let server = TestServer::start(false);
    server.fault(json!({"name": "orgs-down", "dialect": "vcd", "method": "GET", "path": "/api/org**", "status": 500, "times": 2})).await;
    let args = ["--url", server.url(), "--org", "System", "--user", "administrator", "--password", ADMIN_PASSWORD];
    let seen = python_summary(&venv, "vcd/pyvcloud_faults.py", &[&args[..], &["--reads", "3"]].concat());
    let refused = json!({"exception": "InternalServerException", "status": 500,
                         "minor_error_code": "INTERNAL_SERVER_ERROR", "message": "An internal error occurred."});
    assert_eq!(seen["reads"], json!([refused, refused, "ok"]), "{seen}");
    let rules = server.faults().await;
    assert_eq!((rules[0]["fired"].clone(), rules[0]["remaining"].clone()), (json!(2), json!(0)), "{rules}");
    let fired = server.journal("fault=orgs-down").await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert!(
        fired.iter().all(|e| e["status"] == 500 && e["path"].as_str().unwrap().starts_with("/api/org")),
        "{fired:?}"
    );
}

#[tokio::test]
async fn bluecat_libraries_raises_its_error_type_for_a_forced_500() {
    let Some(venv) = venv() else { return };
    let server = TestServer::start(false);
    server
        .fault(json!({"dialect": "bluecat", "method": "GET", "path": "/api/v2/users", "status": 500, "times": 1}))
        .await;
    let args = ["--url", server.url(), "--user", "administrator", "--password", ADMIN_PASSWORD, "--reads", "2"];
    let seen = python_summary(&venv, "bluecat/bluecat_faults.py", &args);
    let refused = json!({"exception": "BAMV2ErrorResponse", "status": 500, "reason": "Internal Server Error",
                         "code": "InternalServerError", "message": "An internal error occurred"});
    assert_eq!(seen["reads"], json!([refused, "ok"]), "{seen}");
}

#[tokio::test]
async fn pyloginsight_logs_in_again_after_a_forced_440() {
    let Some(venv) = venv() else { return };
    let server = TestServer::start(false);
    // The first two reads of the session are the client's own login dance; the third gets 440.
    let rule = json!({"dialect": "loginsight", "method": "GET", "path": "/api/v1/sessions/current",
                      "status": 440, "skip": 2, "times": 1});
    server.fault(rule).await;
    let args = ["--url", server.url(), "--user", "administrator", "--password", ADMIN_PASSWORD, "--reads", "3"];
    let seen = python_summary(&venv, "loginsight/pyloginsight_faults.py", &args);
    assert_eq!(seen["failed"], Value::Null, "{seen}");
    assert_eq!(
        seen["requests"],
        json!([
            "GET /api/v1/sessions/current -> 401",
            "POST /api/v1/sessions -> 200",
            "GET /api/v1/sessions/current [Bearer] -> 200",
            "GET /api/v1/sessions/current [Bearer] -> 440",
            "POST /api/v1/sessions -> 200",
            "GET /api/v1/sessions/current [Bearer] -> 200",
            "GET /api/v1/sessions/current [Bearer] -> 200",
        ]),
        "{seen}"
    );
}

#[tokio::test]
async fn the_log_insight_clients_see_the_bootstrap_503_of_a_forced_state() {
    let Some(venv) = venv() else { return };
    let server = TestServer::start(false);
    server.fault(json!({"dialect": "loginsight", "state": "not_initialised"})).await;
    let args = ["--url", server.url(), "--user", "administrator", "--password", "x", "--expect", "not-bootstrapped"];
    for script in ["loginsight/pyloginsight_flow.py", "loginsight/aria_logs_flow.py", "loginsight/log_insight_flow.py"]
    {
        let seen = python_summary(&venv, script, &args);
        assert_eq!(seen["status"], 503, "{script}: {seen}");
    }
    // BlueCat shares /api/v2 with Log Insight on this listener, and is not touched.
    let reply = server.post("/api/v2/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status(), 201, "BlueCat's login");
}

#[tokio::test]
async fn raw_hcx_vcda_and_vcd_flows_see_their_shapes_and_no_other_dialect_does() {
    let server = TestServer::start(true);
    server.fault(json!({"dialect": "hcx", "status": 500})).await;
    server.fault(json!({"dialect": "vcda", "method": "POST", "path": "/sessions", "status": 503})).await;
    server.fault(json!({"dialect": "vcd", "path": "/cloudapi/**", "status": 502, "times": 1})).await;
    let client = http();
    let url = server.url();
    let credentials = json!({"username": "administrator", "password": ADMIN_PASSWORD});

    let reply = server.post("/hybridity/api/sessions", credentials).await;
    assert_eq!(reply.status(), 500);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        (&body["success"], &body["completed"], &body["version"], &body["errorCode"], &body["error"]),
        (
            &json!(false),
            &json!(false),
            &json!("1.0"),
            &json!("INTERNAL_SERVER_ERROR"),
            &json!("Exception while performing auth")
        ),
        "{body}"
    );

    let reply =
        server.post("/sessions", json!({"type": "LOCAL", "user": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status(), 503);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"args": [], "code": "GeneralServerFailure", "msg": "An internal error occurred.", "stacktrace": null})
    );

    let reply =
        support::vcd_login_request(&client, url, "administrator", "System", ADMIN_PASSWORD).send().await.unwrap();
    assert_eq!(reply.status(), 502);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["minorErrorCode"], "INTERNAL_SERVER_ERROR", "{body}");
    // Once only: the next login goes through, and the XML side was never touched.
    let (vcloud_token, _, _) = vcd_login(&client, url, "administrator", "System", ADMIN_PASSWORD).await;
    assert_eq!(support::session_status(&client, url, &vcloud_token).await, 200);

    // No other dialect sees any of it.
    let (status, _) = support::native_login(&client, url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201);
    let reply = server.post("/api/v2/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status(), 201, "BlueCat");
    let reply = server
        .post("/api/v1/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD, "provider": "Local"}))
        .await;
    assert_eq!(reply.status(), 200, "Log Insight");
}

#[tokio::test]
async fn forced_states_expire_the_session_and_lock_the_login() {
    let server = TestServer::start(true);
    let client = http();
    let url = server.url();
    let reply = server
        .post("/api/v1/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD, "provider": "Local"}))
        .await;
    let token = reply.json::<Value>().await.unwrap()["sessionId"].as_str().unwrap().to_owned();
    server.fault(json!({"dialect": "loginsight", "path": "/api/v1/sessions/current", "state": "session_expired", "times": 1})).await;
    server
        .fault(
            json!({"dialect": "hcx", "method": "POST", "path": "/hybridity/api/sessions", "state": "account_locked"}),
        )
        .await;

    // The session ends on this use, and stays ended: Log Insight's 440 both times.
    for _ in 0..2 {
        let reply = client.get(format!("{url}/api/v1/sessions/current")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(reply.status(), 440);
        assert_eq!(reply.text().await.unwrap(), "Login Timeout");
    }
    let reply =
        server.post("/hybridity/api/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status(), 401);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["errorCode"], "INVALID_CREDENTIALS", "{body}");
    assert_eq!(body["error"], "Account locked due to failed login attempts", "{body}");
}

/// Sends `GET path` on a new plain connection to `url` and reads until the server closes it
/// or `wait` passes: what arrived, and how reading ended.
fn raw_get(url: &str, path: &str, wait: Duration) -> (Vec<u8>, std::io::Result<()>) {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => return (received, Err(e)),
        }
    }
}

#[tokio::test]
async fn network_faults_cut_hang_and_slow_the_connection() {
    let server = TestServer::start(true);
    let url = server.url().to_owned();
    for (path, network) in [
        ("/api/versions", "reset"),
        ("/api/v1/version", "empty_reply"),
        ("/diagnostics/about", "malformed_chunk"),
        ("/api/v2/settings", "hang"),
        ("/v1/sessions/current", "slow_drip"),
    ] {
        server.fault(json!({"path": path, "network": network})).await;
    }
    server.fault(json!({"path": "/hybridity/api/sessions", "latency_ms": 700, "jitter_ms": 100})).await;

    let blocking = move |path: &'static str, wait: Duration| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || raw_get(&url, path, wait))
    };
    let (bytes, ended) = blocking("/api/versions", Duration::from_secs(5)).await.unwrap();
    assert!(bytes.is_empty(), "reset: {:?}", String::from_utf8_lossy(&bytes));
    assert_eq!(ended.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);

    let (bytes, ended) = blocking("/api/v1/version", Duration::from_secs(5)).await.unwrap();
    assert!(bytes.is_empty() && ended.is_ok(), "empty reply: {:?} {ended:?}", String::from_utf8_lossy(&bytes));

    let (bytes, ended) = blocking("/diagnostics/about", Duration::from_secs(5)).await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(ended.is_ok() && text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "the last chunk never comes: {text}");

    let started = Instant::now();
    let (bytes, ended) = blocking("/api/v2/settings", Duration::from_secs(2)).await.unwrap();
    assert!(bytes.is_empty(), "hang: {:?}", String::from_utf8_lossy(&bytes));
    assert!(matches!(ended.unwrap_err().kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    assert!(started.elapsed() >= Duration::from_secs(2));

    // A slow drip: the 401's JSON body arrives 16 bytes a second.
    let started = Instant::now();
    let (bytes, ended) = blocking("/v1/sessions/current", Duration::from_secs(30)).await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(ended.is_ok() || text.contains("invalid_token"), "{text}");
    let body_length = text.split("\r\n\r\n").nth(1).unwrap_or_default().len() as u64;
    assert!(body_length > 32, "{text}");
    assert!(
        started.elapsed() >= Duration::from_secs(body_length / 16 - 1),
        "{:?} for {body_length} bytes",
        started.elapsed()
    );

    let started = Instant::now();
    let reply =
        server.post("/hybridity/api/sessions", json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status(), 200, "latency only delays");
    assert!(started.elapsed() >= Duration::from_millis(700), "{:?}", started.elapsed());

    let journal = server.journal("fault=*").await;
    let unanswered: Vec<_> = journal.iter().filter(|e| e.get("status").is_none()).map(|e| e["path"].clone()).collect();
    assert_eq!(
        unanswered,
        [json!("/api/versions"), json!("/api/v1/version"), json!("/api/v2/settings")],
        "{journal:?}"
    );
}

#[tokio::test]
async fn the_journal_redacts_secrets_verifies_counts_and_names_the_route_a_request_missed() {
    let server = TestServer::start(true);
    let client = http();
    let url = server.url();
    let (vcloud_token, access_token, _) = vcd_login(&client, url, "administrator", "System", ADMIN_PASSWORD).await;
    let reply = client
        .delete(format!("{url}/api/session"))
        .header("x-vcloud-authorization", &vcloud_token)
        .header("cookie", format!("vcloud-token={access_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 204);
    let reply = client.get(format!("{url}/cloudapi/1.0.0/session")).send().await.unwrap();
    assert_eq!(reply.status(), 404);

    let (status, answer) = server.admin_get("/v1/admin/journal").await;
    assert_eq!(status, 200, "{answer}");
    let everything = answer.to_string();
    for secret in [ADMIN_PASSWORD, vcloud_token.as_str(), access_token.as_str()] {
        assert!(!everything.contains(secret), "a secret in the journal: {everything}");
    }
    let entries = answer["items"].as_array().unwrap();
    let login = entries.iter().find(|e| e["method"] == "POST").unwrap();
    assert_eq!(login["user"], "administrator", "{login}");
    assert_eq!(login["dialect"], "vcd", "{login}");
    assert!(login["headers"].as_array().unwrap().contains(&json!(["authorization", "[redacted]"])), "{login}");
    let missed = entries.iter().find(|e| e["status"] == 404).unwrap();
    assert_eq!(missed["closest_route"], "/cloudapi/1.0.0/sessions", "{missed}");

    // Verify: exactly one login and one logout by the administrator.
    for query in ["user=administrator&method=POST&expect=1", "user=administrator%40System&method=DELETE&expect=1"] {
        let (status, answer) = server.admin_get(&format!("/v1/admin/journal/count?{query}")).await;
        assert_eq!((status, answer["count"].clone()), (200, json!(1)), "{query}: {answer}");
    }
    let (status, answer) = server.admin_get("/v1/admin/journal/count?user=administrator&method=POST&expect=2").await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["message"], "Expected 2 request(s) matching method=POST, user=administrator, found 1.");
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_rules_and_reads_the_journal() {
    let server = TestServer::start(true);
    let remote = |args: &[&str]| {
        let output = std::process::Command::new(binary())
            .args(args)
            .args(["--url", server.url(), "--token", &server.token])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) =
        remote(&["fault", "add", "--name", "down", "--dialect", "native", "--status", "503", "--times", "1"]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["name"], "down");
    let (ok, _, err) = remote(&["fault", "add", "--status", "99"]);
    assert!(!ok && err.contains("status must be an error status"), "{err}");

    let reply = http().get(format!("{}/v1/sessions/current", server.url())).send().await.unwrap();
    assert_eq!(reply.status(), 503);
    let (ok, out, err) = remote(&["fault", "list"]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "down");
    let (ok, out, err) = remote(&["journal", "--fault", "down", "--count"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
    let (ok, _, err) = remote(&["journal", "--fault", "down", "--expect", "2"]);
    assert!(!ok && err.contains("Expected 2 request(s) matching fault=down, found 1."), "{err}");
    let (ok, _, err) = remote(&["fault", "remove", "down"]);
    assert!(ok, "{err}");
    let (ok, out, _) = remote(&["fault", "list"]);
    assert!(ok && serde_json::from_str::<Value>(&out).unwrap() == json!([]), "{out}");
}
