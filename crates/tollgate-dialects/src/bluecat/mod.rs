//! `bluecat` — BlueCat Address Manager REST v2 sessions (`/api/v2`).
//! Contract: `docs/contracts/bluecat.md`.

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};
use tollgate_core::directory::{LOCAL_SOURCE, SYSTEM_ADMINISTRATOR};
use tollgate_core::{
    Action, Actor, CoreError, Credential, LiveSession, LoginRequest, Session, SessionState, TokenKind, User,
};

use crate::common::{self, AuthorizationProblem, ClientAddr, JsonBody};
use crate::{AppState, CorrelationId, DEFAULT_PROVIDER, Dialect, Failure};

mod error;

pub use error::render;

pub const DIALECT: &str = "bluecat";
const HAL_JSON: &str = "application/hal+json";
const CHANGE_COMMENT: HeaderName = HeaderName::from_static("x-bcn-change-control-comment");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/sessions", post(login).get(list_sessions).fallback(other_method))
        .route("/api/v2/sessions/{id}", get(get_session).patch(patch_session).fallback(other_method))
        .route("/api/v2/users", get(list_users).fallback(other_method))
        .route("/api/v2/users/{id}", get(get_user).fallback(other_method))
        .route("/api/v2/settings", get(settings).fallback(other_method))
        .route("/api/v2/{*rest}", any(elsewhere))
        .layer(middleware::from_fn(change_comment))
}

/// Logs the change control comment a client attaches to its request.
async fn change_comment(request: Request, next: Next) -> Response {
    if let Some(comment) = request.headers().get(CHANGE_COMMENT).and_then(|v| v.to_str().ok()) {
        let comment: String = comment.chars().take(256).collect();
        tracing::info!(dialect = DIALECT, method = %request.method(), path = %request.uri().path(), comment, "change control comment");
    }
    next.run(request).await
}

/// A request with a live BlueCat session: `Basic base64(username:apiToken)` or
/// `Bearer apiToken`. Keeps the token, which the session's own view shows back.
struct Caller {
    session: LiveSession,
    token: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let headers = &parts.headers;
        let (username, token) = match common::basic_credentials(headers) {
            Ok((username, token)) => (Some(username), token),
            Err(AuthorizationProblem::Missing) => return Err(Failure::InvalidToken(None)),
            Err(AuthorizationProblem::Malformed) => {
                let token = common::bearer_token(headers).ok_or_else(|| scheme_problem(headers))?;
                (None, token.to_owned())
            }
        };
        if token.len() > common::MAX_TOKEN_LEN {
            return Err(Failure::InvalidToken(None));
        }
        let session = state.core.authenticate_from(DIALECT, &token, common::remote(parts)).await?;
        if username.is_some_and(|name| !name.eq_ignore_ascii_case(&session.user_name)) {
            return Err(Failure::InvalidToken(None));
        }
        Ok(Caller { session, token })
    }
}

impl Caller {
    /// Whether the core lets the caller do `action`; a refusal is the handler's to word.
    fn may(&self, state: &AppState, action: Action) -> bool {
        state.core.authorize(&Actor::from(self.session.session()), action).is_ok()
    }
}

/// A Basic or Bearer header that could not be read is bad credentials; any other scheme is
/// the wrong scheme.
fn scheme_problem(headers: &HeaderMap) -> Failure {
    let scheme = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if scheme == "basic" || scheme == "bearer" { Failure::InvalidToken(None) } else { Failure::WrongScheme }
}

fn basic_credentials(username: &str, token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"))
}

fn hal(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, HAL_JSON)], body.to_string()).into_response()
}

fn user_ref(user: &User) -> Value {
    json!({
        "id": user.number,
        "type": "User",
        "name": user.name,
        "_links": {"self": {"href": format!("/api/v2/users/{}", user.number)}},
    })
}

fn user_view(user: &User) -> Value {
    let admin = user.has_role(SYSTEM_ADMINISTRATOR);
    json!({
        "id": user.number,
        "type": "User",
        "name": user.name,
        "userType": if admin { "ADMIN" } else { "NON_ADMIN" },
        "userAccessType": "API_AND_GUI",
        "email": null,
        "_links": {"self": {"href": format!("/api/v2/users/{}", user.number)}},
    })
}

/// A `UserSession` object; `token` only for the session whose own credentials asked.
async fn session_view(state: &AppState, session: &Session, token: Option<&str>) -> Result<Value, Failure> {
    let user = state.core.user_by_id(session.user_id).await?.ok_or(Failure::NotFound)?;
    let (id, name, kind) = if session.identity_source == LOCAL_SOURCE {
        (2, "proteusAuthenticator".to_owned(), "AddressManagerAuthenticator")
    } else {
        (3, session.identity_source.clone(), "LDAPAuthenticator")
    };
    Ok(json!({
        "id": session.number,
        "type": "UserSession",
        "apiToken": token,
        "apiTokenExpirationDateTime": session.expires_at.to_rfc3339_seconds(),
        "basicAuthenticationCredentials": token.map(|t| basic_credentials(&user.name, t)),
        "state": session.state.as_str(),
        "remoteAddress": session.remote_addr,
        "readOnly": session.read_only,
        "loginDateTime": session.created_at.to_rfc3339_seconds(),
        "logoutDateTime": session.ended_at.map(|t| t.to_rfc3339_seconds()),
        "response": null,
        "user": user_ref(&user),
        "authenticator": {
            "id": id,
            "type": kind,
            "name": name,
            "_links": {"self": {"href": format!("/api/v2/authenticators/{id}")}},
        },
        "_links": {
            "self": {"href": format!("/api/v2/sessions/{}", session.number)},
            "collection": {"href": "/api/v2/sessions"},
        },
    }))
}

/// `?limit=&offset=` of a collection request: BlueCat's defaults are 1000 and 0, and a
/// limit may not exceed 100000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    limit: usize,
    offset: usize,
}

impl Page {
    fn parse(query: Option<&str>) -> Result<Page, Failure> {
        let mut page = Page { limit: 1000, offset: 0 };
        for (name, value) in query.unwrap_or_default().split('&').filter_map(|pair| pair.split_once('=')) {
            let number = || {
                value.parse::<usize>().map_err(|_| Failure::InvalidField {
                    field: name.to_owned(),
                    reason: format!("{name} must be a non-negative integer, not {value:?}"),
                })
            };
            match name {
                "limit" => page.limit = number()?,
                "offset" => page.offset = number()?,
                // BlueCat ignores parameters it does not know.
                _ => {}
            }
        }
        if !(1..=100_000).contains(&page.limit) {
            return Err(Failure::InvalidField {
                field: "limit".into(),
                reason: "limit must be between 1 and 100000".into(),
            });
        }
        Ok(page)
    }

    /// This page of `items`.
    fn of<T>(self, items: Vec<T>) -> (Vec<T>, usize) {
        let total = items.len();
        (items.into_iter().skip(self.offset).take(self.limit).collect(), total)
    }
}

/// A HAL collection: `count` items of this page in `data`, `prev` and `next` links when there
/// are pages on either side.
fn collection(path: &str, page: Page, total: usize, items: Vec<Value>) -> Value {
    let href = |offset: usize| format!("{path}?offset={offset}&limit={}", page.limit);
    let mut links = json!({"self": {"href": if page == (Page { limit: 1000, offset: 0 }) { path.to_owned() } else { href(page.offset) }}});
    if page.offset > 0 {
        links["prev"] = json!({"href": href(page.offset.saturating_sub(page.limit))});
    }
    if page.offset + page.limit < total {
        links["next"] = json!({"href": href(page.offset + page.limit)});
    }
    json!({"count": items.len(), "data": items, "_links": links})
}

async fn login(
    State(state): State<AppState>,
    CorrelationId(correlation_id): CorrelationId,
    addr: ClientAddr,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    let object = object?;
    let username = common::string_field(&object, "username", common::MAX_USERNAME_LEN)
        .map_err(Failure::BadRequest)?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Failure::MissingField("username".into()))?;
    let password = common::string_field(&object, "password", tollgate_core::password::MAX_PASSWORD_BYTES)
        .map_err(Failure::BadRequest)?
        .ok_or_else(|| Failure::MissingField("password".into()))?;
    let read_only = match object.get("readOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Failure::BadRequest("readOnly must be a boolean".into())),
    };
    let outcome = common::login_via_provider(
        &state,
        Dialect::BlueCat,
        DEFAULT_PROVIDER,
        LoginRequest {
            username,
            credential: Credential::Password(password),
            remote_addr: addr.0,
            correlation_id: &correlation_id,
            tokens: &[TokenKind::Base64Url256],
            read_only,
            ..LoginRequest::default()
        },
    )
    .await?;
    let view = session_view(&state, &outcome.session, Some(&outcome.tokens[0])).await?;
    let mut response = hal(StatusCode::CREATED, view);
    let location = format!("/api/v2/sessions/{}", outcome.session.number);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The session `id` names (`current` or a number), if the caller may see it.
async fn target(state: &AppState, caller: &Caller, id: &str) -> Result<Session, Failure> {
    if id == "current" {
        return Ok(caller.session.session().clone());
    }
    let number: i64 = id.parse().map_err(|_| Failure::NotFound)?;
    let session =
        state.core.session_by_number(number).await?.filter(|s| s.dialect == DIALECT).ok_or(Failure::NotFound)?;
    if !caller.may(state, Action::ViewSession { org_id: session.org_id, user_id: session.user_id }) {
        return Err(Failure::Forbidden("Only administrators can see other users' sessions".into()));
    }
    Ok(session)
}

async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response, Failure> {
    let session = target(&state, &caller, &id).await?;
    let token = (session.id == caller.session.id).then_some(caller.token.as_str());
    Ok(hal(StatusCode::OK, session_view(&state, &session, token).await?))
}

async fn list_sessions(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    caller: Caller,
) -> Result<Response, Failure> {
    if !caller.may(&state, Action::ListSessions { org_id: caller.session.org_id }) {
        return Err(Failure::Forbidden("Only administrators can list sessions".into()));
    }
    let page = Page::parse(query.as_deref())?;
    let (sessions, total) = page.of(state.core.dialect_sessions(DIALECT, Some(caller.session.org_id), false).await?);
    let mut items = Vec::new();
    for session in sessions {
        let token = (session.id == caller.session.id).then_some(caller.token.as_str());
        items.push(session_view(&state, &session, token).await?);
    }
    Ok(hal(StatusCode::OK, collection("/api/v2/sessions", page, total, items)))
}

/// Logout (`{"state":"LOGGED_OUT"}`) or, by an administrator, termination
/// (`{"state":"TERMINATED"}`) through a JSON merge patch.
async fn patch_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CorrelationId(correlation_id): CorrelationId,
    caller: Caller,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    let object = object?;
    let wanted = common::string_field(&object, "state", 32)
        .map_err(Failure::BadRequest)?
        .ok_or_else(|| Failure::MissingField("state".into()))?;
    let wanted = match SessionState::parse(wanted) {
        Some(s @ (SessionState::LoggedOut | SessionState::Terminated)) => s,
        // LOGIN_FAIL is a state BlueCat records, never one a client sets.
        Some(_) => return Err(invalid_state(format!("A session's state cannot be set to {wanted}"))),
        None if wanted == "LOGIN_FAIL" => {
            return Err(invalid_state(format!("A session's state cannot be set to {wanted}")));
        }
        None => return Err(invalid_state(format!("{wanted:?} is not a session state"))),
    };
    let session = target(&state, &caller, &id).await?;
    let actor = Actor::from(caller.session.session());
    let ended = match state.core.end_session(&actor, &session, wanted, &correlation_id).await {
        Ok(ended) => ended,
        Err(CoreError::NotPermitted(_)) if session.user_id != caller.session.user_id => {
            return Err(Failure::Forbidden("Only administrators can end other users' sessions".into()));
        }
        Err(CoreError::NotPermitted(_)) => {
            return Err(Failure::Forbidden("Only administrators can terminate sessions".into()));
        }
        Err(other) => return Err(other.into()),
    };
    let ended = ended.ok_or_else(|| {
        Failure::Conflict(format!("Session {} is already {}", session.number, session.state.as_str()))
    })?;
    Ok(hal(StatusCode::OK, session_view(&state, &ended, None).await?))
}

async fn list_users(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    caller: Caller,
) -> Result<Response, Failure> {
    let page = Page::parse(query.as_deref())?;
    let users = if caller.may(&state, Action::ListUsers { org_id: caller.session.org_id }) {
        state.core.users(Some(&caller.session.org_name), tollgate_core::Page::ALL).await?
    } else {
        state.core.user_by_id(caller.session.user_id).await?.into_iter().collect()
    };
    let (users, total) = page.of(users);
    Ok(hal(StatusCode::OK, collection("/api/v2/users", page, total, users.iter().map(user_view).collect())))
}

async fn get_user(State(state): State<AppState>, Path(id): Path<String>, caller: Caller) -> Result<Response, Failure> {
    let number: i64 = id.parse().map_err(|_| Failure::NotFound)?;
    let user = state
        .core
        .user_by_number(number)
        .await?
        .filter(|u| u.org_id == caller.session.org_id)
        .ok_or(Failure::NotFound)?;
    if !caller.may(&state, Action::ViewUser { org_id: user.org_id, user_id: user.id }) {
        return Err(Failure::Forbidden("Only administrators can see other users".into()));
    }
    Ok(hal(StatusCode::OK, user_view(&user)))
}

/// The Address Manager version clients report (`bam_version()` reads the part before `-`).
pub const PRODUCT_VERSION: &str = "9.5.1-123.GA.bcn";

/// `GET /settings?filter=type:'SystemSettings'`, which bluecat-libraries' `bam_version()`
/// reads: the one settings object Tollgate has. Another filter finds nothing.
async fn settings(RawQuery(query): RawQuery, _caller: Caller) -> Result<Response, Failure> {
    let page = Page::parse(query.as_deref())?;
    let filter = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("filter="))
        .map(|f| f.replace("%27", "'").replace("%3A", ":").replace("%3a", ":"));
    let system = json!({
        "id": 1,
        "type": "SystemSettings",
        "version": PRODUCT_VERSION,
        "_links": {"self": {"href": "/api/v2/settings/1"}},
    });
    let items = match filter {
        Some(f) if f != "type:'SystemSettings'" => Vec::new(),
        _ => vec![system],
    };
    let (items, total) = page.of(items);
    Ok(hal(StatusCode::OK, collection("/api/v2/settings", page, total, items)))
}

fn invalid_state(reason: String) -> Failure {
    Failure::InvalidField { field: "state".into(), reason }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Everything else under `/api/v2`: Tollgate keeps no IP addresses, but a read-only session
/// still learns it may not write.
async fn elsewhere(method: Method, caller: Caller) -> Failure {
    if is_write(&method) && caller.session.read_only { Failure::ReadOnly } else { Failure::NotFound }
}

/// A method a known resource does not have (writing users, say): a read-only session hears
/// that first.
async fn other_method(method: Method, caller: Caller) -> Failure {
    if is_write(&method) && caller.session.read_only { Failure::ReadOnly } else { Failure::MethodNotAllowed }
}
