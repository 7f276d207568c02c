//! The audit trail: every login, refusal, session end, lockout, throttle and directory change
//! is an [`AuditEvent`] naming its [`Actor`], recorded into three sinks: one structured log
//! line under the `audit` target, a counter by kind (`tollgate_audit_events_total`), and a
//! bounded ring of recent records that the admin API reads. Never a password or a token.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use uuid::Uuid;

use crate::actor::Actor;
use crate::clock::Timestamp;
use crate::directory::User;
use crate::error::FailureReason;
use crate::session::Session;
use crate::telemetry::{Metrics, Throttled};

pub const TARGET: &str = "audit";

/// Records the ring keeps; the oldest go first.
pub const RING_CAPACITY: usize = 10_000;

/// What happened. Names as a request gave them (a failed login's org and user) are kept as
/// given: they are bounded by the dialects, and the log quotes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent {
    Login {
        session: SessionFacts,
    },
    LoginFailed {
        attempt: Attempt,
        reason: FailureReason,
    },
    /// An identity source vouched for a user Tollgate had no account of: one was created.
    Provisioned {
        org: String,
        user: String,
        source: String,
        roles: Vec<String>,
    },
    /// An identity source could not answer a login: a server error, not a failed attempt.
    #[serde(rename = "login_error")]
    SourceUnavailable {
        attempt: Attempt,
        source: String,
        detail: String,
    },
    /// An account was locked for the address the failures came from, or for every address.
    Lockout {
        attempt: Attempt,
        scope: LockScope,
        locked_for_seconds: u64,
    },
    /// An address (or a user opening sessions) was throttled: once per burst, not per request.
    /// `key` is the address, or `org/user`.
    Throttled {
        what: Throttled,
        key: String,
        retry_after_seconds: u64,
    },
    /// A provider administrator opened a session as another user.
    Impersonation {
        by: String,
        org: String,
        user: String,
    },
    /// The holder ended their session.
    Logout {
        session: SessionFacts,
    },
    /// Someone else ended it: an administrator, a password change, a disabled account.
    Revocation {
        session: SessionFacts,
    },
    /// It timed out or passed its lifetime.
    Expiry {
        session: SessionFacts,
    },
    /// The per-user cap ended it to make room for a newer one.
    Eviction {
        session: SessionFacts,
    },
    Bootstrap {
        org: String,
        user: String,
    },
    OrgCreated {
        org: String,
    },
    OrgDeleted {
        org: String,
    },
    UserCreated {
        org: String,
        user: String,
        source: String,
        roles: Vec<String>,
    },
    UserDeleted {
        org: String,
        user: String,
    },
    RolesChanged {
        org: String,
        user: String,
        roles: Vec<String>,
    },
    UserEnabled {
        org: String,
        user: String,
    },
    UserDisabled {
        org: String,
        user: String,
    },
    /// An administrator locked the account for every address.
    Locked {
        org: String,
        user: String,
        locked_for_seconds: u64,
    },
    Unlocked {
        org: String,
        user: String,
    },
    PasswordSet {
        org: String,
        user: String,
    },
    TokenCreated {
        token_id: Uuid,
        name: String,
        roles: Vec<String>,
    },
    TokenRevoked {
        token_id: Uuid,
        name: String,
    },
}

/// The kind of an [`AuditEvent`]: its `event` field in the log, its metric label, and what
/// the ring is filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    Login,
    LoginFailed,
    Provisioned,
    SourceUnavailable,
    Lockout,
    Throttled,
    Impersonation,
    Logout,
    Revocation,
    Expiry,
    Eviction,
    Bootstrap,
    OrgCreated,
    OrgDeleted,
    UserCreated,
    UserDeleted,
    RolesChanged,
    UserEnabled,
    UserDisabled,
    Locked,
    Unlocked,
    PasswordSet,
    TokenCreated,
    TokenRevoked,
}

impl AuditKind {
    pub const ALL: [AuditKind; 24] = [
        AuditKind::Login,
        AuditKind::LoginFailed,
        AuditKind::Provisioned,
        AuditKind::SourceUnavailable,
        AuditKind::Lockout,
        AuditKind::Throttled,
        AuditKind::Impersonation,
        AuditKind::Logout,
        AuditKind::Revocation,
        AuditKind::Expiry,
        AuditKind::Eviction,
        AuditKind::Bootstrap,
        AuditKind::OrgCreated,
        AuditKind::OrgDeleted,
        AuditKind::UserCreated,
        AuditKind::UserDeleted,
        AuditKind::RolesChanged,
        AuditKind::UserEnabled,
        AuditKind::UserDisabled,
        AuditKind::Locked,
        AuditKind::Unlocked,
        AuditKind::PasswordSet,
        AuditKind::TokenCreated,
        AuditKind::TokenRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Login => "login",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::Provisioned => "provisioned",
            // The log has always called it this; log searches keep working.
            AuditKind::SourceUnavailable => "login_error",
            AuditKind::Lockout => "lockout",
            AuditKind::Throttled => "throttled",
            AuditKind::Impersonation => "impersonation",
            AuditKind::Logout => "logout",
            AuditKind::Revocation => "revocation",
            AuditKind::Expiry => "expiry",
            AuditKind::Eviction => "eviction",
            AuditKind::Bootstrap => "bootstrap",
            AuditKind::OrgCreated => "org_created",
            AuditKind::OrgDeleted => "org_deleted",
            AuditKind::UserCreated => "user_created",
            AuditKind::UserDeleted => "user_deleted",
            AuditKind::RolesChanged => "roles_changed",
            AuditKind::UserEnabled => "user_enabled",
            AuditKind::UserDisabled => "user_disabled",
            AuditKind::Locked => "lock",
            AuditKind::Unlocked => "unlock",
            AuditKind::PasswordSet => "password_set",
            AuditKind::TokenCreated => "token_created",
            AuditKind::TokenRevoked => "token_revoked",
        }
    }

    /// The kind a filter names, as [`AuditKind::as_str`] spells it.
    pub fn parse(name: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// The session a session event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionFacts {
    pub session_id: Uuid,
    pub dialect: String,
    pub org: String,
    pub user: String,
    pub source: String,
    pub remote: Option<String>,
    /// Its state once the event happened (`LOGGED_IN` for a login).
    pub state: &'static str,
}

impl From<&Session> for SessionFacts {
    fn from(session: &Session) -> SessionFacts {
        SessionFacts {
            session_id: session.id,
            dialect: session.dialect.clone(),
            org: session.org_name.clone(),
            user: session.user_name.clone(),
            source: session.identity_source.clone(),
            remote: session.remote_addr.clone(),
            state: session.state.as_str(),
        }
    }
}

/// A login attempt, as its request named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub dialect: String,
    pub org: String,
    pub user: String,
    pub remote: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    /// The address the failures came from.
    Address,
    AllAddresses,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Address => "address",
            LockScope::AllAddresses => "all_addresses",
        }
    }
}

impl AuditEvent {
    pub fn kind(&self) -> AuditKind {
        match self {
            AuditEvent::Login { .. } => AuditKind::Login,
            AuditEvent::LoginFailed { .. } => AuditKind::LoginFailed,
            AuditEvent::Provisioned { .. } => AuditKind::Provisioned,
            AuditEvent::SourceUnavailable { .. } => AuditKind::SourceUnavailable,
            AuditEvent::Lockout { .. } => AuditKind::Lockout,
            AuditEvent::Throttled { .. } => AuditKind::Throttled,
            AuditEvent::Impersonation { .. } => AuditKind::Impersonation,
            AuditEvent::Logout { .. } => AuditKind::Logout,
            AuditEvent::Revocation { .. } => AuditKind::Revocation,
            AuditEvent::Expiry { .. } => AuditKind::Expiry,
            AuditEvent::Eviction { .. } => AuditKind::Eviction,
            AuditEvent::Bootstrap { .. } => AuditKind::Bootstrap,
            AuditEvent::OrgCreated { .. } => AuditKind::OrgCreated,
            AuditEvent::OrgDeleted { .. } => AuditKind::OrgDeleted,
            AuditEvent::UserCreated { .. } => AuditKind::UserCreated,
            AuditEvent::UserDeleted { .. } => AuditKind::UserDeleted,
            AuditEvent::RolesChanged { .. } => AuditKind::RolesChanged,
            AuditEvent::UserEnabled { .. } => AuditKind::UserEnabled,
            AuditEvent::UserDisabled { .. } => AuditKind::UserDisabled,
            AuditEvent::Locked { .. } => AuditKind::Locked,
            AuditEvent::Unlocked { .. } => AuditKind::Unlocked,
            AuditEvent::PasswordSet { .. } => AuditKind::PasswordSet,
            AuditEvent::TokenCreated { .. } => AuditKind::TokenCreated,
            AuditEvent::TokenRevoked { .. } => AuditKind::TokenRevoked,
        }
    }

    /// A session ended as `kind` says (logout, revocation, expiry, eviction).
    pub fn session_ended(kind: SessionEnd, session: &Session) -> AuditEvent {
        let session = SessionFacts::from(session);
        match kind {
            SessionEnd::Logout => AuditEvent::Logout { session },
            SessionEnd::Revocation => AuditEvent::Revocation { session },
            SessionEnd::Expiry => AuditEvent::Expiry { session },
            SessionEnd::Eviction => AuditEvent::Eviction { session },
        }
    }

    pub fn provisioned(user: &User) -> AuditEvent {
        AuditEvent::Provisioned {
            org: user.org_name.clone(),
            user: user.name.clone(),
            source: user.identity_source.clone(),
            roles: user.role_names(),
        }
    }

    /// The org and user the event is about, if it is about one.
    pub fn subject(&self) -> (Option<&str>, Option<&str>) {
        match self {
            AuditEvent::Login { session }
            | AuditEvent::Logout { session }
            | AuditEvent::Revocation { session }
            | AuditEvent::Expiry { session }
            | AuditEvent::Eviction { session } => (Some(&session.org), Some(&session.user)),
            AuditEvent::LoginFailed { attempt, .. }
            | AuditEvent::SourceUnavailable { attempt, .. }
            | AuditEvent::Lockout { attempt, .. } => (Some(&attempt.org), Some(&attempt.user)),
            AuditEvent::Provisioned { org, user, .. }
            | AuditEvent::Impersonation { org, user, .. }
            | AuditEvent::Bootstrap { org, user }
            | AuditEvent::UserCreated { org, user, .. }
            | AuditEvent::UserDeleted { org, user }
            | AuditEvent::RolesChanged { org, user, .. }
            | AuditEvent::UserEnabled { org, user }
            | AuditEvent::UserDisabled { org, user }
            | AuditEvent::Locked { org, user, .. }
            | AuditEvent::Unlocked { org, user }
            | AuditEvent::PasswordSet { org, user } => (Some(org), Some(user)),
            AuditEvent::OrgCreated { org } | AuditEvent::OrgDeleted { org } => (Some(org), None),
            AuditEvent::Throttled { .. } | AuditEvent::TokenCreated { .. } | AuditEvent::TokenRevoked { .. } => {
                (None, None)
            }
        }
    }
}

/// How a session ended, as the event that records it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Logout,
    Revocation,
    Expiry,
    Eviction,
}

/// One event as the trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increases by one per event this process recorded: a cursor for paging.
    pub sequence: u64,
    pub at: Timestamp,
    pub actor: Actor,
    /// The request's correlation id, when a request caused it.
    pub correlation_id: Option<String>,
    pub event: AuditEvent,
}

/// Which records [`AuditTrail::recent`] returns: all that match every field set.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Any of these kinds; empty matches all.
    pub kinds: Vec<AuditKind>,
    /// Events about this org (names match whatever their case).
    pub org: Option<String>,
    /// Events about this user (with `org`, of that org).
    pub user: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// Older than this sequence number: the next page after a page ending there.
    pub before: Option<u64>,
    /// At most this many, newest first; 0 is [`RING_CAPACITY`].
    pub limit: usize,
}

impl AuditFilter {
    fn matches(&self, record: &AuditRecord) -> bool {
        let named = |wanted: &Option<String>, got: Option<&str>| match wanted {
            None => true,
            Some(wanted) => got.is_some_and(|got| got.eq_ignore_ascii_case(wanted)),
        };
        let (org, user) = record.event.subject();
        (self.kinds.is_empty() || self.kinds.contains(&record.event.kind()))
            && named(&self.org, org)
            && named(&self.user, user)
            && self.since.is_none_or(|since| record.at >= since)
            && self.until.is_none_or(|until| record.at < until)
            && self.before.is_none_or(|before| record.sequence < before)
    }
}

/// The sinks every event goes to: the log, the metrics, and the ring of recent records.
pub struct AuditTrail {
    capacity: usize,
    ring: Mutex<Ring>,
    metrics: Metrics,
}

struct Ring {
    next_sequence: u64,
    records: VecDeque<Arc<AuditRecord>>,
}

impl AuditTrail {
    pub fn new(metrics: Metrics) -> AuditTrail {
        AuditTrail::with_capacity(RING_CAPACITY, metrics)
    }

    pub fn with_capacity(capacity: usize, metrics: Metrics) -> AuditTrail {
        let ring = Ring { next_sequence: 1, records: VecDeque::new() };
        AuditTrail { capacity: capacity.max(1), ring: Mutex::new(ring), metrics }
    }

    /// Records `event`, done by `actor` at `at`, in every sink.
    pub fn record(&self, at: Timestamp, actor: &Actor, correlation_id: Option<&str>, event: AuditEvent) {
        log(actor, correlation_id, &event);
        self.metrics.audit_event(event.kind());
        let mut ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sequence = ring.next_sequence;
        ring.next_sequence += 1;
        if ring.records.len() == self.capacity {
            ring.records.pop_front();
        }
        let record = AuditRecord {
            sequence,
            at,
            actor: actor.clone(),
            correlation_id: correlation_id.map(str::to_owned),
            event,
        };
        ring.records.push_back(Arc::new(record));
    }

    /// The records `filter` matches, newest first.
    pub fn recent(&self, filter: &AuditFilter) -> Vec<Arc<AuditRecord>> {
        let limit = if filter.limit == 0 { self.capacity } else { filter.limit };
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ring.records.iter().rev().filter(|record| filter.matches(record)).take(limit).cloned().collect()
    }
}

/// The fields of an event's log line: those it has always had (log searches rely on them),
/// and the actor. Those an event does not have stay out of its line.
#[derive(Default)]
struct Line<'a> {
    dialect: Option<&'a str>,
    org: Option<Cow<'a, str>>,
    user: Option<Cow<'a, str>>,
    session_id: Option<Uuid>,
    source: Option<&'a str>,
    state: Option<&'a str>,
    reason: Option<&'a str>,
    scope: Option<&'a str>,
    locked_for_seconds: Option<u64>,
    what: Option<&'a str>,
    remote: Option<&'a str>,
    retry_after_seconds: Option<u64>,
    detail: Option<&'a str>,
    by: Option<&'a str>,
    roles: Option<&'a [String]>,
    token_id: Option<Uuid>,
    token_name: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn of(event: &'a AuditEvent) -> Line<'a> {
        let (org, user) = event.subject();
        let mut line = Line { org: org.map(Cow::Borrowed), user: user.map(Cow::Borrowed), ..Line::default() };
        match event {
            AuditEvent::Login { session }
            | AuditEvent::Logout { session }
            | AuditEvent::Revocation { session }
            | AuditEvent::Expiry { session }
            | AuditEvent::Eviction { session } => {
                line.dialect = Some(&session.dialect);
                line.session_id = Some(session.session_id);
                match event.kind() {
                    AuditKind::Login => {
                        line.source = Some(&session.source);
                        line.remote = Some(session.remote.as_deref().unwrap_or("-"));
                    }
                    _ => line.state = Some(session.state),
                }
            }
            AuditEvent::LoginFailed { attempt, .. }
            | AuditEvent::SourceUnavailable { attempt, .. }
            | AuditEvent::Lockout { attempt, .. } => {
                line.dialect = Some(&attempt.dialect);
                // Names from the request, quoted and escaped: they must not forge log lines.
                line.org = Some(Cow::Owned(format!("{:?}", attempt.org)));
                line.user = Some(Cow::Owned(format!("{:?}", attempt.user)));
                line.remote = Some(attempt.remote.as_deref().unwrap_or("-"));
            }
            _ => {}
        }
        match event {
            AuditEvent::LoginFailed { reason, .. } => line.reason = Some(reason.as_str()),
            AuditEvent::SourceUnavailable { source, detail, .. } => {
                line.source = Some(source);
                line.detail = Some(detail);
            }
            AuditEvent::Lockout { scope, locked_for_seconds, .. } => {
                line.scope = Some(scope.as_str());
                line.locked_for_seconds = Some(*locked_for_seconds);
            }
            AuditEvent::Locked { locked_for_seconds, .. } => {
                line.scope = Some(LockScope::AllAddresses.as_str());
                line.locked_for_seconds = Some(*locked_for_seconds);
            }
            // The key is the address, or the user whose logins open too many sessions.
            AuditEvent::Throttled { what, key, retry_after_seconds } => {
                line.what = Some(what.as_str());
                match what {
                    Throttled::SessionsOfUser => line.user = Some(Cow::Borrowed(key)),
                    _ => line.remote = Some(key),
                }
                line.retry_after_seconds = Some(*retry_after_seconds);
            }
            AuditEvent::Provisioned { source, roles, .. } | AuditEvent::UserCreated { source, roles, .. } => {
                line.source = Some(source);
                line.roles = Some(roles);
            }
            AuditEvent::RolesChanged { roles, .. } => line.roles = Some(roles),
            AuditEvent::Impersonation { by, .. } => line.by = Some(by),
            AuditEvent::TokenCreated { token_id, name, roles } => {
                line.token_id = Some(*token_id);
                line.token_name = Some(name);
                line.roles = Some(roles);
            }
            AuditEvent::TokenRevoked { token_id, name } => {
                line.token_id = Some(*token_id);
                line.token_name = Some(name);
            }
            _ => {}
        }
        line
    }
}

/// The event's line under the `audit` target: a warning for refusals, an error for an
/// identity source that could not answer.
fn log(actor: &Actor, correlation_id: Option<&str>, event: &AuditEvent) {
    let line = Line::of(event);
    let (kind, actor) = (event.kind().as_str(), actor.name());
    let correlation_id = correlation_id.unwrap_or("-");
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: TARGET,
                $level,
                event = kind,
                scope = line.scope,
                what = line.what,
                dialect = line.dialect,
                org = line.org.as_deref().map(tracing::field::display),
                user = line.user.as_deref().map(tracing::field::display),
                by = line.by,
                session_id = line.session_id.map(tracing::field::display),
                source = line.source,
                state = line.state,
                reason = line.reason,
                locked_for_seconds = line.locked_for_seconds,
                retry_after_seconds = line.retry_after_seconds,
                detail = line.detail,
                roles = line.roles.map(tracing::field::debug),
                token_id = line.token_id.map(tracing::field::display),
                token_name = line.token_name,
                remote = line.remote,
                correlation_id,
                actor,
            )
        };
    }
    match event.kind() {
        AuditKind::SourceUnavailable => line!(tracing::Level::ERROR),
        AuditKind::LoginFailed | AuditKind::Lockout | AuditKind::Throttled => line!(tracing::Level::WARN),
        _ => line!(tracing::Level::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(org: &str) -> AuditEvent {
        AuditEvent::OrgCreated { org: org.into() }
    }

    fn unlocked(org: &str, user: &str) -> AuditEvent {
        AuditEvent::Unlocked { org: org.into(), user: user.into() }
    }

    #[test]
    fn the_ring_keeps_the_newest_records_up_to_its_capacity() {
        let trail = AuditTrail::with_capacity(3, Metrics::disabled());
        for (i, org) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            trail.record(Timestamp(i as i64), &Actor::Operator, None, created(org));
        }
        let all = trail.recent(&AuditFilter::default());
        let orgs: Vec<_> = all.iter().map(|r| r.event.subject().0.unwrap()).collect();
        assert_eq!(orgs, ["e", "d", "c"], "newest first, the two oldest dropped");
        let sequences: Vec<_> = all.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [5, 4, 3]);
    }

    #[test]
    fn the_ring_filters_by_kind_org_user_and_time_and_pages_by_sequence() {
        let trail = AuditTrail::new(Metrics::disabled());
        trail.record(Timestamp(10), &Actor::Operator, None, created("org1"));
        trail.record(Timestamp(20), &Actor::Operator, Some("c-1"), unlocked("org1", "alice"));
        trail.record(Timestamp(30), &Actor::System, None, unlocked("org2", "alice"));
        trail.record(Timestamp(40), &Actor::Operator, None, unlocked("ORG1", "bob"));
        let sequences = |filter: AuditFilter| trail.recent(&filter).iter().map(|r| r.sequence).collect::<Vec<_>>();

        assert_eq!(sequences(AuditFilter { kinds: vec![AuditKind::OrgCreated], ..Default::default() }), [1]);
        assert_eq!(sequences(AuditFilter { org: Some("org1".into()), ..Default::default() }), [4, 2, 1]);
        assert_eq!(sequences(AuditFilter { user: Some("alice".into()), ..Default::default() }), [3, 2]);
        let alice_of_org1 = AuditFilter { org: Some("org1".into()), user: Some("alice".into()), ..Default::default() };
        assert_eq!(sequences(alice_of_org1), [2]);
        let window = AuditFilter { since: Some(Timestamp(20)), until: Some(Timestamp(40)), ..Default::default() };
        assert_eq!(sequences(window), [3, 2]);
        assert_eq!(sequences(AuditFilter { limit: 2, ..Default::default() }), [4, 3]);
        assert_eq!(sequences(AuditFilter { limit: 2, before: Some(3), ..Default::default() }), [2, 1]);

        let record = &trail.recent(&AuditFilter { before: Some(3), limit: 1, ..Default::default() })[0];
        assert_eq!(record.actor, Actor::Operator);
        assert_eq!(record.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(record.at, Timestamp(20));
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for (index, kind) in AuditKind::ALL.into_iter().enumerate() {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind as usize, index, "the metrics index their counters by kind");
        }
        assert_eq!(AuditKind::parse("login_error"), Some(AuditKind::SourceUnavailable));
        assert_eq!(AuditKind::parse("nonsense"), None);
    }

    #[test]
    fn events_serialise_with_their_kind_and_actor_without_secrets() {
        let event = AuditEvent::TokenCreated { token_id: Uuid::nil(), name: "ci".into(), roles: vec!["R".into()] };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "token_created");
        assert_eq!(json["name"], "ci");
        let actor = serde_json::to_value(Actor::Operator).unwrap();
        assert_eq!(actor, serde_json::json!({"type": "operator"}));
    }
}
