//! The `vcda` contract (docs/contracts/vcda.md), one test per documented status and body shape.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Reply, TestServer, basic, server, uninitialised};

const V35: &str = "application/vnd.vmware.h4-v3.5+json;charset=UTF-8";
const V45: &str = "application/vnd.vmware.h4-v4.5+json;charset=UTF-8";

async fn login(server: &TestServer, body: Value) -> Reply {
    server.post_json("/sessions", &[], &body).await
}

async fn login_ok(server: &TestServer, body: Value) -> (String, Value) {
    let reply = login(server, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (reply.header("x-vcav-auth").to_owned(), reply.json())
}

fn local_admin() -> Value {
    json!({"type": "localUser", "localUser": "administrator", "localPassword": ADMIN_PASSWORD})
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type(), V35);
    let body = reply.json();
    assert_eq!(body["code"], code);
    assert_eq!(body["args"], json!([]));
    assert!(body["stacktrace"].is_null(), "never a stack trace");
    assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()));
}

/// A live vcd session: (x-vcloud-authorization, access token).
async fn vcd_tokens(server: &TestServer) -> (String, String) {
    let reply =
        server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:alice-pw"))], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    (reply.header("x-vcloud-authorization").to_owned(), reply.header("x-vmware-vcloud-access-token").to_owned())
}

#[tokio::test]
async fn local_user_login_gives_the_token_and_session_details() {
    let server = server().await;
    let reply = login(&server, local_admin()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), V35);
    assert!(reply.header("x-vcav-auth").len() >= 32);
    assert_eq!(
        reply.json(),
        json!({"authenticatedSites": [], "roles": ["ADMINISTRATORS", "EVERYONE"], "user": "administrator"})
    );
}

#[tokio::test]
async fn vcd_credentials_in_both_spellings_authenticate_the_site() {
    let server = server().await;
    for body in [
        json!({"type": "vcdCredentials", "vcdUser": "alice@org1", "vcdPassword": "alice-pw"}),
        json!({"type": "vcdCredentials", "username": "alice@org1", "password": "alice-pw"}),
    ] {
        let (_, details) = login_ok(&server, body).await;
        assert_eq!(
            details,
            json!({"authenticatedSites": [{"org": "org1", "site": "site1"}], "roles": ["EVERYONE"], "user": "alice@org1"})
        );
    }
    let reply = login(&server, json!({"type": "vcdCredentials", "vcdUser": "alice", "vcdPassword": "alice-pw"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BadUserInput");
}

#[tokio::test]
async fn a_live_vcd_session_is_a_credential() {
    let server = server().await;
    let (cookie, access) = vcd_tokens(&server).await;
    let (_, details) = login_ok(&server, json!({"type": "vcdCookie", "vcdCookie": cookie})).await;
    assert_eq!(details["user"], "alice@org1");
    assert_eq!(details["authenticatedSites"], json!([{"org": "org1", "site": "site1"}]));
    let (token, _) =
        login_ok(&server, json!({"type": "vcdAccessToken", "vcdAccessToken": access, "context": "org1"})).await;
    // The vcda session is its own: a vcda token is no vcd session.
    let reply = server.get("/api/session", &[("x-vcloud-authorization", &token)]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Delegation speaks for the token's holder only.
    let body = json!({"type": "vcdCookie", "vcdCookie": cookie, "principal": "administrator@System"});
    assert_error(&login(&server, body).await, StatusCode::BAD_REQUEST, "BadRequest");
    // A dead vcd session is no credential.
    server.send(Method::DELETE, "/api/session", &[("x-vcloud-authorization", &cookie)], "").await;
    let reply = login(&server, json!({"type": "vcdCookie", "vcdCookie": cookie})).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "NotAuthenticated");
}

#[tokio::test]
async fn sso_credentials_go_through_the_sso_domain() {
    let server = server().await;
    let body = json!({"type": "ssoCredentials", "username": "administrator@vsphere.local", "password": ADMIN_PASSWORD});
    let (_, details) = login_ok(&server, body).await;
    assert_eq!(details["user"], "administrator@vsphere.local");
    let body = json!({"type": "ssoCredentials", "username": "administrator@elsewhere", "password": ADMIN_PASSWORD});
    assert_error(&login(&server, body).await, StatusCode::UNAUTHORIZED, "NotAuthenticated");
}

#[tokio::test]
async fn an_sso_token_no_saml_source_can_verify_is_401() {
    let server = server().await;
    // Seed 001's own ssoToken example, as printed.
    let body = json!({
        "type": "ssoToken",
        "samlToken": "<saml2:Assertion xmlns:saml2=...>...</saml2:Assertion>",
        "timestamp": 1465194049081_i64,
        "nonce": "jF845646gJzx734",
        "signature": "c2FtcGxlU2lnbmF0dXJlCg==",
        "principal": null
    });
    let reply = login(&server, body).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "NotAuthenticated");
    let incomplete = json!({"type": "ssoToken", "samlToken": "<saml2:Assertion/>"});
    assert_error(&login(&server, incomplete).await, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn bad_requests_are_400_bad_request() {
    let server = server().await;
    assert_error(&login(&server, json!({"type": "kerberos"})).await, StatusCode::BAD_REQUEST, "BadRequest");
    assert_error(&login(&server, json!({"localUser": "x"})).await, StatusCode::BAD_REQUEST, "BadRequest");
    assert_error(
        &login(&server, json!({"type": "localUser", "localUser": "x"})).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );
    assert_error(&login(&server, json!({"type": 7})).await, StatusCode::BAD_REQUEST, "BadRequest");
    let reply = server.send(Method::POST, "/sessions", &[("content-type", "application/json")], "{not json").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn oversized_input_is_refused_in_vcda_shape() {
    let server = server().await;
    let reply =
        login(&server, json!({"type": "localUser", "localUser": "a", "localPassword": "x".repeat(100_000)})).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "BadRequest");
    let big = "x".repeat(20 * 1024);
    let reply = server.post_json("/sessions", &[("x-padding", &big)], &local_admin()).await;
    assert_error(&reply, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "BadRequest");
    let reply = server.send(Method::POST, "/sessions", &[("content-type", "text/xml")], "<x/>").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test]
async fn wrong_credentials_are_401_not_authenticated() {
    let server = server().await;
    let reply =
        login(&server, json!({"type": "localUser", "localUser": "administrator", "localPassword": "nope"})).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "NotAuthenticated");
}

#[tokio::test]
async fn impersonation_needs_the_right_to_it() {
    let server = server().await;
    let mut body = local_admin();
    body["principal"] = json!("alice@org1");
    let (_, details) = login_ok(&server, body).await;
    assert_eq!(details["user"], "alice@org1");
    let body = json!({"type": "vcdCredentials", "vcdUser": "alice@org1", "vcdPassword": "alice-pw", "principal": "administrator@System"});
    assert_error(&login(&server, body).await, StatusCode::FORBIDDEN, "Forbidden");
    // A tenant's own System Administrator is no provider.
    support::add_user(&server, "org1", "tenant-admin", "System Administrator", "ta-pw").await;
    let body = json!({"type": "vcdCredentials", "vcdUser": "tenant-admin@org1", "vcdPassword": "ta-pw", "principal": "administrator@System"});
    assert_error(&login(&server, body).await, StatusCode::FORBIDDEN, "Forbidden");
    // An unknown SSO domain is refused like a wrong password, principal or not.
    let body =
        json!({"type": "ssoCredentials", "username": "root@nowhere", "password": "x", "principal": "alice@org1"});
    assert_error(&login(&server, body).await, StatusCode::UNAUTHORIZED, "NotAuthenticated");
}

#[tokio::test]
async fn the_token_reads_and_ends_the_session() {
    let server = server().await;
    let (token, _) = login_ok(&server, local_admin()).await;
    let reply = server.get("/sessions", &[("x-vcav-auth", &token)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["user"], "administrator");
    let reply = server.send(Method::DELETE, "/sessions", &[("x-vcav-auth", &token)], "").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = server.get("/sessions", &[("x-vcav-auth", &token)]).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "NotAuthenticated");
    assert_eq!(reply.header("www-authenticate"), "Authentication Token Required");
    let reply = server.get("/sessions", &[]).await;
    assert_eq!(reply.header("www-authenticate"), "Authentication Token Required");
}

#[tokio::test]
async fn media_types_are_negotiated_and_accepted_back() {
    let server = server().await;
    for (accept, expected) in [
        (V45, V45),
        ("application/vnd.vmware.h4-v4.5+json", V45),
        ("application/json", "application/json"),
        (V35, V35),
        ("*/*", V35),
    ] {
        let reply = server.post_json("/sessions", &[("accept", accept)], &local_admin()).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept}");
        assert_eq!(reply.content_type(), expected, "{accept}");
        let token = reply.header("x-vcav-auth").to_owned();
        // Clients copy our Content-Type into their next Accept.
        let again = server.get("/sessions", &[("x-vcav-auth", &token), ("accept", expected)]).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.content_type(), expected);
    }
    let reply = server.get("/sessions", &[("accept", "application/json")]).await;
    assert_eq!(reply.content_type(), "application/json");
}

#[tokio::test]
async fn the_operation_id_is_echoed() {
    let server = server().await;
    let reply = server.post_json("/sessions", &[("operationID", "op-42")], &local_admin()).await;
    assert_eq!(reply.header("operationid"), "op-42");
    let reply = server.get("/sessions", &[("operationID", "op-43")]).await;
    assert_eq!(reply.header("operationid"), "op-43");
}

#[tokio::test]
async fn extending_to_a_site_and_leaving_it() {
    let server = server().await;
    let (token, details) = login_ok(&server, local_admin()).await;
    assert_eq!(details["authenticatedSites"], json!([]));
    let extend = |body: Value| {
        let server = &server;
        let token = token.clone();
        async move { server.post_json("/sessions/extend", &[("x-vcav-auth", &token)], &body).await }
    };
    let reply =
        extend(json!({"type": "credentials", "site": "site1", "vcdUsername": "alice@org1", "vcdPassword": "alice-pw"}))
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["authenticatedSites"], json!([{"org": "org1", "site": "site1"}]));
    let reply =
        extend(json!({"type": "credentials", "site": "site1", "vcdUsername": "alice@org1", "vcdPassword": "nope"}))
            .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "RemoteAuthenticationFailure");
    let (cookie, _) = vcd_tokens(&server).await;
    let reply = extend(json!({"type": "cookie", "site": "site1", "cookie": cookie})).await;
    assert_eq!(reply.json()["authenticatedSites"].as_array().unwrap().len(), 1, "no duplicates");
    let reply = extend(
        json!({"type": "credentials", "site": "elsewhere", "vcdUsername": "alice@org1", "vcdPassword": "alice-pw"}),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BadUserInput");
    let reply = extend(json!({"type": "teleport", "site": "site1"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BadRequest");

    let reply = server.send(Method::DELETE, "/sessions/site1", &[("x-vcav-auth", &token)], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["authenticatedSites"], json!([]));
    assert_eq!(server.get("/sessions", &[("x-vcav-auth", &token)]).await.json()["authenticatedSites"], json!([]));
}

#[tokio::test]
async fn before_bootstrap_login_is_503() {
    let server = uninitialised().await;
    assert_error(&login(&server, local_admin()).await, StatusCode::SERVICE_UNAVAILABLE, "GeneralServerFailure");
}

#[tokio::test]
async fn sessions_do_not_pile_up_for_clients_that_never_log_out() {
    let server = server().await;
    for _ in 0..40 {
        login_ok(&server, local_admin()).await;
    }
    let live =
        server.core.sessions(Some("System"), Some("administrator"), true, tollgate_core::Page::ALL).await.unwrap();
    assert_eq!(live.len(), 32, "capped per user, oldest evicted");
}

#[tokio::test]
async fn diagnostics_about_tells_the_build_clients_pick_their_api_by() {
    let server = server().await;
    let reply = server.get("/diagnostics/about", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/vnd.vmware.h4-v3.5+json;charset=UTF-8");
    let body = reply.json();
    assert_eq!(body["productName"], "VMware Cloud Director Availability");
    assert!(body["buildVersion"].as_str().unwrap().starts_with("4.7"));
    assert!(body["buildDate"].is_string());
}
