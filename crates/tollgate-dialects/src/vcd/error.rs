//! How Cloud Director renders a failure: an XML `Error` under `/api` (JSON would break
//! pyvcloud), `{"minorErrorCode","message","stackTrace"}` under `/cloudapi`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_core::FailureReason;

use super::xml;
use crate::failure::{Failure, RequestInfo};

/// Status, minor error code and message of `failure`.
fn parts(failure: &Failure) -> (StatusCode, &'static str, String) {
    let forbidden = |message: String| (StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", message);
    let bad_request = |message: String| (StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
    let unauthorized = |message: &str| (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message.to_owned());
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable; try again later.".to_owned(),
        )
    };
    match failure {
        Failure::BadRequest(what) => bad_request(what.clone()),
        Failure::MissingField(field) => bad_request(format!("{field} is required.")),
        Failure::InvalidField { field, reason } => bad_request(format!("{field}: {reason}")),
        Failure::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "The request's Content-Type is not supported here.".into(),
        ),
        Failure::UnsupportedVersion(version) => (
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            format!("The requested API version {version} is not supported; see /api/versions."),
        ),
        Failure::BodyTooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_ENTITY_TOO_LARGE", "The request body is too large.".into())
        }
        Failure::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "The request headers are too large.".into(),
        ),
        Failure::NotFound | Failure::NoSuch(_) => {
            (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", "No such resource.".into())
        }
        Failure::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "This method is not supported on this resource.".into(),
        ),
        Failure::Timeout => {
            (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "The request was not completed in time.".into())
        }
        // Seed 000: "If the Authorization header is missing from the request, the server
        // returns HTTP response code 403."
        Failure::MissingCredentials => forbidden("The request has no Authorization header with credentials.".into()),
        Failure::LoginRefused(
            FailureReason::UnknownOrg
            | FailureReason::UnknownUser
            | FailureReason::WrongPassword
            | FailureReason::Locked
            | FailureReason::Disabled
            | FailureReason::WrongSource
            | FailureReason::NoRole
            | FailureReason::NoImpersonation
            | FailureReason::PasswordExpired
            | FailureReason::MustChangePassword
            | FailureReason::AccountExpired
            | FailureReason::LockedInSource
            | FailureReason::Replayed,
        ) => unauthorized("Unknown user name or password."),
        Failure::ProviderNotConfigured(_) => unauthorized("Unknown user name or password."),
        Failure::InvalidToken(_) => unauthorized("The session token is missing, expired or revoked: log in again."),
        Failure::WrongScheme => unauthorized("Use the Basic or Bearer authorization scheme."),
        Failure::RemoteAuthenticationFailed => unauthorized("Authentication with the remote site failed."),
        Failure::NotPermitted(what) | Failure::Forbidden(what) => forbidden(what.clone()),
        Failure::ReadOnly => forbidden("This session cannot make changes.".into()),
        Failure::Conflict(what) => (StatusCode::CONFLICT, "BUSY_ENTITY", what.clone()),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("Too many requests; retry after {retry_after_seconds} seconds."),
        ),
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The server has not been initialised: an operator must run `tollgate bootstrap`.".into(),
        ),
        Failure::Unavailable(_) => unavailable(),
        Failure::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "An internal error occurred.".into())
        }
        Failure::Injected(status) => {
            let (_, code, message) = parts(&Failure::standing_for(*status));
            (*status, code, message)
        }
    }
}

/// JSON under `/cloudapi`, XML everywhere else. The envelope adds `;version=`.
pub fn render(failure: &Failure, info: &RequestInfo<'_>) -> Response {
    let (status, code, message) = parts(failure);
    if info.path.starts_with("/cloudapi") {
        let body = serde_json::json!({"minorErrorCode": code, "message": message, "stackTrace": null});
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    } else {
        let body = xml::error(status.as_u16(), code, &message);
        (status, [(header::CONTENT_TYPE, "application/vnd.vmware.vcloud.error+xml")], body).into_response()
    }
}
