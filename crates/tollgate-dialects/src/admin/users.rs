//! `/v1/admin/users`: the users of the orgs, their roles, state, password and sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Core, CoreError, User, UserQuery, UserSpec};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Admin, Id, Params, bounded, page_of};
use crate::native::{Body, ErrorBody};
use crate::{AppState, CorrelationId, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(set_roles))
        .routes(routes!(set_enabled))
        .routes(routes!(unlock))
        .routes(routes!(set_password))
        .routes(routes!(revoke_sessions))
}

/// A user.
#[derive(Serialize, ToSchema)]
pub(super) struct UserView {
    id: Uuid,
    org: String,
    org_id: Uuid,
    name: String,
    roles: Vec<String>,
    enabled: bool,
    /// Locked out for every address (failed logins, or an administrator).
    locked: bool,
    /// Locked out for these addresses alone.
    locked_for: Vec<String>,
    identity_source: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_login_at: Option<String>,
}

impl UserView {
    async fn of(core: &Core, user: User) -> Result<UserView, CoreError> {
        let locks = core.lockout(&user).await?;
        Ok(UserView {
            roles: user.role_names(),
            id: user.id,
            org: user.org_name,
            org_id: user.org_id,
            name: user.name,
            enabled: user.enabled,
            locked: locks.everywhere,
            locked_for: locks.addresses,
            identity_source: user.identity_source,
            created_at: user.created_at.to_rfc3339_seconds(),
            last_login_at: user.last_login_at.map(|at| at.to_rfc3339_seconds()),
        })
    }
}

/// One page of users.
#[derive(Serialize, ToSchema)]
pub(super) struct UserList {
    items: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<i64>,
}

/// Which users to list: all that match every filter given.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UserFilter {
    /// Of this org (by name). Without it, the provider sees every org's users and anyone else
    /// their own org's.
    #[param(max_length = 128)]
    org: Option<String>,
    /// Only enabled (true) or disabled (false) users.
    enabled: Option<bool>,
    /// Holding this role.
    #[param(max_length = 128)]
    role: Option<String>,
    /// Of this identity source (`local`, or a configured source's name).
    #[param(max_length = 128)]
    source: Option<String>,
    /// Whose name contains this, whatever its case.
    #[param(max_length = 128)]
    name_contains: Option<String>,
    /// Users per page, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_after` of the previous page.
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    after: Option<i64>,
}

/// The users the caller may see, in the order they were created, a page at a time.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", params(UserFilter),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "One page of users", body = UserList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not list these users", body = ErrorBody),
        (status = 404, description = "No such org", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Params(filter): Params<UserFilter>,
) -> Result<Json<UserList>, Failure> {
    let page = page_of(filter.limit, filter.after)?;
    for (field, value) in [("org", &filter.org), ("role", &filter.role), ("source", &filter.source)] {
        bounded(field, value.as_deref(), 128)?;
    }
    bounded("name_contains", filter.name_contains.as_deref(), 128)?;
    let query = UserQuery {
        org: filter.org,
        enabled: filter.enabled,
        role: filter.role,
        source: filter.source,
        name_contains: filter.name_contains,
    };
    let (users, next_after) = state.core.find_users(&actor, &query, page).await?;
    let mut items = Vec::with_capacity(users.len());
    for user in users {
        items.push(UserView::of(&state.core, user).await?);
    }
    Ok(Json(UserList { items, next_after }))
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    /// The org's name.
    #[schema(min_length = 1, max_length = 128)]
    org: String,
    /// Printable, without white space at either end.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    name: String,
    /// Role names, as `GET /v1/admin/roles` lists them; at least one.
    #[schema(min_items = 1, max_items = 16)]
    roles: Vec<String>,
    /// The password of a local user (required for one); the password policy applies
    /// (`passwords.min_length`, whose default the document states).
    #[schema(min_length = 8, max_length = 256)]
    password: Option<String>,
    /// `local` (the default), or a configured source that checks this user's password.
    #[schema(max_length = 128, default = "local")]
    identity_source: Option<String>,
}

/// Most roles one user may be given in one request.
const MAX_ROLES: usize = 16;
/// Longest password accepted, in characters (the document's bound; the policy's own is 1024
/// bytes).
const MAX_PASSWORD_CHARS: usize = 256;

fn check_roles(roles: &[String]) -> Result<(), Failure> {
    if roles.len() > MAX_ROLES {
        return Err(Failure::InvalidField { field: "roles".into(), reason: format!("at most {MAX_ROLES} roles") });
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), Failure> {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(Failure::InvalidField {
            field: "password".into(),
            reason: format!("at most {MAX_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = NewUser,
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "A bad name, role list or password", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not create users in this org", body = ErrorBody),
        (status = 404, description = "No such org or role", body = ErrorBody),
        (status = 409, description = "The org has a user of that name", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn create_user(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Body(new): Body<NewUser>,
) -> Result<(StatusCode, Json<UserView>), Failure> {
    check_roles(&new.roles)?;
    if let Some(password) = &new.password {
        check_password(password)?;
    }
    let spec = UserSpec {
        org: new.org,
        name: new.name,
        roles: new.roles,
        identity_source: new.identity_source.unwrap_or_else(|| LOCAL_SOURCE.to_owned()),
        password_hash: None,
    };
    let user = state.core.add_user(&actor, spec, new.password.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(UserView::of(&state.core, user).await?)))
}

#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not see this user", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn get_user(State(state): State<AppState>, Admin(actor): Admin, id: Id) -> Result<Json<UserView>, Failure> {
    let user = state.core.user_for(&actor, id.0).await?;
    Ok(Json(UserView::of(&state.core, user).await?))
}

/// Deletes the user and every session of theirs.
#[utoipa::path(delete, path = "/v1/admin/users/{id}", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not delete this user", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn delete_user(State(state): State<AppState>, Admin(actor): Admin, id: Id) -> Result<StatusCode, Failure> {
    let user = state.core.user_for(&actor, id.0).await?;
    state.core.delete_user(&actor, &user.org_name, &user.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles a user is to hold, replacing those they hold.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Roles {
    #[schema(min_items = 1, max_items = 16)]
    roles: Vec<String>,
}

#[utoipa::path(put, path = "/v1/admin/users/{id}/roles", tag = "admin", params(Id), request_body = Roles,
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The user with their new roles", body = UserView),
        (status = 400, description = "No roles, or too many", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not change this user", body = ErrorBody),
        (status = 404, description = "No such user or role", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn set_roles(
    State(state): State<AppState>,
    Admin(actor): Admin,
    id: Id,
    Body(request): Body<Roles>,
) -> Result<Json<UserView>, Failure> {
    check_roles(&request.roles)?;
    let user = state.core.user_for(&actor, id.0).await?;
    state.core.set_roles(&actor, &user.org_name, &user.name, &request.roles).await?;
    let user = state.core.user_for(&actor, id.0).await?;
    Ok(Json(UserView::of(&state.core, user).await?))
}

/// Whether the user may log in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Enabled {
    /// False disables the user and ends their sessions.
    enabled: bool,
}

#[utoipa::path(put, path = "/v1/admin/users/{id}/enabled", tag = "admin", params(Id), request_body = Enabled,
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The user as they are now", body = UserView),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not change this user", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn set_enabled(
    State(state): State<AppState>,
    Admin(actor): Admin,
    id: Id,
    Body(request): Body<Enabled>,
) -> Result<Json<UserView>, Failure> {
    let user = state.core.user_for(&actor, id.0).await?;
    state.core.set_enabled(&actor, &user.org_name, &user.name, request.enabled).await?;
    let user = state.core.user_for(&actor, id.0).await?;
    Ok(Json(UserView::of(&state.core, user).await?))
}

/// Lifts every lockout of the user.
#[utoipa::path(post, path = "/v1/admin/users/{id}/unlock", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The user as they are now", body = UserView),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not change this user", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn unlock(State(state): State<AppState>, Admin(actor): Admin, id: Id) -> Result<Json<UserView>, Failure> {
    let user = state.core.user_for(&actor, id.0).await?;
    state.core.unlock(&actor, &user.org_name, &user.name).await?;
    Ok(Json(UserView::of(&state.core, user).await?))
}

/// A new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    /// The password policy applies (`passwords.min_length`, whose default the document states).
    #[schema(min_length = 8, max_length = 256)]
    password: String,
}

/// Sets the user's password and ends their sessions.
#[utoipa::path(put, path = "/v1/admin/users/{id}/password", tag = "admin", params(Id), request_body = NewPassword,
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The password policy refuses it", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not change this user", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn set_password(
    State(state): State<AppState>,
    Admin(actor): Admin,
    id: Id,
    Body(request): Body<NewPassword>,
) -> Result<StatusCode, Failure> {
    check_password(&request.password)?;
    let user = state.core.user_for(&actor, id.0).await?;
    state.core.set_password(&actor, &user.org_name, &user.name, &request.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions a revocation ended.
#[derive(Serialize, ToSchema)]
pub(super) struct Revoked {
    revoked: usize,
}

/// Ends every live session of the user.
#[utoipa::path(delete, path = "/v1/admin/users/{id}/sessions", tag = "admin", params(Id),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "How many sessions were live", body = Revoked),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not end this user's sessions", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn revoke_sessions(
    State(state): State<AppState>,
    Admin(actor): Admin,
    CorrelationId(request_id): CorrelationId,
    id: Id,
) -> Result<Json<Revoked>, Failure> {
    let user = state.core.user_for(&actor, id.0).await?;
    let revoked = state.core.revoke_user_sessions(&actor, &user.org_name, &user.name, &request_id).await?;
    Ok(Json(Revoked { revoked }))
}
