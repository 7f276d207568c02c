//! `/v1/admin/sessions`: every dialect's sessions, and revoking them.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tollgate_core::{Session, SessionQuery};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Admin, Id, Params, bounded, page_of};
use crate::native::ErrorBody;
use crate::{AppState, CorrelationId, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sessions)).routes(routes!(get_session, revoke_session))
}

/// A session of any dialect, as the store has it.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionRecord {
    id: Uuid,
    org: String,
    org_id: Uuid,
    user: String,
    user_id: Uuid,
    roles: Vec<String>,
    dialect: String,
    identity_source: String,
    /// `LOGGED_IN`, `LOGGED_OUT`, `TERMINATED`, `EXPIRED`, ...
    state: &'static str,
    read_only: bool,
    remote_addr: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// The last use the store has recorded (uses are written back in batches).
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    ended_at: Option<String>,
}

impl From<Session> for SessionRecord {
    fn from(session: Session) -> SessionRecord {
        SessionRecord {
            id: session.id,
            org: session.org_name,
            org_id: session.org_id,
            user: session.user_name,
            user_id: session.user_id,
            roles: session.roles,
            dialect: session.dialect,
            identity_source: session.identity_source,
            state: session.state.as_str(),
            read_only: session.read_only,
            remote_addr: session.remote_addr,
            created_at: session.created_at.to_rfc3339_seconds(),
            last_seen_at: session.last_seen_at.to_rfc3339_seconds(),
            expires_at: session.expires_at.to_rfc3339_seconds(),
            ended_at: session.ended_at.map(|at| at.to_rfc3339_seconds()),
        }
    }
}

/// One page of sessions, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionList {
    items: Vec<SessionRecord>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<i64>,
}

/// Which sessions to list: all that match every filter given.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionFilter {
    /// Of this org (by name). Without it, the provider sees every org's sessions and anyone
    /// else their own org's.
    #[param(max_length = 128)]
    org: Option<String>,
    /// Of this user (by name) of `org`, or of the caller's own org when `org` is absent.
    #[param(max_length = 128)]
    user: Option<String>,
    /// Of this dialect: `vcd`, `vcda`, `loginsight`, `hcx`, `bluecat`, `native`.
    #[param(max_length = 32)]
    dialect: Option<String>,
    /// Ended ones too (false: live ones alone).
    #[serde(default)]
    all: bool,
    /// Sessions per page, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_after` of the previous page.
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    after: Option<i64>,
}

/// The sessions the caller may see, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/admin/sessions", tag = "admin", params(SessionFilter),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "One page of sessions", body = SessionList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not list these sessions", body = ErrorBody),
        (status = 404, description = "No such org or user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Params(filter): Params<SessionFilter>,
) -> Result<Json<SessionList>, Failure> {
    let page = page_of(filter.limit, filter.after)?;
    bounded("org", filter.org.as_deref(), 128)?;
    bounded("user", filter.user.as_deref(), 128)?;
    bounded("dialect", filter.dialect.as_deref(), 32)?;
    let query = SessionQuery { org: filter.org, user: filter.user, dialect: filter.dialect, live_only: !filter.all };
    let sessions = state.core.find_sessions(&actor, &query, page).await?;
    let next_after = page.next(&sessions, |s| s.number).and_then(|next| next.after);
    Ok(Json(SessionList { items: sessions.into_iter().map(SessionRecord::from).collect(), next_after }))
}

#[utoipa::path(get, path = "/v1/admin/sessions/{id}", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The session", body = SessionRecord),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not see this session", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn get_session(
    State(state): State<AppState>,
    Admin(actor): Admin,
    id: Id,
) -> Result<Json<SessionRecord>, Failure> {
    Ok(Json(state.core.session_for(&actor, id.0).await?.into()))
}

/// Ends a live session (it is then `TERMINATED`).
#[utoipa::path(delete, path = "/v1/admin/sessions/{id}", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The session as it was when it ended", body = SessionRecord),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not end this session", body = ErrorBody),
        (status = 404, description = "No such live session", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn revoke_session(
    State(state): State<AppState>,
    Admin(actor): Admin,
    CorrelationId(request_id): CorrelationId,
    id: Id,
) -> Result<Json<SessionRecord>, Failure> {
    Ok(Json(state.core.revoke_session(&actor, id.0, &request_id).await?.into()))
}
