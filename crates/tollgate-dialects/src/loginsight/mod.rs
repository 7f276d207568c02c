//! `loginsight` — Aria Operations for Logs (Log Insight) sessions, under `/api/v1` and
//! `/api/v2`. Contract: `docs/contracts/loginsight.md`.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use tollgate_core::{Credential, LiveSession, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody};
use crate::{AppState, CorrelationId, Dialect, Failure};

mod error;

pub use error::render;

pub const DIALECT: &str = "loginsight";
/// The `provider` values the API accepts (`^(Local|ActiveDirectory|vIDM)$`).
pub const PROVIDERS: &[&str] = &["Local", "ActiveDirectory", "vIDM"];
/// The product version `/version` reports.
pub const PRODUCT_VERSION: &str = "8.18.0-24029231";

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
            .route(&format!("/api/{version}/auth-providers"), get(auth_providers))
            .route(&format!("/api/{version}/{{*rest}}"), any(not_found));
    }
    router
}

/// A request with a live Log Insight session (`Authorization: Bearer <sessionId>`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = common::bearer_token(&parts.headers).ok_or(Failure::InvalidToken(None))?;
        Ok(Caller(state.core.authenticate_from(DIALECT, token, common::remote(parts)).await?))
    }
}

/// Seconds until the session ends unless used again, rounded up.
fn ttl(state: &AppState, session: &LiveSession) -> u64 {
    (session.ends_at().since(state.core.now()).as_millis() as u64).div_ceil(1000)
}

const MAX_NAME: usize = common::MAX_USERNAME_LEN;

async fn login(
    State(state): State<AppState>,
    CorrelationId(correlation_id): CorrelationId,
    addr: ClientAddr,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    // Before bootstrap the product answers every call 503, whatever the body (seed 002).
    if !state.core.is_initialised().await? {
        return Err(Failure::NotInitialised);
    }
    let object = object?;
    let username = common::required_string(&object, "username", MAX_NAME).map_err(Failure::BadRequest)?;
    let password = common::password_field(&object, "password").map_err(Failure::BadRequest)?;
    let provider = common::required_string(&object, "provider", 64).map_err(Failure::BadRequest)?;
    if !PROVIDERS.contains(&provider) {
        return Err(Failure::BadRequest(format!(
            "provider must match ^(Local|ActiveDirectory|vIDM)$, not {provider:?}"
        )));
    }
    if username.is_empty() {
        return Err(Failure::InvalidField { field: "username".into(), reason: "must not be empty".into() });
    }
    let outcome = common::login_via_provider(
        &state,
        Dialect::LogInsight,
        provider,
        LoginRequest {
            username,
            credential: Credential::Password(password),
            remote_addr: addr.0,
            correlation_id: &correlation_id,
            tokens: &[TokenKind::Base64Url256],
            ..LoginRequest::default()
        },
    )
    .await?;
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
    CorrelationId(correlation_id): CorrelationId,
    Caller(session): Caller,
) -> Result<StatusCode, Failure> {
    state.core.logout(&session, &correlation_id).await?;
    Ok(StatusCode::OK)
}

async fn product_version(_caller: Caller) -> Json<serde_json::Value> {
    Json(json!({"version": PRODUCT_VERSION, "releaseName": "GA"}))
}

/// The providers this server has configured, which clients list before they log in
/// (unauthenticated; 503 before bootstrap, like every other call).
async fn auth_providers(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Failure> {
    if !state.core.is_initialised().await? {
        return Err(Failure::NotInitialised);
    }
    let configured = state.settings.dialects.get(&Dialect::LogInsight).map(|d| &d.providers);
    let providers: Vec<&str> =
        PROVIDERS.iter().copied().filter(|p| configured.is_some_and(|c| c.contains_key(*p))).collect();
    Ok(Json(json!({"providers": providers})))
}

async fn not_found() -> Failure {
    Failure::NotFound
}
