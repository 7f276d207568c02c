//! BlueCat and Log Insight driven by their real, unmodified clients from PyPI:
//! bluecat-libraries 26.1.0, pyloginsight-fork, vmware-aria-logs and vmware-log-insight.
//! Each driver prints a JSON summary of what its client saw; the facts are checked here.

mod support;

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, python, python_summary, venv};

const LOG_INSIGHT_CLIENTS: [&str; 3] =
    ["loginsight/pyloginsight_flow.py", "loginsight/aria_logs_flow.py", "loginsight/log_insight_flow.py"];

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn bluecat_libraries_logs_in_reads_and_logs_out() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    let seen = bluecat_flow(&venv, &server.url, "administrator", ADMIN_PASSWORD, &["--expect", "ok"]);
    assert_eq!(seen["user"], "administrator", "{seen}");
    assert_eq!(seen["login_state"], "LOGGED_IN", "{seen}");
    assert_eq!(seen["login_read_only"], false, "{seen}");
    assert_eq!(seen["basic_decodes_to_user"], "administrator", "basicAuthenticationCredentials: {seen}");
    assert_eq!(seen["current_id_matches"], true, "{seen}");
    assert_eq!(seen["bearer_status"], 200, "Bearer <apiToken> works: {seen}");
    assert_eq!(seen["users_is_collection"], true, "{seen}");
    assert_eq!(seen["state_after_logout"], "LOGGED_OUT", "{seen}");
    assert!(seen["logoutDateTime"].as_str().is_some_and(|t| t.ends_with('Z')), "{seen}");
    assert_eq!(seen["read_only_probes"], json!([]), "{seen}");
    assert_old_credentials_refused(&seen["after_logout"]);
}

#[test]
fn bluecat_read_only_session_reads_but_writes_get_403_read_only_session() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_user("System", "reader", "vApp User", "reader-pw");
    let seen = bluecat_flow(&venv, &server.url, "reader", "reader-pw", &["--read-only", "--expect", "ok"]);
    assert_eq!(seen["login_read_only"], true, "the session says readOnly: {seen}");
    assert_eq!(seen["client_is_read_only"], true, "{seen}");
    assert_eq!(
        seen["read_only_probes"],
        json!([
            {"request": "POST /users", "status": 403, "code": "ReadOnlySession"},
            {"request": "PATCH /sessions/{other}", "status": 403, "code": "ReadOnlySession"},
        ]),
        "{seen}"
    );
    // Its own logout is the one write it may do.
    assert_eq!(seen["state_after_logout"], "LOGGED_OUT", "{seen}");
    assert_old_credentials_refused(&seen["after_logout"]);
}

#[test]
fn bluecat_wrong_password_gets_401_invalid_username_or_password() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_user("System", "reader", "vApp User", "reader-pw");
    let seen = bluecat_flow(&venv, &server.url, "reader", "wrong", &["--expect", "unauthorized"]);
    assert_eq!(seen["exception"], "BAMV2ErrorResponse", "{seen}");
    assert_eq!(seen["status"], 401, "{seen}");
    assert_eq!(seen["reason"], "Unauthorized", "{seen}");
    assert_eq!(seen["code"], "InvalidUsernameOrPassword", "{seen}");
}

/// Runs bluecat_flow.py as `user`; returns its summary.
fn bluecat_flow(venv: &std::path::Path, url: &str, user: &str, password: &str, args: &[&str]) -> Value {
    let login = ["--url", url, "--user", user, "--password", password];
    python_summary(venv, "bluecat/bluecat_flow.py", &[&login[..], args].concat())
}

/// After logout the old Basic and Bearer credentials get 401 InvalidAuthorizationCredentials,
/// raw (Content-Type exactly application/json) and through a fresh client.
fn assert_old_credentials_refused(after_logout: &Value) {
    for raw in ["raw_basic", "raw_bearer"] {
        assert_eq!(
            after_logout[raw],
            json!({"status": 401, "content_type": "application/json", "code": "InvalidAuthorizationCredentials"}),
            "{raw}: {after_logout}"
        );
    }
    for client in ["client_basic", "client_bearer"] {
        assert_eq!(
            after_logout[client],
            json!({"exception": "BAMV2ErrorResponse", "status": 401, "code": "InvalidAuthorizationCredentials"}),
            "{client}: {after_logout}"
        );
    }
}

#[test]
fn log_insight_clients_log_in_on_the_shared_listener() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    check_log_insight_clients(&venv, &server.url);
}

#[test]
fn log_insight_clients_log_in_on_a_listener_of_its_own() {
    let Some(venv) = venv() else { return };
    let options = Options {
        env: env(&[
            ("TOLLGATE_DIALECTS__LOGINSIGHT__LISTEN", "[\"127.0.0.1:0\"]"),
            ("TOLLGATE_DIALECTS__LOGINSIGHT__SHARED", "false"),
        ]),
        ..Options::default()
    };
    let server = Server::start(options);
    check_log_insight_clients(&venv, server.dialect_url("loginsight"));
    // Not on the shared listener any more: /api/v2 there is BlueCat's, which accepts the login
    // (the client takes the UserSession's numeric id for a session id) and then refuses that id.
    let (ok, out, err) = python(
        &venv,
        "loginsight/aria_logs_flow.py",
        &["--url", &server.url, "--user", "administrator", "--password", ADMIN_PASSWORD, "--expect", "ok"],
    );
    assert!(!ok, "Log Insight answered on the shared listener:\n{out}\n{err}");
    assert!(err.contains("HTTP 401 for GET /api/v2/version"), "{err}");
    assert!(err.contains("\"code\":\"InvalidAuthorizationCredentials\""), "BlueCat's 401: {err}");
}

/// The three clients log in, read the version and their session; a wrong password is refused
/// with 401 (FIELD_ERROR "Invalid credentials or account is locked." where the client shows the
/// body); pyloginsight's logout ends the session.
fn check_log_insight_clients(venv: &std::path::Path, url: &str) {
    let admin = ["--url", url, "--user", "administrator", "--password", ADMIN_PASSWORD];
    for script in LOG_INSIGHT_CLIENTS {
        let seen = python_summary(venv, script, &[&admin[..], &["--expect", "ok"]].concat());
        // The version each client read, "8.18.0-24029231" as the client splits it.
        let version = match script {
            "loginsight/pyloginsight_flow.py" => json!([seen["version"], seen["build"]]),
            "loginsight/aria_logs_flow.py" => json!([seen["version"]["version"], seen["version"]["releaseName"]]),
            _ => json!([seen["version"]["version"], seen["version"]["build"]]),
        };
        let expected = match script {
            "loginsight/pyloginsight_flow.py" => json!(["8.18.0", 24029231]),
            "loginsight/aria_logs_flow.py" => json!(["8.18.0-24029231", "GA"]),
            _ => json!(["8.18.0-24029231", "24029231"]),
        };
        assert_eq!(version, expected, "{script} read the version: {seen}");
        if script == "loginsight/log_insight_flow.py" {
            // It logs in again on a 401 and, within 60 s of the login's ttl, before a request.
            assert_eq!(seen["login_ttl"], 1800, "{seen}");
            assert_eq!(
                seen["requests"].as_array().unwrap()[3..],
                json!([
                    "GET /api/v2/sessions/current [Bearer] -> 401",
                    "POST /api/v2/sessions -> 200",
                    "GET /api/v2/sessions/current [Bearer] -> 200",
                    "POST /api/v2/sessions -> 200",
                    "GET /api/v2/version [Bearer] -> 200"
                ])
                .as_array()
                .unwrap()[..],
                "{seen}"
            );
        }
        assert!(seen["current"]["userId"].is_string(), "{script}: {seen}");
        assert!(seen["current"]["ttl"].as_u64().is_some_and(|ttl| ttl > 0 && ttl <= 1800), "{script}: {seen}");

        let wrong = python_summary(
            venv,
            script,
            &["--url", url, "--user", "administrator", "--password", "wrong", "--expect", "unauthorized"],
        );
        assert_eq!(wrong["status"], 401, "{script}: {wrong}");
        if !wrong["body"].is_null() {
            assert_eq!(
                wrong["body"],
                json!({"errorCode": "FIELD_ERROR", "errorMessage": "Invalid credentials or account is locked."}),
                "{script}: {wrong}"
            );
        }
    }
    let seen = python_summary(venv, "loginsight/pyloginsight_flow.py", &[&admin[..], &["--logout"]].concat());
    assert_eq!(seen["release_name"], "GA", "{seen}");
    assert_eq!(seen["first_status"], 401, "the first, token-less request: {seen}");
    assert_eq!(
        seen["unknown_token"],
        json!([
            "GET /api/v1/sessions/current -> 401",
            "POST /api/v1/sessions -> 200",
            "GET /api/v1/sessions/current -> 200"
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["old_token_after_logout"],
        json!({"status": 401, "content_type": "text/plain", "body": "Invalid session ID"}),
        "{seen}"
    );
}

#[test]
fn pyloginsight_logs_in_again_after_a_440_login_timeout() {
    let Some(venv) = venv() else { return };
    let options =
        Options { env: env(&[("TOLLGATE_DIALECTS__LOGINSIGHT__IDLE_TIMEOUT_SECONDS", "2")]), ..Options::default() };
    let server = Server::start(options);
    let seen = python_summary(
        &venv,
        "loginsight/pyloginsight_flow.py",
        &["--url", &server.url, "--user", "administrator", "--password", ADMIN_PASSWORD, "--wait-expiry", "3"],
    );
    assert_eq!(seen["expired_token_status"], 440, "{seen}");
}

#[test]
fn log_insight_clients_see_503_should_be_bootstrapped() {
    let Some(venv) = venv() else { return };
    let server = Server::start(Options { no_bootstrap: true, ..Options::default() });
    let args =
        ["--url", server.url.as_str(), "--user", "administrator", "--password", "x", "--expect", "not-bootstrapped"];
    for script in LOG_INSIGHT_CLIENTS {
        let seen = python_summary(&venv, script, &args);
        assert_eq!(seen["status"], 503, "{script}: {seen}");
        match script {
            // vmware-log-insight drops the body.
            "loginsight/log_insight_flow.py" => assert_eq!(seen["exception"], "LogInsightApiError", "{seen}"),
            "loginsight/aria_logs_flow.py" => assert_eq!(
                seen["body"],
                json!({"errorMessage": "LI server should be bootstrapped to process this API call"}),
                "{seen}"
            ),
            _ => assert!(seen["body"].as_str().unwrap().contains("should be bootstrapped"), "{script}: {seen}"),
        }
    }
}
