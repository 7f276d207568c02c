//! `/v1/admin/audit`: the recent audit events this node recorded, newest first.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tollgate_core::{AuditFilter, AuditKind, AuditRecord, Timestamp};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, DEFAULT_PAGE, MAX_CURSOR, MAX_PAGE, Params, bounded};
use crate::native::ErrorBody;
use crate::{AppState, Failure};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recent_events))
}

/// One audit event.
#[derive(Serialize, ToSchema)]
pub(super) struct EventView {
    /// Increases by one per event this node recorded: pass the last one's as `before` for
    /// the next page.
    sequence: u64,
    #[schema(format = DateTime)]
    at: String,
    /// Who acted: `{"type": "session", "org": …, "user": …}`, `{"type": "api_token", "name":
    /// …}`, `{"type": "operator"}` or `{"type": "system"}`.
    #[schema(value_type = Object)]
    actor: serde_json::Value,
    correlation_id: Option<String>,
    /// What happened: `{"kind": "user_created", …}` and the kind's own fields.
    #[schema(value_type = Object)]
    event: serde_json::Value,
}

impl From<&AuditRecord> for EventView {
    fn from(record: &AuditRecord) -> EventView {
        let json = |value: serde_json::Result<serde_json::Value>| value.unwrap_or(serde_json::Value::Null);
        EventView {
            sequence: record.sequence,
            at: record.at.to_datetime().format(&Rfc3339).unwrap_or_default(),
            actor: json(serde_json::to_value(&record.actor)),
            correlation_id: record.correlation_id.clone(),
            event: json(serde_json::to_value(&record.event)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct EventList {
    items: Vec<EventView>,
}

/// Which events: all that match every filter given.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventFilter {
    /// Any of these kinds, comma-separated: `login`, `login_failed`, `logout`, `revocation`,
    /// `user_created`, …
    #[param(schema_with = kind_names)]
    kind: Option<String>,
    /// About this org (by name). An org's administrators and auditors read their own org's.
    #[param(max_length = 128)]
    org: Option<String>,
    /// About this user (by name).
    #[param(max_length = 128)]
    user: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Older than this sequence number.
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    before: Option<u64>,
    /// Events per page, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The `kind` parameter's schema: event kinds, as [`AuditKind::as_str`] names them, joined by
/// commas in one parameter (a repeated `kind` is refused).
fn kind_names() -> Object {
    let names: Vec<&str> = AuditKind::ALL.iter().map(|kind| kind.as_str()).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(1024))
        .description(Some(format!("Comma-separated, of: {}", names.join(", "))))
        .build()
}

fn instant(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    let Some(text) = text else { return Ok(None) };
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| Failure::InvalidField {
        field: field.into(),
        reason: "not an RFC 3339 time such as 2026-01-31T12:00:00Z".into(),
    })?;
    Ok(Some(Timestamp((at.unix_timestamp_nanos() / 1_000_000).clamp(i64::MIN.into(), i64::MAX.into()) as i64)))
}

/// The recent audit events the caller may read, newest first. The ring holds this node's
/// latest 10 000 events; the log holds them all.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(EventFilter),
    security(("session" = []), ("apiToken" = [])),
    responses(
        (status = 200, description = "The events, newest first", body = EventList),
        (status = 401, description = "No live session or API token", body = ErrorBody),
        (status = 403, description = "The caller may not read this audit trail", body = ErrorBody),
        (status = "4XX", description = "A bad request", body = ErrorBody),
        (status = "5XX", description = "The server or a backend failed", body = ErrorBody),
    ))]
async fn recent_events(
    State(state): State<AppState>,
    Admin(actor): Admin,
    Params(filter): Params<EventFilter>,
) -> Result<Json<EventList>, Failure> {
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Failure::InvalidField { field: "limit".into(), reason: format!("from 1 to {MAX_PAGE}") });
    }
    bounded("org", filter.org.as_deref(), 128)?;
    bounded("user", filter.user.as_deref(), 128)?;
    bounded("kind", filter.kind.as_deref(), 1024)?;
    if filter.before.is_some_and(|before| before > MAX_CURSOR as u64) {
        return Err(Failure::InvalidField { field: "before".into(), reason: format!("at most {MAX_CURSOR}") });
    }
    let mut kinds = Vec::new();
    for name in filter.kind.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let kind = AuditKind::parse(name).ok_or_else(|| Failure::InvalidField {
            field: "kind".into(),
            reason: format!("{name:?} is no event kind"),
        })?;
        kinds.push(kind);
    }
    let audit = AuditFilter {
        kinds,
        org: filter.org,
        user: filter.user,
        since: instant("since", filter.since.as_deref())?,
        until: instant("until", filter.until.as_deref())?,
        before: filter.before,
        limit: limit as usize,
    };
    let records = state.core.audit_for(&actor, audit).await?;
    Ok(Json(EventList { items: records.iter().map(|record| EventView::from(&**record)).collect() }))
}
