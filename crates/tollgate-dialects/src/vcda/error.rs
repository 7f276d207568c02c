//! Cloud Director Availability's errors: `ApiError`, `{"args":[],"code","msg",
//! "stacktrace":null}` — never a real stack trace.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::CoreError;

use super::DEFAULT_MEDIA_TYPE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcdaError {
    BadRequest(String),
    BadUserInput(String),
    /// Credentials refused at login.
    LoginFailed,
    /// No token, or one that names no live session: PowerCLI reads the `WWW-Authenticate`
    /// header as "session expired".
    TokenRequired,
    /// A site could not be added to the session.
    RemoteAuthenticationFailure,
    Forbidden(String),
    NotFound,
    TooLarge,
    HeadersTooLarge,
    NotInitialised,
    Internal,
}

impl VcdaError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            VcdaError::BadRequest(msg) => (StatusCode::BAD_REQUEST, "BadRequest", msg.clone()),
            VcdaError::BadUserInput(msg) => (StatusCode::BAD_REQUEST, "BadUserInput", msg.clone()),
            VcdaError::LoginFailed => (StatusCode::UNAUTHORIZED, "NotAuthenticated", "Invalid credentials.".into()),
            VcdaError::TokenRequired => (
                StatusCode::UNAUTHORIZED,
                "NotAuthenticated",
                "The session token is missing, expired or revoked.".into(),
            ),
            VcdaError::RemoteAuthenticationFailure => (
                StatusCode::UNAUTHORIZED,
                "RemoteAuthenticationFailure",
                "Authentication with the remote site failed.".into(),
            ),
            VcdaError::Forbidden(msg) => (StatusCode::FORBIDDEN, "Forbidden", msg.clone()),
            VcdaError::NotFound => (StatusCode::NOT_FOUND, "NotFound", "No such resource.".into()),
            VcdaError::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest", "The request body is too large.".into())
            }
            VcdaError::HeadersTooLarge => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "BadRequest", "The request headers are too large.".into())
            }
            VcdaError::NotInitialised => (
                StatusCode::SERVICE_UNAVAILABLE,
                "GeneralServerFailure",
                "The appliance is not initialised: an operator must run `tollgate bootstrap`.".into(),
            ),
            VcdaError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "GeneralServerFailure", "An internal error occurred.".into())
            }
        }
    }
}

impl From<CoreError> for VcdaError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(_) => VcdaError::LoginFailed,
            CoreError::Session(_) => VcdaError::TokenRequired,
            CoreError::NotPermitted(msg) => VcdaError::Forbidden(msg),
            CoreError::NotFound(what) => VcdaError::BadUserInput(format!("{what} does not exist")),
            CoreError::NotInitialised => VcdaError::NotInitialised,
            other => {
                tracing::error!(dialect = super::DIALECT, error = %other, "core error");
                VcdaError::Internal
            }
        }
    }
}

impl From<crate::common::BodyError> for VcdaError {
    fn from(error: crate::common::BodyError) -> Self {
        match error {
            crate::common::BodyError::TooLarge => VcdaError::TooLarge,
            crate::common::BodyError::Invalid(reason) => VcdaError::BadRequest(reason),
        }
    }
}

impl IntoResponse for VcdaError {
    fn into_response(self) -> Response {
        let (status, code, msg) = self.parts();
        if status.is_server_error() {
            tracing::warn!(dialect = super::DIALECT, status = status.as_u16(), code, "request failed");
        } else {
            tracing::info!(dialect = super::DIALECT, status = status.as_u16(), code, "request refused");
        }
        let body = json!({"args": [], "code": code, "msg": msg, "stacktrace": null});
        let mut response = (status, [(header::CONTENT_TYPE, DEFAULT_MEDIA_TYPE)], body.to_string()).into_response();
        if self == VcdaError::TokenRequired {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Authentication Token Required"));
        }
        response
    }
}
