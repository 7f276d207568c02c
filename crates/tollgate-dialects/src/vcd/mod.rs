//! `vcd` — VMware Cloud Director's session API (`/api`, `/cloudapi/1.0.0/sessions`).
//! Contract: `docs/contracts/vcd.md`.

use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use tollgate_core::directory::same_role;
use tollgate_core::{Action, Actor, CoreError, Credential, FailureReason, LiveSession, LoginRequest, Org, TokenKind};
use uuid::Uuid;

use crate::common::{self, AuthorizationProblem, BaseUrl, ClientAddr};
use crate::settings::VcdVersion;
use crate::{AppState, CorrelationId, Failure};

mod error;
mod xml;

pub use error::render;

pub const DIALECT: &str = "vcd";

const ORG_TYPE: &str = "application/vnd.vmware.vcloud.org+xml";
/// The client's correlation id, and the header every response echoes it in.
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-vmware-vcloud-client-request-id");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-vmware-vcloud-request-id");
pub(crate) const VCLOUD_AUTHORIZATION: &str = "x-vcloud-authorization";
pub(crate) const ACCESS_TOKEN: &str = "x-vmware-vcloud-access-token";
const TOKEN_TYPE: HeaderName = HeaderName::from_static("x-vmware-vcloud-token-type");
/// The product version `GET /api/admin` reports, as Cloud Director writes it: four-part
/// version, then the build date (go-vcloud-director parses both). API 37.0 is Cloud Director 10.4.
const PRODUCT_DESCRIPTION: &str = "10.4.2.21954589 2023-06-08T14:00:00Z";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/versions", get(versions))
        .route("/api/sessions", post(legacy_login))
        .route("/api/session", get(session_xml).delete(logout))
        .route("/api/org", get(org_list))
        .route("/api/org/", get(org_list))
        .route("/api/org/{id}", get(org))
        .route("/api/query", get(query))
        .route("/api/admin", get(admin))
        .route("/api/admin/", get(admin))
        .route("/api/admin/extension", get(admin_extension))
        .route("/api/{*rest}", any(not_found))
        .route("/cloudapi/1.0.0/sessions", post(tenant_login).delete(logout))
        .route("/cloudapi/1.0.0/sessions/provider", post(provider_login).delete(logout))
        .route("/cloudapi/1.0.0/sessions/current", get(session_json).delete(logout))
        .route("/cloudapi/1.0.0/sessions/{id}", delete(delete_session))
        .route("/cloudapi/{*rest}", any(not_found))
}

/// The API version a request is served at: the one its `Accept` names, else the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(pub String);

/// What the envelope learns from a request's `Accept` header.
pub struct Negotiation {
    pub version: ApiVersion,
    /// A version the client asked for that is not listed (answered 406).
    pub unsupported: Option<String>,
}

/// Reads the `version=` of the `Accept` header against the listed versions. `/api/versions`
/// answers whatever is asked, so that a client can find out what is served.
pub fn negotiate(parts: &Parts, versions: &[VcdVersion]) -> Negotiation {
    let newest = ApiVersion(versions.last().map(|v| v.version.clone()).unwrap_or_default());
    let asked = match requested_version(&parts.headers) {
        Some(asked) => asked,
        None => return Negotiation { version: newest, unsupported: None },
    };
    match versions.iter().find(|v| v.version == asked) {
        Some(v) => Negotiation { version: ApiVersion(v.version.clone()), unsupported: None },
        None if parts.uri.path() == "/api/versions" => Negotiation { version: newest, unsupported: None },
        None => Negotiation { version: newest, unsupported: Some(asked) },
    }
}

/// The `version=` parameter of `Accept`, if any (the first of several media ranges that has one).
fn requested_version(headers: &HeaderMap) -> Option<String> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    accept
        .split([',', ';'])
        .map(str::trim)
        .find_map(|param| param.strip_prefix("version="))
        .map(|v| v.trim_matches('"').chars().take(16).collect())
}

/// Every `/api` and `/cloudapi` answer names the API version in its `Content-Type`, as the
/// product's do (go-vcloud-director's tests check it).
pub fn finish(response: &mut Response, version: Option<ApiVersion>) {
    let Some(ApiVersion(version)) = version else { return };
    let Some(content_type) = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if content_type.contains("version=") {
        return;
    }
    let mut with_version = String::with_capacity(content_type.len() + 9 + version.len());
    for part in [content_type, ";version=", &version] {
        with_version.push_str(part);
    }
    if let Ok(value) = HeaderValue::from_str(&with_version) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
}

/// A request made with a live vcd session token, in any of the three headers clients use.
struct Caller {
    session: LiveSession,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let headers = &parts.headers;
        let token = common::bearer_token(headers)
            .or_else(|| common::token_header(headers, VCLOUD_AUTHORIZATION))
            .or_else(|| common::token_header(headers, ACCESS_TOKEN))
            .ok_or(Failure::InvalidToken(None))?;
        let session = state.core.authenticate_from(DIALECT, token, common::remote(parts)).await?;
        Ok(Caller { session })
    }
}

// ---- versions and login -------------------------------------------------------------------

async fn versions(State(state): State<AppState>, BaseUrl(base): BaseUrl) -> Response {
    xml_response(
        "application/vnd.vmware.vcloud.versions+xml",
        xml::supported_versions(&base, &state.settings.vcd_versions),
    )
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
    correlation_id: CorrelationId,
}

/// Checks `Authorization: Basic base64(user@org:password)` and opens a session with both of
/// Cloud Director's tokens: `[x-vcloud-authorization, access token]`.
async fn login(state: &AppState, url: LoginUrl, cx: LoginContext) -> Result<(LiveSession, Vec<String>), Failure> {
    let refused = Failure::LoginRefused(FailureReason::UnknownUser);
    let (user_at_org, password) = common::basic_credentials(&cx.headers).map_err(|problem| match problem {
        AuthorizationProblem::Missing => Failure::MissingCredentials,
        AuthorizationProblem::Malformed => refused.clone(),
    })?;
    // User names may contain '@': the org follows the last one.
    let (user, org) = user_at_org.rsplit_once('@').ok_or(refused.clone())?;
    if user.is_empty() || org.is_empty() {
        return Err(refused);
    }
    let is_system = org.eq_ignore_ascii_case(tollgate_core::directory::SYSTEM_ORG);
    let request = LoginRequest {
        dialect: DIALECT,
        org,
        username: user,
        credential: Credential::Password(&password),
        remote_addr: cx.addr.0,
        correlation_id: &cx.correlation_id.0,
        tokens: &[TokenKind::Hex128, TokenKind::Base64Url256],
        source: state.settings.source_of_org(org),
        ..LoginRequest::default()
    };
    if (url == LoginUrl::Tenant && is_system) || (url == LoginUrl::Provider && !is_system) {
        // Refused like any bad login: same time, same audit event.
        return Err(state.core.refuse_login(request, FailureReason::WrongSource).await.into());
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
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    addr: ClientAddr,
    correlation_id: CorrelationId,
) -> Result<Response, Failure> {
    let (session, tokens) = login(&state, LoginUrl::Legacy, LoginContext { headers, addr, correlation_id }).await?;
    let mut response = xml_response(SESSION_TYPE, session_document(&state, &base, &session));
    response.headers_mut().extend(token_headers(&tokens));
    Ok(response)
}

async fn tenant_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    correlation_id: CorrelationId,
) -> Result<Response, Failure> {
    cloudapi_login(state, LoginUrl::Tenant, LoginContext { headers, addr, correlation_id }).await
}

async fn provider_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    addr: ClientAddr,
    correlation_id: CorrelationId,
) -> Result<Response, Failure> {
    cloudapi_login(state, LoginUrl::Provider, LoginContext { headers, addr, correlation_id }).await
}

async fn cloudapi_login(state: AppState, url: LoginUrl, cx: LoginContext) -> Result<Response, Failure> {
    let (session, tokens) = login(&state, url, cx).await?;
    let body = session_json_body(&state, &session).await?;
    // Exactly 200: pyvcloud treats 201 as a failed login.
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response.headers_mut().extend(token_headers(&tokens));
    Ok(response)
}

// ---- the session --------------------------------------------------------------------------

const SESSION_TYPE: &str = "application/vnd.vmware.vcloud.session+xml";

async fn session_org(state: &AppState, session: &LiveSession) -> Result<Org, Failure> {
    state.core.org_by_id(session.org_id).await?.ok_or(Failure::InvalidToken(None))
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
        .filter_map(|name| roles.iter().find(|r| same_role(&r.name, name)))
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

async fn session_xml(State(state): State<AppState>, BaseUrl(base): BaseUrl, caller: Caller) -> Response {
    xml_response(SESSION_TYPE, session_document(&state, &base, &caller.session))
}

async fn session_json(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure> {
    Ok(Json(session_json_body(&state, &caller.session).await?).into_response())
}

/// `DELETE /api/session` (pyvcloud), `/cloudapi/1.0.0/sessions/current`, and the login URL
/// itself (go-vcloud-director's logout).
async fn logout(
    State(state): State<AppState>,
    correlation_id: CorrelationId,
    caller: Caller,
) -> Result<StatusCode, Failure> {
    state.core.logout(&caller.session, &correlation_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one's own session by id; a System Administrator may end anyone's.
async fn delete_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    correlation_id: CorrelationId,
    caller: Caller,
) -> Result<StatusCode, Failure> {
    let id = parse_urn(&id, "session").ok_or_else(|| Failure::BadRequest(format!("{id:?} is not a session id")))?;
    if id == caller.session.id {
        state.core.logout(&caller.session, &correlation_id.0).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    match state.core.revoke_session(&Actor::from(caller.session.session()), id, &correlation_id.0).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(CoreError::NotPermitted(_)) => {
            Err(Failure::Forbidden("Only a System Administrator may end another user's session.".into()))
        }
        Err(other) => Err(other.into()),
    }
}

// ---- what clients read right after login --------------------------------------------------

/// Organisations the caller may see: all of them for the provider, else their own.
async fn visible_orgs(state: &AppState, session: &LiveSession) -> Result<Vec<Org>, Failure> {
    if may(state, session, Action::ListAllOrgs) {
        Ok(state.core.orgs().await?)
    } else {
        Ok(vec![session_org(state, session).await?])
    }
}

async fn org_list(State(state): State<AppState>, BaseUrl(base): BaseUrl, caller: Caller) -> Result<Response, Failure> {
    let orgs = visible_orgs(&state, &caller.session).await?;
    Ok(xml_response("application/vnd.vmware.vcloud.orgList+xml", xml::org_list(&base, &orgs)))
}

async fn org(
    State(state): State<AppState>,
    Path(id): Path<String>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
) -> Result<Response, Failure> {
    let id = parse_urn(&id, "org").ok_or_else(|| Failure::BadRequest(format!("{id:?} is not an organisation id")))?;
    let org = visible_orgs(&state, &caller.session).await?.into_iter().find(|o| o.id == id).ok_or_else(|| {
        Failure::Forbidden(
            "Either you need some or all of the following rights [ORG_VIEW], or the organisation does not exist."
                .into(),
        )
    })?;
    Ok(xml_response(ORG_TYPE, xml::org(&base, &org)))
}

/// With a `type`, an empty page of that query's records (Tollgate keeps no VDCs or vApps);
/// without one, the list of queries, as the Session document's `query` link promises.
async fn query(RawQuery(raw): RawQuery, BaseUrl(base): BaseUrl, _caller: Caller) -> Result<Response, Failure> {
    let raw = raw.unwrap_or_default();
    if raw.len() > 2048 {
        return Err(Failure::BadRequest("The query string is too long.".into()));
    }
    match raw.split('&').find_map(|pair| pair.strip_prefix("type=")) {
        Some(kind) => {
            Ok(xml_response("application/vnd.vmware.vcloud.query.records+xml", xml::empty_query(&base, &raw, kind)))
        }
        None => Ok(xml_response("application/vnd.vmware.vcloud.query.queryList+xml", xml::query_list(&base))),
    }
}

async fn admin(State(state): State<AppState>, BaseUrl(base): BaseUrl, caller: Caller) -> Result<Response, Failure> {
    if !may(&state, &caller.session, Action::ReadProviderApi) {
        return Err(Failure::Forbidden("Only a System Administrator may read /api/admin.".into()));
    }
    Ok(xml_response("application/vnd.vmware.admin.vcloud+xml", xml::admin(&base, PRODUCT_DESCRIPTION)))
}

async fn admin_extension(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
) -> Result<Response, Failure> {
    if !may(&state, &caller.session, Action::ReadProviderApi) {
        return Err(Failure::Forbidden("Only a System Administrator may read /api/admin/extension.".into()));
    }
    Ok(xml_response("application/vnd.vmware.admin.vmwExtension+xml", xml::admin_extension(&base)))
}

async fn not_found() -> Failure {
    Failure::NotFound
}

// ---- helpers ------------------------------------------------------------------------------

/// Whether the core lets the holder of `session` do `action`; a refusal is the handler's to word.
fn may(state: &AppState, session: &LiveSession, action: Action) -> bool {
    state.core.authorize(&Actor::from(session.session()), action).is_ok()
}

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

    fn negotiated(path: &str, accept: Option<&'static str>) -> (String, Option<String>) {
        let mut request = axum::http::Request::builder().uri(path);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        let n = negotiate(&parts, &crate::settings::default_vcd_versions());
        (n.version.0, n.unsupported)
    }

    #[test]
    fn negotiates_the_requested_version() {
        assert_eq!(negotiated("/api/session", None), ("37.0".into(), None));
        assert_eq!(negotiated("/api/sessions", Some("application/*+xml;version=32.0")), ("32.0".into(), None));
        assert_eq!(
            negotiated("/api/sessions", Some("application/vnd.vmware.vcloud.session+xml;version=27.0")),
            ("27.0".into(), None)
        );
        assert_eq!(negotiated("/cloudapi/x", Some("application/json;version=36.0")), ("36.0".into(), None));
        assert_eq!(
            negotiated("/api/org", Some("application/*+xml;version=99.0")),
            ("37.0".into(), Some("99.0".into()))
        );
        assert_eq!(negotiated("/api/versions", Some("application/*+xml;version=99.0")), ("37.0".into(), None));
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
