//! `/v1/auth/verify`: forward authentication for reverse proxies (nginx `auth_request`,
//! Traefik ForwardAuth, Envoy ext_authz). The proxy passes on the client's request headers; a
//! live session token of any dialect, in the header that dialect's clients send it in, answers
//! 200 with who it is in `X-Tollgate-*` headers for the upstream, else 401 (403 when the
//! session lacks the roles the gate asks for).

use std::borrow::Cow;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Deserialize;
use tollgate_core::LiveSession;

use crate::common::{self, ClientAddr};
use crate::{AppState, Failure, bluecat, hcx, loginsight, native, vcd, vcda};

pub const USER: HeaderName = HeaderName::from_static("x-tollgate-user");
pub const ORG: HeaderName = HeaderName::from_static("x-tollgate-org");
pub const ROLES: HeaderName = HeaderName::from_static("x-tollgate-roles");
pub const SESSION: HeaderName = HeaderName::from_static("x-tollgate-session");
pub const DIALECT: HeaderName = HeaderName::from_static("x-tollgate-dialect");

/// Most roles one gate may name.
const MAX_REQUIRED_ROLES: usize = 16;

/// Envoy's ext_authz appends the original path to the one configured, and keeps the method:
/// every method and every path below the endpoint are the same check.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/verify", any(verify)).route("/v1/auth/verify/{*original}", any(verify))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Gate {
    /// Comma-separated roles, any one of which admits (`?roles=System%20Administrator`).
    roles: Option<String>,
}

/// A token as a dialect's clients present it, and the dialects that take it there.
struct Presented<'a> {
    token: Cow<'a, str>,
    dialects: &'static [&'static str],
    /// BlueCat's `Basic user:token` names its user, who must be the session's.
    user: Option<String>,
}

/// Every dialect whose clients send `Authorization: Bearer`.
const BEARER_DIALECTS: &[&str] = &[vcd::DIALECT, loginsight::DIALECT, hcx::DIALECT, bluecat::DIALECT, native::DIALECT];

/// The one token a request presents, from the first header (in this order) that holds one:
/// checking one per request keeps a proxied request to one store read at most.
fn presented(headers: &HeaderMap) -> Option<Presented<'_>> {
    let in_header = |name: &str, dialects: &'static [&'static str]| {
        common::token_header(headers, name).map(|token| Presented { token: token.into(), dialects, user: None })
    };
    in_header(vcd::VCLOUD_AUTHORIZATION, &[vcd::DIALECT])
        .or_else(|| in_header(vcd::ACCESS_TOKEN, &[vcd::DIALECT]))
        .or_else(|| in_header(hcx::TOKEN_HEADER, &[hcx::DIALECT]))
        .or_else(|| in_header(vcda::TOKEN_HEADER, &[vcda::DIALECT]))
        .or_else(|| {
            common::bearer_token(headers).map(|token| Presented {
                token: token.into(),
                dialects: BEARER_DIALECTS,
                user: None,
            })
        })
        .or_else(|| {
            let (user, token) = common::basic_credentials(headers).ok()?;
            (token.len() <= common::MAX_TOKEN_LEN).then(|| Presented {
                token: token.into(),
                dialects: &[bluecat::DIALECT],
                user: Some(user),
            })
        })
}

/// Checks the token a reverse proxy passes on, whatever the method (Envoy keeps the client's).
#[utoipa::path(method(get, post, put, delete, patch, head, options, trace), path = "/v1/auth/verify",
    tag = "forward-auth", params(Gate),
    security(("session" = [])),
    responses(
        (status = 200, description = "A live session: who it is, in the X-Tollgate-User, -Org, -Roles, -Session and -Dialect headers"),
        (status = 401, description = "No token, or one that names no live session", body = crate::native::ErrorBody),
        (status = 403, description = "The session holds none of the roles asked for", body = crate::native::ErrorBody),
        (status = "4XX", description = "A bad request", body = crate::native::ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = crate::native::ErrorBody),
    ))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    gate: Result<Query<Gate>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(gate) = gate.map_err(|_| Failure::BadRequest("The query string could not be read.".into()))?;
    let roles: Vec<&str> =
        gate.roles.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|r| !r.is_empty()).collect();
    if roles.len() > MAX_REQUIRED_ROLES {
        return Err(Failure::InvalidField {
            field: "roles".into(),
            reason: format!("name at most {MAX_REQUIRED_ROLES} roles"),
        });
    }
    let presented = presented(&headers).ok_or(Failure::InvalidToken(None))?;
    let session = state.core.authenticate_any_from(presented.dialects, &presented.token, client.as_deref()).await?;
    if presented.user.is_some_and(|user| !user.eq_ignore_ascii_case(&session.user_name)) {
        return Err(Failure::InvalidToken(None));
    }
    state.core.require_any_role(&session, &roles)?;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().extend(identity(&session)?);
    Ok(response)
}

/// The identity headers of a verified session; all of them or a failure, never some.
fn identity(session: &LiveSession) -> Result<Vec<(HeaderName, HeaderValue)>, Failure> {
    let value = |text: &str| {
        HeaderValue::from_bytes(text.as_bytes())
            .map_err(|_| Failure::Internal("a session's identity does not fit in a header".into()))
    };
    Ok(vec![
        (USER, value(&session.user_name)?),
        (ORG, value(&session.org_name)?),
        (ROLES, value(&session.roles.join(","))?),
        (SESSION, value(&session.id.to_string())?),
        (DIALECT, value(&session.dialect)?),
    ])
}
