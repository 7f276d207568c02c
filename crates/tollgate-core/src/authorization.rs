//! Who may do what. A dialect handler, the admin API or the CLI says what its caller wants to
//! do as an [`Action`]; [`Core::authorize`] answers yes or no by the same rules for all of
//! them. The handler only renders the answer in its dialect's words.
//!
//! The rules:
//! - the provider (a System Administrator of the System org, user or API token, the
//!   operator's CLI, Tollgate itself) may do everything;
//! - an org's administrators (its users and tokens holding System Administrator or
//!   Organization Administrator) may see and manage that org's users and sessions, and read
//!   its audit; its Auditors may see all of that and change nothing;
//! - every user may see themselves and their sessions, and end their own sessions;
//! - a read-only session may change nothing but end itself.

use uuid::Uuid;

use crate::actor::Actor;
use crate::directory::{AUDITOR, ORG_ADMINISTRATOR, SYSTEM_ADMINISTRATOR};
use crate::error::CoreError;
use crate::service::Core;

/// Roles that administer the org their holder belongs to.
pub const ORG_ADMIN_ROLES: &[&str] = &[SYSTEM_ADMINISTRATOR, ORG_ADMINISTRATOR];

/// What an actor wants to do, and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See every org, not only one's own.
    ListAllOrgs,
    /// See one org: its administrators and auditors see their own.
    ViewOrg {
        org_id: Uuid,
    },
    /// Read the provider's administrative resources (Cloud Director's `/api/admin`).
    ReadProviderApi,
    CreateOrg,
    DeleteOrg {
        org_id: Uuid,
    },
    ListUsers {
        org_id: Uuid,
    },
    ViewUser {
        org_id: Uuid,
        user_id: Uuid,
    },
    /// Create, change (roles, enabled, lockout, password) or delete the users of an org.
    ManageUsers {
        org_id: Uuid,
    },
    ListSessions {
        org_id: Uuid,
    },
    ViewSession {
        org_id: Uuid,
        user_id: Uuid,
    },
    /// End a session of this user: their own logout, or someone else's revocation.
    EndSession {
        org_id: Uuid,
        user_id: Uuid,
    },
    /// Mark a session terminated, which is an administrator's act even on one's own.
    TerminateSession {
        org_id: Uuid,
        user_id: Uuid,
    },
    /// Read the audit trail of one org, or all of it.
    ReadAudit {
        org_id: Option<Uuid>,
    },
    /// Create, list and revoke API tokens.
    ManageTokens,
    /// List and test the identity sources.
    ManageSources,
    /// Move the test clock, manage namespaces, reset the server (a stand-in for tests).
    OperateTestServer,
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The actor may do this kind of thing, but acts read-only.
    ReadOnly,
    NotPermitted,
}

impl Action {
    /// Whether the action changes anything.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Action::CreateOrg
                | Action::DeleteOrg { .. }
                | Action::ManageUsers { .. }
                | Action::EndSession { .. }
                | Action::TerminateSession { .. }
                | Action::ManageTokens
                | Action::OperateTestServer
        )
    }

    /// In words, after "may not".
    fn describe(self) -> &'static str {
        match self {
            Action::ListAllOrgs => "list every organisation",
            Action::ViewOrg { .. } => "see this organisation",
            Action::ReadProviderApi => "read the provider's administrative resources",
            Action::CreateOrg => "create organisations",
            Action::DeleteOrg { .. } => "delete this organisation",
            Action::ListUsers { .. } => "list this organisation's users",
            Action::ViewUser { .. } => "see this user",
            Action::ManageUsers { .. } => "change this organisation's users",
            Action::ListSessions { .. } => "list this organisation's sessions",
            Action::ViewSession { .. } => "see this session",
            Action::EndSession { .. } => "end this session",
            Action::TerminateSession { .. } => "terminate sessions",
            Action::ReadAudit { .. } => "read this audit trail",
            Action::ManageTokens => "manage API tokens",
            Action::ManageSources => "manage identity sources",
            Action::OperateTestServer => "operate the test server (clock, namespaces, reset)",
        }
    }
}

/// The decision for `actor` wanting to do `action`.
pub fn decide(actor: &Actor, action: Action) -> Result<(), Denial> {
    let own = |user_id: Uuid| actor.user_id() == Some(user_id);
    if actor.is_read_only()
        && action.is_write()
        && !matches!(action, Action::EndSession { user_id, .. } if own(user_id))
    {
        return Err(Denial::ReadOnly);
    }
    if actor.is_provider() {
        return Ok(());
    }
    let member = |org_id: Uuid| actor.org_id() == Some(org_id);
    let administers = |org_id: Uuid| member(org_id) && ORG_ADMIN_ROLES.iter().any(|role| actor.holds(role));
    // Auditors read what administrators read.
    let reads = |org_id: Uuid| administers(org_id) || (member(org_id) && actor.holds(AUDITOR));
    let permitted = match action {
        Action::ViewUser { org_id, user_id } | Action::ViewSession { org_id, user_id } => own(user_id) || reads(org_id),
        Action::EndSession { org_id, user_id } => own(user_id) || administers(org_id),
        Action::ViewOrg { org_id }
        | Action::ListUsers { org_id }
        | Action::ListSessions { org_id }
        | Action::ReadAudit { org_id: Some(org_id) } => reads(org_id),
        Action::ManageUsers { org_id } | Action::TerminateSession { org_id, .. } => administers(org_id),
        Action::ListAllOrgs
        | Action::ReadProviderApi
        | Action::CreateOrg
        | Action::DeleteOrg { .. }
        | Action::ReadAudit { org_id: None }
        | Action::ManageTokens
        | Action::ManageSources
        | Action::OperateTestServer => false,
    };
    if permitted { Ok(()) } else { Err(Denial::NotPermitted) }
}

impl Core {
    /// Whether `actor` may do `action`: `NotPermitted`, or `ReadOnly` for a read-only actor
    /// wanting to change something, when not.
    pub fn authorize(&self, actor: &Actor, action: Action) -> Result<(), CoreError> {
        decide(actor, action).map_err(|denial| match denial {
            Denial::ReadOnly => CoreError::ReadOnly,
            Denial::NotPermitted => CoreError::NotPermitted(format!("{} may not {}", actor.name(), action.describe())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{SessionActor, TokenActor};

    const SYSTEM: Uuid = Uuid::from_u128(1);
    const ORG1: Uuid = Uuid::from_u128(2);
    const ORG2: Uuid = Uuid::from_u128(3);
    const ALICE: Uuid = Uuid::from_u128(10);
    const BOB: Uuid = Uuid::from_u128(11);

    fn user(org_id: Uuid, org: &str, user_id: Uuid, roles: &[&str], read_only: bool) -> Actor {
        Actor::Session(SessionActor {
            session_id: Uuid::new_v4(),
            org_id,
            org: org.into(),
            user_id,
            user: "someone".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            read_only,
        })
    }

    fn token(org_id: Uuid, org: &str, role: &str) -> Actor {
        Actor::ApiToken(TokenActor {
            token_id: Uuid::new_v4(),
            name: "ci".into(),
            org_id,
            org: org.into(),
            role: role.into(),
        })
    }

    /// Every action, about alice (a user of org1) where it is about someone.
    fn every_action() -> Vec<Action> {
        vec![
            Action::ListAllOrgs,
            Action::ViewOrg { org_id: ORG1 },
            Action::ReadProviderApi,
            Action::CreateOrg,
            Action::DeleteOrg { org_id: ORG1 },
            Action::ListUsers { org_id: ORG1 },
            Action::ViewUser { org_id: ORG1, user_id: ALICE },
            Action::ManageUsers { org_id: ORG1 },
            Action::ListSessions { org_id: ORG1 },
            Action::ViewSession { org_id: ORG1, user_id: ALICE },
            Action::EndSession { org_id: ORG1, user_id: ALICE },
            Action::TerminateSession { org_id: ORG1, user_id: ALICE },
            Action::ReadAudit { org_id: Some(ORG1) },
            Action::ReadAudit { org_id: None },
            Action::ManageTokens,
            Action::ManageSources,
            Action::OperateTestServer,
        ]
    }

    fn permitted(actor: &Actor) -> Vec<Action> {
        every_action().into_iter().filter(|action| decide(actor, *action).is_ok()).collect()
    }

    #[test]
    fn the_provider_operator_and_system_may_do_everything() {
        let provider = user(SYSTEM, "System", BOB, &[SYSTEM_ADMINISTRATOR], false);
        let admin_token = token(SYSTEM, "System", SYSTEM_ADMINISTRATOR);
        for actor in [provider, admin_token, Actor::Operator, Actor::System] {
            assert_eq!(permitted(&actor), every_action(), "{actor:?}");
        }
    }

    #[test]
    fn an_org_administrator_manages_their_own_org_and_nothing_else() {
        let org_admin = user(ORG1, "org1", BOB, &[ORG_ADMINISTRATOR], false);
        let provider_only = [
            Action::ListAllOrgs,
            Action::ReadProviderApi,
            Action::CreateOrg,
            Action::DeleteOrg { org_id: ORG1 },
            Action::ReadAudit { org_id: None },
            Action::ManageTokens,
            Action::ManageSources,
            Action::OperateTestServer,
        ];
        let own_org: Vec<Action> = every_action().into_iter().filter(|a| !provider_only.contains(a)).collect();
        assert_eq!(own_org.len(), 9);
        assert_eq!(permitted(&org_admin), own_org);
        assert_eq!(permitted(&token(ORG1, "org1", ORG_ADMINISTRATOR)), own_org, "a token acts as its role");
        // A System Administrator role held in a tenant org administers that org alone.
        let tenant_sysadmin = user(ORG1, "org1", BOB, &[SYSTEM_ADMINISTRATOR], false);
        assert_eq!(permitted(&tenant_sysadmin), own_org);

        let another_org = user(ORG2, "org2", BOB, &[ORG_ADMINISTRATOR], false);
        assert_eq!(permitted(&another_org), vec![], "a tenant administrator cannot touch another org");
        let system_org_admin = user(SYSTEM, "System", BOB, &[ORG_ADMINISTRATOR], false);
        assert_eq!(permitted(&system_org_admin), vec![]);
        assert!(decide(&org_admin, Action::ManageUsers { org_id: SYSTEM }).is_err(), "nor System");
    }

    #[test]
    fn a_user_sees_and_ends_only_their_own() {
        let alice = user(ORG1, "org1", ALICE, &["vApp User"], false);
        assert_eq!(
            permitted(&alice),
            vec![
                Action::ViewUser { org_id: ORG1, user_id: ALICE },
                Action::ViewSession { org_id: ORG1, user_id: ALICE },
                Action::EndSession { org_id: ORG1, user_id: ALICE },
            ]
        );
        let bob = user(ORG1, "org1", BOB, &["vApp User"], false);
        assert_eq!(permitted(&bob), vec![], "alice's are not bob's");
        // The same user in a System org without the role is no provider.
        let system_user = user(SYSTEM, "System", BOB, &["vApp User"], false);
        assert_eq!(permitted(&system_user), vec![]);
    }

    #[test]
    fn read_only_actors_look_but_change_nothing_but_their_own_end() {
        let provider = user(SYSTEM, "System", ALICE, &[SYSTEM_ADMINISTRATOR], true);
        for action in every_action() {
            let decision = decide(&provider, action);
            let own_end = matches!(action, Action::EndSession { user_id: ALICE, .. });
            match action.is_write() && !own_end {
                true => assert_eq!(decision, Err(Denial::ReadOnly), "{action:?}"),
                false => assert_eq!(decision, Ok(()), "{action:?}"),
            }
        }
        // Read-only says nothing about what the actor could otherwise do.
        let plain = user(ORG1, "org1", ALICE, &["vApp User"], true);
        assert_eq!(decide(&plain, Action::ListSessions { org_id: ORG1 }), Err(Denial::NotPermitted));
    }

    #[test]
    fn auditors_read_their_org_and_change_nothing() {
        let reads = vec![
            Action::ViewOrg { org_id: ORG1 },
            Action::ListUsers { org_id: ORG1 },
            Action::ViewUser { org_id: ORG1, user_id: ALICE },
            Action::ListSessions { org_id: ORG1 },
            Action::ViewSession { org_id: ORG1, user_id: ALICE },
            Action::ReadAudit { org_id: Some(ORG1) },
        ];
        assert_eq!(permitted(&token(ORG1, "org1", AUDITOR)), reads);
        assert_eq!(permitted(&user(ORG1, "org1", BOB, &[AUDITOR], false)), reads);
        assert_eq!(permitted(&token(ORG2, "org2", AUDITOR)), vec![], "another org's auditor reads nothing here");
        assert_eq!(permitted(&token(SYSTEM, "System", AUDITOR)), vec![], "nor does System's");
    }

    #[test]
    fn tokens_without_an_administrator_role_administer_nothing() {
        assert_eq!(permitted(&token(ORG1, "org1", "vApp User")), vec![]);
        assert_eq!(permitted(&token(SYSTEM, "System", ORG_ADMINISTRATOR)), vec![], "System's org admin is no provider");
    }
}
