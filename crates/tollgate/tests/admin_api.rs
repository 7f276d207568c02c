//! The admin REST API (`/v1/admin`) and its API tokens, end to end: the real binary, its CLI
//! and HTTP.

mod support;

use serde_json::Value;
use support::{ADMIN_PASSWORD, Server, http, native_login};

/// Creates an API token with the CLI; returns its secret.
fn create_token(server: &Server, name: &str, role: &str, org: &str) -> String {
    let secret = server.cli_ok(&["token", "create", "--name", name, "--role", role, "--org", org], None);
    secret.trim().to_owned()
}

#[test]
fn api_tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let server = Server::start_default();
    let secret = create_token(&server, "ci", "Auditor", "System");
    assert!(secret.starts_with("tga_") && secret.len() == 47, "{secret}");
    assert_ne!(create_token(&server, "backup", "System Administrator", "System"), secret);

    let listing = server.cli_ok(&["token", "list"], None);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].starts_with("backup ") && lines[2].starts_with("ci ") && lines[2].contains("Auditor"),
        "{listing}"
    );
    assert!(!listing.contains(&secret[4..]), "a listing never shows a secret");
    let store = std::fs::read(server.data_dir().join("tollgate.db")).unwrap();
    assert!(!store.windows(secret.len()).any(|w| w == secret.as_bytes()), "the store keeps only a digest");

    assert_eq!(server.cli_ok(&["token", "revoke", "ci"], None).trim(), "Revoked API token ci");
    assert!(server.cli_ok(&["token", "list"], None).lines().nth(2).is_some_and(|l| !l.trim_end().ends_with('-')));

    for (args, message) in [
        (&["token", "create", "--name", "CI", "--role", "Auditor"][..], "already exists"),
        (&["token", "create", "--name", "x", "--role", "Nope"][..], "role \"Nope\" does not exist"),
        (&["token", "create", "--name", "x", "--role", "Auditor", "--org", "nope"][..], "org \"nope\" does not exist"),
        (&["token", "create", "--name", " x", "--role", "Auditor"][..], "white space"),
        (&["token", "revoke", "nobody"][..], "API token \"nobody\" does not exist"),
    ] {
        let output = server.cli(args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// GET `path` of the server with `Authorization: Bearer token`; the status and the JSON body.
async fn get(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let reply = http().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

/// The names in a listing's `items`.
fn names(listing: &Value) -> Vec<&str> {
    listing["items"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn orgs_are_listed_to_the_provider_in_full_and_to_an_org_administrator_their_own() {
    let server = Server::start_default();
    server.add_tenant("org1", "olive", "Olive-Pw-1");
    server.cli_ok(&["org", "add", "org2"], None);
    server.add_user("org2", "bob", "vApp User", "Bob-Pw-1");

    let provider = create_token(&server, "provider", "System Administrator", "System");
    let (status, listing) = get(&server, "/v1/admin/orgs", &provider).await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(names(&listing), ["org1", "org2", "System"], "by name, whatever its case");
    let org1 = &listing["items"][0];
    assert_eq!(org1["full_name"], "org1");
    assert!(org1["id"].as_str().unwrap().len() == 36 && org1["created_at"].as_str().unwrap().ends_with('Z'), "{org1}");

    // A native session of the System administrator sees the same.
    let (status, login) = native_login(&http(), &server.url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201, "{login}");
    let (status, by_session) = get(&server, "/v1/admin/orgs", login["token"].as_str().unwrap()).await;
    assert_eq!((status, &by_session), (200, &listing));

    let (_, tenant) = native_login(&http(), &server.url, "org1", "olive", "Olive-Pw-1").await;
    let (status, own) = get(&server, "/v1/admin/orgs", tenant["token"].as_str().unwrap()).await;
    assert_eq!((status, names(&own)), (200, vec!["org1"]), "{own}");
    let auditor = create_token(&server, "org1-audit", "Auditor", "org1");
    assert_eq!(names(&get(&server, "/v1/admin/orgs", &auditor).await.1), ["org1"]);

    let (_, plain_user) = native_login(&http(), &server.url, "org2", "bob", "Bob-Pw-1").await;
    let (status, refused) = get(&server, "/v1/admin/orgs", plain_user["token"].as_str().unwrap()).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("forbidden")), "{refused}");

    for token in ["tga_not-a-token", "not-a-session", &format!("{provider}x")] {
        let (status, refused) = get(&server, "/v1/admin/orgs", token).await;
        assert_eq!((status, refused["error"].as_str()), (401, Some("invalid_token")), "{token}: {refused}");
    }
    let reply = http().get(format!("{}/v1/admin/orgs", server.url)).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.json::<Value>().await.unwrap()["error"], "invalid_token");

    server.cli_ok(&["token", "revoke", "provider"], None);
    let (status, refused) = get(&server, "/v1/admin/orgs", &provider).await;
    assert_eq!((status, refused["error"].as_str()), (401, Some("invalid_token")), "a revoked token is refused at once");
}
