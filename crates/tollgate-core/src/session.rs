//! Sessions: what a token names.

use std::time::Duration;

use uuid::Uuid;

use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    LoggedIn,
    LoggedOut,
    TimedOut,
    Expired,
    Terminated,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::LoggedIn => "LOGGED_IN",
            SessionState::LoggedOut => "LOGGED_OUT",
            SessionState::TimedOut => "TIMED_OUT",
            SessionState::Expired => "EXPIRED",
            SessionState::Terminated => "TERMINATED",
        }
    }

    pub fn parse(s: &str) -> Option<SessionState> {
        Some(match s {
            "LOGGED_IN" => SessionState::LoggedIn,
            "LOGGED_OUT" => SessionState::LoggedOut,
            "TIMED_OUT" => SessionState::TimedOut,
            "EXPIRED" => SessionState::Expired,
            "TERMINATED" => SessionState::Terminated,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    /// A short numeric id, for dialects whose ids are integers (BlueCat).
    pub number: i64,
    pub user_id: Uuid,
    pub user_name: String,
    pub org_id: Uuid,
    pub org_name: String,
    pub roles: Vec<String>,
    pub dialect: String,
    pub identity_source: String,
    pub remote_addr: Option<String>,
    pub correlation_id: String,
    pub created_at: Timestamp,
    /// As last written to the store: coarser than the truth the core keeps in memory.
    pub last_seen_at: Timestamp,
    pub idle_timeout: Duration,
    pub expires_at: Timestamp,
    pub state: SessionState,
    pub ended_at: Option<Timestamp>,
    pub read_only: bool,
}

impl Session {
    /// When the session is over if it is not used again, having last been used at `last_seen`.
    pub fn ends_at(&self, last_seen: Timestamp) -> Timestamp {
        last_seen.plus(self.idle_timeout).min(self.expires_at)
    }

    /// The state the session is in at `now`, last used at `last_seen`.
    pub fn state_at(&self, now: Timestamp, last_seen: Timestamp) -> SessionState {
        if self.state != SessionState::LoggedIn {
            self.state
        } else if now >= self.expires_at {
            SessionState::Expired
        } else if now >= last_seen.plus(self.idle_timeout) {
            SessionState::TimedOut
        } else {
            SessionState::LoggedIn
        }
    }

    /// The session of a System Administrator of the System org (see [`crate::User::is_provider_admin`]).
    pub fn is_provider_admin(&self) -> bool {
        self.org_name.eq_ignore_ascii_case(crate::directory::SYSTEM_ORG)
            && self.has_role(crate::directory::SYSTEM_ADMINISTRATOR)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| crate::directory::same_role(r, role))
    }
}
