//! The `bluecat` contract (docs/contracts/bluecat.md), one test per documented status and body
//! shape.

mod support;

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Reply, Setup, TestServer, server, uninitialised};
use tollgate_dialects::Dialect;

const SESSIONS: &str = "/api/v2/sessions";
const MERGE_PATCH: (&str, &str) = ("content-type", "application/merge-patch+json");

/// A login's session object and its `Authorization: Basic …` value.
struct Login {
    session: Value,
    basic: String,
}

async fn login(server: &TestServer, user: &str, password: &str, read_only: bool) -> Reply {
    let mut body = json!({"username": user, "password": password});
    if read_only {
        body["readOnly"] = json!(true);
    }
    server.post_json(SESSIONS, &[], &body).await
}

async fn logged_in(server: &TestServer, user: &str, password: &str) -> Login {
    let reply = login(server, user, password, false).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let session = reply.json();
    let basic = format!("Basic {}", session["basicAuthenticationCredentials"].as_str().unwrap());
    Login { session, basic }
}

async fn admin(server: &TestServer) -> Login {
    logged_in(server, "administrator", ADMIN_PASSWORD).await
}

async fn operator(server: &TestServer) -> Login {
    support::add_user(server, "System", "operator", "vApp User", "op-pw").await;
    logged_in(server, "operator", "op-pw").await
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    // Exactly this string: bluecat-libraries compares it before raising BAMV2ErrorResponse.
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["reason"], status.canonical_reason().unwrap());
    assert_eq!(body["code"], code);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn patch(server: &TestServer, path: &str, auth: &str, state: &str) -> Reply {
    server
        .send(Method::PATCH, path, &[("authorization", auth), MERGE_PATCH], &json!({"state": state}).to_string())
        .await
}

fn is_utc_seconds(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[tokio::test]
async fn login_is_201_hal_json_with_the_user_session() {
    let server = server().await;
    let reply = login(&server, "administrator", ADMIN_PASSWORD, false).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.content_type(), "application/hal+json");
    let s = reply.json();
    let id = s["id"].as_i64().expect("a numeric id");
    assert_eq!(reply.header("location"), format!("/api/v2/sessions/{id}"));
    assert_eq!(s["type"], "UserSession");
    let token = s["apiToken"].as_str().unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("administrator:{token}"));
    assert_eq!(s["basicAuthenticationCredentials"], expected);
    assert!(is_utc_seconds(&s["apiTokenExpirationDateTime"]) && is_utc_seconds(&s["loginDateTime"]));
    assert_eq!(s["state"], "LOGGED_IN");
    assert_eq!(s["readOnly"], false);
    assert!(s["logoutDateTime"].is_null() && s["response"].is_null());
    assert!(s.as_object().unwrap().contains_key("remoteAddress"));
    let user_id = s["user"]["id"].as_i64().unwrap();
    assert_eq!(
        s["user"],
        json!({"id": user_id, "type": "User", "name": "administrator", "_links": {"self": {"href": format!("/api/v2/users/{user_id}")}}})
    );
    assert_eq!(s["authenticator"]["type"], "AddressManagerAuthenticator");
    assert_eq!(s["authenticator"]["name"], "proteusAuthenticator");
    assert_eq!(
        s["_links"],
        json!({"self": {"href": format!("/api/v2/sessions/{id}")}, "collection": {"href": "/api/v2/sessions"}})
    );
}

#[tokio::test]
async fn the_current_session_answers_basic_and_bearer() {
    let server = server().await;
    let login = admin(&server).await;
    let bearer = format!("Bearer {}", login.session["apiToken"].as_str().unwrap());
    for auth in [&login.basic, &bearer] {
        let reply = server.get("/api/v2/sessions/current", &[("authorization", auth)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type(), "application/hal+json");
        let body = reply.json();
        assert_eq!(body["id"], login.session["id"]);
        assert_eq!(body["user"]["name"], "administrator");
        assert_eq!(body["apiToken"], login.session["apiToken"]);
    }
    let id = login.session["id"].as_i64().unwrap();
    assert_eq!(server.get(&format!("{SESSIONS}/{id}"), &[("authorization", &login.basic)]).await.json()["id"], id);
}

#[tokio::test]
async fn wrong_credentials_are_401_invalid_username_or_password() {
    let server = server().await;
    assert_error(
        &login(&server, "administrator", "nope", false).await,
        StatusCode::UNAUTHORIZED,
        "InvalidUsernameOrPassword",
    );
    assert_error(&login(&server, "nobody", "nope", false).await, StatusCode::UNAUTHORIZED, "InvalidUsernameOrPassword");
}

#[tokio::test]
async fn malformed_logins_are_400() {
    let server = server().await;
    let send = |body: &'static str| server.send(Method::POST, SESSIONS, &[("content-type", "application/json")], body);
    assert_error(&send(r#"{"password":"x"}"#).await, StatusCode::BAD_REQUEST, "MissingRequiredField");
    assert_error(&send(r#"{"username":"a"}"#).await, StatusCode::BAD_REQUEST, "MissingRequiredField");
    assert_error(&send("{nope").await, StatusCode::BAD_REQUEST, "JsonParseError");
    assert_error(
        &send(r#"{"username":"a","password":"b","readOnly":"yes"}"#).await,
        StatusCode::BAD_REQUEST,
        "JsonParseError",
    );
    let reply = server.send(Method::POST, SESSIONS, &[("content-type", "text/plain")], "{}").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "JsonParseError");
}

#[tokio::test]
async fn a_huge_body_is_refused() {
    let server = server().await;
    let reply = server.post_json(SESSIONS, &[], &json!({"username": "a", "password": "x".repeat(100_000)})).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge");
}

#[tokio::test]
async fn bad_tokens_and_schemes() {
    let server = server().await;
    let login = admin(&server).await;
    let current = "/api/v2/sessions/current";
    assert_error(&server.get(current, &[]).await, StatusCode::UNAUTHORIZED, "InvalidAuthorizationCredentials");
    assert_error(
        &server.get(current, &[("authorization", "Digest abc")]).await,
        StatusCode::FORBIDDEN,
        "InvalidAuthorizationScheme",
    );
    // Someone else's name with this token.
    let token = login.session["apiToken"].as_str().unwrap();
    let forged = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("operator:{token}")));
    assert_error(
        &server.get(current, &[("authorization", &forged)]).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthorizationCredentials",
    );
}

#[tokio::test]
async fn on_a_bluecat_listener_an_unknown_bearer_token_is_bluecats_401() {
    let setup = Setup { dialects: Some(vec![Dialect::BlueCat]), ..Setup::default() };
    let server = support::server_with(setup).await;
    let reply = server.get("/api/v2/sessions/current", &[("authorization", "Bearer nope")]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "InvalidAuthorizationCredentials");
    let login = admin(&server).await;
    let bearer = format!("Bearer {}", login.session["apiToken"].as_str().unwrap());
    assert_eq!(server.get("/api/v2/sessions/current", &[("authorization", &bearer)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_by_merge_patch_and_the_old_credentials_are_refused() {
    let server = server().await;
    let login = admin(&server).await;
    let id = login.session["id"].as_i64().unwrap();
    let reply = patch(&server, &format!("{SESSIONS}/{id}"), &login.basic, "LOGGED_OUT").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["state"], "LOGGED_OUT");
    assert!(is_utc_seconds(&reply.json()["logoutDateTime"]));
    let after = server.get("/api/v2/sessions/current", &[("authorization", &login.basic)]).await;
    assert_error(&after, StatusCode::UNAUTHORIZED, "InvalidAuthorizationCredentials");

    let again = admin(&server).await;
    let reply = patch(&server, "/api/v2/sessions/current", &again.basic, "LOGGED_OUT").await;
    assert_eq!(reply.json()["state"], "LOGGED_OUT");
}

#[tokio::test]
async fn patch_needs_a_state_it_can_set() {
    let server = server().await;
    let login = admin(&server).await;
    for state in ["LOGGED_IN", "TIMED_OUT", "LOGIN_FAIL", "SLEEPING"] {
        let reply = patch(&server, "/api/v2/sessions/current", &login.basic, state).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidEnumValue");
    }
    let reply = server
        .send(Method::PATCH, "/api/v2/sessions/current", &[("authorization", &login.basic), MERGE_PATCH], "{}")
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "MissingRequiredField");
}

#[tokio::test]
async fn session_lists_are_paged_with_limit_and_offset() {
    let server = server().await;
    let first_login = admin(&server).await;
    for _ in 0..4 {
        admin(&server).await;
    }
    let page = |query: &'static str| {
        let server = &server;
        let auth = first_login.basic.clone();
        async move { server.get(&format!("{SESSIONS}{query}"), &[("authorization", &auth)]).await }
    };
    let all = page("").await.json();
    assert_eq!(all["count"], 5);
    assert!(all["_links"].get("next").is_none() && all["_links"].get("prev").is_none());
    let first = page("?limit=2").await.json();
    assert_eq!(first["count"], 2);
    assert_eq!(first["_links"]["next"]["href"], "/api/v2/sessions?offset=2&limit=2");
    assert!(first["_links"].get("prev").is_none());
    let last = page("?offset=4&limit=2").await.json();
    assert_eq!(last["count"], 1);
    assert_eq!(last["_links"]["prev"]["href"], "/api/v2/sessions?offset=2&limit=2");
    assert!(last["_links"].get("next").is_none());
    let ids =
        |body: &serde_json::Value| body["data"].as_array().unwrap().iter().map(|s| s["id"].clone()).collect::<Vec<_>>();
    let middle = page("?offset=2&limit=2").await.json();
    assert!(
        ids(&first).iter().chain(&ids(&middle)).chain(&ids(&last)).collect::<std::collections::HashSet<_>>().len() == 5
    );
    for bad in ["?limit=0", "?limit=x", "?offset=-1", "?limit=100001"] {
        assert_error(&page(bad).await, StatusCode::BAD_REQUEST, "InvalidFieldValue");
    }
}

#[tokio::test]
async fn administrators_list_and_terminate_sessions() {
    let server = server().await;
    let admin = admin(&server).await;
    let operator = operator(&server).await;
    let listed = server.get(SESSIONS, &[("authorization", &admin.basic)]).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.content_type(), "application/hal+json");
    let body = listed.json();
    assert_eq!(body["count"], 2);
    assert_eq!(body["_links"]["self"]["href"], "/api/v2/sessions");
    assert!(body["data"].as_array().unwrap().iter().any(|s| s["user"]["name"] == "operator"));
    assert_error(
        &server.get(SESSIONS, &[("authorization", &operator.basic)]).await,
        StatusCode::FORBIDDEN,
        "AccessDenied",
    );

    let admin_id = admin.session["id"].as_i64().unwrap();
    let operator_id = operator.session["id"].as_i64().unwrap();
    let reply = patch(&server, &format!("{SESSIONS}/{admin_id}"), &operator.basic, "TERMINATED").await;
    assert_error(&reply, StatusCode::FORBIDDEN, "AccessDenied");
    let reply = patch(&server, &format!("{SESSIONS}/{operator_id}"), &admin.basic, "TERMINATED").await;
    assert_eq!(reply.json()["state"], "TERMINATED");
    assert_error(
        &server.get("/api/v2/sessions/current", &[("authorization", &operator.basic)]).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthorizationCredentials",
    );
    let reply = patch(&server, &format!("{SESSIONS}/{operator_id}"), &admin.basic, "TERMINATED").await;
    assert_error(&reply, StatusCode::CONFLICT, "StaleResourceState");
    let reply = server.get(&format!("{SESSIONS}/999999"), &[("authorization", &admin.basic)]).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "ResourceNotFound");
}

#[tokio::test]
async fn a_read_only_session_may_read_and_log_out_but_not_write() {
    let server = server().await;
    let reply = login(&server, "administrator", ADMIN_PASSWORD, true).await;
    assert_eq!(reply.json()["readOnly"], true);
    let basic = format!("Basic {}", reply.json()["basicAuthenticationCredentials"].as_str().unwrap());
    assert_eq!(server.get("/api/v2/users", &[("authorization", &basic)]).await.status, StatusCode::OK);
    let reply = server
        .send(Method::POST, "/api/v2/users", &[("authorization", &basic), ("content-type", "application/json")], "{}")
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "ReadOnlySession");
    let other = admin(&server).await;
    let other_id = other.session["id"].as_i64().unwrap();
    let reply = patch(&server, &format!("{SESSIONS}/{other_id}"), &basic, "TERMINATED").await;
    assert_error(&reply, StatusCode::FORBIDDEN, "ReadOnlySession");
    let reply = patch(&server, "/api/v2/sessions/current", &basic, "LOGGED_OUT").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn users_can_be_read_by_themselves_and_administrators() {
    let server = server().await;
    let admin = admin(&server).await;
    let operator = operator(&server).await;
    let own = operator.session["user"]["id"].as_i64().unwrap();
    let admin_user = admin.session["user"]["id"].as_i64().unwrap();
    let reply = server.get(&format!("/api/v2/users/{own}"), &[("authorization", &operator.basic)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        (reply.json()["name"].clone(), reply.json()["userType"].clone()),
        (json!("operator"), json!("NON_ADMIN"))
    );
    let reply = server.get(&format!("/api/v2/users/{admin_user}"), &[("authorization", &operator.basic)]).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "AccessDenied");
    let reply = server.get(&format!("/api/v2/users/{own}"), &[("authorization", &admin.basic)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_error(
        &server.get("/api/v2/users/424242", &[("authorization", &admin.basic)]).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    );
    let all = server.get("/api/v2/users", &[("authorization", &admin.basic)]).await.json();
    assert_eq!(all["count"], 2);
    let mine = server.get("/api/v2/users", &[("authorization", &operator.basic)]).await.json();
    assert_eq!(mine["data"][0]["name"], "operator");
    assert_eq!(mine["count"], 1);
}

#[tokio::test]
async fn everything_else_is_404_resource_not_found() {
    let server = server().await;
    let admin = admin(&server).await;
    assert_error(
        &server.get("/api/v2/zones", &[("authorization", &admin.basic)]).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    );
}

#[tokio::test]
async fn before_bootstrap_login_is_503() {
    let server = uninitialised().await;
    assert_error(
        &login(&server, "administrator", "x", false).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
}

#[tokio::test]
async fn a_token_of_another_dialect_is_not_a_bluecat_session() {
    let server = server().await;
    let hcx = server
        .post_json("/api/admin/v1/sessions", &[], &json!({"username": "administrator", "password": ADMIN_PASSWORD}))
        .await;
    let token = hcx.header("x-hm-authorization").to_owned();
    let reply = server.get("/api/v2/sessions/current", &[("authorization", &format!("Bearer {token}"))]).await;
    // On a listener shared with Log Insight an unknown Bearer token is Log Insight's to refuse.
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("administrator:{token}")));
    let reply = server.get("/api/v2/sessions/current", &[("authorization", &basic)]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "InvalidAuthorizationCredentials");
}

#[tokio::test]
async fn oversized_headers_are_refused_in_bluecat_shape() {
    let server = server().await;
    let big = "x".repeat(20 * 1024);
    let reply = server.get("/api/v2/users", &[("x-padding", &big)]).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.content_type(), "application/json");
}

#[tokio::test]
async fn system_settings_tell_the_version_bam_version_reads() {
    let server = server().await;
    let login = admin(&server).await;
    let auth = [("authorization", login.basic.as_str())];
    let reply = server.get("/api/v2/settings?filter=type:%27SystemSettings%27", &auth).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/hal+json");
    let body = reply.json();
    assert_eq!(body["count"], 1);
    assert_eq!(body["data"][0]["type"], "SystemSettings");
    // bluecat-libraries parses what precedes the first '-'.
    assert_eq!(body["data"][0]["version"].as_str().unwrap().split('-').next(), Some("9.5.1"));
    let other = server.get("/api/v2/settings?filter=type:%27Other%27", &auth).await.json();
    assert_eq!(other["count"], 0);
    assert_error(
        &server.get("/api/v2/settings", &[]).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthorizationCredentials",
    );
}
