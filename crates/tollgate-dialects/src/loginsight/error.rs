//! Log Insight's errors: JSON `{"errorMessage","errorCode","errorDetails"}` for API errors,
//! and the bare `text/plain` 401 / 440 its clients key their re-login on.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_core::{CoreError, FailureReason, SessionRejection, SessionState};

/// Log Insight's "Login Timeout" status, which `http` has no constant for.
const LOGIN_TIMEOUT: u16 = 440;

#[derive(Debug, Clone, PartialEq)]
pub enum LiError {
    /// The body is not JSON, or a required field is missing or of the wrong type.
    JsonFormat(String),
    /// A field has a value we refuse: names the field.
    Field {
        field: &'static str,
        reason: String,
    },
    InvalidCredentials,
    /// The account is locked (Log Insight says so, unlike most dialects).
    Locked,
    /// No token, or one that names no session (`text/plain`).
    InvalidSession,
    /// The session timed out or expired (`text/plain`, status 440).
    LoginTimeout,
    NotFound,
    TooLarge,
    HeadersTooLarge,
    NotBootstrapped,
    Internal,
}

impl LiError {
    fn log(&self, status: StatusCode) {
        if status.is_server_error() {
            tracing::warn!(dialect = super::DIALECT, status = status.as_u16(), error = ?self, "request failed");
        } else {
            tracing::info!(dialect = super::DIALECT, status = status.as_u16(), error = ?self, "request refused");
        }
    }
}

impl From<CoreError> for LiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(failure) if failure.reason == FailureReason::Locked => LiError::Locked,
            CoreError::Auth(_) | CoreError::NotPermitted(_) => LiError::InvalidCredentials,
            CoreError::Session(SessionRejection::Ended(SessionState::TimedOut | SessionState::Expired)) => {
                LiError::LoginTimeout
            }
            CoreError::Session(_) => LiError::InvalidSession,
            CoreError::NotInitialised => LiError::NotBootstrapped,
            other => {
                tracing::error!(dialect = super::DIALECT, error = %other, "core error");
                LiError::Internal
            }
        }
    }
}

impl From<crate::common::BodyError> for LiError {
    fn from(error: crate::common::BodyError) -> Self {
        match error {
            crate::common::BodyError::TooLarge => LiError::TooLarge,
            crate::common::BodyError::Invalid(reason) => LiError::JsonFormat(reason),
        }
    }
}

impl IntoResponse for LiError {
    fn into_response(self) -> Response {
        let (status, body): (StatusCode, Value) = match &self {
            LiError::JsonFormat(reason) => (
                StatusCode::BAD_REQUEST,
                json!({"errorMessage": "Invalid request body.", "errorCode": "JSON_FORMAT_ERROR", "errorDetails": {"reason": reason}}),
            ),
            LiError::Field { field, reason } => (
                StatusCode::BAD_REQUEST,
                json!({"errorMessage": format!("Invalid value for field {field}."), "errorCode": "FIELD_ERROR",
                       "errorDetails": {"field": field, "reason": reason}}),
            ),
            LiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                json!({"errorMessage": "Invalid username or password.", "errorCode": "FIELD_ERROR"}),
            ),
            LiError::Locked => (
                StatusCode::UNAUTHORIZED,
                json!({"errorMessage": "Invalid credentials or account is locked.", "errorCode": "FIELD_ERROR"}),
            ),
            LiError::InvalidSession => return plain(self, StatusCode::UNAUTHORIZED, "Invalid session ID"),
            LiError::LoginTimeout => {
                let status = StatusCode::from_u16(LOGIN_TIMEOUT).expect("440 is a valid status");
                return plain(self, status, "Login Timeout");
            }
            LiError::NotFound => {
                (StatusCode::NOT_FOUND, json!({"errorMessage": "The requested resource was not found."}))
            }
            LiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"errorMessage": "The request body is too large.", "errorCode": "LIMIT_ERROR"}),
            ),
            LiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                json!({"errorMessage": "The request headers are too large.", "errorCode": "LIMIT_ERROR"}),
            ),
            LiError::NotBootstrapped => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"errorMessage": "LI server should be bootstrapped to process this API call"}),
            ),
            LiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errorMessage": "The operation failed due to an internal error."}),
            ),
        };
        self.log(status);
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

fn plain(error: LiError, status: StatusCode, text: &'static str) -> Response {
    error.log(status);
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}
