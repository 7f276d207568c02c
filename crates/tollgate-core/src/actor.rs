//! Who acts on the core: every call that changes state names its [`Actor`], which the audit
//! trail records and [`crate::authorization`] decides for.

use serde::Serialize;
use uuid::Uuid;

use crate::directory::{ApiToken, SYSTEM_ADMINISTRATOR, SYSTEM_ORG, same_role};
use crate::session::Session;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A user, through one of their sessions (of any dialect, the native API's included).
    Session(SessionActor),
    /// An API token of the admin API.
    ApiToken(TokenActor),
    /// The operator, running the CLI on the store.
    Operator,
    /// Tollgate itself: expiry, eviction, provisioning a user a source vouched for.
    System,
}

/// The session a user acts through, with what deciding for it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionActor {
    pub session_id: Uuid,
    pub org_id: Uuid,
    pub org: String,
    pub user_id: Uuid,
    pub user: String,
    pub roles: Vec<String>,
    pub read_only: bool,
}

/// An API token: it acts in its org with its role, as a user holding that role would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenActor {
    pub token_id: Uuid,
    pub name: String,
    pub org_id: Uuid,
    pub org: String,
    pub role: String,
}

impl Actor {
    /// Who, in one word for a log line: `org/user`, `token:NAME`, `operator` or `system`.
    pub fn name(&self) -> String {
        match self {
            Actor::Session(s) => format!("{}/{}", s.org, s.user),
            Actor::ApiToken(t) => format!("token:{}", t.name),
            Actor::Operator => "operator".into(),
            Actor::System => "system".into(),
        }
    }

    /// The user acting, if a user is.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::Session(s) => Some(s.user_id),
            _ => None,
        }
    }

    /// The org a session or token acts in; the operator and the system belong to none.
    pub fn org_id(&self) -> Option<Uuid> {
        match self {
            Actor::Session(s) => Some(s.org_id),
            Actor::ApiToken(t) => Some(t.org_id),
            Actor::Operator | Actor::System => None,
        }
    }

    fn org(&self) -> Option<&str> {
        match self {
            Actor::Session(s) => Some(&s.org),
            Actor::ApiToken(t) => Some(&t.org),
            Actor::Operator | Actor::System => None,
        }
    }

    pub fn holds(&self, role: &str) -> bool {
        match self {
            Actor::Session(s) => s.roles.iter().any(|held| same_role(held, role)),
            Actor::ApiToken(t) => same_role(&t.role, role),
            Actor::Operator | Actor::System => false,
        }
    }

    /// May act for every org: a System Administrator of the System org (a user or a token),
    /// the operator, or Tollgate itself.
    pub fn is_provider(&self) -> bool {
        match self.org() {
            Some(org) => org.eq_ignore_ascii_case(SYSTEM_ORG) && self.holds(SYSTEM_ADMINISTRATOR),
            None => true,
        }
    }

    /// A read-only session may look, and end itself, but change nothing.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Actor::Session(s) if s.read_only)
    }
}

/// The holder of a session.
impl From<&Session> for Actor {
    fn from(session: &Session) -> Actor {
        Actor::Session(SessionActor {
            session_id: session.id,
            org_id: session.org_id,
            org: session.org_name.clone(),
            user_id: session.user_id,
            user: session.user_name.clone(),
            roles: session.roles.clone(),
            read_only: session.read_only,
        })
    }
}

/// The holder of an API token.
impl From<&ApiToken> for Actor {
    fn from(token: &ApiToken) -> Actor {
        Actor::ApiToken(TokenActor {
            token_id: token.id,
            name: token.name.clone(),
            org_id: token.org_id,
            org: token.org_name.clone(),
            role: token.role.clone(),
        })
    }
}
