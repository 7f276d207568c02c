//! `vcda` — Cloud Director Availability (C4 / H4) sessions (`/sessions`).
//! Contract: `shared/spec/vcda.md`.

use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate_core::{LiveSession, LoginOutcome, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody, ProviderLoginError};
use crate::{AppState, Dialect};

mod error;

pub use error::VcdaError;

pub const DIALECT: &str = "vcda";
/// The login `type`s whose identity source is configured per provider; the `vcd*` types
/// go through the Cloud Director directory and sessions instead.
pub const PROVIDERS: &[&str] = &["localUser", "ssoCredentials"];
const DEFAULT_MEDIA_TYPE: &str = "application/vnd.vmware.h4-v3.5+json;charset=UTF-8";
const V45_MEDIA_TYPE: &str = "application/vnd.vmware.h4-v4.5+json;charset=UTF-8";
const TOKEN_HEADER: &str = "x-vcav-auth";
const OPERATION_ID: HeaderName = HeaderName::from_static("operationid");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(login).get(details).delete(logout))
        .route("/sessions/extend", post(extend))
        .route("/sessions/{site}", delete(leave_site))
        .layer(middleware::from_fn(envelope))
}

/// The correlation id of this request: the client's `operationID`, or a fresh one.
#[derive(Clone)]
struct OperationId(String);

/// Bounds headers, carries `operationID` in and out, and gives every answer the media type
/// the client asked for (clients copy our `Content-Type` into their next `Accept`).
async fn envelope(mut request: Request, next: Next) -> Response {
    if common::headers_too_large(request.headers()) {
        return VcdaError::HeadersTooLarge.into_response();
    }
    let operation_id = common::correlation_id(request.headers(), &OPERATION_ID);
    let media_type = negotiate(request.headers());
    tracing::debug!(dialect = DIALECT, operation_id = %operation_id, path = %request.uri().path(), "request");
    request.extensions_mut().insert(OperationId(operation_id.clone()));
    let mut response = next.run(request).await;
    if common::unrendered_client_error(&response) {
        response = VcdaError::BadRequest("The request could not be read.".into()).into_response();
    }
    let headers = response.headers_mut();
    if headers.get(header::CONTENT_TYPE).is_some_and(|ct| ct == DEFAULT_MEDIA_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    }
    if let Ok(value) = HeaderValue::from_str(&operation_id) {
        headers.insert(OPERATION_ID, value);
    }
    response
}

fn negotiate(headers: &HeaderMap) -> &'static str {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    if accept.contains("h4-v4.5+json") {
        V45_MEDIA_TYPE
    } else if accept.contains("h4-v3.5+json") {
        DEFAULT_MEDIA_TYPE
    } else if accept.contains("application/json") {
        "application/json"
    } else {
        DEFAULT_MEDIA_TYPE
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OperationId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<OperationId>()
            .cloned()
            .unwrap_or_else(|| OperationId(uuid::Uuid::new_v4().to_string())))
    }
}

/// A request with a live VCDA session (`X-VCAV-Auth`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = VcdaError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, VcdaError> {
        let token = common::token_header(&parts.headers, TOKEN_HEADER).ok_or(VcdaError::TokenRequired)?;
        Ok(Caller(state.core.authenticate(DIALECT, token).await?))
    }
}

/// What a VCDA session remembers beyond the core's session: who it shows as, and which
/// Cloud Director sites (org@site) it has authenticated with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Details {
    user: String,
    sites: Vec<SiteLogin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct SiteLogin {
    org: String,
    site: String,
}

fn roles_of(session: &LiveSession) -> Vec<&'static str> {
    if session.is_provider_admin() { vec!["ADMINISTRATORS", "EVERYONE"] } else { vec!["EVERYONE"] }
}

fn render(session: &LiveSession, details: &Details) -> Response {
    let body = json!({
        "authenticatedSites": details.sites,
        "roles": roles_of(session),
        "user": details.user,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, DEFAULT_MEDIA_TYPE)], body.to_string()).into_response()
}

async fn load(state: &AppState, session: &LiveSession) -> Result<Details, VcdaError> {
    let stored = state.core.session_data(session.id).await?;
    Ok(stored
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| Details { user: session.user_name.clone(), sites: Vec::new() }))
}

async fn save(state: &AppState, session: &LiveSession, details: &Details) -> Result<(), VcdaError> {
    let json = serde_json::to_string(details).map_err(|_| VcdaError::Internal)?;
    Ok(state.core.set_session_data(session.id, &json).await?)
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, VcdaError> {
    common::required_string(object, name, common::MAX_USERNAME_LEN).map_err(VcdaError::BadRequest)
}

fn secret<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, VcdaError> {
    common::password_field(object, name).map_err(VcdaError::BadRequest)
}

fn token_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, VcdaError> {
    common::required_string(object, name, common::MAX_TOKEN_LEN).map_err(VcdaError::BadRequest)
}

/// `user@org`, split at the last `@`.
fn user_at_org(value: &str) -> Result<(&str, &str), VcdaError> {
    value
        .rsplit_once('@')
        .filter(|(user, org)| !user.is_empty() && !org.is_empty())
        .ok_or_else(|| VcdaError::BadUserInput("A Cloud Director user is given as user@org.".into()))
}

const TOKENS: &[TokenKind] = &[TokenKind::Base64Url256];

async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    OperationId(operation_id): OperationId,
    JsonBody(object): JsonBody,
) -> Result<Response, VcdaError> {
    let object = object?;
    let kind = field(&object, "type")?;
    let principal =
        common::string_field(&object, "principal", common::MAX_USERNAME_LEN).map_err(VcdaError::BadRequest)?;
    let impersonate = principal.map(user_at_org).transpose()?.map(|(user, org)| (org, user));
    let remote = addr.0;

    let (outcome, details): (LoginOutcome, Details) = match kind {
        "localUser" | "ssoCredentials" => {
            let (user_field, password_field) =
                if kind == "localUser" { ("localUser", "localPassword") } else { ("username", "password") };
            let username = field(&object, user_field)?;
            let password = secret(&object, password_field)?;
            let outcome = common::login_via_provider(
                &state,
                Dialect::Vcda,
                kind,
                LoginRequest {
                    username,
                    password,
                    remote_addr: remote,
                    correlation_id: &operation_id,
                    tokens: TOKENS,
                    impersonate,
                    ..LoginRequest::default()
                },
            )
            .await
            .map_err(|e| provider_error(kind, e))?;
            let details = match impersonate {
                // The session is the principal's, in its org at this site.
                Some(_) => vcd_details(&state, &outcome),
                None => Details { user: username.to_owned(), sites: Vec::new() },
            };
            (outcome, details)
        }
        "vcdCredentials" => {
            // PowerShell sends vcdUser/vcdPassword; the Ansible modules send username/password.
            let (user, password) = match object.get("vcdUser") {
                Some(_) => (field(&object, "vcdUser")?, secret(&object, "vcdPassword")?),
                None => (field(&object, "username")?, secret(&object, "password")?),
            };
            let (name, org) = user_at_org(user)?;
            let outcome = state
                .core
                .login(LoginRequest {
                    dialect: DIALECT,
                    source: state.settings.source_of_org(org),
                    org,
                    username: name,
                    password,
                    remote_addr: remote,
                    correlation_id: &operation_id,
                    tokens: TOKENS,
                    impersonate,
                    ..LoginRequest::default()
                })
                .await?;
            let details = vcd_details(&state, &outcome);
            (outcome, details)
        }
        "vcdCookie" | "vcdAccessToken" => {
            if impersonate.is_some() {
                return Err(VcdaError::BadRequest(format!("A {kind} login cannot name a principal.")));
            }
            let token = token_field(&object, kind)?;
            let request = LoginRequest {
                dialect: DIALECT,
                remote_addr: remote,
                correlation_id: &operation_id,
                tokens: TOKENS,
                ..LoginRequest::default()
            };
            let outcome = state.core.exchange(token, &[crate::vcd::DIALECT], request).await?;
            let details = vcd_details(&state, &outcome);
            (outcome, details)
        }
        "ssoToken" => {
            return Err(VcdaError::BadRequest(
                "ssoToken logins need a SAML identity provider, and none is configured (no saml source).".into(),
            ));
        }
        other => {
            let other: String = other.chars().take(64).collect();
            return Err(VcdaError::BadRequest(format!("Unsupported authentication type: {other}")));
        }
    };
    answer_login(&state, outcome, details).await
}

/// A session of a Cloud Director user: `user@org`, authenticated with this site.
fn vcd_details(state: &AppState, outcome: &LoginOutcome) -> Details {
    let session = &outcome.session;
    Details {
        user: format!("{}@{}", session.user_name, session.org_name),
        sites: vec![SiteLogin { org: session.org_name.clone(), site: state.site.name.clone() }],
    }
}

fn provider_error(kind: &str, error: ProviderLoginError) -> VcdaError {
    match error {
        ProviderLoginError::NotConfigured => VcdaError::BadRequest(format!("{kind} logins are not configured.")),
        ProviderLoginError::Core(e) => e.into(),
    }
}

async fn answer_login(state: &AppState, outcome: LoginOutcome, details: Details) -> Result<Response, VcdaError> {
    save(state, &outcome.session, &details).await?;
    let mut response = render(&outcome.session, &details);
    if let Ok(token) = HeaderValue::from_str(&outcome.tokens[0]) {
        response.headers_mut().insert(TOKEN_HEADER, token);
    }
    Ok(response)
}

async fn details(State(state): State<AppState>, Caller(session): Caller) -> Result<Response, VcdaError> {
    let details = load(&state, &session).await?;
    Ok(render(&session, &details))
}

async fn logout(
    State(state): State<AppState>,
    OperationId(operation_id): OperationId,
    Caller(session): Caller,
) -> Result<StatusCode, VcdaError> {
    state.core.logout(&session, &operation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Authenticates the session with a Cloud Director site as well.
async fn extend(
    State(state): State<AppState>,
    OperationId(operation_id): OperationId,
    caller: Caller,
    JsonBody(object): JsonBody,
) -> Result<Response, VcdaError> {
    let Caller(session) = caller;
    let object = object?;
    let kind = field(&object, "type")?;
    let site = field(&object, "site")?;
    if !site.eq_ignore_ascii_case(&state.site.name) {
        return Err(VcdaError::BadUserInput(format!("Unknown site {site:?}; this site is {:?}.", state.site.name)));
    }
    let org = match kind {
        "credentials" => {
            let (name, org) = user_at_org(field(&object, "vcdUsername")?)?;
            let request = LoginRequest {
                dialect: DIALECT,
                source: state.settings.source_of_org(org),
                org,
                username: name,
                password: secret(&object, "vcdPassword")?,
                correlation_id: &operation_id,
                ..LoginRequest::default()
            };
            let user = state.core.check_credentials(request).await.map_err(remote_failure)?;
            user.org_name
        }
        "cookie" | "vcdAccessToken" => {
            let token = token_field(&object, kind)?;
            let vcd = state.core.authenticate_any(&[crate::vcd::DIALECT], token, true).await.map_err(remote_failure)?;
            vcd.org_name.clone()
        }
        "multisite" => {
            // The session's own org at this site; another org needs its own credentials.
            let org = field(&object, "org")?;
            if !org.eq_ignore_ascii_case(&session.org_name) {
                return Err(VcdaError::RemoteAuthenticationFailure);
            }
            session.org_name.clone()
        }
        other => {
            let other: String = other.chars().take(64).collect();
            return Err(VcdaError::BadRequest(format!("Unsupported extension type: {other}")));
        }
    };
    let mut details = load(&state, &session).await?;
    let entry = SiteLogin { org, site: state.site.name.clone() };
    if !details.sites.contains(&entry) {
        details.sites.push(entry);
        save(&state, &session, &details).await?;
    }
    Ok(render(&session, &details))
}

fn remote_failure(error: tollgate_core::CoreError) -> VcdaError {
    match VcdaError::from(error) {
        VcdaError::LoginFailed | VcdaError::TokenRequired => VcdaError::RemoteAuthenticationFailure,
        other => other,
    }
}

async fn leave_site(
    State(state): State<AppState>,
    Path(site): Path<String>,
    Caller(session): Caller,
) -> Result<Response, VcdaError> {
    let mut details = load(&state, &session).await?;
    let before = details.sites.len();
    details.sites.retain(|s| !s.site.eq_ignore_ascii_case(&site));
    if details.sites.len() != before {
        save(&state, &session, &details).await?;
    }
    Ok(render(&session, &details))
}
