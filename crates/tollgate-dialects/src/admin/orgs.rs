//! `/v1/admin/orgs`: the organisations.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tollgate_core::Org;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Admin;
use crate::native::ErrorBody;
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_orgs))
}

/// An organisation.
#[derive(Serialize, ToSchema)]
pub(super) struct OrgView {
    id: Uuid,
    name: String,
    full_name: String,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Org> for OrgView {
    fn from(org: Org) -> OrgView {
        OrgView {
            id: org.id,
            name: org.name,
            full_name: org.full_name,
            created_at: org.created_at.to_rfc3339_seconds(),
        }
    }
}

/// The organisations the caller may see.
#[derive(Serialize, ToSchema)]
pub(super) struct OrgList {
    items: Vec<OrgView>,
}

/// Every organisation for the provider; an org's administrators and auditors see their own.
#[utoipa::path(get, path = "/v1/admin/orgs", tag = "admin", security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The organisations the caller may see", body = OrgList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller administers no organisation", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_orgs(State(state): State<AppState>, Admin(actor): Admin) -> Result<Json<OrgList>, Failure> {
    let orgs = state.core.visible_orgs(&actor).await?;
    Ok(Json(OrgList { items: orgs.into_iter().map(OrgView::from).collect() }))
}
