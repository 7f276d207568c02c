//! The OpenAPI 3.1 document of `/v1` and `/v1/admin`, served at `/v1/openapi.json`. It is
//! generated from the handlers' own annotations (utoipa) as the routes are registered
//! (utoipa-axum), so a route cannot exist without its description.

use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::native::ErrorBody;

pub const PATH: &str = "/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "Tollgate's own API: sessions (`/v1`), forward authentication for reverse proxies, \
            and administration (`/v1/admin`). Every failure is `{\"error\": CODE, \"message\": TEXT}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(crate::forward_auth::verify),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "sessions", description = "Log in, see and end one's own session, introspect a token"),
        (name = "forward-auth", description = "For nginx auth_request, Traefik ForwardAuth and Envoy ext_authz"),
        (name = "admin", description = "Organisations, users, roles, identity sources, sessions and the audit trail"),
    ),
)]
struct Document;

/// `session`: a native session token (`POST /v1/sessions`). `apiToken`: an API token
/// (`tollgate token create`). Both are sent as `Authorization: Bearer`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components.add_security_scheme("session", bearer("A native session token, from POST /v1/sessions"));
        components.add_security_scheme(
            "apiToken",
            bearer("An API token from `tollgate token create`, for /v1/admin; it starts with `tga_`"),
        );
    }
}

/// The routes of `api`, and a router serving their document (with the parts described above).
pub fn documented(api: OpenApiRouter<AppState>) -> (Router<AppState>, Router<AppState>) {
    let (routes, document) = OpenApiRouter::with_openapi(Document::openapi()).merge(api).split_for_parts();
    let json: Arc<str> = document.to_json().expect("the OpenAPI document serialises").into();
    let serve = move || {
        let json = json.clone();
        async move { ([(CONTENT_TYPE, "application/json")], json.to_string()).into_response() }
    };
    (routes, Router::new().route(PATH, get(serve)))
}
