//! What every request goes through, whatever its dialect (src/envelope.rs): unknown paths,
//! wrong methods, oversized bodies and timeouts answered in the shape of the dialect that owns
//! the path; correlation ids echoed in each dialect's header; repeated slashes merged; the
//! listener's own `/` and `/healthz`.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, Version};
use serde_json::Value;
use support::{ADMIN_PASSWORD, HOST, Reply, Setup, elements, server, server_with};
use tollgate_dialects::Dialect;

/// Asserts that `reply` is an error in `dialect`'s own shape, with `status`.
fn assert_shape(dialect: Dialect, path: &str, reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{dialect:?} {path}: {}", reply.body);
    let ct = reply.content_type();
    match dialect {
        Dialect::Vcd if path.starts_with("/cloudapi") => {
            assert!(ct.starts_with("application/json;version="), "{ct}");
            let body = reply.json();
            assert!(body["minorErrorCode"].is_string() && body["message"].is_string(), "{body}");
            assert!(body["stackTrace"].is_null());
        }
        Dialect::Vcd => {
            assert!(ct.starts_with("application/vnd.vmware.vcloud.error+xml;version="), "{ct}");
            let root = &elements(&reply.body)[0];
            assert_eq!(root.name, "Error");
            assert_eq!(root.attr("majorErrorCode"), Some(status.as_str()));
        }
        Dialect::Vcda => {
            assert_eq!(ct, "application/vnd.vmware.h4-v3.5+json;charset=UTF-8");
            let body = reply.json();
            assert!(body["args"].is_array() && body["code"].is_string() && body["msg"].is_string(), "{body}");
            assert!(body["stacktrace"].is_null());
        }
        Dialect::LogInsight => {
            assert_eq!(ct, "application/json");
            assert!(reply.json()["errorMessage"].is_string(), "{}", reply.body);
        }
        Dialect::Hcx => {
            assert_eq!(ct, "application/json");
            let body = reply.json();
            assert_eq!((body["success"].clone(), body["completed"].clone()), (false.into(), false.into()), "{body}");
            assert!(body["time"].is_i64() && body["errorCode"].is_string() && body["error"].is_string(), "{body}");
            assert_eq!(body["version"], "1.0");
        }
        Dialect::BlueCat => {
            assert_eq!(ct, "application/json", "exactly, as bluecat-libraries compares it");
            let body = reply.json();
            assert_eq!(body["status"], status.as_u16());
            assert!(body["reason"].is_string() && body["code"].is_string() && body["message"].is_string(), "{body}");
        }
        Dialect::Native => {
            assert_eq!(ct, "application/json");
            let body = reply.json();
            assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
        }
    }
}

/// One unknown path and one login URL per dialect (and vcd's two error formats).
const PATHS: &[(Dialect, &str, &str)] = &[
    (Dialect::Vcd, "/api/nothing/here", "/api/sessions"),
    (Dialect::Vcd, "/cloudapi/1.0.0/nothing", "/cloudapi/1.0.0/sessions"),
    (Dialect::Vcda, "/sessions/a/b/c", "/sessions"),
    (Dialect::LogInsight, "/api/v1/nothing", "/api/v1/sessions"),
    (Dialect::Hcx, "/hybridity/api/nothing", "/hybridity/api/sessions"),
    (Dialect::Hcx, "/api/admin/v1/nothing", "/api/admin/v1/sessions"),
    (Dialect::BlueCat, "/api/v2/nothing", "/api/v2/sessions"),
    (Dialect::Native, "/v1/nothing", "/v1/sessions"),
];

/// Cloud Director's logins carry their credentials in a header and read no body (over the
/// wire, a declared length over the limit is refused all the same).
fn reads_a_body(dialect: Dialect) -> bool {
    dialect != Dialect::Vcd
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_dialects_shape() {
    let server = server().await;
    for (dialect, unknown, _) in PATHS {
        let reply = server.get(unknown, &[]).await;
        // BlueCat asks for credentials before it says what exists.
        let status = if *dialect == Dialect::BlueCat { StatusCode::UNAUTHORIZED } else { StatusCode::NOT_FOUND };
        assert_shape(*dialect, unknown, &reply, status);
    }
}

#[tokio::test]
async fn paths_no_dialect_owns_are_404_in_tollgates_own_shape() {
    let server = server().await;
    for path in ["/nothing", "/favicon.ico", "/api2/sessions"] {
        assert_shape(Dialect::Native, path, &server.get(path, &[]).await, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_listener_of_one_dialect_answers_unknown_paths_in_that_dialects_shape() {
    let server = server_with(Setup { dialects: Some(vec![Dialect::Hcx]), ..Setup::default() }).await;
    for path in ["/nothing", "/api/versions", "/v1/sessions"] {
        assert_shape(Dialect::Hcx, path, &server.get(path, &[]).await, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn wrong_methods_are_405_in_the_dialects_shape() {
    let server = server().await;
    let cases: &[(Dialect, Method, &str)] = &[
        (Dialect::Vcd, Method::PUT, "/api/session"),
        (Dialect::Vcd, Method::GET, "/cloudapi/1.0.0/sessions"),
        (Dialect::Vcda, Method::PUT, "/sessions"),
        (Dialect::LogInsight, Method::DELETE, "/api/v1/version"),
        (Dialect::LogInsight, Method::PUT, "/api/v1/sessions"),
        (Dialect::Hcx, Method::PUT, "/api/admin/v1/sessions"),
        (Dialect::Hcx, Method::PATCH, "/hybridity/api/sessions"),
        (Dialect::Native, Method::PUT, "/v1/sessions"),
        (Dialect::Native, Method::GET, "/v1/introspect"),
    ];
    for (dialect, method, path) in cases {
        let reply = server.send(method.clone(), path, &[], "").await;
        assert_shape(*dialect, path, &reply, StatusCode::METHOD_NOT_ALLOWED);
        assert!(reply.headers.contains_key("allow"), "{path}: 405 names the allowed methods");
    }
    // BlueCat checks the credentials first, then the method.
    let login = server
        .post_json(
            "/api/v2/sessions",
            &[],
            &serde_json::json!({"username": "administrator", "password": ADMIN_PASSWORD}),
        )
        .await;
    let auth = format!("Basic {}", login.json()["basicAuthenticationCredentials"].as_str().unwrap());
    let reply = server.send(Method::PUT, "/api/v2/sessions", &[("authorization", &auth)], "").await;
    assert_shape(Dialect::BlueCat, "/api/v2/sessions", &reply, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_the_dialects_shape() {
    let server = server().await;
    let huge = format!("{{\"username\":\"{}\"}}", "x".repeat(200 * 1024));
    for (dialect, _, login) in PATHS.iter().filter(|(d, ..)| reads_a_body(*d)) {
        let reply = server.send(Method::POST, login, &[("content-type", "application/json")], &huge).await;
        assert_shape(*dialect, login, &reply, StatusCode::PAYLOAD_TOO_LARGE);
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let server = server().await;
    for (dialect, _, login) in PATHS {
        let request = Request::builder()
            .method(Method::POST)
            .uri(*login)
            .header("host", HOST)
            .header("content-type", "application/json")
            .header("content-length", "10000000000")
            // A body that never arrives: the answer must not wait for it.
            .body(Body::new(Never))
            .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), server.send_request(request)).await.unwrap();
        assert_shape(*dialect, login, &reply, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reply.header("connection"), "close", "{login}: nothing more is read from this connection");
    }
}

#[tokio::test]
async fn a_request_that_outlasts_the_timeout_is_408_in_the_dialects_shape() {
    let server = server_with(Setup { request_timeout: Some(Duration::from_millis(200)), ..Setup::default() }).await;
    for (dialect, _, login) in PATHS.iter().filter(|(d, ..)| reads_a_body(*d)) {
        let request = Request::builder()
            .method(Method::POST)
            .uri(*login)
            .header("host", HOST)
            .header("content-type", "application/json")
            .body(Body::new(Never))
            .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), server.send_request(request)).await.unwrap();
        assert_shape(*dialect, login, &reply, StatusCode::REQUEST_TIMEOUT);
    }
}

#[tokio::test]
async fn headers_over_the_limit_are_431_in_the_dialects_shape() {
    let server = server().await;
    let big = "x".repeat(20 * 1024);
    for (dialect, unknown, _) in PATHS {
        let reply = server.get(unknown, &[("x-filler", &big)]).await;
        assert_shape(*dialect, unknown, &reply, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}

#[tokio::test]
async fn an_http_1_1_request_without_host_is_400_in_the_dialects_shape() {
    let server = server().await;
    let request =
        |version: Version, path: &str| Request::builder().version(version).uri(path).body(Body::empty()).unwrap();
    for (dialect, unknown, login) in PATHS {
        for path in [unknown, login] {
            let reply = server.send_request(request(Version::HTTP_11, path)).await;
            assert_shape(*dialect, path, &reply, StatusCode::BAD_REQUEST);
            assert!(reply.body.contains("Host header"), "{path}: {}", reply.body);
        }
    }
    // HTTP/2 names the host in :authority, and HTTP/1.0 needs none.
    for version in [Version::HTTP_10, Version::HTTP_2] {
        assert_eq!(server.send_request(request(version, "/api/versions")).await.status, StatusCode::OK, "{version:?}");
    }
}

#[tokio::test]
async fn each_dialect_echoes_the_correlation_id_in_its_own_header() {
    let server = server().await;
    let cases = [
        ("/api/versions", "x-vmware-vcloud-client-request-id", "x-vmware-vcloud-request-id"),
        ("/sessions", "operationID", "operationid"),
        ("/api/v1/sessions/current", "x-request-id", "x-request-id"),
        ("/api/admin/v1/sessions", "x-request-id", "x-request-id"),
        ("/api/v2/sessions/current", "x-request-id", "x-request-id"),
        ("/v1/sessions/current", "x-request-id", "x-request-id"),
    ];
    for (path, sent, echoed) in cases {
        let reply = server.get(path, &[(sent, "corr-123")]).await;
        assert_eq!(reply.header(echoed), "corr-123", "{path}");
        // Without one, a fresh id is generated.
        let reply = server.get(path, &[]).await;
        assert!(!reply.header(echoed).is_empty(), "{path}");
    }
}

#[tokio::test]
async fn repeated_slashes_are_merged_before_routing() {
    let server = server().await;
    // Seed 001 prints the login URL as https://{api_host}//sessions.
    let body = serde_json::json!({"type": "localUser", "localUser": "administrator", "localPassword": ADMIN_PASSWORD});
    let reply = server.post_json("//sessions", &[], &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(!reply.header("x-vcav-auth").is_empty());
    assert_eq!(server.get("//api///versions", &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_index_names_the_dialects_and_healthz_reports_the_store() {
    let server = server().await;
    let reply = server.get("/", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let index = reply.json();
    let names: Vec<&str> = index["dialects"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["vcd", "vcda", "loginsight", "hcx", "bluecat", "native"]);
    assert_eq!(index["dialects"][0]["start"], "/api/versions");
    let health = server.get("/healthz", &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), serde_json::json!({"status": "ok", "initialised": true}));
    let health: Value = support::uninitialised().await.get("/healthz", &[]).await.json();
    assert_eq!(health["initialised"], false);
}

/// A request body that never sends a byte.
struct Never;

impl http_body::Body for Never {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

/// A login request with a wrong password as `dialect`'s clients send it, from `address`.
fn wrong_login(dialect: Dialect, path: &str, address: [u8; 4]) -> Request<Body> {
    let body = match dialect {
        Dialect::Vcd => String::new(),
        Dialect::Vcda => r#"{"type":"localUser","localUser":"administrator","localPassword":"wrong"}"#.into(),
        Dialect::LogInsight => r#"{"username":"administrator","password":"wrong","provider":"Local"}"#.into(),
        _ => r#"{"username":"administrator","password":"wrong"}"#.into(),
    };
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("authorization", support::basic("administrator@System:wrong"))
        .body(Body::from(body))
        .unwrap();
    let peer = std::net::SocketAddr::from((address, 40000));
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

#[tokio::test]
async fn failed_logins_beyond_the_burst_are_429_with_retry_after_in_the_dialects_shape() {
    let config = tollgate_core::CoreConfig {
        login_throttle: tollgate_core::ThrottlePolicy { burst: 1, per_second: 0.1 },
        ..Default::default()
    };
    let server = server_with(Setup { config: Some(config), ..Setup::default() }).await;
    for (i, (dialect, _, login)) in PATHS.iter().enumerate() {
        // An address of its own for each, so that each starts with a full bucket.
        let address = [127, 0, 1, i as u8 + 1];
        let first = server.send_request(wrong_login(*dialect, login, address)).await;
        assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{login}: {}", first.body);
        let second = server.send_request(wrong_login(*dialect, login, address)).await;
        assert_shape(*dialect, login, &second, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.header("retry-after"), "10", "{login}");
    }
}
