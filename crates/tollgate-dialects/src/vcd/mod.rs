//! `vcd` — VMware Cloud Director's session API (`/api`, `/cloudapi/1.0.0/sessions`).
//! Contract: `shared/spec/vcd.md`.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use tollgate_core::{LiveSession, LoginRequest, Org, TokenKind};
use uuid::Uuid;

use crate::AppState;
use crate::common::{self, AuthorizationProblem, BaseUrl, ClientAddr};

mod error;
mod xml;

pub use error::{ApiError, CloudApiError, Failure};

pub const DIALECT: &str = "vcd";

/// Listed by `/api/versions`, oldest first. pyvcloud picks the highest of 29.0–36.0 it sees;
/// go-vcloud-director needs exactly 37.0. Below 36.0 the login URL is `/api/sessions`.
pub const SUPPORTED_VERSIONS: &[&str] = &["32.0", "33.0", "34.0", "35.0", "36.0", "37.0"];
const LATEST_VERSION: &str = "37.0";

const ORG_TYPE: &str = "application/vnd.vmware.vcloud.org+xml";
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-vmware-vcloud-client-request-id");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-vmware-vcloud-request-id");
const VCLOUD_AUTHORIZATION: &str = "x-vcloud-authorization";
const ACCESS_TOKEN: &str = "x-vmware-vcloud-access-token";
const TOKEN_TYPE: HeaderName = HeaderName::from_static("x-vmware-vcloud-token-type");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/versions", get(versions))
        .route("/api/sessions", post(legacy_login))
        .route("/api/session", get(session_xml).delete(logout_api))
        .route("/api/org", get(org_list))
        .route("/api/org/", get(org_list))
        .route("/api/org/{id}", get(org))
        .route("/api/query", get(query))
        .route("/api/admin", get(admin))
        .route("/api/admin/", get(admin))
        .route("/api/{*rest}", any(api_not_found))
        .route("/cloudapi/1.0.0/sessions", post(tenant_login).delete(logout_cloudapi))
        .route("/cloudapi/1.0.0/sessions/provider", post(provider_login).delete(logout_cloudapi))
        .route("/cloudapi/1.0.0/sessions/current", get(session_json).delete(logout_cloudapi))
        .route("/cloudapi/1.0.0/sessions/{id}", delete(delete_session))
        .route("/cloudapi/{*rest}", any(cloudapi_not_found))
        .layer(middleware::from_fn(envelope))
}

/// The correlation id of this request, as sent by the client or generated.
#[derive(Debug, Clone)]
struct RequestId(String);

/// The API version the client asked for in `Accept`, if any.
#[derive(Debug, Clone)]
struct RequestedVersion(Option<&'static str>);

/// Around every vcd request: bound the headers, check the requested API version, carry the
/// correlation id in and out, and give axum's bare 405s our error body.
async fn envelope(mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let request_id = common::correlation_id(request.headers(), &CLIENT_REQUEST_ID);
    let mut response = if common::headers_too_large(request.headers()) {
        error::for_path(&path, Failure::HeadersTooLarge)
    } else {
        match requested_version(request.headers()) {
            Err(version) if path != "/api/versions" => error::for_path(&path, Failure::UnsupportedVersion(version)),
            outcome => {
                request.extensions_mut().insert(RequestedVersion(outcome.unwrap_or(None)));
                request.extensions_mut().insert(RequestId(request_id.clone()));
                let response = next.run(request).await;
                if !common::unrendered_client_error(&response) {
                    response
                } else if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                    error::for_path(&path, Failure::MethodNotAllowed)
                } else {
                    error::for_path(&path, Failure::BadRequest("The request could not be read.".into()))
                }
            }
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The `version=` of the `Accept` header: `Ok(None)` when none is given, `Err` naming it when
/// we do not serve it.
fn requested_version(headers: &HeaderMap) -> Result<Option<&'static str>, String> {
    let Some(accept) = headers.get(header::ACCEPT) else { return Ok(None) };
    let accept = accept.to_str().map_err(|_| "(unreadable)".to_owned())?;
    let mut asked = None;
    for param in accept.split([',', ';']).map(str::trim) {
        if let Some(version) = param.strip_prefix("version=") {
            let version = version.trim_matches('"');
            match SUPPORTED_VERSIONS.iter().find(|v| **v == version) {
                Some(v) => return Ok(Some(v)),
                None => asked = Some(version.chars().take(16).collect::<String>()),
            }
        }
    }
    asked.map_or(Ok(None), Err)
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId(Uuid::new_v4().to_string())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestedVersion {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestedVersion>().cloned().unwrap_or(RequestedVersion(None)))
    }
}

/// A request made with a live vcd session token, in any of the three headers clients use.
/// `E` picks how a missing or dead token is rendered.
struct Caller<E> {
    session: LiveSession,
    _renders: PhantomData<E>,
}

impl<E> FromRequestParts<AppState> for Caller<E>
where
    E: From<Failure> + From<tollgate_core::CoreError> + IntoResponse,
{
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, E> {
        let headers = &parts.headers;
        let token = common::bearer_token(headers)
            .or_else(|| common::token_header(headers, VCLOUD_AUTHORIZATION))
            .or_else(|| common::token_header(headers, ACCESS_TOKEN))
            .ok_or(Failure::InvalidSession)?;
        let session = state.core.authenticate(DIALECT, token).await?;
        Ok(Caller { session, _renders: PhantomData })
    }
}

// ---- versions and login -------------------------------------------------------------------

async fn versions(BaseUrl(base): BaseUrl) -> Response {
    xml_response("application/vnd.vmware.vcloud.versions+xml", xml::supported_versions(&base))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LoginUrl {
    /// `/api/sessions`: any org.
    Legacy,
    /// `/cloudapi/1.0.0/sessions`: tenants only.
    Tenant,
    /// `/cloudapi/1.0.0/sessions/provider`: the System org only.
    Provider,
}

struct LoginContext {
    headers: HeaderMap,
    addr: ClientAddr,
    request_id: RequestId,
}

/// Checks `Authorization: Basic base64(user@org:password)` and opens a session with both of
/// Cloud Director's tokens: `[x-vcloud-authorization, access token]`.
async fn login(state: &AppState, url: LoginUrl, cx: LoginContext) -> Result<(LiveSession, Vec<String>), Failure> {
    let (user_at_org, password) = common::basic_credentials(&cx.headers).map_err(|problem| match problem {
        AuthorizationProblem::Missing => Failure::MissingCredentials,
        AuthorizationProblem::Malformed => Failure::BadCredentials,
    })?;
    // User names may contain '@': the org follows the last one.
    let (user, org) = user_at_org.rsplit_once('@').ok_or(Failure::BadCredentials)?;
    if user.is_empty() || org.is_empty() {
        return Err(Failure::BadCredentials);
    }
    let is_system = org.eq_ignore_ascii_case(tollgate_core::directory::SYSTEM_ORG);
    let request = LoginRequest {
        dialect: DIALECT,
        org,
        username: user,
        password: &password,
        remote_addr: cx.addr.0,
        correlation_id: &cx.request_id.0,
        tokens: &[TokenKind::Hex128, TokenKind::Base64Url256],
        source: state.settings.source_of_org(org),
        ..LoginRequest::default()
    };
    if (url == LoginUrl::Tenant && is_system) || (url == LoginUrl::Provider && !is_system) {
        // Refused like any bad login: same time, same audit event.
        return Err(state.core.refuse_login(request, tollgate_core::FailureReason::WrongSource).await.into());
    }
    let outcome = state.core.login(request).await?;
    Ok((outcome.session, outcome.tokens))
}

fn token_headers(tokens: &[String]) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![(TOKEN_TYPE, HeaderValue::from_static("Bearer"))];
    for (name, token) in [VCLOUD_AUTHORIZATION, ACCESS_TOKEN].into_iter().zip(tokens) {
        if let Ok(value) = HeaderValue::from_str(token) {
            headers.push((HeaderName::from_static(name), value));
        }
    }
    headers
}

async fn legacy_login(
    State(state): State<AppState>,
    RequestedVersion(version): RequestedVersion,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    addr: ClientAddr,
    request_id: RequestId,
) -> Result<Response, ApiError> {
    let (session, tokens) = login(&state, LoginUrl::Legacy, LoginContext { headers, addr, request_id }).await?;
    let body = session_document(&state, &base, &session);
    let content_type =
        format!("application/vnd.vmware.vcloud.session+xml;version={}", version.unwrap_or(LATEST_VERSION));
    let mut response = xml_response(&content_type, body);
    response.headers_mut().extend(token_headers(&tokens));
    Ok(response)
}

async fn tenant_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    request_id: RequestId,
) -> Result<Response, CloudApiError> {
    cloudapi_login(state, LoginUrl::Tenant, LoginContext { headers, addr, request_id }).await
}

async fn provider_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    request_id: RequestId,
) -> Result<Response, CloudApiError> {
    cloudapi_login(state, LoginUrl::Provider, LoginContext { headers, addr, request_id }).await
}

async fn cloudapi_login(state: AppState, url: LoginUrl, cx: LoginContext) -> Result<Response, CloudApiError> {
    let (session, tokens) = login(&state, url, cx).await?;
    let body = session_json_body(&state, &session).await?;
    // Exactly 200: pyvcloud treats 201 as a failed login.
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response.headers_mut().extend(token_headers(&tokens));
    Ok(response)
}

// ---- the session --------------------------------------------------------------------------

async fn session_org(state: &AppState, session: &LiveSession) -> Result<Org, Failure> {
    state
        .core
        .org_by_id(session.org_id)
        .await?
        .ok_or_else(|| Failure::NotFound("the session's organisation no longer exists".into()))
}

/// The Session document, from the session alone: validating a token never waits on the store.
fn session_document(state: &AppState, base: &str, session: &LiveSession) -> String {
    xml::session(&xml::SessionView {
        base,
        user: &session.user_name,
        user_id: session.user_id,
        org_id: session.org_id,
        org_name: &session.org_name,
        roles: &session.roles,
        site_id: state.site.id,
        site_name: &state.site.name,
    })
}

async fn session_json_body(state: &AppState, session: &LiveSession) -> Result<serde_json::Value, Failure> {
    let roles = state.core.roles().await?;
    let role_refs: Vec<_> = session
        .roles
        .iter()
        .filter_map(|name| roles.iter().find(|r| r.name.eq_ignore_ascii_case(name)))
        .map(|r| json!({"name": r.name, "id": format!("urn:vcloud:role:{}", r.id)}))
        .collect();
    let org_ref = json!({"name": session.org_name, "id": format!("urn:vcloud:org:{}", session.org_id)});
    Ok(json!({
        "id": format!("urn:vcloud:session:{}", session.id),
        "site": {"name": state.site.name, "id": format!("urn:vcloud:site:{}", state.site.id)},
        "user": {"name": session.user_name, "id": format!("urn:vcloud:user:{}", session.user_id)},
        "org": org_ref,
        "operatingOrg": org_ref,
        "location": format!("{}@{}", session.org_id, state.site.id),
        "roles": session.roles,
        "roleRefs": role_refs,
        "sessionIdleTimeoutMinutes": session.idle_timeout.as_secs().div_ceil(60),
    }))
}

async fn session_xml(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    caller: Caller<ApiError>,
) -> Result<Response, ApiError> {
    let body = session_document(&state, &base, &caller.session);
    Ok(xml_response("application/vnd.vmware.vcloud.session+xml", body))
}

async fn session_json(State(state): State<AppState>, caller: Caller<CloudApiError>) -> Result<Response, CloudApiError> {
    Ok(Json(session_json_body(&state, &caller.session).await?).into_response())
}

async fn logout_api(
    State(state): State<AppState>,
    request_id: RequestId,
    caller: Caller<ApiError>,
) -> Result<StatusCode, ApiError> {
    state.core.logout(&caller.session, &request_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_cloudapi(
    State(state): State<AppState>,
    request_id: RequestId,
    caller: Caller<CloudApiError>,
) -> Result<StatusCode, CloudApiError> {
    state.core.logout(&caller.session, &request_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one's own session by id; a System Administrator may end anyone's.
async fn delete_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request_id: RequestId,
    caller: Caller<CloudApiError>,
) -> Result<StatusCode, CloudApiError> {
    let id = parse_urn(&id, "session").ok_or_else(|| Failure::BadRequest(format!("{id:?} is not a session id")))?;
    if id == caller.session.id {
        state.core.logout(&caller.session, &request_id.0).await?;
    } else if caller.session.is_provider_admin() {
        state.core.revoke_session(id, &request_id.0).await?;
    } else {
        return Err(Failure::Forbidden("Only a System Administrator may end another user's session.".into()).into());
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- what clients read right after login --------------------------------------------------

/// Organisations the caller may see: all of them for the provider, else their own.
async fn visible_orgs(state: &AppState, session: &LiveSession) -> Result<Vec<Org>, Failure> {
    if session.is_provider_admin() {
        Ok(state.core.orgs().await?)
    } else {
        Ok(vec![session_org(state, session).await?])
    }
}

async fn org_list(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    caller: Caller<ApiError>,
) -> Result<Response, ApiError> {
    let orgs = visible_orgs(&state, &caller.session).await?;
    Ok(xml_response("application/vnd.vmware.vcloud.orgList+xml", xml::org_list(&base, &orgs)))
}

async fn org(
    State(state): State<AppState>,
    Path(id): Path<String>,
    BaseUrl(base): BaseUrl,
    caller: Caller<ApiError>,
) -> Result<Response, ApiError> {
    let id = parse_urn(&id, "org").ok_or_else(|| Failure::BadRequest(format!("{id:?} is not an organisation id")))?;
    let org = visible_orgs(&state, &caller.session).await?.into_iter().find(|o| o.id == id).ok_or_else(|| {
        Failure::Forbidden(
            "Either you need some or all of the following rights [ORG_VIEW], or the organisation does not exist."
                .into(),
        )
    })?;
    Ok(xml_response(ORG_TYPE, xml::org(&base, &org)))
}

async fn query(
    RawQuery(raw): RawQuery,
    BaseUrl(base): BaseUrl,
    _caller: Caller<ApiError>,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > 2048 {
        return Err(Failure::BadRequest("The query string is too long.".into()).into());
    }
    let kind = raw
        .split('&')
        .find_map(|pair| pair.strip_prefix("type="))
        .ok_or_else(|| Failure::BadRequest("The query needs a type parameter.".into()))?;
    Ok(xml_response("application/vnd.vmware.vcloud.query.records+xml", xml::empty_query(&base, &raw, kind)))
}

async fn admin(BaseUrl(base): BaseUrl, caller: Caller<ApiError>) -> Result<Response, ApiError> {
    if !caller.session.is_provider_admin() {
        return Err(Failure::Forbidden("Only a System Administrator may read /api/admin.".into()).into());
    }
    let product = format!("Tollgate {} (VMware Cloud Director API {LATEST_VERSION})", env!("CARGO_PKG_VERSION"));
    Ok(xml_response("application/vnd.vmware.admin.vcloud+xml", xml::admin(&base, &product)))
}

async fn api_not_found() -> ApiError {
    Failure::NotFound("No such resource.".into()).into()
}

async fn cloudapi_not_found() -> CloudApiError {
    Failure::NotFound("No such resource.".into()).into()
}

// ---- helpers ------------------------------------------------------------------------------

fn xml_response(content_type: &str, body: String) -> Response {
    let content_type = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/xml"));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `urn:vcloud:KIND:UUID` or a bare UUID.
fn parse_urn(value: &str, kind: &str) -> Option<Uuid> {
    let bare =
        value.strip_prefix("urn:vcloud:").and_then(|rest| rest.strip_prefix(kind)?.strip_prefix(':')).unwrap_or(value);
    Uuid::parse_str(bare).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn reads_the_requested_version() {
        assert_eq!(requested_version(&HeaderMap::new()), Ok(None));
        assert_eq!(requested_version(&accept("application/*+xml;version=32.0")), Ok(Some("32.0")));
        assert_eq!(requested_version(&accept("application/json;version=36.0")), Ok(Some("36.0")));
        assert_eq!(requested_version(&accept("application/*;version=37.0")), Ok(Some("37.0")));
        assert_eq!(requested_version(&accept("application/*+xml;version=99.0")), Err("99.0".into()));
    }

    #[test]
    fn parses_urns_and_bare_ids() {
        let id = Uuid::new_v4();
        assert_eq!(parse_urn(&format!("urn:vcloud:org:{id}"), "org"), Some(id));
        assert_eq!(parse_urn(&id.to_string(), "org"), Some(id));
        assert_eq!(parse_urn(&format!("urn:vcloud:user:{id}"), "org"), None);
        assert_eq!(parse_urn("nonsense", "org"), None);
    }
}
