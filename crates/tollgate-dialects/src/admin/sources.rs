//! `/v1/admin/sources`: the configured identity sources, and testing one step by step (what
//! `tollgate source test` does).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, bounded};
use crate::native::{Body, ErrorBody};
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sources)).routes(routes!(test_source))
}

#[derive(Serialize, ToSchema)]
pub(super) struct SourceView {
    name: String,
    /// `local`, `ldap`, `pam` or `saml`.
    kind: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SourceList {
    items: Vec<SourceView>,
}

/// The configured identity sources, by name (the provider's alone).
#[utoipa::path(get, path = "/v1/admin/sources", tag = "admin", security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The identity sources", body = SourceList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider manages identity sources", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_sources(State(state): State<AppState>, Admin(actor): Admin) -> Result<Json<SourceList>, Failure> {
    let sources = state.core.identity_sources(&actor)?;
    Ok(Json(SourceList { items: sources.into_iter().map(|(name, kind)| SourceView { name, kind }).collect() }))
}

/// What to try beyond reaching the source.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceTest {
    /// Also look this user up.
    #[schema(min_length = 1, max_length = 256)]
    user: Option<String>,
    /// And check this password of theirs (without `user`, the report's last step fails).
    #[schema(max_length = 256)]
    password: Option<String>,
}

/// One step of a test, timed.
#[derive(Serialize, ToSchema)]
pub(super) struct TestStep {
    /// What was tried: `connect ldaps://…`, `service bind`, `search alice`, `user bind`.
    step: String,
    elapsed_ms: f64,
    ok: bool,
    /// What came of it: the DN found, the groups, or why it failed.
    detail: String,
}

/// A test's steps; it stops at the first that fails.
#[derive(Serialize, ToSchema)]
pub(super) struct TestReport {
    /// Whether every step passed.
    ok: bool,
    steps: Vec<TestStep>,
}

/// Reaches the source step by step, as `tollgate source test` does. A source that fails its
/// test is still a 200: the report says where it failed.
#[utoipa::path(post, path = "/v1/admin/sources/{name}/test", tag = "admin", request_body = SourceTest,
    params(("name" = String, Path, description = "The source's name, as in `[sources.NAME]`")),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The steps tried, and how each went", body = TestReport),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider manages identity sources", body = ErrorBody),
        (status = 404, description = "No such source", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn test_source(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Path(name): Path<String>,
    Body(test): Body<SourceTest>,
) -> Result<Json<TestReport>, Failure> {
    if test.user.as_deref() == Some("") {
        return Err(Failure::InvalidField { field: "user".into(), reason: "must not be empty".into() });
    }
    bounded("user", test.user.as_deref(), 256)?;
    bounded("password", test.password.as_deref(), 256)?;
    let steps = state.core.test_source(&actor, &name, test.user.as_deref(), test.password.as_deref()).await?;
    let mut steps: Vec<TestStep> = steps
        .into_iter()
        .map(|step| {
            let (ok, detail) = match step.outcome {
                Ok(detail) => (true, detail),
                Err(why) => (false, why),
            };
            TestStep { step: step.step, elapsed_ms: step.elapsed.as_secs_f64() * 1000.0, ok, detail }
        })
        .collect();
    // A password alone cannot be checked: the report says so as the step that could not run.
    if test.password.is_some() && test.user.is_none() {
        steps.push(TestStep {
            step: "password check".into(),
            elapsed_ms: 0.0,
            ok: false,
            detail: "needs a user to check the password of".into(),
        });
    }
    Ok(Json(TestReport { ok: steps.iter().all(|s| s.ok), steps }))
}
