//! The `hcx` contract (docs/contracts/hcx.md), one test per documented status and body shape.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{ADMIN_PASSWORD, Reply, Setup, TestServer, server, server_with, uninitialised};
use tollgate_core::Actor;

const APPLIANCE: &str = "/api/admin/v1/sessions";
const HYBRIDITY: &str = "/hybridity/api/sessions";

async fn login(server: &TestServer, path: &str, body: serde_json::Value) -> Reply {
    server.post_json(path, &[], &body).await
}

async fn admin_token(server: &TestServer) -> String {
    let reply = login(server, APPLIANCE, json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.header("x-hm-authorization").to_owned()
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["completed"], false);
    assert_eq!(body["version"], "1.0");
    assert!(body["time"].as_i64().unwrap() > 1_600_000_000_000, "epoch milliseconds");
    assert_eq!(body["errorCode"], code);
    assert_eq!(body["error"], message);
}

#[tokio::test]
async fn appliance_login_defaults_to_local_and_answers_the_session() {
    let server = server().await;
    let reply = login(&server, APPLIANCE, json!({"username": "administrator", "password": ADMIN_PASSWORD})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    assert!(reply.header("x-hm-authorization").len() >= 32);
    assert_eq!(reply.header("auth_token_name"), "x-hm-authorization");
    let body = reply.json();
    assert_eq!(
        (body["success"].clone(), body["completed"].clone(), body["version"].clone()),
        (json!(true), json!(true), json!("1.0"))
    );
    assert!(body["time"].as_i64().unwrap() > 1_600_000_000_000);
    let user = &body["data"]["user"];
    assert_eq!(user["enterprise"], "HybridityAdmin");
    assert_eq!(user["organization"], json!(["DEFAULT"]));
    assert_eq!(user["currentOrganization"], "DEFAULT");
    assert_eq!(user["roles"], json!(["System Administrator"]));
    assert_eq!(user["username"], "administrator");
    assert!(uuid::Uuid::parse_str(user["transactionId"].as_str().unwrap()).is_ok());
    assert_eq!(body["data"]["cloud"], json!({"name": "HCX Manager", "type": "vsphere"}));
    assert_eq!(body["data"]["organizations"], json!([{"name": "DEFAULT", "id": "default-org-id"}]));
}

#[tokio::test]
async fn vsphere_logins_go_through_the_sso_domain() {
    let server = server().await;
    for username in ["administrator@vsphere.local", "administrator"] {
        let body = json!({"authType": "vsphere", "username": username, "password": ADMIN_PASSWORD});
        let reply = login(&server, APPLIANCE, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{username}: {}", reply.body);
        assert_eq!(reply.json()["data"]["user"]["username"], "administrator@vsphere.local");
        let token = reply.header("x-hm-authorization").to_owned();
        let current = server.get(APPLIANCE, &[("x-hm-authorization", &token)]).await;
        assert_eq!(current.json()["data"]["user"]["username"], "administrator@vsphere.local", "GET shows the login");
        assert_eq!(current.json()["data"]["user"]["roles"], reply.json()["data"]["user"]["roles"]);
    }
    let body = json!({"authType": "vsphere", "username": "administrator@other.domain", "password": ADMIN_PASSWORD});
    assert_error(
        &login(&server, APPLIANCE, body).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
        "Invalid username or password.",
    );
}

#[tokio::test]
async fn bad_requests_are_400_bad_request() {
    let server = server().await;
    let reply = login(&server, APPLIANCE, json!({"authType": "invalid", "username": "a", "password": "b"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST", "Unsupported auth type: invalid");
    for body in ["not json", r#"{"username":"a"}"#, r#"{"password":"b"}"#, r#"{"username":5,"password":"b"}"#] {
        let reply = server.send(Method::POST, APPLIANCE, &[("content-type", "application/json")], body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json()["errorCode"], "BAD_REQUEST");
    }
    let reply = server.send(Method::POST, APPLIANCE, &[("content-type", "application/xml")], "<x/>").await;
    assert_eq!(reply.json()["errorCode"], "BAD_REQUEST");
}

#[tokio::test]
async fn an_auth_type_without_a_configured_source_is_unsupported() {
    let mut settings = tollgate_dialects::Settings::default();
    settings.dialects.get_mut(&tollgate_dialects::Dialect::Hcx).unwrap().providers.remove("vsphere");
    let server = server_with(Setup { settings: Some(settings), ..Setup::default() }).await;
    let body = json!({"authType": "vsphere", "username": "administrator", "password": ADMIN_PASSWORD});
    assert_error(
        &login(&server, APPLIANCE, body).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "Unsupported auth type: vsphere",
    );
}

#[tokio::test]
async fn wrong_credentials_are_401_invalid_credentials() {
    let server = server().await;
    let reply = login(&server, APPLIANCE, json!({"username": "administrator", "password": "nope"})).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Invalid username or password.");
}

#[tokio::test]
async fn a_valid_user_without_an_hcx_role_is_403() {
    let server = server().await;
    support::add_user(&server, "System", "viewer", "vApp User", "viewer-pw").await;
    let reply = login(&server, APPLIANCE, json!({"username": "viewer", "password": "viewer-pw"})).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "NOT_ENOUGH_PRIVILEGES", "Access Denied");
    support::add_user(&server, "System", "operator", "Enterprise Administrator", "op-pw").await;
    let reply = login(&server, APPLIANCE, json!({"username": "operator", "password": "op-pw"})).await;
    assert_eq!(reply.json()["data"]["user"]["roles"], json!(["Enterprise Administrator"]));
}

#[tokio::test]
async fn a_failing_identity_source_is_500_not_a_hang() {
    let dir = std::env::temp_dir().join(format!("tollgate-hcx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("tollgate.db");
    let server = server_with(Setup { database: Some(database.clone()), ..Setup::default() }).await;
    // Break the directory under the running server: user lookups now fail in the store.
    rusqlite::Connection::open(&database).unwrap().execute_batch("DROP TABLE user_roles;").unwrap();
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        login(&server, APPLIANCE, json!({"username": "administrator", "password": ADMIN_PASSWORD})),
    )
    .await
    .expect("answers in time");
    assert_error(&reply, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Exception while performing auth");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_token_works_in_either_header_and_get_shows_the_session() {
    let server = server().await;
    let token = admin_token(&server).await;
    for (name, value) in [("x-hm-authorization", token.clone()), ("authorization", format!("Bearer {token}"))] {
        let reply = server.get(APPLIANCE, &[(name, &value)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.json()["data"]["user"]["username"], "administrator");
    }
    let reply = server.get(APPLIANCE, &[("x-hm-authorization", "nope")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", "Invalid or expired session token");
}

#[tokio::test]
async fn logout_is_200_and_then_there_is_no_active_session() {
    let server = server().await;
    let token = admin_token(&server).await;
    let reply = server.send(Method::DELETE, APPLIANCE, &[("x-hm-authorization", &token)], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(
        (body["success"].clone(), body["completed"].clone(), body["version"].clone()),
        (json!(true), json!(true), json!("1.0"))
    );
    let reply = server.send(Method::DELETE, APPLIANCE, &[("x-hm-authorization", &token)], "").await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", "No active session found");
    let reply = server.send(Method::DELETE, APPLIANCE, &[], "").await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", "No active session found");
}

#[tokio::test]
async fn the_hybridity_api_logs_in_and_tells_locked_accounts_apart() {
    let server = server().await;
    for body in [
        json!({"username": "administrator@vsphere.local", "password": ADMIN_PASSWORD}),
        json!({"username": "administrator", "password": ADMIN_PASSWORD, "authType": "password"}),
    ] {
        let reply = login(&server, HYBRIDITY, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let token = reply.header("x-hm-authorization").to_owned();
        assert_eq!(server.get(HYBRIDITY, &[("x-hm-authorization", &token)]).await.status, StatusCode::OK);
    }
    let wrong = json!({"username": "administrator", "password": "nope"});
    assert_error(
        &login(&server, HYBRIDITY, wrong.clone()).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
        "Invalid username or password.",
    );
    for _ in 0..4 {
        login(&server, HYBRIDITY, wrong.clone()).await;
    }
    let right = json!({"username": "administrator", "password": ADMIN_PASSWORD});
    let reply = login(&server, HYBRIDITY, right.clone()).await;
    assert_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
        "Account locked due to failed login attempts",
    );
    server.core.unlock(&Actor::Operator, "System", "administrator").await.unwrap();
    server.core.set_enabled(&Actor::Operator, "System", "administrator", false).await.unwrap();
    assert_eq!(login(&server, HYBRIDITY, right).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn before_bootstrap_login_is_503() {
    let server = uninitialised().await;
    let reply = login(&server, APPLIANCE, json!({"username": "administrator", "password": "x"})).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["success"], false);
}

#[tokio::test]
async fn oversized_input_is_refused_in_hcx_shape() {
    let server = server().await;
    let big = "x".repeat(20 * 1024);
    let reply = server.send(Method::POST, APPLIANCE, &[("x-padding", &big)], "{}").await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.json()["errorCode"], "BAD_REQUEST");
    let reply = login(&server, APPLIANCE, json!({"username": "a", "password": "x".repeat(100_000)})).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["success"], false);
}

#[tokio::test]
async fn a_token_of_another_dialect_is_not_an_hcx_session() {
    let server = server().await;
    let li = server
        .post_json(
            "/api/v1/sessions",
            &[],
            &json!({"username": "administrator", "password": ADMIN_PASSWORD, "provider": "Local"}),
        )
        .await;
    let token = li.json()["sessionId"].as_str().unwrap().to_owned();
    let reply = server.get(APPLIANCE, &[("x-hm-authorization", &token)]).await;
    assert_eq!(reply.json()["errorCode"], "INVALID_SESSION_TOKEN");
}
