//! One failure vocabulary for every dialect. Handlers and extractors return a [`Failure`];
//! the request envelope ([`crate::envelope`]) logs and counts it once and hands it to the
//! dialect that serves the request, which renders it in its own shape (an exhaustive match in
//! each dialect's `error.rs`, so a new failure does not compile until every dialect says how
//! it looks).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tollgate_core::{CoreError, FailureReason, SessionRejection, SessionState};

use crate::common::BodyError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    // ---- the request itself
    /// The body or a parameter cannot be read (not JSON, not an object, wrong type): says why.
    BadRequest(String),
    /// A required field is absent.
    MissingField(String),
    /// A field is present but its value is refused.
    InvalidField {
        field: String,
        reason: String,
    },
    /// The body is declared as something this endpoint does not read.
    UnsupportedMediaType,
    /// The API version the client asked for (vcd's `Accept: …;version=`) is not served.
    UnsupportedVersion(String),
    BodyTooLarge,
    HeadersTooLarge,
    NotFound,
    /// A resource the request names does not exist: which (`org "acme"`, `user 1b4e…`).
    NoSuch(String),
    MethodNotAllowed,
    /// The request did not complete within the request timeout.
    Timeout,

    // ---- who is asking
    /// A login without any credentials (vcd answers 403, per its seed).
    MissingCredentials,
    /// A refused login; the reason is for the audit log, and only some dialects tell
    /// "locked" apart.
    LoginRefused(FailureReason),
    /// Valid credentials without the right to what was asked (a role, impersonation).
    NotPermitted(String),
    /// The login names a provider (identity source) that is switched off here.
    ProviderNotConfigured(String),
    /// No token, or one that names no live session: `None` when none was sent or it is
    /// unknown, else the state the session ended in.
    InvalidToken(Option<SessionState>),
    /// An `Authorization` scheme the dialect does not take.
    WrongScheme,
    /// The caller's session may see or do this, but not to that resource.
    Forbidden(String),
    /// A read-only session tried to write.
    ReadOnly,
    /// The resource is not in a state that allows the change.
    Conflict(String),
    /// Credentials for another site (VCDA's `/sessions/extend`) were refused.
    RemoteAuthenticationFailed,
    /// Too many attempts from the client's address: 429, with `Retry-After`.
    Throttled {
        retry_after_seconds: u64,
    },

    // ---- the server
    /// No administrator has been bootstrapped yet.
    NotInitialised,
    /// A backend the request needs (the store) is not answering.
    Unavailable(String),
    /// Anything else; the text is for the log, never for the client.
    Internal(String),

    // ---- a test's doing
    /// A status a fault rule forces (see [`crate::faults`]): each dialect answers it as it
    /// answers its own failure of that status ([`Failure::standing_for`]), with that status.
    Injected(StatusCode),
}

impl Failure {
    /// A short, stable name for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::BadRequest(_) => "bad_request",
            Failure::MissingField(_) => "missing_field",
            Failure::InvalidField { .. } => "invalid_field",
            Failure::UnsupportedMediaType => "unsupported_media_type",
            Failure::UnsupportedVersion(_) => "unsupported_version",
            Failure::BodyTooLarge => "body_too_large",
            Failure::HeadersTooLarge => "headers_too_large",
            Failure::NotFound | Failure::NoSuch(_) => "not_found",
            Failure::MethodNotAllowed => "method_not_allowed",
            Failure::Timeout => "timeout",
            Failure::MissingCredentials => "missing_credentials",
            Failure::LoginRefused(_) => "login_refused",
            Failure::NotPermitted(_) => "not_permitted",
            Failure::ProviderNotConfigured(_) => "provider_not_configured",
            Failure::InvalidToken(_) => "invalid_token",
            Failure::WrongScheme => "wrong_scheme",
            Failure::Forbidden(_) => "forbidden",
            Failure::ReadOnly => "read_only",
            Failure::Conflict(_) => "conflict",
            Failure::RemoteAuthenticationFailed => "remote_authentication_failed",
            Failure::Throttled { .. } => "throttled",
            Failure::NotInitialised => "not_initialised",
            Failure::Unavailable(_) => "unavailable",
            Failure::Internal(_) => "internal",
            Failure::Injected(_) => "injected",
        }
    }

    /// What the log says beyond the code: the detail clients may not see.
    pub fn detail(&self) -> Option<String> {
        match self {
            Failure::LoginRefused(reason) => Some(reason.as_str().to_owned()),
            Failure::InvalidToken(Some(state)) => Some(state.as_str().to_owned()),
            Failure::Unavailable(what) | Failure::Internal(what) => Some(what.clone()),
            Failure::BadRequest(what)
            | Failure::MissingField(what)
            | Failure::NotPermitted(what)
            | Failure::ProviderNotConfigured(what)
            | Failure::Forbidden(what)
            | Failure::Conflict(what)
            | Failure::NoSuch(what)
            | Failure::UnsupportedVersion(what) => Some(what.clone()),
            Failure::InvalidField { field, reason } => Some(format!("{field}: {reason}")),
            Failure::Injected(status) => Some(status.as_u16().to_string()),
            _ => None,
        }
    }

    /// The framework's own answer to a request no handler rendered (an unknown path, a
    /// method the route lacks, a body over the limit, an extractor's rejection), in our words.
    pub fn from_status(status: StatusCode) -> Failure {
        match status {
            StatusCode::NOT_FOUND => Failure::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Failure::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Failure::BodyTooLarge,
            StatusCode::REQUEST_TIMEOUT => Failure::Timeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Failure::UnsupportedMediaType,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Failure::HeadersTooLarge,
            StatusCode::TOO_MANY_REQUESTS => Failure::Throttled { retry_after_seconds: 1 },
            status if status.is_client_error() => Failure::BadRequest("The request could not be read.".into()),
            status => Failure::Internal(format!("the framework answered {status}")),
        }
    }

    /// The status a renderer would most likely pick; the envelope replaces the response, so
    /// this only matters to a router used without it.
    fn nominal_status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_)
            | Failure::MissingField(_)
            | Failure::InvalidField { .. }
            | Failure::ProviderNotConfigured(_) => StatusCode::BAD_REQUEST,
            Failure::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::UnsupportedVersion(_) => StatusCode::NOT_ACCEPTABLE,
            Failure::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Failure::NotFound | Failure::NoSuch(_) => StatusCode::NOT_FOUND,
            Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Timeout => StatusCode::REQUEST_TIMEOUT,
            Failure::LoginRefused(_) | Failure::InvalidToken(_) | Failure::RemoteAuthenticationFailed => {
                StatusCode::UNAUTHORIZED
            }
            Failure::MissingCredentials
            | Failure::NotPermitted(_)
            | Failure::WrongScheme
            | Failure::Forbidden(_)
            | Failure::ReadOnly => StatusCode::FORBIDDEN,
            Failure::Conflict(_) => StatusCode::CONFLICT,
            Failure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Failure::NotInitialised | Failure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::Injected(status) => *status,
        }
    }

    /// The failure a dialect answers with `status`, whose words (code, message) an injected
    /// status borrows: a 401 is an unknown token, a 440 a timed-out one, a 503 the store away.
    pub fn standing_for(status: StatusCode) -> Failure {
        match status.as_u16() {
            401 => Failure::InvalidToken(None),
            403 => Failure::Forbidden("Access denied.".into()),
            404 => Failure::NotFound,
            405 => Failure::MethodNotAllowed,
            408 => Failure::Timeout,
            409 => Failure::Conflict("The resource is busy; try again.".into()),
            413 => Failure::BodyTooLarge,
            415 => Failure::UnsupportedMediaType,
            429 => Failure::Throttled { retry_after_seconds: 1 },
            431 => Failure::HeadersTooLarge,
            440 => Failure::InvalidToken(Some(SessionState::TimedOut)),
            503 => Failure::Unavailable("a fault rule".into()),
            code if code >= 500 => Failure::Internal("a fault rule".into()),
            _ => Failure::BadRequest("The request could not be processed.".into()),
        }
    }
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Auth(failure) => Failure::LoginRefused(failure.reason),
            CoreError::Session(SessionRejection::Unknown) => Failure::InvalidToken(None),
            CoreError::Session(SessionRejection::Ended(state)) => Failure::InvalidToken(Some(state)),
            CoreError::NotPermitted(what) => Failure::NotPermitted(what),
            CoreError::ReadOnly => Failure::ReadOnly,
            CoreError::UnknownSource(name) => Failure::Internal(format!("identity source {name:?} is not configured")),
            CoreError::NotInitialised => Failure::NotInitialised,
            // Whole seconds, rounded up: a client that waits that long finds a token.
            CoreError::Throttled(wait) => {
                Failure::Throttled { retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u64 }
            }
            CoreError::NotFound(what) => Failure::NoSuch(what),
            CoreError::Conflict(what) => Failure::Conflict(what),
            CoreError::Invalid(what) => Failure::BadRequest(what),
            CoreError::Store(what) => Failure::Unavailable(what),
            CoreError::SourceUnavailable { name, detail } => {
                Failure::Unavailable(format!("identity source {name:?}: {detail}"))
            }
            CoreError::Internal(what) => Failure::Internal(what),
        }
    }
}

impl From<BodyError> for Failure {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge => Failure::BodyTooLarge,
            BodyError::Invalid(reason) => Failure::BadRequest(reason),
        }
    }
}

/// A placeholder the envelope replaces with the dialect's rendering: the failure travels in
/// the response's extensions.
impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = self.nominal_status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// What a renderer may look at besides the failure: the request it answers.
pub struct RequestInfo<'a> {
    pub method: &'a axum::http::Method,
    pub path: &'a str,
    /// The request's `Accept` header.
    pub accept: Option<&'a axum::http::HeaderValue>,
    pub correlation_id: &'a str,
    /// The core's clock, in epoch milliseconds.
    pub now_millis: i64,
}
