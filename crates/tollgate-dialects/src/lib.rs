//! Tollgate's wire dialects. Each module is one product's session API: it parses that
//! product's requests, calls [`tollgate_core::Core`], and renders that product's responses
//! and errors, byte for byte what its clients expect.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tollgate_core::Core;
use uuid::Uuid;

mod admin;
pub mod bluecat;
pub mod common;
pub mod envelope;
pub mod failure;
pub mod faults;
pub mod forward_auth;
pub mod hcx;
pub mod journal;
pub mod loginsight;
pub mod native;
pub mod openapi;
mod operations;
mod overlap;
pub mod settings;
pub mod vcd;
pub mod vcda;

pub use envelope::CorrelationId;
pub use failure::Failure;

pub use settings::{DialectSettings, Route, Settings, SsoDomain};

/// The dialects a listener can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Vcd,
    Vcda,
    LogInsight,
    Hcx,
    BlueCat,
    Native,
}

impl Dialect {
    pub const ALL: &[Dialect] =
        &[Dialect::Vcd, Dialect::Vcda, Dialect::LogInsight, Dialect::Hcx, Dialect::BlueCat, Dialect::Native];

    /// The name sessions are stamped with and configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Vcd => vcd::DIALECT,
            Dialect::Vcda => vcda::DIALECT,
            Dialect::LogInsight => loginsight::DIALECT,
            Dialect::Hcx => hcx::DIALECT,
            Dialect::BlueCat => bluecat::DIALECT,
            Dialect::Native => native::DIALECT,
        }
    }

    /// The product whose API the dialect speaks.
    pub fn product(self) -> &'static str {
        match self {
            Dialect::Vcd => "VMware Cloud Director",
            Dialect::Vcda => "VMware Cloud Director Availability",
            Dialect::LogInsight => "VMware Aria Operations for Logs",
            Dialect::Hcx => "VMware HCX",
            Dialect::BlueCat => "BlueCat Address Manager",
            Dialect::Native => "Tollgate",
        }
    }

    /// Where a client of the dialect starts: its login URL (or, for Cloud Director, the list
    /// of versions and login URLs).
    pub fn entry_point(self) -> &'static str {
        match self {
            Dialect::Vcd => "/api/versions",
            Dialect::Vcda => "/sessions",
            Dialect::LogInsight => "/api/v1/sessions",
            Dialect::Hcx => "/api/admin/v1/sessions",
            Dialect::BlueCat => "/api/v2/sessions",
            Dialect::Native => "/v1/sessions",
        }
    }

    /// The dialect whose API `path` belongs to, on a listener serving `served` (which decides
    /// who owns `/api/v2` when only Log Insight is there); `None` for paths no dialect has.
    pub fn owning(path: &str, served: &[Dialect]) -> Option<Dialect> {
        let under =
            |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under("/api/v1") {
            Some(Dialect::LogInsight)
        } else if under("/api/v2") {
            Some(if served.contains(&Dialect::BlueCat) { Dialect::BlueCat } else { Dialect::LogInsight })
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

    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The provider names a dialect's login requests may carry, each mapped to an identity
    /// source in [`DialectSettings::providers`]. Dialects that name none use [`DEFAULT_PROVIDER`].
    pub fn providers(self) -> &'static [&'static str] {
        match self {
            Dialect::LogInsight => loginsight::PROVIDERS,
            Dialect::Hcx => hcx::PROVIDERS,
            Dialect::Vcda => vcda::PROVIDERS,
            Dialect::BlueCat => &[DEFAULT_PROVIDER],
            // Their credentials name an org, whose source `org_sources` gives.
            Dialect::Vcd | Dialect::Native => &[],
        }
    }
}

/// The provider of dialects whose logins name none.
pub const DEFAULT_PROVIDER: &str = "default";

/// What this installation calls itself (Cloud Director's "site").
#[derive(Debug, Clone)]
pub struct Site {
    pub id: Uuid,
    pub name: String,
}

/// Everything a handler needs; one per listener.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Arc<Core>,
    pub site: Site,
    /// Prefix of every absolute URL we hand out; `None` derives it from the request's `Host`.
    pub public_url: Option<String>,
    /// `https` or `http`, for URLs derived from `Host`.
    pub scheme: &'static str,
    pub settings: Arc<Settings>,
    /// The longest a request may take, body included, before it is answered 408.
    pub request_timeout: Duration,
    /// What tests drive the server with; shared by every listener.
    pub harness: Arc<Harness>,
}

/// What a test drives a server with: fault rules and the request journal (off by default).
#[derive(Default)]
pub struct Harness {
    /// Whether the admin API serves the fault rules: only a server run for tests has any.
    pub serves_faults: bool,
    pub faults: faults::Faults,
    pub journal: journal::Journal,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// One router serving `dialects` and `/metrics`: what the shared listener serves.
pub fn router(state: AppState, dialects: &[Dialect]) -> Router {
    listener_router(state, dialects, Operations { metrics: true })
}

/// What a listener serves besides its dialects, `/`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, Copy)]
pub struct Operations {
    /// `/metrics`, when the core records metrics.
    pub metrics: bool,
}

/// One router serving `dialects`. Their paths do not collide but for Log Insight's and
/// BlueCat's `/api/v2`, which [`overlap`] shares out when a listener serves both. Every request
/// goes through [`envelope::envelope`], which also merges repeated slashes.
pub fn listener_router(state: AppState, dialects: &[Dialect], operations: Operations) -> Router {
    let both = dialects.contains(&Dialect::LogInsight) && dialects.contains(&Dialect::BlueCat);
    let served = dialects.to_vec();
    let mut app = Router::new()
        .route("/", get(move || index(served, operations)))
        .route("/healthz", get(healthz))
        .route("/readyz", get(operations::readyz));
    if operations.metrics {
        app = app.route("/metrics", get(operations::metrics));
    }
    if both {
        app = app.merge(loginsight::router_for(&["v1"])).merge(overlap::router(state.clone()));
    }
    for dialect in dialects {
        if both && matches!(dialect, Dialect::LogInsight | Dialect::BlueCat) {
            continue;
        }
        app = app.merge(match dialect {
            Dialect::Vcd => vcd::router(),
            Dialect::Vcda => vcda::router(),
            Dialect::LogInsight => loginsight::router(),
            Dialect::Hcx => hcx::router(),
            Dialect::BlueCat => bluecat::router(),
            Dialect::Native => native::router(),
        });
    }
    let requests = Arc::new(operations::RequestCounts::new(state.core.metrics().clone()));
    let listener = envelope::Listener { state: state.clone(), dialects: dialects.to_vec(), requests, shared_v2: both };
    // The envelope runs after routing (one router, one middleware: a request costs no more), so
    // a path with repeated slashes matches no route: the envelope merges them on the way to the
    // fallback, which is the same routes without the envelope, and they route it again.
    let rerouted = app
        .clone()
        .fallback(|| async { Failure::NotFound })
        .layer(axum::middleware::from_fn(operations::tag_route))
        .with_state(state.clone());
    app.fallback_service(rerouted)
        .layer(axum::middleware::from_fn_with_state(listener, envelope::envelope))
        .with_state(state)
}

/// What this listener is: each dialect it serves and where its clients start.
async fn index(served: Vec<Dialect>, operations: Operations) -> Response {
    let dialects: Vec<_> =
        served.iter().map(|d| json!({"name": d.name(), "product": d.product(), "start": d.entry_point()})).collect();
    let mut index = json!({
        "name": "Tollgate",
        "version": env!("CARGO_PKG_VERSION"),
        "dialects": dialects,
        "health": "/healthz",
        "readiness": "/readyz",
    });
    if operations.metrics {
        index["metrics"] = json!("/metrics");
    }
    axum::Json(index).into_response()
}

/// 200 when the store answers, else the failure (503 in Tollgate's own shape).
async fn healthz(State(state): State<AppState>) -> Result<Response, Failure> {
    let initialised = state.core.is_initialised().await?;
    Ok(axum::Json(json!({"status": "ok", "initialised": initialised})).into_response())
}
