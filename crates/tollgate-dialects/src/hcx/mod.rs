//! `hcx` — HCX Manager sessions: the appliance API (`/api/admin/v1/sessions`, port 9443 in
//! the product) and the older Hybridity API (`/hybridity/api/sessions`).
//! Contract: `docs/contracts/hcx.md`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate_core::directory::same_role;
use tollgate_core::{Credential, LiveSession, LoginRequest, TokenKind};

use crate::common::{self, ClientAddr, JsonBody};
use crate::{AppState, CorrelationId, Dialect, Failure};

mod error;

pub use error::render;

pub const DIALECT: &str = "hcx";
/// The `authType` values: `local` (operating-system accounts) and `vsphere` (an SSO domain).
pub const PROVIDERS: &[&str] = &["local", "vsphere"];
/// A user needs one of these to use HCX.
pub const HCX_ROLES: &[&str] = &["System Administrator", "Enterprise Administrator", "Appliance Administrator"];

pub(crate) const TOKEN_HEADER: &str = "x-hm-authorization";
const TOKEN_NAME: HeaderName = HeaderName::from_static("auth_token_name");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/sessions", post(appliance_login).get(current).delete(logout))
        .route("/hybridity/api/sessions", post(hybridity_login).get(current).delete(logout))
        .route("/api/admin/v1/{*rest}", any(not_found))
        .route("/hybridity/api/{*rest}", any(not_found))
}

/// A request with a live HCX session (`x-hm-authorization`, or `Authorization: Bearer`).
struct Caller(LiveSession);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let headers = &parts.headers;
        let token = common::token_header(headers, TOKEN_HEADER)
            .or_else(|| common::bearer_token(headers))
            .ok_or(Failure::InvalidToken(None))?;
        Ok(Caller(state.core.authenticate_from(DIALECT, token, common::remote(parts)).await?))
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
    correlation_id: CorrelationId,
    addr: ClientAddr,
    body: JsonBody,
) -> Result<Response, Failure> {
    login(state, Api::Appliance, correlation_id, addr, body).await
}

async fn hybridity_login(
    State(state): State<AppState>,
    correlation_id: CorrelationId,
    addr: ClientAddr,
    body: JsonBody,
) -> Result<Response, Failure> {
    login(state, Api::Hybridity, correlation_id, addr, body).await
}

async fn login(
    state: AppState,
    api: Api,
    CorrelationId(correlation_id): CorrelationId,
    addr: ClientAddr,
    JsonBody(object): JsonBody,
) -> Result<Response, Failure> {
    let object = object?;
    let username =
        common::required_string(&object, "username", common::MAX_USERNAME_LEN).map_err(Failure::BadRequest)?;
    let password = common::password_field(&object, "password").map_err(Failure::BadRequest)?;
    let auth_type = common::string_field(&object, "authType", 64).map_err(Failure::BadRequest)?;
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
        return Err(Failure::BadRequest(message));
    }
    let outcome = common::login_via_provider(
        &state,
        Dialect::Hcx,
        provider,
        LoginRequest {
            username,
            credential: Credential::Password(password),
            remote_addr: addr.0,
            correlation_id: &correlation_id,
            tokens: &[TokenKind::Base64Url256],
            required_roles: HCX_ROLES,
            ..LoginRequest::default()
        },
    )
    .await?;
    let login_name = if provider == "vsphere" && !username.contains('@') {
        format!("{username}@{}", state.settings.default_sso_domain)
    } else {
        username.to_owned()
    };
    // Remembered so that GET shows the session exactly as the login did.
    state.core.set_session_data(outcome.session.id, &login_name).await?;
    let body = session_body(&outcome.session, &login_name, &correlation_id, state.core.now().millis());
    let mut response = Json(body).into_response();
    if let Ok(token) = HeaderValue::from_str(&outcome.tokens[0]) {
        response.headers_mut().insert(TOKEN_HEADER, token);
        response.headers_mut().insert(TOKEN_NAME, HeaderValue::from_static(TOKEN_HEADER));
    }
    Ok(response)
}

fn session_body(session: &LiveSession, login_name: &str, transaction_id: &str, now_millis: i64) -> Value {
    let roles: Vec<&str> =
        session.roles.iter().map(String::as_str).filter(|r| HCX_ROLES.iter().any(|hcx| same_role(hcx, r))).collect();
    json!({
        "success": true,
        "completed": true,
        "time": now_millis,
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
    CorrelationId(transaction_id): CorrelationId,
    Caller(session): Caller,
) -> Result<Json<Value>, Failure> {
    let login_name = state.core.session_data(session.id).await?.unwrap_or_else(|| session.user_name.clone());
    Ok(Json(session_body(&session, &login_name, &transaction_id, state.core.now().millis())))
}

/// Logout; without a live session, `No active session found` (see [`error`]).
async fn logout(
    State(state): State<AppState>,
    CorrelationId(correlation_id): CorrelationId,
    Caller(session): Caller,
) -> Result<Json<Value>, Failure> {
    state.core.logout(&session, &correlation_id).await?;
    Ok(Json(json!({"success": true, "completed": true, "time": state.core.now().millis(), "version": "1.0"})))
}

async fn not_found() -> Failure {
    Failure::NotFound
}
