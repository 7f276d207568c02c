//! `loginsight` — Aria Operations for Logs (Log Insight) sessions, under `/api/v1` and
//! `/api/v2`. Contract: `shared/spec/loginsight.md`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use tollgate_core::{LiveSession, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody, ProviderLoginError};
use crate::{AppState, Dialect};

mod error;

pub use error::LiError;

pub const DIALECT: &str = "loginsight";
/// The `provider` values the API accepts (`^(Local|ActiveDirectory|vIDM)$`).
pub const PROVIDERS: &[&str] = &["Local", "ActiveDirectory", "vIDM"];
/// The product version `/version` reports.
pub const PRODUCT_VERSION: &str = "8.18.0-24029231";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Both API versions.
pub fn router() -> Router<AppState> {
    router_for(&["v1", "v2"])
}

/// The API under `/api/{version}` for each of `versions`.
pub fn router_for(versions: &[&str]) -> Router<AppState> {
    let mut router = Router::new();
    for version in versions {
        router = router
            .route(&format!("/api/{version}/sessions"), post(login))
            .route(&format!("/api/{version}/sessions/current"), get(current).delete(logout))
            .route(&format!("/api/{version}/version"), get(product_version))
            .route(&format!("/api/{version}/{{*rest}}"), any(not_found));
    }
    router.layer(middleware::from_fn(bound_headers))
}

async fn bound_headers(request: Request, next: Next) -> Response {
    if common::headers_too_large(request.headers()) {
        return LiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// A request with a live Log Insight session (`Authorization: Bearer <sessionId>`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = LiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, LiError> {
        let token = common::bearer_token(&parts.headers).ok_or(LiError::InvalidSession)?;
        Ok(Caller(state.core.authenticate(DIALECT, token).await?))
    }
}

/// Seconds until the session ends unless used again, rounded up.
fn ttl(state: &AppState, session: &LiveSession) -> u64 {
    (session.ends_at().since(state.core.now()).as_millis() as u64).div_ceil(1000)
}

const MAX_NAME: usize = common::MAX_USERNAME_LEN;

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    JsonBody(object): JsonBody,
) -> Result<Response, LiError> {
    let object = object?;
    let username = common::required_string(&object, "username", MAX_NAME).map_err(LiError::JsonFormat)?;
    let password = common::password_field(&object, "password").map_err(LiError::JsonFormat)?;
    let provider = common::required_string(&object, "provider", 64).map_err(LiError::JsonFormat)?;
    if !PROVIDERS.contains(&provider) {
        return Err(LiError::JsonFormat(format!(
            "provider must match ^(Local|ActiveDirectory|vIDM)$, not {provider:?}"
        )));
    }
    if username.is_empty() {
        return Err(LiError::Field { field: "username", reason: "must not be empty".into() });
    }
    let correlation_id = common::correlation_id(&headers, &REQUEST_ID);
    let outcome = common::login_via_provider(
        &state,
        Dialect::LogInsight,
        provider,
        LoginRequest {
            username,
            password,
            remote_addr: addr.0,
            correlation_id: &correlation_id,
            tokens: &[TokenKind::Base64Url256],
            ..LoginRequest::default()
        },
    )
    .await
    .map_err(|e| match e {
        ProviderLoginError::NotConfigured => {
            LiError::Field { field: "provider", reason: format!("the {provider} provider is not configured") }
        }
        ProviderLoginError::Core(e) => e.into(),
    })?;
    let body = json!({
        "userId": outcome.session.user_id,
        "sessionId": outcome.tokens[0],
        "ttl": ttl(&state, &outcome.session),
    });
    Ok(Json(body).into_response())
}

async fn current(State(state): State<AppState>, Caller(session): Caller) -> Json<serde_json::Value> {
    Json(json!({"userId": session.user_id, "ttl": ttl(&state, &session)}))
}

/// Not in the product (its sessions only time out); Tollgate's extension.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Caller(session): Caller,
) -> Result<StatusCode, LiError> {
    state.core.logout(&session, &common::correlation_id(&headers, &REQUEST_ID)).await?;
    Ok(StatusCode::OK)
}

async fn product_version(_caller: Caller) -> Json<serde_json::Value> {
    Json(json!({"version": PRODUCT_VERSION, "releaseName": "GA"}))
}

async fn not_found() -> LiError {
    LiError::NotFound
}
