//! `/v1/admin/journal`: the requests the server answered lately (see [`crate::journal`]), and
//! a count of them to verify against.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tollgate_core::Action;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::journal::{Entry, Filter};
use crate::native::ErrorBody;
use crate::{AppState, Failure};

/// Entries one listing returns at most.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_journal)).routes(routes!(count_journal))
}

/// A query's filters (see [`Filter`]), and how many entries it wants or expects.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct JournalQuery {
    dialect: Option<String>,
    method: Option<String>,
    /// A glob, as fault rules take: `*` within a segment, `**` across.
    path: Option<String>,
    status: Option<u16>,
    /// `name` or `name@org`: the user of the session the request used or opened.
    user: Option<String>,
    namespace: Option<String>,
    /// The fault rule that fired; `*` for any.
    fault: Option<String>,
    /// Only entries after this sequence number.
    since: Option<u64>,
    /// The newest this many entries that match [default: 100, at most 1000].
    limit: Option<usize>,
    /// For `/count`: the count that verifies; any other is answered 409.
    expect: Option<usize>,
}

impl JournalQuery {
    fn filter(self) -> (Filter, Option<usize>, Option<usize>) {
        let JournalQuery { dialect, method, path, status, user, namespace, fault, since, limit, expect } = self;
        (Filter { dialect, method, path, status, user, namespace, fault, since }, limit, expect)
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct JournalPage {
    /// Oldest first.
    items: Vec<Entry>,
    /// Requests the journal keeps; older ones are gone.
    capacity: usize,
}

#[derive(Serialize, ToSchema)]
pub(super) struct JournalCount {
    count: usize,
}

/// The query string, or a 400 that says what is wrong with it.
fn read(query: Result<Query<JournalQuery>, QueryRejection>, state: &AppState) -> Result<JournalQuery, Failure> {
    if !state.harness.journal.enabled() {
        return Err(Failure::Conflict(
            "The request journal is off: start the server with --ephemeral, or set testing.journal = true.".into(),
        ));
    }
    let Query(query) = query.map_err(|rejection| Failure::BadRequest(rejection.body_text()))?;
    if let Some(path) = &query.path {
        crate::faults::check_glob(path).map_err(Failure::BadRequest)?;
    }
    Ok(query)
}

/// The newest requests that match the filters, oldest first; secrets in headers redacted,
/// bodies never kept.
#[utoipa::path(get, path = "/v1/admin/journal", tag = "admin", security(("session" = []), ("apiToken" = [])),
    params(JournalQuery),
    responses(
        (status = 200, description = "The requests", body = JournalPage),
        (status = 400, description = "A filter is not one", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 409, description = "The journal is off", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn list_journal(
    State(state): State<AppState>,
    Admin(actor): Admin,
    query: Result<Query<JournalQuery>, QueryRejection>,
) -> Result<Json<JournalPage>, Failure> {
    state.core.authorize(&actor, Action::OperateTestServer)?;
    let (filter, limit, _) = read(query, &state)?.filter();
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let journal = &state.harness.journal;
    Ok(Json(JournalPage { items: journal.query(&filter, limit), capacity: journal.capacity() }))
}

/// How many requests match the filters; with `expect`, a count that differs is a 409 saying
/// what was expected and found ("exactly one login by alice").
#[utoipa::path(get, path = "/v1/admin/journal/count", tag = "admin", security(("session" = []), ("apiToken" = [])),
    params(JournalQuery),
    responses(
        (status = 200, description = "The count (as expected, when `expect` is given)", body = JournalCount),
        (status = 400, description = "A filter is not one", body = ErrorBody),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "Only the provider's administrators operate a test server", body = ErrorBody),
        (status = 409, description = "The count is not the one expected, or the journal is off", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn count_journal(
    State(state): State<AppState>,
    Admin(actor): Admin,
    query: Result<Query<JournalQuery>, QueryRejection>,
) -> Result<Json<JournalCount>, Failure> {
    state.core.authorize(&actor, Action::OperateTestServer)?;
    let (filter, _, expect) = read(query, &state)?.filter();
    let count = state.harness.journal.count(&filter);
    match expect {
        Some(expected) if expected != count => Err(Failure::Conflict(format!(
            "Expected {expected} request(s) matching {}, found {count}.",
            filter.describe()
        ))),
        _ => Ok(Json(JournalCount { count })),
    }
}
