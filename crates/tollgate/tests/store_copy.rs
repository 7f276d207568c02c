//! `tollgate store copy`: an installation on the embedded SQLite store moves to PostgreSQL,
//! and the tokens its users hold keep working on a node serving from PostgreSQL, as pyvcloud
//! (the real client) sees it; its API tokens come along (the admin API takes them on the
//! cluster), the revoked ones revoked.

mod support;

use serde_json::json;
use support::{ADMIN_PASSWORD, Options, Server, http, python_summary, session_status, vcd_login, venv};

#[tokio::test]
async fn a_copied_installation_keeps_its_users_passwords_and_live_tokens() {
    let store_url = tollgate_store_postgres::testing::server().database().await;
    let mut embedded = Server::start_default();
    embedded.add_tenant("org1", "alice", "Alice-Pw-1");
    let client = http();
    let (alice_token, alice_access, _) = vcd_login(&client, &embedded.url, "alice", "org1", "Alice-Pw-1").await;
    let (admin_token, _, _) = vcd_login(&client, &embedded.url, "administrator", "System", ADMIN_PASSWORD).await;
    let (ended_token, _, _) = vcd_login(&client, &embedded.url, "alice", "org1", "Alice-Pw-1").await;
    let logout = client.delete(format!("{}/api/session", embedded.url)).header("x-vcloud-authorization", &ended_token);
    assert_eq!(logout.send().await.unwrap().status(), 204);
    let api_secret = embedded.cli_ok(&["token", "create", "--name", "ci", "--role", "System Administrator"], None);
    let api_secret = api_secret.trim().to_owned();
    let revoked_secret = embedded.cli_ok(&["token", "create", "--name", "old", "--role", "Auditor"], None);
    let revoked_secret = revoked_secret.trim().to_owned();
    embedded.cli_ok(&["token", "revoke", "old"], None);

    // Held by its server, the store cannot be copied.
    let data = embedded.data_dir();
    let from = format!("sqlite:{}", data.display());
    let busy = support::cli(&data, &["store", "copy", "--from", &from, "--to", &store_url], None);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("is a server running on it?"), "{busy:?}");
    embedded.crash();

    let copy = support::cli(&data, &["store", "copy", "--from", &from, "--to", &store_url], None);
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let said = String::from_utf8_lossy(&copy.stdout);
    assert!(said.contains("copied 2 org(s), 2 user(s), 2 live session(s) with 4 token(s), 2 API token(s)"), "{said}");
    // The API tokens, as the target lists them: the revoked one still revoked.
    let tokens = support::cli(&data, &["token", "list", "--store", &store_url], None);
    let tokens = String::from_utf8_lossy(&tokens.stdout).into_owned();
    let row = |name: &str| tokens.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default().to_owned();
    assert!(row("ci").contains("System Administrator") && row("ci").trim_end().ends_with('-'), "{tokens}");
    assert!(!row("old").trim_end().ends_with('-'), "the revoked token stays revoked: {tokens}");
    // A second copy would merge: refused.
    let again = support::cli(&data, &["store", "copy", "--from", &from, "--to", &store_url], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("the target store is not empty (2 org(s))"), "{again:?}");

    let node =
        Server::start(Options { env: vec![("TOLLGATE_STORE__URL".into(), store_url.clone())], ..Options::default() });
    assert_eq!(session_status(&client, &node.url, &admin_token).await, 200);
    assert_eq!(session_status(&client, &node.url, &ended_token).await, 401, "a logged-out session stays out");
    // The API token's secret shown on SQLite works on the cluster's admin API; the revoked one
    // does not.
    for (secret, status) in [(&api_secret, 200), (&revoked_secret, 401)] {
        let reply = client.get(format!("{}/v1/admin/orgs", node.url)).bearer_auth(secret).send().await.unwrap();
        assert_eq!(reply.status(), status);
    }
    // The password hashes came along.
    vcd_login(&client, &node.url, "alice", "org1", "Alice-Pw-1").await;
    let Some(venv) = venv() else { return };
    for (token, jwt) in [(&alice_token, false), (&alice_access, true)] {
        // `--token=…`: a token may begin with '-', which argparse would take for an option.
        let token = format!("--token={token}");
        let mut args = vec!["--url", node.url.as_str(), token.as_str(), "--expect", "ok"];
        if jwt {
            args.push("--jwt");
        }
        let seen = python_summary(&venv, "vcd/pyvcloud_rehydrate.py", &args);
        assert_eq!((&seen["user"], &seen["org"]), (&json!("alice"), &json!("org1")), "jwt={jwt}: {seen}");
    }
}
