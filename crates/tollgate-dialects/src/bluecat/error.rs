//! How BlueCat renders a failure: `{"status","reason","code","message"}` with `Content-Type`
//! exactly `application/json` (bluecat-libraries compares the string before it raises
//! `BAMV2ErrorResponse`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::failure::{Failure, RequestInfo};

fn parts(failure: &Failure) -> (StatusCode, &'static str, String) {
    let bad_token = || {
        (
            StatusCode::UNAUTHORIZED,
            "InvalidAuthorizationCredentials",
            "The authorization credentials are invalid or expired".to_owned(),
        )
    };
    let bad_login =
        || (StatusCode::UNAUTHORIZED, "InvalidUsernameOrPassword", "Invalid username or password".to_owned());
    match failure {
        Failure::BadRequest(message) => (StatusCode::BAD_REQUEST, "JsonParseError", message.clone()),
        Failure::MissingField(field) => {
            (StatusCode::BAD_REQUEST, "MissingRequiredField", format!("Missing required field: {field}"))
        }
        Failure::InvalidField { field, reason } if field == "state" => {
            (StatusCode::BAD_REQUEST, "InvalidEnumValue", reason.clone())
        }
        Failure::InvalidField { reason, .. } => (StatusCode::BAD_REQUEST, "InvalidFieldValue", reason.clone()),
        Failure::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "The request body must be application/json".into(),
        ),
        Failure::UnsupportedVersion(version) => {
            (StatusCode::NOT_ACCEPTABLE, "NotAcceptable", format!("Version {version} is not supported"))
        }
        Failure::BodyTooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge", "The request body is too large".into())
        }
        Failure::HeadersTooLarge => {
            (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "RequestTooLarge", "The request headers are too large".into())
        }
        Failure::NotFound | Failure::NoSuch(_) => {
            (StatusCode::NOT_FOUND, "ResourceNotFound", "Resource not found".into())
        }
        Failure::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "This method is not supported here".into())
        }
        Failure::Timeout => {
            (StatusCode::REQUEST_TIMEOUT, "RequestTimeout", "The request was not completed in time".into())
        }
        Failure::MissingCredentials | Failure::LoginRefused(_) | Failure::ProviderNotConfigured(_) => bad_login(),
        Failure::InvalidToken(_) | Failure::RemoteAuthenticationFailed => bad_token(),
        Failure::WrongScheme => {
            (StatusCode::FORBIDDEN, "InvalidAuthorizationScheme", "Use the Basic or Bearer authorization scheme".into())
        }
        Failure::NotPermitted(message) | Failure::Forbidden(message) => {
            (StatusCode::FORBIDDEN, "AccessDenied", message.clone())
        }
        Failure::ReadOnly => {
            (StatusCode::FORBIDDEN, "ReadOnlySession", "A read-only session cannot make changes".into())
        }
        Failure::Conflict(message) => (StatusCode::CONFLICT, "StaleResourceState", message.clone()),
        Failure::Throttled { retry_after_seconds } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!("Too many requests; retry after {retry_after_seconds} seconds"),
        ),
        Failure::NotInitialised => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Address Manager is not initialised: an operator must run `tollgate bootstrap`".into(),
        ),
        Failure::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is temporarily unavailable".into())
        }
        Failure::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "An internal error occurred".into())
        }
        Failure::Injected(status) => {
            let (_, code, message) = parts(&Failure::standing_for(*status));
            (*status, code, message)
        }
    }
}

pub fn render(failure: &Failure, _info: &RequestInfo<'_>) -> Response {
    let (status, code, message) = parts(failure);
    let body = json!({
        "status": status.as_u16(),
        "reason": status.canonical_reason().unwrap_or("Error"),
        "code": code,
        "message": message,
    });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
