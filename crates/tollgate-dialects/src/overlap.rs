//! Log Insight and BlueCat both serve `/api/v2/sessions` and `/api/v2/sessions/current`. On a
//! listener that serves both, each request goes to the dialect it belongs to: a login that
//! names a `provider` is Log Insight's, a `Basic` credential is BlueCat's, a `Bearer` token is
//! Log Insight's unless BlueCat issued it, `/api/v2/version` and `/api/v2/auth-providers` are
//! Log Insight's, and everything else under `/api/v2` is BlueCat's. A request without
//! credentials gets BlueCat's JSON 401, which Log Insight's clients take as "log in" (they only
//! read the status).

use axum::Router;
use axum::body::{Body, to_bytes};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tower::ServiceExt;

use crate::common::{self, MAX_BODY_BYTES};
use crate::{AppState, CorrelationId, Dialect, Failure, bluecat, loginsight};

#[derive(Clone)]
struct Both {
    state: AppState,
    loginsight: Router,
    bluecat: Router,
}

pub fn router(state: AppState) -> Router<AppState> {
    let both = Both {
        loginsight: loginsight::router_for(&["v2"])
            .layer(axum::middleware::from_fn(crate::operations::tag_route))
            .with_state(state.clone()),
        bluecat: bluecat::router()
            .layer(axum::middleware::from_fn(crate::operations::tag_route))
            .with_state(state.clone()),
        state,
    };
    Router::new().route("/api/v2/{*rest}", any(dispatch)).with_state(both)
}

async fn dispatch(State(both): State<Both>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let (to_loginsight, body) = if parts.method == Method::POST && path == "/api/v2/sessions" {
        match to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => {
                let names_provider = common::json_object(&bytes).is_ok_and(|o| o.contains_key("provider"));
                (names_provider, Body::from(bytes))
            }
            Err(_) => return tag(Failure::BodyTooLarge.into_response(), Dialect::BlueCat),
        }
    } else if path == "/api/v2/version" || path == "/api/v2/auth-providers" {
        (true, body)
    } else if path == "/api/v2/sessions/current" {
        (is_loginsight_token(&both.state, &parts.headers).await, body)
    } else {
        (false, body)
    };
    let request = forwarded(parts, body);
    let (target, dialect) =
        if to_loginsight { (both.loginsight, Dialect::LogInsight) } else { (both.bluecat, Dialect::BlueCat) };
    match target.oneshot(request).await {
        // The envelope renders failures in the shape of the dialect that answered.
        Ok(response) => tag(response, dialect),
        Err(never) => match never {},
    }
}

fn tag(mut response: Response, dialect: Dialect) -> Response {
    response.extensions_mut().insert(dialect);
    response
}

/// The request as the dialect's own router must see it: without the path parameters this
/// router's catch-all route added, but with the client's address and correlation id.
fn forwarded(parts: axum::http::request::Parts, body: Body) -> Request {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = parts.uri;
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers;
    if let Some(addr) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        request.extensions_mut().insert(*addr);
    }
    if let Some(id) = parts.extensions.get::<CorrelationId>() {
        request.extensions_mut().insert(id.clone());
    }
    request
}

/// True when the request carries a Bearer token BlueCat did not issue.
async fn is_loginsight_token(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic"));
    match common::bearer_token(headers) {
        Some(token) if !basic => state.core.token_dialect(token).await.is_none_or(|d| d != bluecat::DIALECT),
        _ => false,
    }
}
