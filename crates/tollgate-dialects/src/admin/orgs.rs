//! `/v1/admin/orgs`: the organisations.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_core::Org;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Admin, Id};
use crate::native::{Body, ErrorBody};
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_orgs, create_org)).routes(routes!(delete_org))
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
        (status = 200, description = "The organisations the caller may see, by name", body = OrgList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller administers no organisation", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_orgs(State(state): State<AppState>, Admin(actor): Admin) -> Result<Json<OrgList>, Failure> {
    let orgs = state.core.visible_orgs(&actor).await?;
    Ok(Json(OrgList { items: orgs.into_iter().map(OrgView::from).collect() }))
}

/// A new organisation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrg {
    /// Printable, without `@` or `/` or white space at either end; unique whatever its case.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f@/]([^\x00-\x1f\x7f-\x9f@/]*[^\s\x00-\x1f\x7f-\x9f@/])?$"
    )]
    name: String,
    /// Defaults to the name.
    #[schema(min_length = 1, max_length = 128)]
    full_name: Option<String>,
}

/// Creates an organisation (the provider alone).
#[utoipa::path(post, path = "/v1/admin/orgs", tag = "admin", request_body = NewOrg,
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 201, description = "Created", body = OrgView),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider creates organisations", body = ErrorBody),
        (status = 409, description = "An organisation has that name", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn create_org(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(new): Body<NewOrg>,
) -> Result<(StatusCode, Json<OrgView>), Failure> {
    if new.full_name.as_deref().is_some_and(|full| full.is_empty() || full.chars().count() > 128) {
        return Err(Failure::InvalidField { field: "full_name".into(), reason: "1 to 128 characters".into() });
    }
    let org = state.core.add_org(&actor, &new.name, new.full_name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// Deletes an organisation that has no users and no API tokens left (the provider alone;
/// never System).
#[utoipa::path(delete, path = "/v1/admin/orgs/{id}", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider deletes organisations", body = ErrorBody),
        (status = 404, description = "No such organisation", body = ErrorBody),
        (status = 409, description = "System, or an organisation with users or API tokens", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn delete_org(State(state): State<AppState>, Admin(actor): Admin, id: Id) -> Result<StatusCode, Failure> {
    state.core.delete_org(&actor, id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
