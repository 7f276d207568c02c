//! `native` — Tollgate's own JSON API (`/v1`): log in, read and end one's session, and
//! introspect any dialect's token for services that trust Tollgate.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tollgate_core::{CoreError, LiveSession, LoginRequest, TokenKind};

use crate::AppState;
use crate::common::{self, ClientAddr};

pub const DIALECT: &str = "native";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(login))
        .route("/v1/sessions/current", get(current).delete(logout))
        .route("/v1/introspect", post(introspect))
}

/// `{"error": CODE, "message": TEXT}` with a matching status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    fn unauthenticated() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "The session token is missing, expired or revoked.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(dialect = DIALECT, status = self.status.as_u16(), code = self.code, "request failed");
        } else {
            tracing::info!(dialect = DIALECT, status = self.status.as_u16(), code = self.code, "request refused");
        }
        (self.status, Json(json!({"error": self.code, "message": self.message}))).into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid organisation, user name or password.",
            ),
            CoreError::Session(_) => ApiError::unauthenticated(),
            CoreError::NotInitialised => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_initialised",
                "The server has not been initialised: an operator must run `tollgate bootstrap`.",
            ),
            CoreError::Invalid(what) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", what),
            CoreError::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, "not_found", what),
            CoreError::NotPermitted(what) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", what),
            other => {
                tracing::error!(dialect = DIALECT, error = %other, "core error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "An internal error occurred.")
            }
        }
    }
}

/// A JSON body whose every rejection (size, type, syntax, shape) is rendered as [`ApiError`].
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json.",
                ),
                JsonRejection::BytesRejection(_) => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The request body is too large.")
                }
                other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", other.body_text()),
            }),
        }
    }
}

/// A request made with a live native session token (`Authorization: Bearer`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = common::bearer_token(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        Ok(Caller(state.core.authenticate(DIALECT, token).await?))
    }
}

fn describe(session: &LiveSession) -> Value {
    json!({
        "id": session.id,
        "org": session.org_name,
        "user": session.user_name,
        "user_id": session.user_id,
        "roles": session.roles,
        "dialect": session.dialect,
        "created_at": session.created_at.to_rfc3339_seconds(),
        "expires_at": session.expires_at.to_rfc3339_seconds(),
        "idle_timeout_seconds": session.idle_timeout.as_secs(),
        "ends_at": session.ends_at().to_rfc3339_seconds(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    #[serde(default = "system_org")]
    org: String,
    username: String,
    password: String,
}

fn system_org() -> String {
    tollgate_core::directory::SYSTEM_ORG.to_owned()
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    Body(credentials): Body<Credentials>,
) -> Result<Response, ApiError> {
    if credentials.username.is_empty()
        || credentials.username.len() > common::MAX_USERNAME_LEN
        || credentials.org.len() > common::MAX_USERNAME_LEN
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "org and username must be 1 to 256 bytes.",
        ));
    }
    let request_id = common::correlation_id(&headers, &REQUEST_ID);
    let outcome = state
        .core
        .login(LoginRequest {
            dialect: DIALECT,
            org: &credentials.org,
            username: &credentials.username,
            password: &credentials.password,
            remote_addr: addr.0,
            correlation_id: &request_id,
            tokens: &[TokenKind::Base64Url256],
            source: state.settings.source_of_org(&credentials.org),
            ..LoginRequest::default()
        })
        .await?;
    let body = json!({"token": outcome.tokens[0], "session": describe(&outcome.session)});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn current(caller: Caller) -> Json<Value> {
    Json(describe(&caller.0))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, caller: Caller) -> Result<StatusCode, ApiError> {
    state.core.logout(&caller.0, &common::correlation_id(&headers, &REQUEST_ID)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Introspection {
    token: String,
}

/// Whether a token of any dialect names a live session, for whom and until when. Looking
/// does not count as use: it does not slide the idle timeout.
async fn introspect(
    State(state): State<AppState>,
    Body(request): Body<Introspection>,
) -> Result<Json<Value>, ApiError> {
    if request.token.is_empty() || request.token.len() > common::MAX_TOKEN_LEN {
        return Ok(Json(json!({"active": false})));
    }
    match state.core.authenticate_any(&[], &request.token, false).await {
        Ok(session) => {
            let mut body = describe(&session);
            body["active"] = json!(true);
            Ok(Json(body))
        }
        Err(CoreError::Session(_)) => Ok(Json(json!({"active": false}))),
        Err(other) => Err(other.into()),
    }
}
