//! How Cloud Director Availability renders a failure: `ApiError`,
//! `{"args":[],"code","msg","stacktrace":null}` — never a real stack trace — in the media type
//! the client negotiated.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::negotiate;
use crate::failure::{Failure, RequestInfo};

fn parts(failure: &Failure) -> (StatusCode, &'static str, String) {
    let bad_request = |msg: String| (StatusCode::BAD_REQUEST, "BadRequest", msg);
    let not_authenticated = |msg: &str| (StatusCode::UNAUTHORIZED, "NotAuthenticated", msg.to_owned());
    let server_failure =
        || (StatusCode::INTERNAL_SERVER_ERROR, "GeneralServerFailure", "An internal error occurred.".to_owned());
    match failure {
        Failure::BadRequest(msg) => bad_request(msg.clone()),
        Failure::MissingField(field) => bad_request(format!("{field} is required.")),
        Failure::InvalidField { field, reason } => {
            (StatusCode::BAD_REQUEST, "BadUserInput", format!("Invalid {field}: {reason}"))
        }
        Failure::UnsupportedMediaType => bad_request("The request body must be JSON.".into()),
        Failure::UnsupportedVersion(version) => bad_request(format!("API version {version} is not supported.")),
        Failure::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest", "The request body is too large.".into()),
        Failure::HeadersTooLarge => {
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "BadRequest", "The request headers are too large.".into())
        }
        Failure::NotFound | Failure::NoSuch(_) => (StatusCode::NOT_FOUND, "NotFound", "No such resource.".into()),
        Failure::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "This method is not supported on this resource.".into(),
        ),
        Failure::Timeout => {
            (StatusCode::REQUEST_TIMEOUT, "RequestTimeout", "The request was not completed in time.".into())
        }
        Failure::MissingCredentials | Failure::LoginRefused(_) => not_authenticated("Invalid credentials."),
        Failure::ProviderNotConfigured(kind) => bad_request(format!("{kind} logins are not configured.")),
        Failure::InvalidToken(_) | Failure::WrongScheme => {
            not_authenticated("The session token is missing, expired or revoked.")
        }
        Failure::NotPermitted(msg) | Failure::Forbidden(msg) => (StatusCode::FORBIDDEN, "Forbidden", msg.clone()),
        Failure::ReadOnly => (StatusCode::FORBIDDEN, "Forbidden", "This session cannot make changes.".into()),
        Failure::Conflict(msg) => (StatusCode::CONFLICT, "Conflict", msg.clone()),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!("Too many requests; retry after {retry_after_seconds} seconds."),
        ),
        Failure::RemoteAuthenticationFailed => (
            StatusCode::UNAUTHORIZED,
            "RemoteAuthenticationFailure",
            "Authentication with the remote site failed.".into(),
        ),
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            "GeneralServerFailure",
            "The appliance is not initialised: an operator must run `tollgate bootstrap`.".into(),
        ),
        Failure::Unavailable(_) | Failure::Internal(_) => server_failure(),
        Failure::Injected(status) => {
            let (_, code, message) = parts(&Failure::standing_for(*status));
            (*status, code, message)
        }
    }
}

pub fn render(failure: &Failure, info: &RequestInfo<'_>) -> Response {
    let (status, code, msg) = parts(failure);
    let body = json!({"args": [], "code": code, "msg": msg, "stacktrace": null});
    let mut response = (status, [(header::CONTENT_TYPE, negotiate(info.accept))], body.to_string()).into_response();
    // PowerCLI reads this header as "the session expired".
    if matches!(failure, Failure::InvalidToken(_) | Failure::WrongScheme) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Authentication Token Required"));
    }
    response
}
