//! The `vcd` dialect driven by the real, unmodified pyvcloud 23.0.4 and vcd-cli 24.1.0.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, http, python_summary, session_status, summary, vcd_login, venv};

/// How pyvcloud reports a 401: UnauthorizedException carrying the vcd error's code.
fn assert_unauthorized(refusal: &Value, what: &str) {
    assert_eq!(refusal["exception"], "UnauthorizedException", "{what}: {refusal}");
    assert_eq!(refusal["status"], 401, "{what}: {refusal}");
    assert_eq!(refusal["minor_error_code"], "UNAUTHORIZED", "{what}: {refusal}");
}

fn is_hex32(token: &Value) -> bool {
    token.as_str().is_some_and(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn pyvcloud_logs_in_works_and_logs_out_tenant_and_system_auto_and_pinned() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    for mode in ["auto", "pinned32"] {
        for (org, user, password) in [("org1", "alice", "alice-pw"), ("System", "administrator", ADMIN_PASSWORD)] {
            let args = ["--url", &server.url, "--org", org, "--user", user, "--password", password];
            let seen = python_summary(&venv, "vcd/pyvcloud_flow.py", &[&args[..], &["--mode", mode]].concat());
            let what = format!("{user}@{org} {mode}: {seen}");
            // auto negotiates the highest version pyvcloud knows and logs in at /cloudapi;
            // pinned32 uses POST /api/sessions and its 32-hex x-vcloud-authorization.
            let expected_version = if mode == "auto" { "36.0" } else { "32.0" };
            assert_eq!(seen["api_version"], expected_version, "{what}");
            if mode == "auto" {
                assert!(seen["access_token"].as_str().unwrap().len() > 32, "{what}");
            } else {
                assert!(is_hex32(&seen["x_vcloud_authorization"]), "{what}");
            }
            assert_eq!(seen["session_user"], user, "{what}");
            assert_eq!(seen["session_org"], org, "{what}");
            assert_eq!(seen["is_sysadmin"], org == "System", "{what}");
            assert_eq!(seen["org_name"], org, "{what}");
            assert!(seen["org_href"].as_str().unwrap().starts_with(&format!("{}/api/org/", server.url)), "{what}");
            assert!(seen["org_names"].as_array().unwrap().contains(&json!(org.to_lowercase())), "{what}");
            // DELETE /api/session: 204 with no body, and both tokens are refused afterwards.
            assert_eq!(seen["logout_returned_body"], false, "{what}");
            let old_token = if mode == "auto" { "access_token" } else { "x_vcloud_authorization" };
            assert_unauthorized(&seen["after_logout"][old_token], &what);
        }
    }
}

#[test]
fn pyvcloud_gets_401_for_a_wrong_password_and_a_locked_account() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    let login = |password: &str, mode: &str, expect: &str| {
        let args = ["--url", &server.url, "--org", "org1", "--user", "alice", "--password", password];
        python_summary(&venv, "vcd/pyvcloud_flow.py", &[&args[..], &["--mode", mode, "--expect", expect]].concat())
    };
    // Refused at /cloudapi (JSON error) and at /api/sessions (XML Error) alike.
    let cloudapi = login("wrong", "auto", "unauthorized");
    assert_unauthorized(&cloudapi["login"], "wrong password, cloudapi");
    let legacy = login("wrong", "pinned32", "unauthorized");
    assert_unauthorized(&legacy["login"], "wrong password, /api/sessions");
    // Three more failures make five: the account locks, and the right password gets the very
    // same 401 (vcd never says "locked").
    for _ in 0..3 {
        login("wrong", "auto", "unauthorized");
    }
    let locked = login("alice-pw", "auto", "unauthorized");
    assert_eq!(locked["login"], cloudapi["login"], "a locked account looks like a wrong password");
    // Locked for the address the failures came from (all of this test's come from loopback).
    let listed = server.cli_ok(&["user", "list", "--org", "org1"], None);
    assert!(listed.contains("locked for 127.0.0.1"), "{listed}");
    server.cli_ok(&["user", "unlock", "alice", "--org", "org1"], None);
    let unlocked = login("alice-pw", "auto", "ok");
    assert_eq!(unlocked["session_user"], "alice");
    assert!(server.log().contains("lockout"), "the lockout is audited");
}

#[tokio::test]
async fn pyvcloud_rehydrates_from_either_token_and_logout_ends_both() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    let client = http();
    let (vcloud, access, _) = vcd_login(&client, &server.url, "alice", "org1", "alice-pw").await;
    let url = server.url.clone();
    let rehydrate = move |token: &str, jwt: bool, expect: &str, logout: bool| {
        // `--token=…`: a token may begin with '-', which argparse would take for an option.
        let token = format!("--token={token}");
        let mut args = vec!["--url", url.as_str(), token.as_str(), "--expect", expect];
        if jwt {
            args.push("--jwt");
        }
        if logout {
            args.push("--logout");
        }
        python_summary(&venv, "vcd/pyvcloud_rehydrate.py", &args)
    };
    for (token, jwt) in [(&vcloud, false), (&access, true)] {
        let seen = rehydrate(token, jwt, "ok", false);
        assert_eq!((&seen["user"], &seen["org"]), (&json!("alice"), &json!("org1")), "jwt={jwt}: {seen}");
    }
    let seen = rehydrate(&access, true, "ok", true);
    assert_eq!(seen["user"], "alice");
    assert_unauthorized(&seen["after_logout"], "the access token right after its logout");
    for (token, jwt) in [(&vcloud, false), (&access, true)] {
        let seen = rehydrate(token, jwt, "unauthorized", false);
        assert_unauthorized(&seen["refused"], &format!("after logout (jwt={jwt})"));
    }
}

#[test]
fn vcd_cli_logs_in_lists_orgs_and_logs_out() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    for (org, user, password) in [("org1", "alice", "alice-pw"), ("System", "administrator", ADMIN_PASSWORD)] {
        let output = Command::new("bash")
            .arg(support::clients_dir().join("vcd/vcdcli_flow.sh"))
            .args([&server.url, org, user, password])
            .env("VENV", &venv)
            .output()
            .unwrap();
        let seen = summary(
            &format!("vcd-cli flow for {user}@{org}"),
            output.status.success(),
            &String::from_utf8_lossy(&output.stdout),
            &String::from_utf8_lossy(&output.stderr),
        );
        assert!(seen["login"].as_str().unwrap().starts_with(&format!("{user} logged in, org: '{org}'")), "{seen}");
        assert_eq!(seen["profile_had_token"], true, "{seen}");
        let logged_in: Vec<&Value> =
            seen["org_list"].as_array().unwrap().iter().filter(|row| row["logged_in"] == true).collect();
        assert_eq!(logged_in.len(), 1, "{seen}");
        assert!(logged_in[0]["name"].as_str().unwrap().eq_ignore_ascii_case(org), "{seen}");
        assert_eq!(seen["logout"], format!("{user} logged out."), "{seen}");
        assert!(seen["after_logout"].as_str().unwrap().contains("please login again"), "{seen}");
        // The saved profile's old token replayed: the server's 401, as vcd-cli words it.
        assert!(seen["old_token"].as_str().unwrap().contains("Session has expired or is invalid"), "{seen}");
    }
}

#[tokio::test]
async fn a_token_unused_past_the_idle_timeout_gets_401() {
    let Some(venv) = venv() else { return };
    let options = Options {
        env: vec![("TOLLGATE_DIALECTS__VCD__IDLE_TIMEOUT_SECONDS".into(), "2".into())],
        ..Options::default()
    };
    let server = Server::start(options);
    server.add_tenant("org1", "alice", "alice-pw");
    let client = http();
    let (vcloud, access, _) = vcd_login(&client, &server.url, "alice", "org1", "alice-pw").await;
    // Used within the timeout it stays alive…
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(session_status(&client, &server.url, &vcloud).await, 200);
    }
    // …and left alone it dies.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let token = format!("--token={access}");
    let args = ["--url", server.url.as_str(), token.as_str(), "--jwt", "--expect", "unauthorized"];
    let seen = python_summary(&venv, "vcd/pyvcloud_rehydrate.py", &args);
    assert_unauthorized(&seen["refused"], "an idle-timed-out access token");
    assert_eq!(session_status(&client, &server.url, &vcloud).await, 401);
}

#[tokio::test]
async fn sessions_revoked_from_the_cli_get_401() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    let client = http();
    let (_, first, first_id) = vcd_login(&client, &server.url, "alice", "org1", "alice-pw").await;
    let (_, second, _) = vcd_login(&client, &server.url, "alice", "org1", "alice-pw").await;
    let (_, third, _) = vcd_login(&client, &server.url, "alice", "org1", "alice-pw").await;

    let listed = server.cli_ok(&["session", "list", "--org", "org1", "--user", "alice"], None);
    assert!(listed.contains(&first_id), "{listed}");
    let revoked = server.cli(&["session", "revoke", &first_id], None);
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("revocation"), "the CLI audits the revocation");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let rehydrate = |token: &str, expect: &str| {
        python_summary(
            &venv,
            "vcd/pyvcloud_rehydrate.py",
            &["--url", server.url.as_str(), format!("--token={token}").as_str(), "--jwt", "--expect", expect],
        )
    };
    assert_unauthorized(&rehydrate(&first, "unauthorized")["refused"], "the revoked session");
    assert_eq!(rehydrate(&second, "ok")["user"], "alice", "the others live on");

    let out = server.cli_ok(&["session", "revoke", "--org", "org1", "--user", "alice"], None);
    assert!(out.contains("Revoked 2 session(s)"), "{out}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_unauthorized(&rehydrate(&second, "unauthorized")["refused"], "the second, revoked with the user's");
    assert_unauthorized(&rehydrate(&third, "unauthorized")["refused"], "the third, revoked with the user's");
}
