//! `native` — Tollgate's own JSON API (`/v1`): log in, read and end one's session, and
//! introspect any dialect's token for services that trust Tollgate.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_core::{CoreError, Credential, LiveSession, LoginRequest, TokenKind};
use uuid::Uuid;

use crate::common::{self, ClientAddr};
use crate::failure::RequestInfo;
use crate::{AppState, CorrelationId, Failure};

pub const DIALECT: &str = "native";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(login))
        .route("/v1/sessions/current", get(current).delete(logout))
        .route("/v1/introspect", post(introspect))
        .merge(crate::forward_auth::router())
}

/// How Tollgate's own API renders a failure: `{"error": CODE, "message": TEXT}`. Requests no
/// dialect owns (unknown paths on the shared listener, `/healthz`) are answered this way too.
pub fn render(failure: &Failure, _info: &RequestInfo<'_>) -> Response {
    let (status, code, message): (StatusCode, &str, String) = match failure {
        Failure::BadRequest(what) => (StatusCode::BAD_REQUEST, "invalid_request", what.clone()),
        Failure::MissingField(field) => (StatusCode::BAD_REQUEST, "invalid_request", format!("{field} is required.")),
        Failure::InvalidField { field, reason } => {
            (StatusCode::BAD_REQUEST, "invalid_request", format!("{field}: {reason}"))
        }
        Failure::UnsupportedMediaType => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json.".into())
        }
        Failure::UnsupportedVersion(version) => {
            (StatusCode::NOT_ACCEPTABLE, "unsupported_version", format!("Version {version} is not supported."))
        }
        Failure::BodyTooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The request body is too large.".into())
        }
        Failure::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "The request headers are too large.".into(),
        ),
        Failure::NotFound => (StatusCode::NOT_FOUND, "not_found", "No such resource.".into()),
        Failure::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not supported here.".into())
        }
        Failure::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout", "The request was not completed in time.".into()),
        Failure::MissingCredentials | Failure::LoginRefused(_) | Failure::ProviderNotConfigured(_) => {
            (StatusCode::UNAUTHORIZED, "invalid_credentials", "Invalid organisation, user name or password.".into())
        }
        Failure::InvalidToken(_) | Failure::WrongScheme | Failure::RemoteAuthenticationFailed => {
            (StatusCode::UNAUTHORIZED, "invalid_token", "The session token is missing, expired or revoked.".into())
        }
        Failure::NotPermitted(what) | Failure::Forbidden(what) => (StatusCode::FORBIDDEN, "forbidden", what.clone()),
        Failure::ReadOnly => (StatusCode::FORBIDDEN, "forbidden", "This session cannot make changes.".into()),
        Failure::Conflict(what) => (StatusCode::CONFLICT, "conflict", what.clone()),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("Too many requests; retry after {retry_after_seconds} seconds."),
        ),
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not_initialised",
            "The server has not been initialised: an operator must run `tollgate bootstrap`.".into(),
        ),
        Failure::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The store is not answering; try again later.".into())
        }
        Failure::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "An internal error occurred.".into())
        }
    };
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

/// A JSON body whose every rejection (size, type, syntax, shape) is a [`Failure`].
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => Failure::UnsupportedMediaType,
                JsonRejection::BytesRejection(_) => Failure::BodyTooLarge,
                // serde's words would quote the value (a password sent as a number, say), and
                // the failure's words are logged: say what is wrong without it.
                JsonRejection::JsonDataError(_) => {
                    Failure::BadRequest("The JSON body does not have the fields and types this request takes.".into())
                }
                other => Failure::BadRequest(other.body_text()),
            }),
        }
    }
}

/// A request made with a live native session token (`Authorization: Bearer`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = common::bearer_token(&parts.headers).ok_or(Failure::InvalidToken(None))?;
        Ok(Caller(state.core.authenticate_from(DIALECT, token, common::remote(parts)).await?))
    }
}

/// A session as `/v1` shows it. A typed view rather than a `json!` map: validation answers with
/// it, and building a map of owned strings cost more than the validation (scripts/bench.sh).
/// Fields in alphabetical order, as the API has always listed them.
#[derive(Serialize)]
struct SessionView<'a> {
    /// Only introspection says it (always true there: an inactive token shows no session).
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    created_at: String,
    dialect: &'a str,
    ends_at: String,
    expires_at: String,
    id: Uuid,
    idle_timeout_seconds: u64,
    org: &'a str,
    roles: &'a [String],
    user: &'a str,
    user_id: Uuid,
}

fn describe(session: &LiveSession) -> SessionView<'_> {
    SessionView {
        active: None,
        created_at: session.created_at.to_rfc3339_seconds(),
        dialect: &session.dialect,
        ends_at: session.ends_at().to_rfc3339_seconds(),
        expires_at: session.expires_at.to_rfc3339_seconds(),
        id: session.id,
        idle_timeout_seconds: session.idle_timeout.as_secs(),
        org: &session.org_name,
        roles: &session.roles,
        user: &session.user_name,
        user_id: session.user_id,
    }
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
    CorrelationId(request_id): CorrelationId,
    addr: ClientAddr,
    Body(credentials): Body<Credentials>,
) -> Result<Response, Failure> {
    if credentials.username.is_empty()
        || credentials.username.len() > common::MAX_USERNAME_LEN
        || credentials.org.len() > common::MAX_USERNAME_LEN
    {
        return Err(Failure::BadRequest("org and username must be 1 to 256 bytes.".into()));
    }
    let outcome = state
        .core
        .login(LoginRequest {
            dialect: DIALECT,
            org: &credentials.org,
            username: &credentials.username,
            credential: Credential::Password(&credentials.password),
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

async fn current(caller: Caller) -> Response {
    Json(describe(&caller.0)).into_response()
}

async fn logout(
    State(state): State<AppState>,
    CorrelationId(request_id): CorrelationId,
    caller: Caller,
) -> Result<StatusCode, Failure> {
    state.core.logout(&caller.0, &request_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Introspection {
    token: String,
}

/// Whether a token of any dialect names a live session, for whom and until when. Looking
/// does not count as use: it does not slide the idle timeout.
async fn introspect(State(state): State<AppState>, Body(request): Body<Introspection>) -> Result<Response, Failure> {
    let inactive = || Json(json!({"active": false})).into_response();
    if request.token.is_empty() || request.token.len() > common::MAX_TOKEN_LEN {
        return Ok(inactive());
    }
    match state.core.authenticate_any(&[], &request.token, false).await {
        Ok(session) => Ok(Json(SessionView { active: Some(true), ..describe(&session) }).into_response()),
        Err(CoreError::Session(_)) => Ok(inactive()),
        Err(other) => Err(other.into()),
    }
}
