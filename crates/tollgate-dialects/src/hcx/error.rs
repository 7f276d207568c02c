//! How HCX renders a failure: `SessionErrorResponse`, `{"success":false,"completed":false,
//! "time","version":"1.0","errorCode","error"}`.

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::FailureReason;

use crate::failure::{Failure, RequestInfo};

fn parts(failure: &Failure, info: &RequestInfo<'_>) -> (StatusCode, &'static str, String) {
    let bad_request = |message: String| (StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
    let invalid_token = |message: &str| (StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", message.to_owned());
    let internal =
        || (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Exception while performing auth".to_owned());
    // The Hybridity API tells a locked account apart; the appliance API does not.
    let hybridity = info.path.starts_with("/hybridity");
    match failure {
        Failure::BadRequest(message) => bad_request(message.clone()),
        Failure::MissingField(field) => bad_request(format!("{field} is required")),
        Failure::InvalidField { field, reason } => bad_request(format!("{field} {reason}")),
        Failure::UnsupportedMediaType => bad_request("The request body must be JSON".into()),
        Failure::UnsupportedVersion(version) => bad_request(format!("Unsupported API version: {version}")),
        Failure::ProviderNotConfigured(auth_type) => bad_request(format!("Unsupported auth type: {auth_type}")),
        Failure::BodyTooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", "The request body is too large.".into())
        }
        Failure::HeadersTooLarge => {
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "BAD_REQUEST", "The request headers are too large.".into())
        }
        Failure::NotFound | Failure::NoSuch(_) => (StatusCode::NOT_FOUND, "BAD_REQUEST", "No such resource.".into()),
        Failure::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, "BAD_REQUEST", "This method is not supported on this resource.".into())
        }
        Failure::Timeout => {
            (StatusCode::REQUEST_TIMEOUT, "BAD_REQUEST", "The request was not completed in time.".into())
        }
        Failure::LoginRefused(FailureReason::Locked) if hybridity => {
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Account locked due to failed login attempts".into())
        }
        Failure::MissingCredentials | Failure::LoginRefused(_) => {
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Invalid username or password.".into())
        }
        // Valid credentials, but none of the HCX roles.
        Failure::NotPermitted(_) => (StatusCode::FORBIDDEN, "NOT_ENOUGH_PRIVILEGES", "Access Denied".into()),
        Failure::Forbidden(_) | Failure::ReadOnly => {
            (StatusCode::FORBIDDEN, "NOT_ENOUGH_PRIVILEGES", "Access Denied".into())
        }
        Failure::InvalidToken(_) | Failure::WrongScheme | Failure::RemoteAuthenticationFailed
            if info.method == Method::DELETE =>
        {
            invalid_token("No active session found")
        }
        Failure::InvalidToken(_) | Failure::WrongScheme | Failure::RemoteAuthenticationFailed => {
            invalid_token("Invalid or expired session token")
        }
        Failure::Conflict(message) => (StatusCode::CONFLICT, "BAD_REQUEST", message.clone()),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            "BAD_REQUEST",
            format!("Too many requests; retry after {retry_after_seconds} seconds"),
        ),
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            "INTERNAL_SERVER_ERROR",
            "HCX Manager is not initialised: an operator must run `tollgate bootstrap`.".into(),
        ),
        Failure::Unavailable(_) | Failure::Internal(_) => internal(),
        Failure::Injected(status) => {
            let (_, code, message) = parts(&Failure::standing_for(*status), info);
            (*status, code, message)
        }
    }
}

pub fn render(failure: &Failure, info: &RequestInfo<'_>) -> Response {
    let (status, code, message) = parts(failure, info);
    let body = json!({
        "success": false,
        "completed": false,
        "time": info.now_millis,
        "version": "1.0",
        "errorCode": code,
        "error": message,
    });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
