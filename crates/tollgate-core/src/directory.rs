//! The directory: organisations, roles and users.

use uuid::Uuid;

use crate::clock::Timestamp;

/// The provider organisation every installation has.
pub const SYSTEM_ORG: &str = "System";
/// The role the bootstrap administrator holds.
pub const SYSTEM_ADMINISTRATOR: &str = "System Administrator";
/// The read-only role: its holders (API tokens above all) may read everything the admin API
/// shows in their org, and change nothing.
pub const AUDITOR: &str = "Auditor";
/// The role that administers one tenant org.
pub const ORG_ADMINISTRATOR: &str = "Organization Administrator";
/// Identity source of accounts whose password hash Tollgate keeps itself.
pub const LOCAL_SOURCE: &str = "local";

/// Roles every store starts with: Cloud Director's predefined ones and HCX's.
pub const PREDEFINED_ROLES: &[&str] = &[
    SYSTEM_ADMINISTRATOR,
    ORG_ADMINISTRATOR,
    "Catalog Author",
    "vApp Author",
    "vApp User",
    "Console Access Only",
    "Defer to Identity Provider",
    "Enterprise Administrator",
    "Appliance Administrator",
    AUDITOR,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub full_name: String,
    pub created_at: Timestamp,
}

impl Org {
    pub fn is_system(&self) -> bool {
        self.name.eq_ignore_ascii_case(SYSTEM_ORG)
    }
}

/// Whether two role names are the same role. Role names match whatever their case, here and
/// nowhere else: every role check goes through this.
pub fn same_role(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    /// A short numeric id, for dialects whose ids are integers (BlueCat).
    pub number: i64,
    pub org_id: Uuid,
    pub org_name: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub enabled: bool,
    pub identity_source: String,
    /// Argon2id PHC string; `None` for accounts another identity source verifies.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

impl User {
    /// A System Administrator of the System org: the provider, who may act for others.
    pub fn is_provider_admin(&self) -> bool {
        self.org_name.eq_ignore_ascii_case(SYSTEM_ORG) && self.has_role(SYSTEM_ADMINISTRATOR)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| same_role(&r.name, role))
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }
}

/// A credential for the admin API held by a program rather than a person: it acts with one
/// role in one org. Only a digest of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub org_id: Uuid,
    pub org_name: String,
    pub role: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What it takes to create an API token (its secret's digest aside).
#[derive(Debug, Clone)]
pub struct ApiTokenSpec {
    pub name: String,
    pub org: String,
    pub role: String,
}

/// What it takes to create a user.
#[derive(Clone)]
pub struct UserSpec {
    pub org: String,
    pub name: String,
    pub roles: Vec<String>,
    pub identity_source: String,
    pub password_hash: Option<String>,
}

// Password hashes stay out of debug output, and so out of any log.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("org", &self.org_name)
            .field("name", &self.name)
            .field("roles", &self.role_names())
            .field("enabled", &self.enabled)
            .field("identity_source", &self.identity_source)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("identity_source", &self.identity_source)
            .finish_non_exhaustive()
    }
}

/// Names as the CLI and the dialects accept them: printable, bounded, no surrounding space.
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name must not be empty"));
    }
    if name.chars().count() > 128 {
        return Err(format!("{kind} name is longer than 128 characters"));
    }
    if name.trim() != name {
        return Err(format!("{kind} name must not start or end with white space"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{kind} name must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(validate_name("user", "alice@example.com").is_ok());
        assert!(validate_name("user", "").is_err());
        assert!(validate_name("user", " alice").is_err());
        assert!(validate_name("user", "al\nice").is_err());
        assert!(validate_name("user", &"a".repeat(129)).is_err());
    }
}
