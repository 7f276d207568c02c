//! BlueCat and Log Insight driven by their real, unmodified clients from PyPI:
//! bluecat-libraries 26.1.0, pyloginsight-fork, vmware-aria-logs and vmware-log-insight.

mod support;

use support::{ADMIN_PASSWORD, Options, Server, python, python_ok, venv};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn bluecat_libraries_logs_in_reads_and_logs_out() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_user("System", "reader", "vApp User", "reader-pw");
    let flow =
        |args: &[&str]| python_ok(&venv, "bluecat/bluecat_flow.py", &[&["--url", server.url.as_str()], args].concat());
    let out = flow(&["--user", "administrator", "--password", ADMIN_PASSWORD, "--expect", "ok"]);
    assert!(out.contains("\"state_after_logout\": \"LOGGED_OUT\""), "{out}");
    flow(&["--user", "reader", "--password", "reader-pw", "--read-only", "--expect", "ok"]);
    flow(&["--user", "reader", "--password", "wrong", "--expect", "unauthorized"]);
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
    // Not on the shared listener any more.
    let (ok, out, err) = python(
        &venv,
        "loginsight/aria_logs_flow.py",
        &["--url", &server.url, "--user", "administrator", "--password", ADMIN_PASSWORD, "--expect", "ok"],
    );
    assert!(!ok, "Log Insight answered on the shared listener:\n{out}\n{err}");
}

fn check_log_insight_clients(venv: &std::path::Path, url: &str) {
    let admin = ["--url", url, "--user", "administrator", "--password", ADMIN_PASSWORD];
    let wrong = ["--url", url, "--user", "administrator", "--password", "wrong", "--expect", "unauthorized"];
    for script in ["loginsight/pyloginsight_flow.py", "loginsight/aria_logs_flow.py", "loginsight/log_insight_flow.py"]
    {
        let out = python_ok(venv, script, &[&admin[..], &["--expect", "ok"]].concat());
        assert!(out.contains("8.18.0"), "{script} read the version: {out}");
        python_ok(venv, script, &wrong);
    }
    let out = python_ok(venv, "loginsight/pyloginsight_flow.py", &[&admin[..], &["--logout"]].concat());
    assert!(out.contains("Invalid session ID"), "{out}");
}

#[test]
fn pyloginsight_logs_in_again_after_a_440_login_timeout() {
    let Some(venv) = venv() else { return };
    let options =
        Options { env: env(&[("TOLLGATE_DIALECTS__LOGINSIGHT__IDLE_TIMEOUT_SECONDS", "2")]), ..Options::default() };
    let server = Server::start(options);
    let out = python_ok(
        &venv,
        "loginsight/pyloginsight_flow.py",
        &["--url", &server.url, "--user", "administrator", "--password", ADMIN_PASSWORD, "--wait-expiry", "3"],
    );
    assert!(out.contains("\"expired_token_status\": 440"), "{out}");
}

#[test]
fn log_insight_clients_see_the_bootstrap_error() {
    let Some(venv) = venv() else { return };
    let server = Server::start(Options { no_bootstrap: true, ..Options::default() });
    let args =
        ["--url", server.url.as_str(), "--user", "administrator", "--password", "x", "--expect", "not-bootstrapped"];
    for script in ["loginsight/pyloginsight_flow.py", "loginsight/aria_logs_flow.py", "loginsight/log_insight_flow.py"]
    {
        python_ok(&venv, script, &args);
    }
}
