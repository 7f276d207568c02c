//! BlueCat's errors: `{"status","reason","code","message"}` with `Content-Type` exactly
//! `application/json` (bluecat-libraries compares the string before it raises
//! `BAMV2ErrorResponse`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BcError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl BcError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        BcError { status, code, message: message.into() }
    }

    pub fn missing_field(name: &str) -> Self {
        BcError::new(StatusCode::BAD_REQUEST, "MissingRequiredField", format!("Missing required field: {name}"))
    }

    pub fn json_parse(message: impl Into<String>) -> Self {
        BcError::new(StatusCode::BAD_REQUEST, "JsonParseError", message)
    }

    pub fn invalid_enum(message: impl Into<String>) -> Self {
        BcError::new(StatusCode::BAD_REQUEST, "InvalidEnumValue", message)
    }

    pub fn bad_login() -> Self {
        BcError::new(StatusCode::UNAUTHORIZED, "InvalidUsernameOrPassword", "Invalid username or password")
    }

    pub fn bad_token() -> Self {
        BcError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthorizationCredentials",
            "The authorization credentials are invalid or expired",
        )
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        BcError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn bad_scheme() -> Self {
        BcError::new(
            StatusCode::FORBIDDEN,
            "InvalidAuthorizationScheme",
            "Use the Basic or Bearer authorization scheme",
        )
    }

    pub fn read_only() -> Self {
        BcError::new(StatusCode::FORBIDDEN, "ReadOnlySession", "A read-only session cannot make changes")
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        BcError::new(StatusCode::NOT_FOUND, "ResourceNotFound", what)
    }

    pub fn stale(message: impl Into<String>) -> Self {
        BcError::new(StatusCode::CONFLICT, "StaleResourceState", message)
    }

    pub fn too_large() -> Self {
        BcError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge", "The request body is too large")
    }

    pub fn headers_too_large() -> Self {
        BcError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestTooLarge",
            "The request headers are too large",
        )
    }

    fn internal() -> Self {
        BcError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "An internal error occurred")
    }
}

impl From<CoreError> for BcError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(_) => BcError::bad_login(),
            CoreError::Session(_) => BcError::bad_token(),
            CoreError::NotPermitted(what) => BcError::access_denied(what),
            CoreError::NotFound(what) => BcError::not_found(what),
            CoreError::NotInitialised => BcError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "Address Manager is not initialised: an operator must run `tollgate bootstrap`",
            ),
            other => {
                tracing::error!(dialect = super::DIALECT, error = %other, "core error");
                BcError::internal()
            }
        }
    }
}

impl From<crate::common::BodyError> for BcError {
    fn from(error: crate::common::BodyError) -> Self {
        match error {
            crate::common::BodyError::TooLarge => BcError::too_large(),
            crate::common::BodyError::Invalid(reason) => BcError::json_parse(reason),
        }
    }
}

impl IntoResponse for BcError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(dialect = super::DIALECT, status = self.status.as_u16(), code = self.code, "request failed");
        } else {
            tracing::info!(
                dialect = super::DIALECT,
                status = self.status.as_u16(),
                code = self.code,
                "request refused"
            );
        }
        let body = json!({
            "status": self.status.as_u16(),
            "reason": self.status.canonical_reason().unwrap_or("Error"),
            "code": self.code,
            "message": self.message,
        });
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}
