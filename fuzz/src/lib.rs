//! What the fuzz targets share: one in-process Tollgate (the real router over an in-memory
//! store, built once per process, as crates/tollgate-dialects/tests/support builds it), a way
//! to send it a request, and the checks every answer must pass: no 5xx, and every 4xx a
//! non-empty error in the shape of the dialect that owns the path.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Core, CoreConfig, SystemClock, UserSpec};
use tollgate_dialects::common::{bearer_token, json_object};
use tollgate_dialects::{AppState, Dialect, Settings, Shared, Site};
use tollgate_store_sqlite::SqliteStore;
use tower::ServiceExt;

/// The administrator's password: no fuzzer finds it, so every login fails.
const ADMIN_PASSWORD: &str = "fuzz-admin-password-not-in-any-dictionary";
pub const HOST: &str = "tollgate.fuzz:8443";

pub struct Server {
    runtime: tokio::runtime::Runtime,
    app: Router,
}

/// What came back.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// The server, built on first use: org System (administrator) and org1 (alice).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let app = runtime.block_on(async {
            let store = Arc::new(SqliteStore::in_memory().unwrap());
            let core = Arc::new(Core::new(store, Arc::new(SystemClock), CoreConfig::default()));
            core.bootstrap(Some(ADMIN_PASSWORD.into())).await.unwrap();
            core.add_org("org1", Some("Org One")).await.unwrap();
            let alice = UserSpec {
                org: "org1".into(),
                name: "alice".into(),
                roles: vec!["Organization Administrator".into()],
                identity_source: LOCAL_SOURCE.into(),
                password_hash: None,
            };
            core.add_user(alice, Some(ADMIN_PASSWORD)).await.unwrap();
            let site = Site { id: core.installation_id().await.unwrap(), name: "site1".into() };
            let state = AppState::new(Shared {
                core,
                site,
                public_url: None,
                scheme: "https",
                settings: Arc::new(Settings::default()),
                request_timeout: std::time::Duration::from_secs(30),
                harness: Default::default(),
            });
            tollgate_dialects::router(state, Dialect::ALL)
        });
        Server { runtime, app }
    })
}

impl Server {
    pub fn send(&self, request: Request<Body>) -> Answer {
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
            Answer { status, headers, body }
        })
    }

    /// Sends `method path` with `headers` (those that are not valid header values are left
    /// out) and `body`, and checks the answer with [`check`].
    pub fn exchange(&self, method: Method, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Option<Answer> {
        let mut request = Request::builder().method(method.clone()).uri(path).header(header::HOST, HOST);
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request = request.header(*name, value);
            }
        }
        let request = request.body(Body::from(body.to_vec())).ok()?;
        let request_headers = request.headers().clone();
        let path = merged(request.uri().path());
        let answer = self.send(request);
        check(&method, &path, &request_headers, body, &answer);
        Some(answer)
    }
}

/// `//a///b` is `/a/b`, as the router merges it.
pub fn merged(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// The dialect whose shape a failure at `path` takes on a listener serving every dialect.
pub fn owner(method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Option<Dialect> {
    let under = |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if under("/api/v1") {
        Some(Dialect::LogInsight)
    } else if under("/api/v2") {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic"));
        let loginsight = path == "/api/v2/version"
            || path == "/api/v2/auth-providers"
            || (method == Method::POST
                && path == "/api/v2/sessions"
                && json_object(body).is_ok_and(|o| o.contains_key("provider")))
            || (path == "/api/v2/sessions/current" && bearer_token(headers).is_some() && !basic);
        Some(if loginsight { Dialect::LogInsight } else { Dialect::BlueCat })
    } else if under("/api/admin/v1") || under("/hybridity") {
        Some(Dialect::Hcx)
    } else if under("/api") || under("/cloudapi") {
        Some(Dialect::Vcd)
    } else if under("/sessions") || under("/diagnostics") {
        Some(Dialect::Vcda)
    } else if under("/v1") {
        Some(Dialect::Native)
    } else {
        None
    }
}

/// The media types VCDA answers in, whatever was asked.
pub const VCDA_TYPES: &[&str] = &[
    "application/vnd.vmware.h4-v3.5+json;charset=UTF-8",
    "application/vnd.vmware.h4-v4.5+json;charset=UTF-8",
    "application/json",
];

/// Panics unless `answer` is no 5xx and, when a 4xx, a non-empty error in the owning dialect's
/// shape (crates/tollgate-dialects/tests/properties.rs checks the same).
pub fn check(method: &Method, path: &str, headers: &HeaderMap, body: &[u8], answer: &Answer) {
    let status = answer.status;
    let text = String::from_utf8_lossy(&answer.body);
    assert!(!status.is_server_error(), "{method} {path}: {status} {text}");
    if !status.is_client_error() || method == Method::HEAD {
        return;
    }
    assert!(!answer.body.is_empty(), "{method} {path}: an empty {status}");
    let ct = answer.content_type();
    let json = || -> Value {
        serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} not JSON ({e}): {text}"))
    };
    match owner(method, path, headers, body) {
        Some(Dialect::Vcd) if path.starts_with("/cloudapi") => {
            assert!(ct.starts_with("application/json;version="), "{path}: {ct}");
            let body = json();
            assert!(body["minorErrorCode"].is_string() && body["message"].is_string(), "{body}");
        }
        Some(Dialect::Vcd) => {
            assert!(ct.starts_with("application/vnd.vmware.vcloud.error+xml;version="), "{path}: {ct}");
            assert!(
                text.contains("<Error ") && text.contains(&format!("majorErrorCode=\"{}\"", status.as_u16())),
                "{text}"
            );
        }
        Some(Dialect::Vcda) => {
            assert!(VCDA_TYPES.contains(&ct), "{path}: {ct}");
            let body = json();
            assert!(body["args"].is_array() && body["code"].is_string() && body["msg"].is_string(), "{body}");
        }
        Some(Dialect::LogInsight) if ct == "text/plain" => {
            assert!(status == StatusCode::UNAUTHORIZED || status.as_u16() == 440, "{path}: {status} {text}");
        }
        Some(Dialect::LogInsight) => {
            assert_eq!(ct, "application/json", "{path}");
            assert!(json()["errorMessage"].is_string(), "{text}");
        }
        Some(Dialect::Hcx) => {
            assert_eq!(ct, "application/json", "{path}");
            let body = json();
            assert!(body["success"] == false && body["completed"] == false, "{body}");
            assert!(body["errorCode"].is_string() && body["error"].is_string(), "{body}");
        }
        Some(Dialect::BlueCat) => {
            assert_eq!(ct, "application/json", "{path}");
            let body = json();
            assert_eq!(body["status"], status.as_u16(), "{body}");
            assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        }
        Some(Dialect::Native) | None => {
            assert_eq!(ct, "application/json", "{path}");
            let body = json();
            assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
        }
    }
}
