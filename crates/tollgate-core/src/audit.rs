//! Audit events: one structured log line per login, failure, logout, revocation, expiry and
//! lockout, under the `audit` target. Never a password or a token.

use crate::error::FailureReason;
use crate::session::Session;

pub const TARGET: &str = "audit";

pub fn login(session: &Session) {
    tracing::info!(
        target: TARGET,
        event = "login",
        dialect = %session.dialect,
        org = %session.org_name,
        user = %session.user_name,
        session_id = %session.id,
        source = %session.identity_source,
        remote = session.remote_addr.as_deref().unwrap_or("-"),
        correlation_id = %session.correlation_id,
    );
}

pub struct FailedLogin<'a> {
    pub dialect: &'a str,
    pub org: &'a str,
    pub user: &'a str,
    pub remote: Option<&'a str>,
    pub correlation_id: &'a str,
}

pub fn login_failed(attempt: &FailedLogin<'_>, reason: FailureReason) {
    tracing::warn!(
        target: TARGET,
        event = "login_failed",
        dialect = %attempt.dialect,
        // Quoted and escaped: these come from the request, and must not forge log lines.
        org = ?attempt.org,
        user = ?attempt.user,
        reason = reason.as_str(),
        remote = attempt.remote.unwrap_or("-"),
        correlation_id = %attempt.correlation_id,
    );
}

/// An identity source vouched for a user Tollgate had no account of: one was created.
pub fn provisioned(user: &crate::directory::User, correlation_id: &str) {
    tracing::info!(
        target: TARGET,
        event = "provisioned",
        org = %user.org_name,
        user = %user.name,
        source = %user.identity_source,
        roles = ?user.role_names(),
        correlation_id,
    );
}

/// An identity source could not answer a login: a server error, not a failed attempt.
pub fn source_unavailable(attempt: &FailedLogin<'_>, source: &str, detail: &str) {
    tracing::error!(
        target: TARGET,
        event = "login_error",
        dialect = %attempt.dialect,
        org = ?attempt.org,
        user = ?attempt.user,
        source,
        detail,
        remote = attempt.remote.unwrap_or("-"),
        correlation_id = %attempt.correlation_id,
    );
}

/// An account was locked, `scope` telling for whom: `address` (the one the failures came
/// from) or `all_addresses`.
pub fn lockout(attempt: &FailedLogin<'_>, scope: &'static str, locked_for_seconds: u64) {
    tracing::warn!(
        target: TARGET,
        event = "lockout",
        scope,
        dialect = %attempt.dialect,
        org = ?attempt.org,
        user = ?attempt.user,
        locked_for_seconds,
        remote = attempt.remote.unwrap_or("-"),
        correlation_id = %attempt.correlation_id,
    );
}

/// A session ended: `logout` by its holder, `revocation` by an administrator, `expiry` by time,
/// `eviction` by the per-user cap.
pub fn session_ended(event: &'static str, session: &Session, correlation_id: &str) {
    tracing::info!(
        target: TARGET,
        event,
        dialect = %session.dialect,
        org = %session.org_name,
        user = %session.user_name,
        session_id = %session.id,
        state = session.state.as_str(),
        correlation_id = %correlation_id,
    );
}

/// An address was throttled: logged once per burst, not once per refused request.
pub fn throttled(what: &'static str, remote: &str, retry_after_seconds: u64) {
    tracing::warn!(target: TARGET, event = "throttled", what, remote, retry_after_seconds);
}
