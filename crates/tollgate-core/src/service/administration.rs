//! What the admin API (and the CLI, as the operator) asks of the core beyond logins: finding
//! orgs, users, sessions, identity sources and audit records, deleting orgs and users. Each
//! call is decided for its [`Actor`] here, by [`Core::authorize`].

use std::sync::Arc;

use uuid::Uuid;

use super::Core;
use crate::actor::Actor;
use crate::audit::{AuditEvent, AuditFilter, AuditRecord, SessionEnd};
use crate::authorization::Action;
use crate::directory::{Org, Role, User, same_role};
use crate::error::CoreError;
use crate::session::{Session, SessionState};
use crate::source::ProbeStep;
use crate::store::{Page, SessionFilter};

/// Which users [`Core::find_users`] returns: those matching every field set.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Of this org (by name); without it, the provider's query spans every org and anyone
    /// else's their own.
    pub org: Option<String>,
    pub enabled: Option<bool>,
    /// Holding this role.
    pub role: Option<String>,
    /// Of this identity source.
    pub source: Option<String>,
    /// Whose name contains this, whatever its case.
    pub name_contains: Option<String>,
}

impl UserQuery {
    fn matches(&self, user: &User) -> bool {
        self.enabled.is_none_or(|enabled| user.enabled == enabled)
            && self.role.as_deref().is_none_or(|role| user.roles.iter().any(|held| same_role(&held.name, role)))
            && self.source.as_deref().is_none_or(|source| user.identity_source == source)
            && self.name_contains.as_deref().is_none_or(|part| user.name.to_lowercase().contains(&part.to_lowercase()))
    }
}

/// Which sessions [`Core::find_sessions`] returns.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Of this org (by name); as for [`UserQuery::org`].
    pub org: Option<String>,
    /// Of this user of `org`.
    pub user: Option<String>,
    pub dialect: Option<String>,
    /// Only sessions still live.
    pub live_only: bool,
}

/// Users read from the store per page while a filtered listing looks for its page.
const SCAN_PAGE: u32 = 500;

impl Core {
    /// The org `name` names for `actor`: when `name` is absent, the provider's `None` (every
    /// org) or anyone else's own org. `action` is what is to be done in it.
    async fn scope(
        &self,
        actor: &Actor,
        name: Option<&str>,
        action: impl Fn(Uuid) -> Action,
    ) -> Result<Option<Org>, CoreError> {
        let org = match name {
            Some(name) => self.org(name).await?,
            None if actor.is_provider() => return Ok(None),
            None => self.own_org(actor).await?,
        };
        self.authorize(actor, action(org.id))?;
        Ok(Some(org))
    }

    /// The org `actor` belongs to.
    async fn own_org(&self, actor: &Actor) -> Result<Org, CoreError> {
        let own = actor.org_id().unwrap_or_default();
        self.store.org_by_id(own).await?.ok_or_else(|| CoreError::NotFound(format!("org {own}")))
    }

    /// The roles, to whoever administers or audits an org.
    pub async fn roles_for(&self, actor: &Actor) -> Result<Vec<Role>, CoreError> {
        if !actor.is_provider() {
            self.authorize(actor, Action::ViewOrg { org_id: actor.org_id().unwrap_or_default() })?;
        }
        self.roles().await
    }

    /// Deletes an org that holds no users and no API tokens; never System.
    pub async fn delete_org(&self, actor: &Actor, id: Uuid) -> Result<Org, CoreError> {
        self.authorize(actor, Action::DeleteOrg { org_id: id })?;
        let org = self.store.org_by_id(id).await?.ok_or_else(|| CoreError::NotFound(format!("org {id}")))?;
        if org.is_system() {
            return Err(CoreError::Conflict("the System org cannot be deleted".into()));
        }
        self.store.delete_org(id).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                CoreError::Conflict(format!("org {:?} still has users or API tokens: delete them first", org.name))
            }
            other => other.into(),
        })?;
        self.audit(actor, None, AuditEvent::OrgDeleted { org: org.name.clone() });
        Ok(org)
    }

    /// The user `id`, if `actor` may see them.
    pub async fn user_for(&self, actor: &Actor, id: Uuid) -> Result<User, CoreError> {
        let user = self.store.user_by_id(id).await?.ok_or_else(|| CoreError::NotFound(format!("user {id}")))?;
        self.authorize(actor, Action::ViewUser { org_id: user.org_id, user_id: user.id })?;
        Ok(user)
    }

    /// Up to `page.limit` users matching `query` that `actor` may list, in the order they were
    /// created, and the `after` of the next page (`None` on the last one).
    pub async fn find_users(
        &self,
        actor: &Actor,
        query: &UserQuery,
        page: Page,
    ) -> Result<(Vec<User>, Option<i64>), CoreError> {
        let org = self.scope(actor, query.org.as_deref(), |org_id| Action::ListUsers { org_id }).await?;
        let org_id = org.map(|org| org.id);
        let wanted = page.limit as usize;
        let mut found = Vec::new();
        let mut scan = Some(Page { after: page.after, limit: SCAN_PAGE });
        // Filters the store does not know are applied page by page, until a page is full.
        while let Some(current) = scan {
            let users = self.store.list_users(org_id, current).await?;
            scan = current.next(&users, |u| u.number);
            for user in users.into_iter().filter(|user| query.matches(user)) {
                if found.len() == wanted {
                    // Another one matches: the next page starts after this page's last.
                    let last = found.last().map(|last: &User| last.number);
                    return Ok((found, last));
                }
                found.push(user);
            }
        }
        Ok((found, None))
    }

    /// Deletes the user and all their sessions.
    pub async fn delete_user(&self, actor: &Actor, org: &str, name: &str) -> Result<(), CoreError> {
        let user = self.user_to_manage(actor, org, name).await?;
        let filter = SessionFilter { user_id: Some(user.id), live_only: true, ..SessionFilter::default() };
        let live = self.store.list_sessions(&filter, Page::ALL).await?;
        let now = self.now();
        self.store.delete_user(user.id, now).await?;
        for session in &live {
            self.cache.end(session.id, SessionState::Terminated, now);
            let ended = Session { state: SessionState::Terminated, ..session.clone() };
            self.audit(actor, None, AuditEvent::session_ended(SessionEnd::Revocation, &ended));
        }
        self.audit(actor, None, AuditEvent::UserDeleted { org: user.org_name, user: user.name });
        Ok(())
    }

    /// The configured identity sources, by name, with their kinds: the provider's business.
    pub fn identity_sources(&self, actor: &Actor) -> Result<Vec<(String, &'static str)>, CoreError> {
        self.authorize(actor, Action::ManageSources)?;
        let mut sources: Vec<_> = self.sources.iter().map(|(name, source)| (name.clone(), source.kind())).collect();
        sources.sort();
        Ok(sources)
    }

    /// Reaches the source `name` step by step (with `user`, and their `password`, looked up
    /// too); stops at the first step that fails.
    pub async fn test_source(
        &self,
        actor: &Actor,
        name: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<Vec<ProbeStep>, CoreError> {
        self.authorize(actor, Action::ManageSources)?;
        let source = self.sources.get(name).ok_or_else(|| CoreError::NotFound(format!("identity source {name:?}")))?;
        Ok(source.probe(user, password).await)
    }

    /// One page of the sessions matching `query` that `actor` may list, newest first.
    pub async fn find_sessions(
        &self,
        actor: &Actor,
        query: &SessionQuery,
        page: Page,
    ) -> Result<Vec<Session>, CoreError> {
        let org = self.scope(actor, query.org.as_deref(), |org_id| Action::ListSessions { org_id }).await?;
        let mut filter = SessionFilter {
            org_id: org.as_ref().map(|org| org.id),
            dialect: query.dialect.clone(),
            live_only: query.live_only,
            ..SessionFilter::default()
        };
        if let Some(name) = &query.user {
            // A user name is only unique within its org: without one, the caller's own.
            let org = match org {
                Some(org) => org,
                None => self.own_org(actor).await?,
            };
            let user = self.user(&org.name, name).await?;
            filter.user_id = Some(user.id);
        }
        Ok(self.store.list_sessions(&filter, page).await?)
    }

    /// The session `id`, live or ended, if `actor` may see it.
    pub async fn session_for(&self, actor: &Actor, id: Uuid) -> Result<Session, CoreError> {
        let session =
            self.store.session_by_id(id).await?.ok_or_else(|| CoreError::NotFound(format!("session {id}")))?;
        self.authorize(actor, Action::ViewSession { org_id: session.org_id, user_id: session.user_id })?;
        Ok(session)
    }

    /// The recent audit records `filter` matches that `actor` may read: the provider's
    /// span every org (deleted ones too); anyone else's are about their own org.
    pub async fn audit_for(&self, actor: &Actor, mut filter: AuditFilter) -> Result<Vec<Arc<AuditRecord>>, CoreError> {
        if actor.is_provider() {
            self.authorize(actor, Action::ReadAudit { org_id: None })?;
        } else {
            let org = self.scope(actor, filter.org.as_deref(), |org_id| Action::ReadAudit { org_id: Some(org_id) });
            filter.org = org.await?.map(|org| org.name);
        }
        Ok(self.audit.recent(&filter))
    }
}
