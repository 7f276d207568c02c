//! Cloud Director's errors: an XML `Error` under `/api`, a JSON object under `/cloudapi`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_core::CoreError;

use super::xml;

/// What went wrong, independent of how it is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Login without an `Authorization` header (403, per the seed).
    MissingCredentials,
    /// Login with credentials that are wrong or unreadable.
    BadCredentials,
    /// A request without a live session token.
    InvalidSession,
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    UnsupportedVersion(String),
    MethodNotAllowed,
    HeadersTooLarge,
    NotInitialised,
    Internal,
}

impl Failure {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Failure::MissingCredentials => (
                StatusCode::FORBIDDEN,
                "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
                "The request has no Authorization header with credentials.".into(),
            ),
            Failure::BadCredentials => {
                (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unknown user name or password.".into())
            }
            Failure::InvalidSession => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "The session token is missing, expired or revoked: log in again.".into(),
            ),
            Failure::Forbidden(what) => (StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", what.clone()),
            Failure::NotFound(what) => (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", what.clone()),
            Failure::BadRequest(what) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", what.clone()),
            Failure::UnsupportedVersion(version) => (
                StatusCode::NOT_ACCEPTABLE,
                "NOT_ACCEPTABLE",
                format!("The requested API version {version} is not supported; see /api/versions."),
            ),
            Failure::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "This method is not supported on this resource.".into(),
            ),
            Failure::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                "The request headers are too large.".into(),
            ),
            Failure::NotInitialised => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "The server has not been initialised: an operator must run `tollgate bootstrap`.".into(),
            ),
            Failure::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "An internal error occurred.".into())
            }
        }
    }

    fn log(&self, status: StatusCode, code: &str) {
        if status.is_server_error() {
            tracing::warn!(dialect = super::DIALECT, status = status.as_u16(), code, "request failed");
        } else {
            tracing::info!(dialect = super::DIALECT, status = status.as_u16(), code, "request refused");
        }
    }
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(_) => Failure::BadCredentials,
            CoreError::Session(_) => Failure::InvalidSession,
            CoreError::NotInitialised => Failure::NotInitialised,
            CoreError::NotFound(what) => Failure::NotFound(what),
            CoreError::NotPermitted(what) => Failure::Forbidden(what),
            CoreError::Invalid(what) => Failure::BadRequest(what),
            other => {
                tracing::error!(dialect = super::DIALECT, error = %other, "core error");
                Failure::Internal
            }
        }
    }
}

/// An error under `/api`: `application/vnd.vmware.vcloud.error+xml` (JSON would break pyvcloud).
#[derive(Debug)]
pub struct ApiError(pub Failure);

/// An error under `/cloudapi`: `{"minorErrorCode","message","stackTrace"}`.
#[derive(Debug)]
pub struct CloudApiError(pub Failure);

macro_rules! from_failure {
    ($($error:ident),*) => {$(
        impl From<Failure> for $error {
            fn from(f: Failure) -> Self {
                $error(f)
            }
        }
        impl From<CoreError> for $error {
            fn from(e: CoreError) -> Self {
                $error(e.into())
            }
        }
    )*};
}
from_failure!(ApiError, CloudApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.parts();
        self.0.log(status, code);
        let body = xml::error(status.as_u16(), code, &message);
        (status, [(header::CONTENT_TYPE, "application/vnd.vmware.vcloud.error+xml;version=37.0")], body).into_response()
    }
}

impl IntoResponse for CloudApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.parts();
        self.0.log(status, code);
        let body = serde_json::json!({"minorErrorCode": code, "message": message, "stackTrace": null});
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// The renderer the path calls for: JSON under `/cloudapi`, XML elsewhere.
pub fn for_path(path: &str, failure: Failure) -> Response {
    if path.starts_with("/cloudapi") {
        CloudApiError(failure).into_response()
    } else {
        ApiError(failure).into_response()
    }
}
