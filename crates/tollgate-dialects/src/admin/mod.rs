//! `/v1/admin`: the admin REST API. Native JSON, failures in native's shape
//! ([`crate::native::render`]: the path is under `/v1`), every route described in the OpenAPI
//! document. Callers are authenticated by [`Admin`]; what they may do is decided by the core
//! ([`tollgate_core::Core::authorize`]), never here.
//!
//! Each resource is a sub-module with a `router()`; [`router`] merges them, one line each.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tollgate_core::{API_TOKEN_PREFIX, Actor, Page};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::common;
use crate::{AppState, Failure, native};

mod audit;
mod faults;
mod journal;
mod orgs;
mod roles;
mod sessions;
mod sources;
mod users;

/// Every admin route, for [`native`] to merge into `/v1` and its document.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(orgs::router())
        .merge(users::router())
        .merge(roles::router())
        .merge(sources::router())
        .merge(sessions::router())
        .merge(audit::router())
        .merge(faults::router())
        .merge(journal::router())
}

/// The caller of an admin endpoint: a native session's user, or an API token (`tga_…`), both
/// sent as `Authorization: Bearer`. Neither says yet what the caller may do: the core decides
/// that for each action.
pub(crate) struct Admin(pub Actor);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = common::bearer_token(&parts.headers).ok_or(Failure::InvalidToken(None))?;
        let remote = common::remote(parts);
        let actor = match token.starts_with(API_TOKEN_PREFIX) {
            true => Actor::from(&state.core.authenticate_api_token(token, remote).await?),
            false => Actor::from(state.core.authenticate_from(native::DIALECT, token, remote).await?.session()),
        };
        Ok(Admin(actor))
    }
}

/// A query string read into `T`; what cannot be read is a 400 that says why.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(Failure::BadRequest(rejection.body_text())),
        }
    }
}

/// The `{id}` of a resource's path: a UUID, or a 400 that says it is not one.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub(crate) struct Id(
    /// The resource's id.
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let Ok(Path(text)) = Path::<String>::from_request_parts(parts, state).await else {
            return Err(Failure::BadRequest("The path could not be read.".into()));
        };
        Uuid::parse_str(&text)
            .map(Id)
            .map_err(|_| Failure::InvalidField { field: "id".into(), reason: "not a UUID".into() })
    }
}

/// Items per page when a listing's `limit` is absent, and the most it may ask for.
pub(crate) const DEFAULT_PAGE: u32 = 100;
pub(crate) const MAX_PAGE: u32 = 500;

/// The largest `after` or `before` a listing takes: the largest integer every JSON reader
/// reads exactly (2^53 - 1), far beyond any count of users, sessions or events.
pub(crate) const MAX_CURSOR: i64 = 9_007_199_254_740_991;

/// The page `limit` and `after` (a listing's `next_after`) ask for.
pub(crate) fn page_of(limit: Option<u32>, after: Option<i64>) -> Result<Page, Failure> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Failure::InvalidField { field: "limit".into(), reason: format!("from 1 to {MAX_PAGE}") });
    }
    if after.is_some_and(|after| !(0..=MAX_CURSOR).contains(&after)) {
        return Err(Failure::InvalidField { field: "after".into(), reason: format!("from 0 to {MAX_CURSOR}") });
    }
    Ok(Page { after, limit })
}

/// Refuses a text parameter longer than the document allows (`max` characters).
pub(crate) fn bounded(field: &str, value: Option<&str>, max: usize) -> Result<(), Failure> {
    match value {
        Some(text) if text.chars().count() > max => {
            Err(Failure::InvalidField { field: field.into(), reason: format!("at most {max} characters") })
        }
        _ => Ok(()),
    }
}
