//! `/v1/admin`: the admin REST API. Native JSON, failures in native's shape
//! ([`crate::native::render`]: the path is under `/v1`), every route described in the OpenAPI
//! document. Callers are authenticated by [`Admin`]; what they may do is decided by the core
//! ([`tollgate_core::Core::authorize`]), never here.
//!
//! Each resource is a sub-module with a `router()`; [`router`] merges them, one line each.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tollgate_core::{API_TOKEN_PREFIX, Actor};
use utoipa_axum::router::OpenApiRouter;

use crate::common;
use crate::{AppState, Failure, native};

mod faults;
mod journal;
mod orgs;

/// Every admin route, for [`native`] to merge into `/v1` and its document.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(orgs::router()).merge(faults::router()).merge(journal::router())
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
