//! HCX's errors: `SessionErrorResponse`, `{"success":false,"completed":false,"time",
//! "version":"1.0","errorCode","error"}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::{CoreError, FailureReason};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HcxError {
    BadRequest(String),
    InvalidCredentials,
    /// The Hybridity API says when an account is locked.
    AccountLocked,
    /// Valid credentials, but no HCX role.
    NotEnoughPrivileges,
    InvalidSessionToken,
    NoActiveSession,
    /// The identity source failed (or anything else did).
    Internal,
    NotInitialised,
    HeadersTooLarge,
    TooLarge,
    NotFound,
}

impl HcxError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            HcxError::BadRequest(what) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", what.clone()),
            HcxError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Invalid username or password.".into())
            }
            HcxError::AccountLocked => {
                (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Account locked due to failed login attempts".into())
            }
            HcxError::NotEnoughPrivileges => (StatusCode::FORBIDDEN, "NOT_ENOUGH_PRIVILEGES", "Access Denied".into()),
            HcxError::InvalidSessionToken => {
                (StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", "Invalid or expired session token".into())
            }
            HcxError::NoActiveSession => {
                (StatusCode::UNAUTHORIZED, "INVALID_SESSION_TOKEN", "No active session found".into())
            }
            HcxError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "Exception while performing auth".into())
            }
            HcxError::NotInitialised => (
                StatusCode::SERVICE_UNAVAILABLE,
                "INTERNAL_SERVER_ERROR",
                "HCX Manager is not initialised: an operator must run `tollgate bootstrap`.".into(),
            ),
            HcxError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "BAD_REQUEST",
                "The request headers are too large.".into(),
            ),
            HcxError::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", "The request body is too large.".into())
            }
            HcxError::NotFound => (StatusCode::NOT_FOUND, "BAD_REQUEST", "No such resource.".into()),
        }
    }
}

impl From<CoreError> for HcxError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(_) => HcxError::InvalidCredentials,
            CoreError::NotPermitted(_) => HcxError::NotEnoughPrivileges,
            CoreError::Session(_) => HcxError::InvalidSessionToken,
            CoreError::NotInitialised => HcxError::NotInitialised,
            other => {
                tracing::error!(dialect = super::DIALECT, error = %other, "core error");
                HcxError::Internal
            }
        }
    }
}

/// The Hybridity API tells a locked account apart; the appliance API does not.
pub fn hybridity(error: CoreError) -> HcxError {
    match error {
        CoreError::Auth(failure) if failure.reason == FailureReason::Locked => HcxError::AccountLocked,
        other => other.into(),
    }
}

impl From<crate::common::BodyError> for HcxError {
    fn from(error: crate::common::BodyError) -> Self {
        match error {
            crate::common::BodyError::TooLarge => HcxError::TooLarge,
            crate::common::BodyError::Invalid(reason) => HcxError::BadRequest(reason),
        }
    }
}

impl IntoResponse for HcxError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::warn!(dialect = super::DIALECT, status = status.as_u16(), code, "request failed");
        } else {
            tracing::info!(dialect = super::DIALECT, status = status.as_u16(), code, "request refused");
        }
        let body = json!({
            "success": false,
            "completed": false,
            "time": super::now_millis(),
            "version": "1.0",
            "errorCode": code,
            "error": message,
        });
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}
