//! How Log Insight renders a failure: JSON `{"errorMessage","errorCode","errorDetails"}` for
//! API errors, and the bare `text/plain` 401 / 440 its clients key their re-login on.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_core::SessionState;

use crate::failure::{Failure, RequestInfo};

/// Log Insight's "Login Timeout" status, which `http` has no constant for.
const LOGIN_TIMEOUT: u16 = 440;

/// Seed 002's 401: one message for every refused login, so it tells nobody whether the
/// account exists or is locked.
const REFUSED: &str = "Invalid credentials or account is locked.";

pub fn render(failure: &Failure, _info: &RequestInfo<'_>) -> Response {
    shaped(failure)
}

fn shaped(failure: &Failure) -> Response {
    let json_format = |reason: String| {
        (
            StatusCode::BAD_REQUEST,
            json!({"errorMessage": "Invalid request body.", "errorCode": "JSON_FORMAT_ERROR", "errorDetails": {"reason": reason}}),
        )
    };
    let field_error = |field: &str, reason: &str| {
        (
            StatusCode::BAD_REQUEST,
            json!({"errorMessage": format!("Invalid value for field {field}."), "errorCode": "FIELD_ERROR",
                   "errorDetails": {"field": field, "reason": reason}}),
        )
    };
    let internal = || {
        (StatusCode::INTERNAL_SERVER_ERROR, json!({"errorMessage": "The operation failed due to an internal error."}))
    };
    let (status, body): (StatusCode, Value) = match failure {
        Failure::BadRequest(reason) => json_format(reason.clone()),
        Failure::MissingField(field) => json_format(format!("{field} is required")),
        Failure::UnsupportedMediaType => json_format("the request body must be JSON".into()),
        Failure::InvalidField { field, reason } => field_error(field, reason),
        Failure::ProviderNotConfigured(provider) => {
            field_error("provider", &format!("the {provider} provider is not configured"))
        }
        Failure::UnsupportedVersion(version) => json_format(format!("API version {version} is not supported")),
        Failure::LoginRefused(_) | Failure::MissingCredentials | Failure::NotPermitted(_) => {
            (StatusCode::UNAUTHORIZED, json!({"errorMessage": REFUSED, "errorCode": "FIELD_ERROR"}))
        }
        // pyloginsight logs in again on exactly these two.
        Failure::InvalidToken(Some(SessionState::TimedOut | SessionState::Expired)) => {
            let status = StatusCode::from_u16(LOGIN_TIMEOUT).expect("440 is a valid status");
            return plain(status, "Login Timeout");
        }
        Failure::InvalidToken(_) | Failure::WrongScheme | Failure::RemoteAuthenticationFailed => {
            return plain(StatusCode::UNAUTHORIZED, "Invalid session ID");
        }
        Failure::Forbidden(message) => {
            (StatusCode::FORBIDDEN, json!({"errorMessage": message, "errorCode": "RBAC_COMMON_ERROR"}))
        }
        Failure::ReadOnly => (
            StatusCode::FORBIDDEN,
            json!({"errorMessage": "This session cannot make changes.", "errorCode": "RBAC_COMMON_ERROR"}),
        ),
        Failure::Conflict(message) => (StatusCode::CONFLICT, json!({"errorMessage": message})),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errorMessage": format!("Too many requests; retry after {retry_after_seconds} seconds."),
                   "errorCode": "LIMIT_ERROR", "errorDetails": {"retryAfterSeconds": retry_after_seconds}}),
        ),
        Failure::NotFound | Failure::NoSuch(_) => {
            (StatusCode::NOT_FOUND, json!({"errorMessage": "The requested resource was not found."}))
        }
        Failure::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, json!({"errorMessage": "This method is not supported on this resource."}))
        }
        Failure::Timeout => {
            (StatusCode::REQUEST_TIMEOUT, json!({"errorMessage": "The request was not completed in time."}))
        }
        Failure::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"errorMessage": "The request body is too large.", "errorCode": "LIMIT_ERROR"}),
        ),
        Failure::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            json!({"errorMessage": "The request headers are too large.", "errorCode": "LIMIT_ERROR"}),
        ),
        // Clients match the phrase "should be bootstrapped".
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"errorMessage": "LI server should be bootstrapped to process this API call"}),
        ),
        Failure::Unavailable(_) | Failure::Internal(_) => internal(),
        // Its 503 is the one an appliance not yet bootstrapped answers; the rest keep their
        // shape (the 440 and 401 their bare text) under the status asked for.
        Failure::Injected(status) if *status == StatusCode::SERVICE_UNAVAILABLE => {
            return shaped(&Failure::NotInitialised);
        }
        Failure::Injected(status) => {
            let mut response = shaped(&Failure::standing_for(*status));
            *response.status_mut() = *status;
            return response;
        }
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}
