//! What operators scrape and probe: `/metrics` (Prometheus), `/readyz`, and the count of every
//! answered request by dialect, route template and status.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Label};
use serde_json::json;
use tollgate_core::telemetry::{self, Metrics};

use crate::{AppState, Dialect, Failure};

/// The route label of requests no route took (unknown paths, requests refused before routing).
const UNMATCHED: &str = "unmatched";
/// Distinct route templates counted at most; they come from the code, so this is only a guard.
const MAX_ROUTES: usize = 256;
/// How long `/readyz` waits for the store before it calls it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The route template a request took, carried from the router to the envelope on the response.
#[derive(Clone)]
pub(crate) struct Route(pub(crate) MatchedPath);

/// Middleware inside the routers the envelope does not wrap (the shared `/api/v2`'s, and the
/// fallback that routes merged paths again), where the matched route is known: tags the
/// response with it unless a router nested deeper tagged it already.
pub(crate) async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched
        && response.extensions().get::<Route>().is_none()
    {
        response.extensions_mut().insert(Route(matched));
    }
    response
}

/// `tollgate_http_requests_total`, one counter per dialect, status and route template, each
/// registered the first time it is seen; counting a request afterwards is a read lock, two map
/// lookups and an atomic add.
pub(crate) struct RequestCounts {
    metrics: Metrics,
    counters: RwLock<HashMap<(Option<Dialect>, u16), ByRoute>>,
}

/// A counter for each route template, looked up by the template as the router matched it.
type ByRoute = HashMap<Box<str>, Counter>;

impl RequestCounts {
    pub fn new(metrics: Metrics) -> Self {
        RequestCounts { metrics, counters: RwLock::new(HashMap::new()) }
    }

    pub fn count(&self, dialect: Option<Dialect>, route: Option<&str>, status: StatusCode) {
        let route = route.unwrap_or(UNMATCHED);
        let key = (dialect, status.as_u16());
        if let Ok(counters) = self.counters.read()
            && let Some(counter) = counters.get(&key).and_then(|routes| routes.get(route))
        {
            counter.increment(1);
            return;
        }
        let Ok(mut counters) = self.counters.write() else { return };
        let routes = counters.entry(key).or_default();
        let route = if routes.len() >= MAX_ROUTES { UNMATCHED } else { route };
        let counter = routes.entry(route.into()).or_insert_with(|| {
            let labels = vec![
                Label::from_static_parts("dialect", dialect.map_or("none", Dialect::name)),
                Label::new("route", route.to_owned()),
                Label::new("status", key.1.to_string()),
            ];
            self.metrics.counter(telemetry::HTTP_REQUESTS, labels)
        });
        counter.increment(1);
    }
}

/// `GET /metrics`: the Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, Failure> {
    let scrape = state.core.metrics().render().ok_or(Failure::NotFound)?;
    let mut response = scrape.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}

/// `GET /readyz`: 200 when this node can serve logins (its store answers and an administrator
/// has been bootstrapped), else 503; the body says which check failed.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = tokio::time::timeout(READINESS_TIMEOUT, state.core.check_store()).await;
    let (store, initialised) = match store {
        Ok(Ok(initialised)) => ("ok", initialised),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            ("unavailable", false)
        }
        Err(_) => {
            tracing::warn!("readiness: the store did not answer in time");
            ("unavailable", false)
        }
    };
    let ready = store == "ok" && initialised;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {"store": store, "initialised": initialised},
    });
    (status, axum::Json(body)).into_response()
}
