//! `/v1/admin/faults`: the fault rules (see [`crate::faults`]) a test sets on the server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_core::{Action, Actor};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::common::JsonBody;
use crate::faults::{RuleSpec, RuleView};
use crate::native::ErrorBody;
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_faults, add_fault, remove_all_faults)).routes(routes!(remove_fault))
}

/// Only a System Administrator (or a token of one) operates a test server's faults, and only a
/// test server has any.
fn authorize(state: &AppState, actor: &Actor) -> Result<(), Failure> {
    state.core.authorize(actor, Action::OperateTestServer)?;
    match state.harness.serves_faults {
        true => Ok(()),
        false => Err(Failure::Conflict(
            "Fault rules are served by a test server only: --ephemeral, --fixtures, or testing.faults = true.".into(),
        )),
    }
}

/// The rules held, in the order they are tried.
#[derive(Serialize, ToSchema)]
pub(super) struct FaultList {
    items: Vec<RuleView>,
}

/// Every fault rule, with how often each matched and fired.
#[utoipa::path(get, path = "/v1/admin/faults", tag = "admin", security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The fault rules", body = FaultList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 409, description = "Not a test server", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_faults(State(state): State<AppState>, Admin(actor): Admin) -> Result<Json<FaultList>, Failure> {
    authorize(&state, &actor)?;
    Ok(Json(FaultList { items: state.harness.faults.list() }))
}

/// Adds a fault rule: what it matches (dialect, method, path glob, user, namespace), what it
/// does (status, latency, network fault or forced state) and how often (times, skip,
/// probability with a seed; until removed by default).
#[utoipa::path(post, path = "/v1/admin/faults", tag = "admin", security(("session" = []), ("apiToken" = [])),
    request_body = RuleSpec,
    responses(
        (status = 201, description = "The rule, as held", body = RuleView),
        (status = 400, description = "The rule is not one: the message says why", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 409, description = "Not a test server", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn add_fault(
    State(state): State<AppState>,
    Admin(actor): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, Failure> {
    authorize(&state, &actor)?;
    // serde's words name the unknown field or the wrong type: a rule holds no secret to leak.
    let spec: RuleSpec = serde_json::from_value(serde_json::Value::Object(body?))
        .map_err(|e| Failure::BadRequest(format!("not a fault rule: {e}")))?;
    let rule = state.harness.faults.add(spec).map_err(|invalid| Failure::BadRequest(invalid.0))?;
    tracing::info!(rule = %rule.name, actor = %actor.name(), "fault rule added");
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

/// Removes every fault rule.
#[utoipa::path(delete, path = "/v1/admin/faults", tag = "admin", security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 204, description = "No rule is held"),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 409, description = "Not a test server", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn remove_all_faults(State(state): State<AppState>, Admin(actor): Admin) -> Result<StatusCode, Failure> {
    authorize(&state, &actor)?;
    state.harness.faults.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the fault rule `name`.
#[utoipa::path(delete, path = "/v1/admin/faults/{name}", tag = "admin", security(("session" = []), ("apiToken" = [])),
    params(("name" = String, Path, description = "The rule's name")),
    responses(
        (status = 200, description = "The rule removed, with its counts", body = RuleView),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 404, description = "No rule of that name", body = ErrorBody),
        (status = 409, description = "Not a test server", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn remove_fault(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
) -> Result<Json<RuleView>, Failure> {
    authorize(&state, &actor)?;
    state.harness.faults.remove(&name).map(Json).ok_or(Failure::NotFound)
}
