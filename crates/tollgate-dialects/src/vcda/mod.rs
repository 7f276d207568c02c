//! `vcda` — Cloud Director Availability (C4 / H4) sessions (`/sessions`).
//! Contract: `docs/contracts/vcda.md`.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate_core::{Credential, FailureReason, LiveSession, LoginOutcome, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody};
use crate::{AppState, CorrelationId, Dialect, Failure};

mod error;

pub use error::render;

pub const DIALECT: &str = "vcda";
/// The login `type`s whose identity source is configured per provider; the `vcd*` types
/// go through the Cloud Director directory and sessions instead.
pub const PROVIDERS: &[&str] = &["localUser", "ssoCredentials", "ssoToken"];
const DEFAULT_MEDIA_TYPE: &str = "application/vnd.vmware.h4-v3.5+json;charset=UTF-8";
const V45_MEDIA_TYPE: &str = "application/vnd.vmware.h4-v4.5+json;charset=UTF-8";
pub(crate) const TOKEN_HEADER: &str = "x-vcav-auth";
/// The client's correlation id, echoed back.
pub const OPERATION_ID: HeaderName = HeaderName::from_static("operationid");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(login).get(details).delete(logout))
        .route("/sessions/extend", post(extend))
        .route("/sessions/{site}", delete(leave_site))
        .route("/diagnostics/about", get(about))
}

/// The appliance's version, which clients (the PowerShell module, for one) read after login
/// to pick the API version: `buildVersion` 4.7 speaks API v4.
async fn about(State(state): State<AppState>) -> Response {
    let body = json!({
        "productName": "VMware Cloud Director Availability",
        "serviceType": "CLOUD",
        "buildVersion": "4.7.0.1234567",
        "buildDate": "2023-10-04T00:00:00Z",
        "instanceId": state.site.id,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, DEFAULT_MEDIA_TYPE)], body.to_string()).into_response()
}

/// Every answer in the media type the client asked for: clients copy our `Content-Type` into
/// their next `Accept`.
pub fn finish(response: &mut Response, accept: Option<&HeaderValue>) {
    let headers = response.headers_mut();
    if headers.get(header::CONTENT_TYPE).is_some_and(|ct| ct == DEFAULT_MEDIA_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(negotiate(accept)));
    }
}

/// The media type to answer in, from the request's `Accept`.
fn negotiate(accept: Option<&HeaderValue>) -> &'static str {
    let accept = accept.and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
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

/// A request with a live VCDA session (`X-VCAV-Auth`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = common::token_header(&parts.headers, TOKEN_HEADER).ok_or(Failure::InvalidToken(None))?;
        Ok(Caller(state.core.authenticate_from(DIALECT, token, common::remote(parts)).await?))
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

fn session_details(session: &LiveSession, details: &Details) -> Response {
    let body = json!({
        "authenticatedSites": details.sites,
        "roles": roles_of(session),
        "user": details.user,
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, DEFAULT_MEDIA_TYPE)], body.to_string()).into_response()
}

async fn load(state: &AppState, session: &LiveSession) -> Result<Details, Failure> {
    let stored = state.core.session_data(session.id).await?;
    Ok(stored
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| Details { user: session.user_name.clone(), sites: Vec::new() }))
}

async fn save(state: &AppState, session: &LiveSession, details: &Details) -> Result<(), Failure> {
    let json = serde_json::to_string(details).map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(state.core.set_session_data(session.id, &json).await?)
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    common::required_string(object, name, common::MAX_USERNAME_LEN).map_err(Failure::BadRequest)
}

fn secret<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    common::password_field(object, name).map_err(Failure::BadRequest)
}

fn token_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    common::required_string(object, name, common::MAX_TOKEN_LEN).map_err(Failure::BadRequest)
}

/// `user@org`, split at the last `@`.
fn user_at_org(value: &str) -> Result<(&str, &str), Failure> {
    value.rsplit_once('@').filter(|(user, org)| !user.is_empty() && !org.is_empty()).ok_or_else(|| {
        Failure::InvalidField { field: "user".into(), reason: "a Cloud Director user is given as user@org".into() }
    })
}

const TOKENS: &[TokenKind] = &[TokenKind::Base64Url256];

async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    CorrelationId(operation_id): CorrelationId,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    let object = object?;
    let kind = field(&object, "type")?;
    let principal =
        common::string_field(&object, "principal", common::MAX_USERNAME_LEN).map_err(Failure::BadRequest)?;
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
                    credential: Credential::Password(password),
                    remote_addr: remote,
                    correlation_id: &operation_id,
                    tokens: TOKENS,
                    impersonate,
                    ..LoginRequest::default()
                },
            )
            .await?;
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
                    credential: Credential::Password(password),
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
                return Err(Failure::BadRequest(format!("A {kind} login cannot name a principal.")));
            }
            let token = token_field(&object, kind)?;
            let request = LoginRequest {
                dialect: DIALECT,
                source: tollgate_core::DELEGATED_SOURCE,
                credential: Credential::DelegatedSession { token, from_dialects: &[crate::vcd::DIALECT] },
                remote_addr: remote,
                correlation_id: &operation_id,
                tokens: TOKENS,
                ..LoginRequest::default()
            };
            let outcome = state.core.login(request).await?;
            let details = vcd_details(&state, &outcome);
            (outcome, details)
        }
        "ssoToken" => {
            let required =
                |name| common::required_string(&object, name, common::MAX_BODY_BYTES).map_err(Failure::BadRequest);
            let (assertion, nonce, signature) = (required("samlToken")?, required("nonce")?, required("signature")?);
            let timestamp = object
                .get("timestamp")
                .and_then(Value::as_i64)
                .ok_or_else(|| Failure::BadRequest("timestamp must be a number of milliseconds".into()))?;
            // Routed by the subject the assertion claims; the source accepts it only if the
            // assertion proves that subject.
            let subject = tollgate_source_saml::claimed_subject(assertion);
            let request = LoginRequest {
                username: subject.as_deref().unwrap_or_default(),
                credential: Credential::SamlAssertion { assertion, timestamp, nonce, signature },
                remote_addr: remote,
                correlation_id: &operation_id,
                tokens: TOKENS,
                impersonate,
                ..LoginRequest::default()
            };
            let Some(subject) = subject.as_deref() else {
                let request = LoginRequest { dialect: DIALECT, ..request };
                return Err(state.core.refuse_login(request, FailureReason::WrongPassword).await.into());
            };
            let outcome = common::login_via_provider(&state, Dialect::Vcda, kind, request).await?;
            let details = match impersonate {
                Some(_) => vcd_details(&state, &outcome),
                None => Details { user: subject.to_owned(), sites: Vec::new() },
            };
            (outcome, details)
        }
        other => {
            let other: String = other.chars().take(64).collect();
            return Err(Failure::BadRequest(format!("Unsupported authentication type: {other}")));
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

async fn answer_login(state: &AppState, outcome: LoginOutcome, details: Details) -> Result<Response, Failure> {
    save(state, &outcome.session, &details).await?;
    let mut response = session_details(&outcome.session, &details);
    if let Ok(token) = HeaderValue::from_str(&outcome.tokens[0]) {
        response.headers_mut().insert(TOKEN_HEADER, token);
    }
    Ok(response)
}

async fn details(State(state): State<AppState>, Caller(session): Caller) -> Result<Response, Failure> {
    let details = load(&state, &session).await?;
    Ok(session_details(&session, &details))
}

async fn logout(
    State(state): State<AppState>,
    CorrelationId(operation_id): CorrelationId,
    Caller(session): Caller,
) -> Result<StatusCode, Failure> {
    state.core.logout(&session, &operation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Authenticates the session with a Cloud Director site as well.
async fn extend(
    State(state): State<AppState>,
    CorrelationId(operation_id): CorrelationId,
    addr: ClientAddr,
    caller: Caller,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    let Caller(session) = caller;
    let object = object?;
    let kind = field(&object, "type")?;
    let site = field(&object, "site")?;
    if !site.eq_ignore_ascii_case(&state.site.name) {
        return Err(Failure::InvalidField {
            field: "site".into(),
            reason: format!("unknown site {site:?}; this site is {:?}", state.site.name),
        });
    }
    let org = match kind {
        "credentials" => {
            let (name, org) = user_at_org(field(&object, "vcdUsername")?)?;
            let request = LoginRequest {
                dialect: DIALECT,
                source: state.settings.source_of_org(org),
                org,
                username: name,
                credential: Credential::Password(secret(&object, "vcdPassword")?),
                remote_addr: addr.0,
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
                return Err(Failure::RemoteAuthenticationFailed);
            }
            session.org_name.clone()
        }
        other => {
            let other: String = other.chars().take(64).collect();
            return Err(Failure::BadRequest(format!("Unsupported extension type: {other}")));
        }
    };
    let mut details = load(&state, &session).await?;
    let entry = SiteLogin { org, site: state.site.name.clone() };
    if !details.sites.contains(&entry) {
        details.sites.push(entry);
        save(&state, &session, &details).await?;
    }
    Ok(session_details(&session, &details))
}

fn remote_failure(error: tollgate_core::CoreError) -> Failure {
    match Failure::from(error) {
        Failure::LoginRefused(_) | Failure::InvalidToken(_) => Failure::RemoteAuthenticationFailed,
        other => other,
    }
}

async fn leave_site(
    State(state): State<AppState>,
    Path(site): Path<String>,
    Caller(session): Caller,
) -> Result<Response, Failure> {
    let mut details = load(&state, &session).await?;
    let before = details.sites.len();
    details.sites.retain(|s| !s.site.eq_ignore_ascii_case(&site));
    if details.sites.len() != before {
        save(&state, &session, &details).await?;
    }
    Ok(session_details(&session, &details))
}
