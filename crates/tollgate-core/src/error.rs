use crate::session::SessionState;

/// Why a login was refused. Dialects that promise one answer for all of these (most do)
/// must not let the reason leak; it is for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    UnknownOrg,
    UnknownUser,
    WrongPassword,
    Locked,
    Disabled,
    /// The account exists but belongs to an identity source this login path does not serve.
    WrongSource,
    /// The credentials are right but the user holds none of the roles this login needs.
    NoRole,
    /// The credentials are right but the user may not impersonate.
    NoImpersonation,
    /// The identity source says the password has expired (AD 532).
    PasswordExpired,
    /// The identity source says the password must be changed first (AD 773).
    MustChangePassword,
    /// The identity source says the account has expired (AD 701).
    AccountExpired,
    /// The identity source has locked the account itself (AD 775).
    LockedInSource,
    /// A single-use proof (a SAML nonce) presented again.
    Replayed,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::UnknownOrg => "unknown_org",
            FailureReason::UnknownUser => "unknown_user",
            FailureReason::WrongPassword => "wrong_password",
            FailureReason::Locked => "locked",
            FailureReason::Disabled => "disabled",
            FailureReason::WrongSource => "wrong_source",
            FailureReason::NoRole => "no_role",
            FailureReason::NoImpersonation => "no_impersonation",
            FailureReason::PasswordExpired => "password_expired",
            FailureReason::MustChangePassword => "must_change_password",
            FailureReason::AccountExpired => "account_expired",
            FailureReason::LockedInSource => "locked_in_source",
            FailureReason::Replayed => "replayed",
        }
    }
}

/// A refused login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid credentials")]
pub struct AuthFailure {
    pub reason: FailureReason,
}

/// Why a presented token does not name a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRejection {
    /// No session has this token (or it belongs to another dialect).
    #[error("unknown session token")]
    Unknown,
    /// The session existed but is over.
    #[error("session ended: {}", .0.as_str())]
    Ended(SessionState),
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Auth(#[from] AuthFailure),
    #[error(transparent)]
    Session(#[from] SessionRejection),
    /// Valid credentials without the right to what was asked (a role, impersonation).
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// A read-only session or token asked to change something.
    #[error("a read-only session or token cannot make changes")]
    ReadOnly,
    /// The identity source a login named is not configured.
    #[error("identity source {0:?} is not configured")]
    UnknownSource(String),
    /// The identity source could not answer (unreachable, too slow): a server error, which
    /// never counts as a failed attempt.
    #[error("identity source {name:?} is unavailable: {detail}")]
    SourceUnavailable { name: String, detail: String },
    /// Too many attempts from this client address: try again after this long.
    #[error("too many attempts; retry after {0:?}")]
    Throttled(std::time::Duration),
    /// No administrator has been bootstrapped yet.
    #[error("the server has not been initialised")]
    NotInitialised,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("store unavailable: {0}")]
    Store(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for CoreError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound(what) => CoreError::NotFound(what),
            StoreError::Conflict(what) => CoreError::Conflict(what),
            StoreError::Backend(what) => CoreError::Store(what),
        }
    }
}
