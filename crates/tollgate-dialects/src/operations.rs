//! What operators scrape and probe: `/metrics` (Prometheus), `/readyz`, and the count and
//! latency of every answered request by dialect, route template and status.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram, Label};
use serde_json::json;
use tollgate_core::telemetry::{self, Metrics};

use crate::{AppState, Dialect, Failure};

/// The route label of requests no route took (unknown paths, requests refused before routing).
const UNMATCHED: &str = "unmatched";
/// Distinct route templates counted at most; they come from the code, so this is only a guard.
const MAX_ROUTES: usize = 256;
/// How long `/readyz` waits for the store and each identity source before it calls it unavailable.
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

/// `tollgate_http_requests_total`, one counter per dialect, status and route template, and
/// `tollgate_http_request_duration_seconds`, one histogram per dialect, status class and route
/// template, each registered the first time it is seen; counting a request afterwards is a
/// read lock, two map lookups, an atomic add and a histogram sample.
pub(crate) struct RequestCounts {
    metrics: Metrics,
    counters: RwLock<HashMap<(Option<Dialect>, u16), ByRoute>>,
}

/// The handles for each route template, looked up by the template as the router matched it.
type ByRoute = HashMap<Box<str>, (Counter, Histogram)>;

impl RequestCounts {
    pub fn new(metrics: Metrics) -> Self {
        RequestCounts { metrics, counters: RwLock::new(HashMap::new()) }
    }

    pub fn count(&self, dialect: Option<Dialect>, route: Option<&str>, status: StatusCode, latency: Duration) {
        let route = route.unwrap_or(UNMATCHED);
        let key = (dialect, status.as_u16());
        if let Ok(counters) = self.counters.read()
            && let Some((counter, duration)) = counters.get(&key).and_then(|routes| routes.get(route))
        {
            counter.increment(1);
            duration.record(latency);
            return;
        }
        let Ok(mut counters) = self.counters.write() else { return };
        let routes = counters.entry(key).or_default();
        let route = if routes.len() >= MAX_ROUTES { UNMATCHED } else { route };
        let (counter, duration) = routes.entry(route.into()).or_insert_with(|| {
            let labels = |last: Label| {
                vec![
                    Label::from_static_parts("dialect", dialect.map_or("none", Dialect::name)),
                    Label::new("route", route.to_owned()),
                    last,
                ]
            };
            // Statuses of one class share the histogram: latency by class is what alerts ask.
            let class = Label::new("status_class", format!("{}xx", key.1 / 100));
            (
                self.metrics.counter(telemetry::HTTP_REQUESTS, labels(Label::new("status", key.1.to_string()))),
                self.metrics.histogram(telemetry::HTTP_DURATION, labels(class)),
            )
        });
        counter.increment(1);
        duration.record(latency);
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

/// `GET /readyz`: whether a load balancer should send this node logins. 503 `not_ready` when its
/// store does not answer or no administrator has been bootstrapped: another node may do
/// better. 200 `degraded` when the store answers but an identity source cannot be reached:
/// every node shares the sources, so taking this one out would not help, and would refuse
/// the logins the other sources still serve. Else 200 `ready`. The body names each check;
/// the whole answer takes at most [`READINESS_TIMEOUT`].
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let (store, sources) = tokio::join!(
        tokio::time::timeout(READINESS_TIMEOUT, state.core.check_store()),
        state.core.check_sources(READINESS_TIMEOUT),
    );
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
    let (status, readiness) = match (store == "ok" && initialised, sources.iter().all(|s| s.reachable)) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        (true, false) => (StatusCode::OK, "degraded"),
        (true, true) => (StatusCode::OK, "ready"),
    };
    let sources: serde_json::Map<String, serde_json::Value> =
        sources.iter().map(|s| (s.name.clone(), json!(if s.reachable { "ok" } else { "unavailable" }))).collect();
    let body = json!({
        "status": readiness,
        "checks": {"store": store, "initialised": initialised, "sources": sources},
    });
    (status, axum::Json(body)).into_response()
}
