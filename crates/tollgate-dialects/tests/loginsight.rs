//! The `loginsight` contract (docs/contracts/loginsight.md), one test per documented status and
//! body shape.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{ADMIN_PASSWORD, Reply, Setup, TestServer, server, server_with, uninitialised};
use tollgate_core::{CoreConfig, DialectPolicy};

fn credentials(user: &str, password: &str) -> serde_json::Value {
    json!({"username": user, "password": password, "provider": "Local"})
}

async fn login(server: &TestServer, version: &str, body: &serde_json::Value) -> Reply {
    server.post_json(&format!("/api/{version}/sessions"), &[], body).await
}

async fn admin_token(server: &TestServer) -> String {
    let reply = login(server, "v1", &credentials("administrator", ADMIN_PASSWORD)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["sessionId"].as_str().unwrap().to_owned()
}

fn assert_api_error(reply: &Reply, status: StatusCode, code: Option<&str>, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(body["errorMessage"], message);
    assert_eq!(body["errorCode"].as_str(), code);
}

fn assert_plain(reply: &Reply, status: u16, text: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.content_type(), "text/plain");
    assert_eq!(reply.body, text);
}

#[tokio::test]
async fn login_answers_user_session_and_ttl_on_v1_and_v2() {
    let server = server().await;
    for version in ["v1", "v2"] {
        let reply = login(&server, version, &credentials("administrator", ADMIN_PASSWORD)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type(), "application/json");
        let body = reply.json();
        let admin = server.core.user("System", "administrator").await.unwrap();
        assert_eq!(body["userId"], admin.id.to_string());
        assert!(body["sessionId"].as_str().unwrap().len() >= 32);
        assert_eq!(body["ttl"], 1800);
    }
}

#[tokio::test]
async fn every_provider_reaches_the_configured_org() {
    let server = server().await;
    for provider in ["Local", "ActiveDirectory", "vIDM"] {
        let body = json!({"username": "administrator", "password": ADMIN_PASSWORD, "provider": provider});
        assert_eq!(login(&server, "v1", &body).await.status, StatusCode::OK, "{provider}");
    }
    let body = json!({"username": "administrator@vsphere.local", "password": ADMIN_PASSWORD, "provider": "vIDM"});
    assert_eq!(login(&server, "v2", &body).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_credentials_are_401_field_error() {
    let server = server().await;
    let reply = login(&server, "v1", &credentials("administrator", "nope")).await;
    assert_api_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        Some("FIELD_ERROR"),
        "Invalid credentials or account is locked.",
    );
    let reply = login(&server, "v1", &credentials("nobody", "nope")).await;
    assert_api_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        Some("FIELD_ERROR"),
        "Invalid credentials or account is locked.",
    );
}

#[tokio::test]
async fn seed_002_code_sample_is_a_json_format_error_and_its_example_a_401() {
    let server = server().await;
    // The seed's curl sample, literally: an Authorization header with a placeholder, and a body
    // that is not JSON.
    let headers = [("authorization", "<value>"), ("content-type", "application/json")];
    let body = r#"{"password:"string","provider:"string","username:"string"}"#;
    let reply = server.send(Method::POST, "/api/v1/sessions", &headers, body).await;
    assert_api_error(&reply, StatusCode::BAD_REQUEST, Some("JSON_FORMAT_ERROR"), "Invalid request body.");
    // The request body example, for a user this server does not have.
    let example = serde_json::json!({"username": "johndoe", "password": "password", "provider": "Local"});
    let reply = server.post_json("/api/v1/sessions", &[("authorization", "<value>")], &example).await;
    assert_api_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        Some("FIELD_ERROR"),
        "Invalid credentials or account is locked.",
    );
}

#[tokio::test]
async fn auth_providers_lists_the_configured_providers_without_a_session() {
    let server = server().await;
    for version in ["v1", "v2"] {
        let reply = server.get(&format!("/api/{version}/auth-providers"), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json(), serde_json::json!({"providers": ["Local", "ActiveDirectory", "vIDM"]}));
    }
    let mut settings = tollgate_dialects::Settings::default();
    settings.dialects.get_mut(&tollgate_dialects::Dialect::LogInsight).unwrap().providers.remove("vIDM");
    let server = support::server_with(support::Setup { settings: Some(settings), ..Default::default() }).await;
    let reply = server.get("/api/v1/auth-providers", &[]).await;
    assert_eq!(reply.json(), serde_json::json!({"providers": ["Local", "ActiveDirectory"]}));
    let reply = uninitialised().await.get("/api/v1/auth-providers", &[]).await;
    assert_api_error(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "LI server should be bootstrapped to process this API call",
    );
}

#[tokio::test]
async fn a_locked_account_says_so() {
    let server = server().await;
    for _ in 0..5 {
        login(&server, "v1", &credentials("administrator", "nope")).await;
    }
    let reply = login(&server, "v1", &credentials("administrator", ADMIN_PASSWORD)).await;
    assert_api_error(
        &reply,
        StatusCode::UNAUTHORIZED,
        Some("FIELD_ERROR"),
        "Invalid credentials or account is locked.",
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_json_format_error() {
    let server = server().await;
    let bodies = [
        "not json".to_owned(),
        "[1,2]".to_owned(),
        json!({"username": "a", "password": "b"}).to_string(),
        json!({"username": "a", "provider": "Local"}).to_string(),
        json!({"username": 7, "password": "b", "provider": "Local"}).to_string(),
        json!({"username": "a", "password": "b", "provider": "Kerberos"}).to_string(),
    ];
    for body in &bodies {
        let reply = server.send(Method::POST, "/api/v1/sessions", &[("content-type", "application/json")], body).await;
        assert_api_error(&reply, StatusCode::BAD_REQUEST, Some("JSON_FORMAT_ERROR"), "Invalid request body.");
        assert!(reply.json()["errorDetails"]["reason"].is_string(), "{body}");
    }
    let reply = server.send(Method::POST, "/api/v1/sessions", &[("content-type", "text/plain")], "{}").await;
    assert_api_error(&reply, StatusCode::BAD_REQUEST, Some("JSON_FORMAT_ERROR"), "Invalid request body.");
}

#[tokio::test]
async fn a_wrong_field_value_is_400_field_error_naming_it() {
    let server = server().await;
    let reply = login(&server, "v1", &json!({"username": "", "password": "x", "provider": "Local"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["errorCode"], "FIELD_ERROR");
    assert_eq!(reply.json()["errorDetails"]["field"], "username");
}

#[tokio::test]
async fn a_provider_that_is_not_configured_is_400_field_error() {
    let mut settings = tollgate_dialects::Settings::default();
    settings.dialects.get_mut(&tollgate_dialects::Dialect::LogInsight).unwrap().providers.remove("ActiveDirectory");
    let server = server_with(Setup { settings: Some(settings), ..Setup::default() }).await;
    let body = json!({"username": "administrator", "password": ADMIN_PASSWORD, "provider": "ActiveDirectory"});
    let reply = login(&server, "v1", &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["errorCode"], "FIELD_ERROR");
    assert_eq!(reply.json()["errorDetails"]["field"], "provider");
}

#[tokio::test]
async fn a_huge_body_is_refused() {
    let server = server().await;
    let body = json!({"username": "a", "password": "x".repeat(100_000), "provider": "Local"});
    let reply = login(&server, "v1", &body).await;
    assert_api_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, Some("LIMIT_ERROR"), "The request body is too large.");
}

#[tokio::test]
async fn a_missing_or_unknown_token_is_401_invalid_session_id() {
    let server = server().await;
    for version in ["v1", "v2"] {
        assert_plain(&server.get(&format!("/api/{version}/version"), &[]).await, 401, "Invalid session ID");
        let reply = server.get(&format!("/api/{version}/sessions/current"), &[("authorization", "Bearer nope")]).await;
        assert_plain(&reply, 401, "Invalid session ID");
    }
}

#[tokio::test]
async fn an_expired_token_is_440_login_timeout() {
    let clock = support::manual_clock();
    let mut config = CoreConfig::default();
    config.dialects.insert(
        "loginsight".into(),
        DialectPolicy { idle_timeout: Duration::from_secs(60), lifetime: Duration::from_secs(3600) },
    );
    let server = server_with(Setup { clock: Some(clock.clone()), config: Some(config), ..Setup::default() }).await;
    let token = admin_token(&server).await;
    clock.advance(Duration::from_secs(61));
    let reply = server.get("/api/v1/sessions/current", &[("authorization", &format!("Bearer {token}"))]).await;
    assert_plain(&reply, 440, "Login Timeout");
}

#[tokio::test]
async fn ttl_is_the_honest_time_left_and_slides_with_use() {
    let clock = support::manual_clock();
    let mut config = CoreConfig::default();
    config.dialects.insert(
        "loginsight".into(),
        DialectPolicy { idle_timeout: Duration::from_secs(1800), lifetime: Duration::from_secs(3000) },
    );
    let server = server_with(Setup { clock: Some(clock.clone()), config: Some(config), ..Setup::default() }).await;
    let token = admin_token(&server).await;
    let auth = format!("Bearer {token}");
    clock.advance(Duration::from_secs(1000));
    assert_eq!(server.get("/api/v1/sessions/current", &[("authorization", &auth)]).await.json()["ttl"], 1800);
    clock.advance(Duration::from_secs(1500));
    // Used again at 2500 s: idle would allow 1800 s more, the 3000 s lifetime only 500.
    let reply = server.get("/api/v2/sessions/current", &[("authorization", &auth)]).await;
    assert_eq!(reply.json()["ttl"], 500);
}

#[tokio::test]
async fn current_session_and_version_with_a_token() {
    let server = server().await;
    let token = admin_token(&server).await;
    let auth = format!("Bearer {token}");
    // vmware-log-insight sends a JSON content type on GETs without a body.
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let reply = server.get("/api/v1/sessions/current", &headers).await;
    assert_eq!(reply.status, StatusCode::OK);
    let admin = server.core.user("System", "administrator").await.unwrap();
    assert_eq!(reply.json(), json!({"userId": admin.id.to_string(), "ttl": 1800}));
    for version in ["v1", "v2"] {
        let reply = server.get(&format!("/api/{version}/version"), &headers).await;
        assert_eq!(reply.status, StatusCode::OK);
        let version = reply.json()["version"].as_str().unwrap().to_owned();
        let (release, build) = version.split_once('-').unwrap();
        assert_eq!(release.split('.').count(), 3);
        assert!(build.parse::<u64>().is_ok(), "the build after '-' is numeric");
        assert_eq!(reply.json()["releaseName"], "GA");
    }
}

#[tokio::test]
async fn logout_extension_ends_the_session() {
    let server = server().await;
    let auth = format!("Bearer {}", admin_token(&server).await);
    let reply = server.send(Method::DELETE, "/api/v1/sessions/current", &[("authorization", &auth)], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_plain(&server.get("/api/v1/sessions/current", &[("authorization", &auth)]).await, 401, "Invalid session ID");
}

#[tokio::test]
async fn before_bootstrap_login_is_503_should_be_bootstrapped() {
    let server = uninitialised().await;
    let reply = login(&server, "v1", &credentials("administrator", "x")).await;
    assert_api_error(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "LI server should be bootstrapped to process this API call",
    );
}

#[tokio::test]
async fn a_vcd_token_is_not_a_log_insight_session() {
    let server = server().await;
    let vcd = server
        .send(
            Method::POST,
            "/api/sessions",
            &[("authorization", &support::basic(&format!("administrator@System:{ADMIN_PASSWORD}")))],
            "",
        )
        .await;
    let token = vcd.header("x-vmware-vcloud-access-token").to_owned();
    let reply = server.get("/api/v1/sessions/current", &[("authorization", &format!("Bearer {token}"))]).await;
    assert_plain(&reply, 401, "Invalid session ID");
}

// ---- /api/v2 shared with BlueCat on one listener ------------------------------------------

#[tokio::test]
async fn on_a_shared_listener_v2_requests_reach_the_dialect_they_belong_to() {
    let server = server().await;
    let li = login(&server, "v2", &credentials("administrator", ADMIN_PASSWORD)).await;
    assert_eq!(li.status, StatusCode::OK);
    assert!(li.json()["ttl"].is_number(), "a login with a provider is Log Insight's");
    let bc = server
        .post_json("/api/v2/sessions", &[], &json!({"username": "administrator", "password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(bc.status, StatusCode::CREATED, "a login without one is BlueCat's");
    assert_eq!(bc.json()["type"], "UserSession");

    let li_auth = format!("Bearer {}", li.json()["sessionId"].as_str().unwrap());
    let reply = server.get("/api/v2/sessions/current", &[("authorization", &li_auth)]).await;
    assert_eq!(reply.json()["ttl"], 1800, "{}", reply.body);
    let bc_basic = format!("Basic {}", bc.json()["basicAuthenticationCredentials"].as_str().unwrap());
    let reply = server.get("/api/v2/sessions/current", &[("authorization", &bc_basic)]).await;
    assert_eq!(reply.json()["type"], "UserSession");
    let bc_bearer = format!("Bearer {}", bc.json()["apiToken"].as_str().unwrap());
    assert_eq!(
        server.get("/api/v2/sessions/current", &[("authorization", &bc_bearer)]).await.json()["type"],
        "UserSession"
    );
    assert_eq!(server.get("/api/v2/version", &[("authorization", &li_auth)]).await.status, StatusCode::OK);

    // An ended Log Insight token still gets Log Insight's answer.
    server.send(Method::DELETE, "/api/v2/sessions/current", &[("authorization", &li_auth)], "").await;
    assert_plain(
        &server.get("/api/v2/sessions/current", &[("authorization", &li_auth)]).await,
        401,
        "Invalid session ID",
    );
    // No credentials: a 401 both kinds of client act on.
    let reply = server.get("/api/v2/sessions/current", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.content_type(), "application/json");
}
