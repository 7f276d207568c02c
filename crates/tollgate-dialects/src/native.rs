//! `native` — Tollgate's own JSON API (`/v1`): log in, read and end one's session, and
//! introspect any dialect's token for services that trust Tollgate.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tollgate_core::{CoreError, Credential, LiveSession, LoginRequest, Session, Timestamp, TokenKind};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::common::{self, ClientAddr};
use crate::failure::RequestInfo;
use crate::{AppState, CorrelationId, Failure};

pub const DIALECT: &str = "native";

/// `/v1` and `/v1/admin`, with the OpenAPI document of both at `/v1/openapi.json`, and the
/// forward-auth endpoint.
pub fn router() -> Router<AppState> {
    let (routes, document) = crate::openapi::documented(api());
    routes.merge(document).merge(crate::forward_auth::router())
}

/// The session endpoints and the admin API, each route with its OpenAPI description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(current, logout))
        .routes(routes!(introspect))
        .merge(crate::admin::router())
}

/// How Tollgate's own API renders a failure: `{"error": CODE, "message": TEXT}`. Requests no
/// dialect owns (unknown paths on the shared listener, `/healthz`) are answered this way too.
pub fn render(failure: &Failure, _info: &RequestInfo<'_>) -> Response {
    shaped(failure)
}

fn shaped(failure: &Failure) -> Response {
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
        Failure::NoSuch(what) => (StatusCode::NOT_FOUND, "not_found", format!("{what} does not exist.")),
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
        Failure::Injected(status) => {
            let response = shaped(&Failure::standing_for(*status));
            return (*status, response).into_response();
        }
    };
    (status, Json(ErrorBody { error: code.to_owned(), message })).into_response()
}

/// Every failure of `/v1` and `/v1/admin`, as [`render`] writes it.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid_request`, `invalid_token`, `forbidden`, `not_found`, `conflict`, ...
    #[schema(example = "invalid_request")]
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// A JSON body whose every rejection (size, type, syntax, shape) is a [`Failure`].
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        match Json::<Object<T>>::from_request(request, state).await {
            Ok(Json(Object(value))) => Ok(Body(value)),
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

/// A value read from a JSON object alone: serde would also read a struct from an array of its
/// fields' values, which no client of ours sends on purpose.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(Fields(std::marker::PhantomData)).map(Object)
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

/// A session as `/v1` shows it. Fields in alphabetical order, as the API has always listed them.
#[derive(Serialize, ToSchema)]
struct SessionView<'a> {
    /// Only introspection says it (always true there: an inactive token shows no session).
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[schema(format = DateTime)]
    created_at: String,
    dialect: &'a str,
    /// When the session ends unless it is used again.
    #[schema(format = DateTime)]
    ends_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    id: Uuid,
    idle_timeout_seconds: u64,
    org: &'a str,
    roles: &'a [String],
    user: &'a str,
    user_id: Uuid,
}

impl<'a> SessionView<'a> {
    /// The view of `session` ending at `ends_at` (already formatted), without introspection's
    /// `active`.
    fn of(session: &'a Session, ends_at: String) -> SessionView<'a> {
        SessionView {
            active: None,
            created_at: session.created_at.to_rfc3339_seconds(),
            dialect: &session.dialect,
            ends_at,
            expires_at: session.expires_at.to_rfc3339_seconds(),
            id: session.id,
            idle_timeout_seconds: session.idle_timeout.as_secs(),
            org: &session.org_name,
            roles: &session.roles,
            user: &session.user_name,
            user_id: session.user_id,
        }
    }
}

/// A [`SessionView`] rendered but for `ends_at`, which moves with every use: the JSON before
/// its value and after it. Made once per cached session (see [`LiveSession::rendered`]), so that
/// answering a validation costs the validation and a copy, not a serialisation (which cost more
/// than the validation: scripts/bench.sh).
struct RenderedView {
    before_ends_at: String,
    after_ends_at: String,
}

/// Stands for `ends_at` while the rest is rendered. Found again only as the field's own value:
/// any string a user controls is quoted, its quotes escaped.
const ENDS_AT_FIELD: &str = r#""ends_at":"ENDS_AT""#;

fn render_view(session: &Session) -> RenderedView {
    let view = SessionView::of(session, "ENDS_AT".into());
    let json = serde_json::to_string(&view).expect("a view of strings, numbers and ids serialises");
    let at = json.find(ENDS_AT_FIELD).expect("the view has an ends_at field");
    let value_at = at + ENDS_AT_FIELD.len() - r#"ENDS_AT""#.len();
    RenderedView {
        before_ends_at: json[..value_at].to_owned(),
        after_ends_at: json[value_at + "ENDS_AT".len()..].to_owned(),
    }
}

/// The session's [`SessionView`] as JSON; `active` adds introspection's `"active": true`.
fn session_json(session: &LiveSession, active: bool) -> String {
    compose_view(&session.rendered(render_view), session.ends_at(), active)
}

fn compose_view(view: &RenderedView, ends_at: Timestamp, active: bool) -> String {
    let ends_at = ends_at.to_rfc3339_seconds();
    let mut json = String::with_capacity(view.before_ends_at.len() + ends_at.len() + view.after_ends_at.len() + 16);
    match active {
        true => {
            json.push_str(r#"{"active":true,"#);
            json.push_str(&view.before_ends_at[1..]);
        }
        false => json.push_str(&view.before_ends_at),
    }
    json.push_str(&ends_at);
    json.push_str(&view.after_ends_at);
    json
}

fn json_response(status: StatusCode, json: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    /// The user's organisation. Names are bounded in bytes (256); 64 characters always fit.
    #[serde(default = "system_org")]
    #[schema(default = "System", max_length = 64)]
    org: String,
    #[schema(min_length = 1, max_length = 64)]
    username: String,
    /// Bounded in bytes (1024); 256 characters always fit.
    #[schema(max_length = 256)]
    password: String,
}

/// A new session and its token (shown this once).
#[derive(Serialize, ToSchema)]
struct Login<'a> {
    token: String,
    session: SessionView<'a>,
}

fn system_org() -> String {
    tollgate_core::directory::SYSTEM_ORG.to_owned()
}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = Credentials,
    responses(
        (status = 201, description = "Logged in", body = Login),
        (status = 401, description = "Invalid organisation, user name or password", body = ErrorBody),
        (status = "4XX", description = "A bad request or a refused login", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
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
    let token = serde_json::to_string(&outcome.tokens[0]).expect("a string serialises");
    let body = format!(r#"{{"token":{token},"session":{}}}"#, session_json(&outcome.session, false));
    Ok(json_response(StatusCode::CREATED, body))
}

#[utoipa::path(get, path = "/v1/sessions/current", tag = "sessions", security(("session" = [])),
    responses(
        (status = 200, description = "The caller's session", body = SessionView),
        (status = 401, description = "No live session token", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn current(caller: Caller) -> Response {
    json_response(StatusCode::OK, session_json(&caller.0, false))
}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("session" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No live session token", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    CorrelationId(request_id): CorrelationId,
    caller: Caller,
) -> Result<StatusCode, Failure> {
    state.core.logout(&caller.0, &request_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Introspection {
    /// A token of any dialect.
    token: String,
}

/// Introspection's answer: the session with `"active": true`, or `{"active": false}` alone.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum Introspected<'a> {
    #[cfg_attr(not(test), expect(dead_code, reason = "the document's shape of what `session_json` renders"))]
    Active(SessionView<'a>),
    Inactive(InactiveToken),
}

/// What introspection says of a token that names no live session.
#[derive(Serialize, ToSchema)]
// Unknown fields are never read, but the schema then says this answer has no others, so that
// an active answer cannot pass for it.
#[serde(deny_unknown_fields)]
struct InactiveToken {
    /// Always false.
    active: bool,
}

/// Whether a token of any dialect names a live session, for whom and until when. Looking
/// does not count as use: it does not slide the idle timeout.
#[utoipa::path(post, path = "/v1/introspect", tag = "sessions", request_body = Introspection,
    responses(
        (status = 200, description = "Whether the token is live, and its session if it is", body = Introspected),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn introspect(State(state): State<AppState>, Body(request): Body<Introspection>) -> Result<Response, Failure> {
    let inactive = || Json(Introspected::Inactive(InactiveToken { active: false })).into_response();
    if request.token.is_empty() || request.token.len() > common::MAX_TOKEN_LEN {
        return Ok(inactive());
    }
    match state.core.authenticate_any(&[], &request.token, false).await {
        Ok(session) => Ok(json_response(StatusCode::OK, session_json(&session, true))),
        Err(CoreError::Session(_)) => Ok(inactive()),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tollgate_core::SessionState;

    use super::*;

    /// A session whose every string needs escaping, one quoting the view's own `ends_at` field.
    fn awkward_session() -> Session {
        Session {
            id: Uuid::new_v4(),
            number: 7,
            user_id: Uuid::new_v4(),
            user_name: r#"x","ends_at":"ENDS_AT"#.into(),
            org_name: "Org \\ \u{e9}\u{1f600} \"quoted\"".into(),
            org_id: Uuid::new_v4(),
            roles: vec!["Organization Administrator".into(), "<role & \"more\">".into()],
            dialect: DIALECT.into(),
            identity_source: "local".into(),
            remote_addr: None,
            correlation_id: "c".into(),
            created_at: Timestamp(1_700_000_000_000),
            last_seen_at: Timestamp(1_700_000_000_000),
            idle_timeout: Duration::from_secs(1800),
            expires_at: Timestamp(1_700_086_400_000),
            state: SessionState::LoggedIn,
            ended_at: None,
            read_only: false,
        }
    }

    fn documented(session: &Session, ends_at: Timestamp, active: Option<bool>) -> SessionView<'_> {
        SessionView { active, ..SessionView::of(session, ends_at.to_rfc3339_seconds()) }
    }

    /// What the kept rendering answers is, byte for byte, what serialising the documented types
    /// gives: the fast path cannot drift from the OpenAPI document.
    #[test]
    fn the_kept_rendering_is_the_documented_view_byte_for_byte() {
        let session = awkward_session();
        let view = render_view(&session);
        let ends_at = Timestamp(1_700_001_234_567);
        assert_eq!(
            compose_view(&view, ends_at, false),
            serde_json::to_string(&documented(&session, ends_at, None)).unwrap()
        );
        assert_eq!(
            compose_view(&view, ends_at, true),
            serde_json::to_string(&Introspected::Active(documented(&session, ends_at, Some(true)))).unwrap()
        );
        let login = Login { token: "t\"k".into(), session: documented(&session, ends_at, None) };
        let token = serde_json::to_string("t\"k").unwrap();
        assert_eq!(
            format!(r#"{{"token":{token},"session":{}}}"#, compose_view(&view, ends_at, false)),
            serde_json::to_string(&login).unwrap()
        );
    }
}
