//! The `vcd` dialect driven by the real, unmodified pyvcloud 23.0.4 and vcd-cli 24.1.0.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{ADMIN_PASSWORD, Options, Server, http, python, python_ok, session_status, vcd_login, venv};

#[test]
fn pyvcloud_logs_in_works_and_logs_out_tenant_and_system_auto_and_pinned() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    for mode in ["auto", "pinned32"] {
        for (org, user, password) in [("org1", "alice", "alice-pw"), ("System", "administrator", ADMIN_PASSWORD)] {
            let out = python_ok(
                &venv,
                "vcd/pyvcloud_flow.py",
                &[
                    "--url",
                    &server.url,
                    "--org",
                    org,
                    "--user",
                    user,
                    "--password",
                    password,
                    "--mode",
                    mode,
                    "--expect",
                    "ok",
                ],
            );
            let tokens: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
            let expected = if mode == "auto" { "36.0" } else { "32.0" };
            assert_eq!(tokens["api_version"], expected, "{org} {mode}");
        }
    }
}

#[test]
fn pyvcloud_gets_401_for_a_wrong_password_and_a_locked_account() {
    let Some(venv) = venv() else { return };
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    let flow = |password: &str, mode: &str, expect: &str| {
        let args = ["--url", &server.url, "--org", "org1", "--user", "alice", "--password", password];
        python_ok(&venv, "vcd/pyvcloud_flow.py", &[&args[..], &["--mode", mode, "--expect", expect]].concat());
    };
    flow("wrong", "auto", "unauthorized");
    flow("wrong", "pinned32", "unauthorized");
    // Three more failures make five: the account locks, and the right password gets the same 401.
    for _ in 0..3 {
        flow("wrong", "auto", "unauthorized");
    }
    flow("alice-pw", "auto", "unauthorized");
    let listed = server.cli_ok(&["user", "list", "--org", "org1"], None);
    assert!(listed.contains("locked"), "{listed}");
    server.cli_ok(&["user", "unlock", "alice", "--org", "org1"], None);
    flow("alice-pw", "auto", "ok");
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
        let mut args =
            vec!["--url", url.as_str(), "--token", token, "--expect", expect, "--org", "org1", "--user", "alice"];
        if jwt {
            args.push("--jwt");
        }
        if logout {
            args.push("--logout");
        }
        python(&venv, "vcd/pyvcloud_rehydrate.py", &args)
    };
    for (token, jwt) in [(&vcloud, false), (&access, true)] {
        let (ok, out, err) = rehydrate(token, jwt, "ok", false);
        assert!(ok, "rehydrate (jwt={jwt}):\n{out}\n{err}");
    }
    let (ok, out, err) = rehydrate(&access, true, "ok", true);
    assert!(ok, "rehydrate and log out:\n{out}\n{err}");
    for (token, jwt) in [(&vcloud, false), (&access, true)] {
        let (ok, out, err) = rehydrate(token, jwt, "unauthorized", false);
        assert!(ok, "after logout (jwt={jwt}):\n{out}\n{err}");
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
        assert!(
            output.status.success(),
            "vcd-cli flow for {user}@{org}:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
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
    let args = ["--url", server.url.as_str(), "--token", access.as_str(), "--jwt", "--expect", "unauthorized"];
    python_ok(&venv, "vcd/pyvcloud_rehydrate.py", &args);
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
        python_ok(
            &venv,
            "vcd/pyvcloud_rehydrate.py",
            &["--url", &server.url, "--token", token, "--jwt", "--expect", expect],
        );
    };
    rehydrate(&first, "unauthorized");
    rehydrate(&second, "ok");

    let out = server.cli_ok(&["session", "revoke", "--org", "org1", "--user", "alice"], None);
    assert!(out.contains("Revoked 2 session(s)"), "{out}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    rehydrate(&second, "unauthorized");
    rehydrate(&third, "unauthorized");
}
