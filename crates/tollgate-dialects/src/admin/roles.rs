//! `/v1/admin/roles`: the roles users can hold.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Admin;
use crate::native::ErrorBody;
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_roles))
}

#[derive(Serialize, ToSchema)]
pub(super) struct RoleView {
    id: Uuid,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct RoleList {
    items: Vec<RoleView>,
}

/// Every role, to whoever administers or audits an org.
#[utoipa::path(get, path = "/v1/admin/roles", tag = "admin", security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The roles", body = RoleList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller administers no organisation", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_roles(State(state): State<AppState>, Admin(actor): Admin) -> Result<Json<RoleList>, Failure> {
    let roles = state.core.roles_for(&actor).await?;
    Ok(Json(RoleList { items: roles.into_iter().map(|role| RoleView { id: role.id, name: role.name }).collect() }))
}
