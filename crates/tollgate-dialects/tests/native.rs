//! The native `/v1` JSON API.

mod support;

use axum::http::{Method, StatusCode};
use support::{Reply, Setup, TestServer, add_user, basic, manual_clock, server, server_with, uninitialised};

const JSON: (&str, &str) = ("content-type", "application/json");

async fn login(server: &TestServer, body: &str) -> Reply {
    server.send(Method::POST, "/v1/sessions", &[JSON], body).await
}

async fn alice_token(server: &TestServer) -> String {
    let reply = login(server, r#"{"org":"org1","username":"alice","password":"alice-pw"}"#).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(reply.json()["error"], code);
    assert!(reply.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn login_returns_a_token_and_the_session() {
    let server = server().await;
    let reply = login(&server, r#"{"org":"org1","username":"alice","password":"alice-pw"}"#).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(body["token"].as_str().unwrap().len(), 43);
    assert_eq!(body["session"]["user"], "alice");
    assert_eq!(body["session"]["org"], "org1");
    assert_eq!(body["session"]["dialect"], "native");
    assert_eq!(body["session"]["idle_timeout_seconds"], 1800);
}

#[tokio::test]
async fn the_org_defaults_to_system() {
    let server = server().await;
    let reply = login(&server, r#"{"username":"administrator","password":"admin-pw"}"#).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["session"]["org"], "System");
}

#[tokio::test]
async fn bad_credentials_are_401() {
    let server = server().await;
    let reply = login(&server, r#"{"org":"org1","username":"alice","password":"nope"}"#).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn malformed_bodies_are_400_415_or_413() {
    let server = server().await;
    for body in [
        "not json",
        r#"{"org":"org1","username":"alice"}"#,
        r#"{"username":1,"password":"x"}"#,
        r#"{"username":"a","password":"b","extra":1}"#,
    ] {
        assert_error(&login(&server, body).await, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_error(
        &login(&server, r#"{"username":"","password":"x"}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let reply = server.send(Method::POST, "/v1/sessions", &[("content-type", "text/plain")], "{}").await;
    assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = format!(r#"{{"username":"a","password":"{}"}}"#, "x".repeat(100 * 1024));
    assert_error(&login(&server, &huge).await, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn current_session_and_logout() {
    let server = server().await;
    let token = alice_token(&server).await;
    let auth = format!("Bearer {token}");
    let reply = server.get("/v1/sessions/current", &[("authorization", &auth)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["user"], "alice");
    let reply = server.send(Method::DELETE, "/v1/sessions/current", &[("authorization", &auth)], "").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_error(
        &server.get("/v1/sessions/current", &[("authorization", &auth)]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(&server.get("/v1/sessions/current", &[]).await, StatusCode::UNAUTHORIZED, "invalid_token");
}

/// The session view, in full: every field, in order, strings escaped, and `ends_at` moving with
/// each use while the rest stays (the rest is rendered once per session and kept).
#[tokio::test]
async fn the_session_view_lists_every_field_and_ends_at_slides_with_use() {
    let clock = manual_clock();
    let server = server_with(Setup { clock: Some(clock.clone()), ..Setup::default() }).await;
    // A name that quotes the view's own field: it must come out escaped, as text.
    let name = r#"x","ends_at":"ENDS_AT"#;
    add_user(&server, "org1", name, "Organization Administrator", "quoted-pw").await;
    let body = serde_json::json!({"org": "org1", "username": name, "password": "quoted-pw"}).to_string();
    let login = login(&server, &body).await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    let auth = format!("Bearer {}", login.json()["token"].as_str().unwrap());
    let session = login.json()["session"].clone();

    clock.advance(std::time::Duration::from_secs(60));
    let reply = server.get("/v1/sessions/current", &[("authorization", &auth)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    let current = reply.json();
    let keys: Vec<&str> = current.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "dialect",
            "ends_at",
            "expires_at",
            "id",
            "idle_timeout_seconds",
            "org",
            "roles",
            "user",
            "user_id"
        ]
    );
    assert_eq!(current["user"], name);
    assert_eq!(current["roles"], serde_json::json!(["Organization Administrator"]));
    assert_eq!(current["created_at"], "2023-11-14T22:13:20Z");
    assert_eq!(current["expires_at"], session["expires_at"]);
    // Idle 30 minutes from the last use, a minute after the login's.
    assert_eq!(session["ends_at"], "2023-11-14T22:43:20Z");
    assert_eq!(current["ends_at"], "2023-11-14T22:44:20Z");
    for field in ["id", "user_id", "dialect", "org", "idle_timeout_seconds"] {
        assert_eq!(current[field], session[field], "{field}");
    }

    clock.advance(std::time::Duration::from_secs(60));
    let introspected = server
        .send(Method::POST, "/v1/introspect", &[JSON], &serde_json::json!({"token": &auth[7..]}).to_string())
        .await;
    let introspected = introspected.json();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected.as_object().unwrap().keys().next().map(String::as_str), Some("active"));
    // Looking does not slide: still the first validation's end.
    assert_eq!(introspected["ends_at"], "2023-11-14T22:44:20Z");
    assert_eq!(introspected["user"], name);
}

#[tokio::test]
async fn introspection_reports_any_dialects_live_tokens() {
    let server = server().await;
    let token = alice_token(&server).await;
    let introspect = |token: String| {
        let server = &server;
        async move {
            server.send(Method::POST, "/v1/introspect", &[JSON], &serde_json::json!({"token": token}).to_string()).await
        }
    };
    let reply = introspect(token.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["active"], true);
    assert_eq!(reply.json()["user"], "alice");
    assert!(reply.json()["ends_at"].as_str().unwrap().ends_with('Z'));

    let vcd = server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:alice-pw"))], "").await;
    let vcd_token = vcd.header("x-vcloud-authorization").to_owned();
    let reply = introspect(vcd_token).await;
    assert_eq!(reply.json()["active"], true);
    assert_eq!(reply.json()["dialect"], "vcd");

    assert_eq!(introspect("unknown".into()).await.json(), serde_json::json!({"active": false}));
    assert_eq!(introspect(String::new()).await.json(), serde_json::json!({"active": false}));
}

#[tokio::test]
async fn before_bootstrap_login_is_503() {
    let server = uninitialised().await;
    let reply = login(&server, r#"{"username":"administrator","password":"x"}"#).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "not_initialised");
}

#[tokio::test]
async fn a_body_of_the_wrong_types_is_400_without_quoting_its_values() {
    let server = server().await;
    let reply = login(&server, r#"{"org":"System","username":"administrator","password":98765432}"#).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    // The message is logged too: a password sent as a number must not appear in it.
    assert!(!reply.body.contains("98765432"), "{}", reply.body);
}

#[tokio::test]
async fn the_openapi_document_describes_every_v1_route_and_how_to_authenticate() {
    let server = server().await;
    let reply = server.get("/v1/openapi.json", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.0");
    let operations: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| format!("{method} {path}")))
        .collect();
    for operation in [
        "post /v1/sessions",
        "get /v1/sessions/current",
        "delete /v1/sessions/current",
        "post /v1/introspect",
        "get /v1/auth/verify",
    ] {
        assert!(operations.contains(&operation.to_owned()), "{operation} missing from {operations:?}");
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
    assert_eq!(schemes["apiToken"]["scheme"], "bearer");
    assert_eq!(document["components"]["schemas"]["ErrorBody"]["required"], serde_json::json!(["error", "message"]));
}

#[tokio::test]
async fn a_body_must_be_an_object_not_an_array_of_the_fields_values() {
    let server = server().await;
    let reply = server.send(Method::POST, "/v1/introspect", &[JSON], r#"["some-token"]"#).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    let reply = login(&server, r#"["org1","alice","alice-pw"]"#).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
}
