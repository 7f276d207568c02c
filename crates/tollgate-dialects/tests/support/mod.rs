//! An in-process Tollgate for HTTP-level tests: the real router over an in-memory store.

#![allow(dead_code)] // each test file uses its own part of this

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Actor, Clock, Core, CoreConfig, ManualClock, SystemClock, UserSpec};
use tollgate_dialects::{AppState, Dialect, Settings, Shared, Site};
use tollgate_store_sqlite::SqliteStore;
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-pw";
pub const HOST: &str = "tollgate.test:8443";
pub const BASE: &str = "https://tollgate.test:8443";

pub struct TestServer {
    pub app: Router,
    pub core: Arc<Core>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// How a test server differs from the default one.
#[derive(Default)]
pub struct Setup {
    pub settings: Option<Settings>,
    pub config: Option<CoreConfig>,
    /// A clock the test moves; the system clock when `None`.
    pub clock: Option<Arc<ManualClock>>,
    /// A database file instead of memory, so that a test can reach into it.
    pub database: Option<std::path::PathBuf>,
    /// The dialects the listener serves; all of them when `None`.
    pub dialects: Option<Vec<Dialect>>,
    /// The request timeout; 30 s when `None`.
    pub request_timeout: Option<std::time::Duration>,
}

/// A server with org System (administrator) and org1 (alice, an Organization Administrator).
pub async fn server() -> TestServer {
    server_with(Setup::default()).await
}

pub async fn server_with(setup: Setup) -> TestServer {
    let server = uninitialised_with(setup).await;
    server.core.bootstrap(Some(ADMIN_PASSWORD.into())).await.unwrap();
    server.core.add_org(&Actor::Operator, "org1", Some("Org One")).await.unwrap();
    add_user(&server, "org1", "alice", "Organization Administrator", "alice-pw").await;
    server
}

pub async fn add_user(server: &TestServer, org: &str, name: &str, role: &str, password: &str) {
    let spec = UserSpec {
        org: org.into(),
        name: name.into(),
        roles: vec![role.into()],
        identity_source: LOCAL_SOURCE.into(),
        password_hash: None,
    };
    server.core.add_user(&Actor::Operator, spec, Some(password)).await.unwrap();
}

/// A server nobody has bootstrapped yet.
pub async fn uninitialised() -> TestServer {
    uninitialised_with(Setup::default()).await
}

pub async fn uninitialised_with(setup: Setup) -> TestServer {
    let store = Arc::new(match &setup.database {
        Some(path) => SqliteStore::open(path).unwrap(),
        None => SqliteStore::in_memory().unwrap(),
    });
    let clock: Arc<dyn Clock> = match setup.clock {
        Some(clock) => clock,
        None => Arc::new(SystemClock),
    };
    let core = Arc::new(Core::new(store, clock, setup.config.unwrap_or_default()));
    let site = Site { id: core.installation_id().await.unwrap(), name: "site1".into() };
    let settings = Arc::new(setup.settings.unwrap_or_default());
    let state = AppState::new(Shared {
        core: core.clone(),
        site,
        public_url: None,
        scheme: "https",
        settings,
        request_timeout: setup.request_timeout.unwrap_or(std::time::Duration::from_secs(30)),
        harness: Default::default(),
    });
    let dialects = setup.dialects.unwrap_or_else(|| Dialect::ALL.to_vec());
    TestServer { app: tollgate_dialects::router(state, &dialects), core }
}

/// A clock for [`Setup::clock`], starting at a fixed instant.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(tollgate_core::Timestamp(1_700_000_000_000)))
}

pub fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

impl TestServer {
    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = Request::builder().method(method).uri(path).header("host", HOST);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send_request(request.body(Body::from(body.to_owned())).unwrap()).await
    }

    pub async fn send_request(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, "").await
    }

    pub async fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Method::POST, path, &all, &body.to_string()).await
    }
}

/// One element of an XML document, with its resolved namespace.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub namespace: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub depth: usize,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Every element of `xml` in document order, namespaces resolved as a client would.
pub fn elements(xml: &str) -> Vec<Element> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let (resolved, event) = reader.read_resolved_event().unwrap_or_else(|e| panic!("bad XML ({e}): {xml}"));
        let namespace = match resolved {
            ResolveResult::Bound(ns) => Some(AsRef::<str>::as_ref(&ns).to_owned()),
            _ => None,
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let attributes = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = AsRef::<str>::as_ref(&a.key).to_owned();
                        (key, a.normalized_value(quick_xml::XmlVersion::Explicit1_0).unwrap().into_owned())
                    })
                    .collect();
                let name = AsRef::<str>::as_ref(&e.local_name()).to_owned();
                out.push(Element { name, namespace, attributes, text: String::new(), depth: open.len() });
                if matches!(event, Event::Start(_)) {
                    open.push(out.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&quick_xml::escape::unescape(&t.xml10_content()).unwrap());
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
