//! Logins through an `ldap` identity source, end to end: the real binary configured with
//! `[sources.corp]` against a real OpenLDAP `slapd` the test starts, driven by the real
//! clients where they exist (pyvcloud to an LDAP-backed org, pyloginsight with the
//! `ActiveDirectory` provider) and raw HTTP for HCX's `vsphere` SSO domain; an unreachable
//! directory answered with the dialect's server error; `tollgate source test`; and the login
//! latency through LDAP, printed.

#[path = "../../tollgate-source-ldap/tests/support/mod.rs"]
mod directories;
mod support;

use std::time::{Duration, Instant};

use directories::{Slapd, installed, unreachable_source_table};
use serde_json::{Value, json};
use support::{Options, Server, http, native_login, python_summary, venv};

/// A server whose org1 and SSO domain example.org are served by the slapd, and whose Log
/// Insight `ActiveDirectory` provider is too; org2's directory is down.
fn server_over(slapd: &Slapd) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{corp}{down}
[org_sources]
org1 = "corp"
org2 = "down"

[sso_domains."example.org"]
org = "System"
source = "corp"

[dialects.loginsight.providers]
ActiveDirectory = "corp"
"#,
        corp = slapd.server_source_table("corp"),
        down = unreachable_source_table("down"),
    );
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, config).unwrap();
    let env = vec![("TOLLGATE_CONFIG".to_owned(), path.display().to_string())];
    let server = Server::start(Options { env, ..Options::default() });
    server.cli_ok(&["org", "add", "org1"], None);
    server.cli_ok(&["org", "add", "org2"], None);
    (server, dir)
}

const SLAPD: &[&str] = &["slapd", "slapadd", "ldapadd"];

#[test]
fn pyvcloud_logs_in_to_an_ldap_backed_org_and_the_user_appears_there() {
    if !installed(SLAPD) {
        return;
    }
    let Some(venv) = venv() else { return };
    let slapd = Slapd::start();
    let (server, _config) = server_over(&slapd);
    let args = ["--url", &server.url, "--org", "org1", "--user", "alice", "--password", "alice-pw-1"];
    let seen = python_summary(&venv, "vcd/pyvcloud_flow.py", &args);
    assert_eq!((&seen["session_user"], &seen["session_org"]), (&json!("alice"), &json!("org1")), "{seen}");
    assert_eq!(seen["is_sysadmin"], false, "{seen}");
    let listed = server.cli_ok(&["user", "list", "--org", "org1"], None);
    let alice = listed.lines().find(|l| l.contains("alice")).unwrap_or_default();
    assert!(alice.contains("corp") && alice.contains("Enterprise Administrator"), "{listed}");

    let wrong =
        ["--url", &server.url, "--org", "org1", "--user", "alice", "--password", "nope", "--expect", "unauthorized"];
    let refused = python_summary(&venv, "vcd/pyvcloud_flow.py", &wrong);
    assert_eq!(refused["login"]["status"], 401, "{refused}");
}

#[test]
fn log_insight_active_directory_provider_logs_directory_users_in() {
    if !installed(SLAPD) {
        return;
    }
    let Some(venv) = venv() else { return };
    let slapd = Slapd::start();
    let (server, _config) = server_over(&slapd);
    let login = |user: &str, password: &str, expect: &str| {
        let args = ["--url", &server.url, "--user", user, "--password", password, "--provider", "ActiveDirectory"];
        python_summary(&venv, "loginsight/pyloginsight_flow.py", &[&args[..], &["--expect", expect]].concat())
    };
    let bob = login("bob", "bob-pw-1", "ok");
    assert_eq!(bob["provider"], "ActiveDirectory", "{bob}");
    assert!(bob["current"]["userId"].is_string(), "{bob}");
    let listed = server.cli_ok(&["user", "list", "--org", "System"], None);
    assert!(listed.lines().any(|l| l.contains("bob") && l.contains("corp")), "bob appears in System: {listed}");
    let refused = login("bob", "alice-pw-1", "unauthorized");
    assert_eq!(refused["status"], 401, "{refused}");
}

#[tokio::test]
async fn hcx_vsphere_logins_route_user_at_domain_and_domain_backslash_user_to_the_directory() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let (server, _config) = server_over(&slapd);
    let client = http();
    let hcx = |user: &str, password: &str| {
        client
            .post(format!("{}/api/admin/v1/sessions", server.url))
            .json(&json!({"authType": "vsphere", "username": user, "password": password}))
            .send()
    };
    for user in ["alice@example.org", "EXAMPLE\\alice"] {
        let reply = hcx(user, "alice-pw-1").await.unwrap();
        assert_eq!(reply.status(), 200, "{user}");
        let body: Value = reply.json().await.unwrap();
        assert_eq!(body["data"]["user"]["roles"], json!(["Enterprise Administrator"]), "{user}: {body}");
    }
    // bob's groups grant no HCX role.
    let reply = hcx("bob@example.org", "bob-pw-1").await.unwrap();
    assert_eq!(reply.status(), 403);
    let reply = hcx("alice@example.org", "bob-pw-1").await.unwrap();
    assert_eq!(reply.status(), 401);
}

#[tokio::test]
async fn an_unreachable_directory_is_each_dialects_server_error_and_source_test_times_each_step() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let (server, _config) = server_over(&slapd);
    let client = http();
    for _ in 0..6 {
        let started = Instant::now();
        let reply = client
            .post(format!("{}/cloudapi/1.0.0/sessions", server.url))
            .basic_auth("carol@org2", Some("carol-pw-1"))
            .header("accept", "application/json;version=36.0")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 503);
        let body: Value = reply.json().await.unwrap();
        assert_eq!(body["minorErrorCode"], "SERVICE_UNAVAILABLE", "{body}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
    assert!(server.log().contains("event=\"login_error\"") || server.log().contains("login_error"), "audited");

    let tested = server
        .cli_ok(&["source", "test", "corp", "--user", "alice@example.org", "--password-stdin"], Some("alice-pw-1\n"));
    for step in ["connect ldaps://127.0.0.1", "search alice", "groups", "user bind"] {
        assert!(
            tested.lines().any(|l| l.starts_with("ok") && l.contains(step) && l.contains(" ms ")),
            "{step}: {tested}"
        );
    }
    let down = server.cli(&["source", "test", "down"], None);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("FAIL"), "{down:?}");
    let listed = server.cli_ok(&["source", "list"], None);
    assert!(listed.lines().any(|l| l.split_whitespace().eq(["corp", "ldap"])), "{listed}");
}

/// Prints the latency of logins through LDAP (LDAPS, search then bind, groups) next to local
/// ones, one at a time, for the README's figures.
#[tokio::test]
async fn login_latency_through_ldap_is_measured() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let (server, _config) = server_over(&slapd);
    server.add_tenant("org3", "dave", "dave-pw-1");
    let client = http();
    let measure = |org: &'static str, user: &'static str, password: &'static str| {
        let client = client.clone();
        let url = server.url.clone();
        async move {
            let mut times = Vec::new();
            for _ in 0..20 {
                let started = Instant::now();
                let (status, body) = native_login(&client, &url, org, user, password).await;
                times.push(started.elapsed());
                assert_eq!(status, 201, "{body}");
            }
            times.sort();
            (times[times.len() / 2], times[times.len() * 9 / 10])
        }
    };
    let (ldap_median, ldap_p90) = measure("org1", "bob", "bob-pw-1").await;
    let (local_median, local_p90) = measure("org3", "dave", "dave-pw-1").await;
    println!(
        "login latency, 20 sequential native logins: ldap median {ldap_median:?} p90 {ldap_p90:?}; local median {local_median:?} p90 {local_p90:?}"
    );
    assert!(ldap_median < Duration::from_secs(1), "{ldap_median:?}");
}
