//! `hcx` — HCX Manager sessions: the appliance API (`/api/admin/v1/sessions`, port 9443 in
//! the product) and the older Hybridity API (`/hybridity/api/sessions`).
//! Contract: `shared/spec/hcx.md`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate_core::{LiveSession, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody, ProviderLoginError};
use crate::{AppState, Dialect};

mod error;

pub use error::HcxError;

pub const DIALECT: &str = "hcx";
/// The `authType` values: `local` (operating-system accounts) and `vsphere` (an SSO domain).
pub const PROVIDERS: &[&str] = &["local", "vsphere"];
/// A user needs one of these to use HCX.
pub const HCX_ROLES: &[&str] = &["System Administrator", "Enterprise Administrator", "Appliance Administrator"];

const TOKEN_HEADER: &str = "x-hm-authorization";
const TOKEN_NAME: HeaderName = HeaderName::from_static("auth_token_name");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/sessions", post(appliance_login).get(current).delete(logout))
        .route("/hybridity/api/sessions", post(hybridity_login).get(current).delete(logout))
        .route("/api/admin/v1/{*rest}", any(not_found))
        .route("/hybridity/api/{*rest}", any(not_found))
        .layer(middleware::from_fn(bound_headers))
}

async fn bound_headers(request: Request, next: Next) -> Response {
    if common::headers_too_large(request.headers()) {
        return HcxError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// The clock HCX stamps its answers with. Errors are rendered without the state at hand, so
/// every answer reads the system clock.
fn now_millis() -> i64 {
    tollgate_core::Clock::now(&tollgate_core::SystemClock).millis()
}

/// A request with a live HCX session (`x-hm-authorization`, or `Authorization: Bearer`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = HcxError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HcxError> {
        let headers = &parts.headers;
        let token = common::token_header(headers, TOKEN_HEADER)
            .or_else(|| common::bearer_token(headers))
            .ok_or(HcxError::InvalidSessionToken)?;
        Ok(Caller(state.core.authenticate(DIALECT, token).await?))
    }
}

/// Which API a login came through: they differ in defaults and in what they say when locked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Appliance,
    Hybridity,
}

async fn appliance_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    body: JsonBody,
) -> Result<Response, HcxError> {
    login(state, Api::Appliance, headers, addr, body).await
}

async fn hybridity_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    body: JsonBody,
) -> Result<Response, HcxError> {
    login(state, Api::Hybridity, headers, addr, body).await
}

async fn login(
    state: AppState,
    api: Api,
    headers: HeaderMap,
    addr: ClientAddr,
    JsonBody(object): JsonBody,
) -> Result<Response, HcxError> {
    let object = object?;
    let username =
        common::required_string(&object, "username", common::MAX_USERNAME_LEN).map_err(HcxError::BadRequest)?;
    let password = common::password_field(&object, "password").map_err(HcxError::BadRequest)?;
    let auth_type = common::string_field(&object, "authType", 64).map_err(HcxError::BadRequest)?;
    let provider = match (api, auth_type) {
        (Api::Appliance, None) => "local",
        (Api::Appliance, Some(given)) => given,
        // The Hybridity API logs vSphere SSO users in; HCX 4.5+ may say "password".
        (Api::Hybridity, None | Some("password")) => "vsphere",
        (Api::Hybridity, Some(given)) => given,
    };
    if !PROVIDERS.contains(&provider) || username.is_empty() {
        let message = if username.is_empty() {
            "username must not be empty".to_owned()
        } else {
            format!("Unsupported auth type: {provider}")
        };
        return Err(HcxError::BadRequest(message));
    }
    let correlation_id = common::correlation_id(&headers, &REQUEST_ID);
    let outcome = common::login_via_provider(
        &state,
        Dialect::Hcx,
        provider,
        LoginRequest {
            username,
            password,
            remote_addr: addr.0,
            correlation_id: &correlation_id,
            tokens: &[TokenKind::Base64Url256],
            required_roles: HCX_ROLES,
            ..LoginRequest::default()
        },
    )
    .await
    .map_err(|e| match e {
        ProviderLoginError::NotConfigured => HcxError::BadRequest(format!("Unsupported auth type: {provider}")),
        ProviderLoginError::Core(e) if api == Api::Hybridity => error::hybridity(e),
        ProviderLoginError::Core(e) => e.into(),
    })?;
    let login_name = if provider == "vsphere" && !username.contains('@') {
        format!("{username}@{}", state.settings.default_sso_domain)
    } else {
        username.to_owned()
    };
    // Remembered so that GET shows the session exactly as the login did.
    state.core.set_session_data(outcome.session.id, &login_name).await?;
    let mut response = Json(session_body(&outcome.session, &login_name, &correlation_id)).into_response();
    if let Ok(token) = HeaderValue::from_str(&outcome.tokens[0]) {
        response.headers_mut().insert(TOKEN_HEADER, token);
        response.headers_mut().insert(TOKEN_NAME, HeaderValue::from_static(TOKEN_HEADER));
    }
    Ok(response)
}

fn session_body(session: &LiveSession, login_name: &str, transaction_id: &str) -> Value {
    let roles: Vec<&str> = session.roles.iter().map(String::as_str).filter(|r| HCX_ROLES.contains(r)).collect();
    json!({
        "success": true,
        "completed": true,
        "time": now_millis(),
        "version": "1.0",
        "data": {
            "user": {
                "enterprise": "HybridityAdmin",
                "organization": ["DEFAULT"],
                "currentOrganization": "DEFAULT",
                "roles": roles,
                "username": login_name,
                "transactionId": transaction_id,
            },
            "cloud": {"name": "HCX Manager", "type": "vsphere"},
            "organizations": [{"name": "DEFAULT", "id": "default-org-id"}],
        }
    })
}

/// Tollgate's extension: the login's `data` for the current session.
async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
    Caller(session): Caller,
) -> Result<Json<Value>, HcxError> {
    let transaction_id = common::correlation_id(&headers, &REQUEST_ID);
    let login_name = state.core.session_data(session.id).await?.unwrap_or_else(|| session.user_name.clone());
    Ok(Json(session_body(&session, &login_name, &transaction_id)))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Result<Caller, HcxError>,
) -> Result<Json<Value>, HcxError> {
    let Caller(session) = caller.map_err(|e| match e {
        HcxError::InvalidSessionToken => HcxError::NoActiveSession,
        other => other,
    })?;
    state.core.logout(&session, &common::correlation_id(&headers, &REQUEST_ID)).await?;
    Ok(Json(json!({"success": true, "completed": true, "time": now_millis(), "version": "1.0"})))
}

async fn not_found() -> HcxError {
    HcxError::NotFound
}
