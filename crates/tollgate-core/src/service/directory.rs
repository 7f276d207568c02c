//! Orgs, users and roles: the directory the dialects and the operator manage.

use uuid::Uuid;

use super::{AccountLocks, Core};
use crate::actor::Actor;
use crate::audit::AuditEvent;
use crate::authorization::Action;
use crate::directory::{LOCAL_SOURCE, Org, Role, User, UserSpec, validate_name};
use crate::error::CoreError;
use crate::imported_hash::HashFormat;
use crate::lockout;
use crate::store::Page;

impl Core {
    pub async fn add_org(&self, actor: &Actor, name: &str, full_name: Option<&str>) -> Result<Org, CoreError> {
        self.authorize(actor, Action::CreateOrg)?;
        validate_name("org", name).map_err(CoreError::Invalid)?;
        if name.contains('@') || name.contains('/') {
            return Err(CoreError::Invalid("org name must not contain '@' or '/'".into()));
        }
        if self.store.org_by_name(name).await?.is_some() {
            return Err(CoreError::Conflict(format!("org {name:?} already exists")));
        }
        let org = self.store.create_org(name, full_name.unwrap_or(name), self.now()).await?;
        self.audit(actor, None, AuditEvent::OrgCreated { org: org.name.clone() });
        Ok(org)
    }

    pub async fn org(&self, name: &str) -> Result<Org, CoreError> {
        self.store.org_by_name(name).await?.ok_or_else(|| CoreError::NotFound(format!("org {name:?}")))
    }

    pub async fn org_by_id(&self, id: Uuid) -> Result<Option<Org>, CoreError> {
        Ok(self.store.org_by_id(id).await?)
    }

    pub async fn orgs(&self) -> Result<Vec<Org>, CoreError> {
        Ok(self.store.list_orgs().await?)
    }

    /// The orgs `actor` may see: every org for the provider, else their own (to its
    /// administrators and auditors; anyone else is refused).
    pub async fn visible_orgs(&self, actor: &Actor) -> Result<Vec<Org>, CoreError> {
        if self.authorize(actor, Action::ListAllOrgs).is_ok() {
            return self.orgs().await;
        }
        let org_id = actor.org_id().unwrap_or_default();
        self.authorize(actor, Action::ViewOrg { org_id })?;
        Ok(self.store.org_by_id(org_id).await?.into_iter().collect())
    }

    /// The roles users can hold. They are fixed when the store is created, so they are read
    /// once and kept.
    pub async fn roles(&self) -> Result<Vec<Role>, CoreError> {
        if let Some(roles) = self.roles.get() {
            return Ok(roles.clone());
        }
        let roles = self.store.list_roles().await?;
        Ok(self.roles.get_or_init(|| roles).clone())
    }

    /// Creates a user; a local account gets `password` hashed with Argon2id, or keeps the
    /// hash `spec` carries (imported from another system: see [`HashFormat`]), which is
    /// checked first.
    pub async fn add_user(&self, actor: &Actor, mut spec: UserSpec, password: Option<&str>) -> Result<User, CoreError> {
        let org = self.org(&spec.org).await?;
        self.authorize(actor, Action::ManageUsers { org_id: org.id })?;
        validate_name("user", &spec.name).map_err(CoreError::Invalid)?;
        if spec.roles.is_empty() {
            return Err(CoreError::Invalid("a user needs at least one role".into()));
        }
        if spec.identity_source != LOCAL_SOURCE && !self.sources.contains_key(&spec.identity_source) {
            return Err(CoreError::NotFound(format!("identity source {:?}", spec.identity_source)));
        }
        if let Some(hash) = &spec.password_hash {
            HashFormat::of(hash).map_err(CoreError::Invalid)?;
        }
        if let Some(password) = password {
            self.config.passwords.check(password)?;
            spec.password_hash = Some(self.hasher.hash(password).await?);
        } else if spec.identity_source == LOCAL_SOURCE && spec.password_hash.is_none() {
            return Err(CoreError::Invalid("a local user needs a password".into()));
        }
        let user = self.store.create_user(&spec, self.now()).await?;
        let event = AuditEvent::UserCreated {
            org: user.org_name.clone(),
            user: user.name.clone(),
            source: user.identity_source.clone(),
            roles: user.role_names(),
        };
        self.audit(actor, None, event);
        Ok(user)
    }

    /// The user `name` of `org`, if `actor` may change that org's users.
    pub(super) async fn user_to_manage(&self, actor: &Actor, org: &str, name: &str) -> Result<User, CoreError> {
        let org = self.org(org).await?;
        self.authorize(actor, Action::ManageUsers { org_id: org.id })?;
        self.store
            .user_by_name(org.id, name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {name:?} in org {:?}", org.name)))
    }

    pub async fn user(&self, org: &str, name: &str) -> Result<User, CoreError> {
        let org = self.org(org).await?;
        self.store
            .user_by_name(org.id, name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {name:?} in org {:?}", org.name)))
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, CoreError> {
        Ok(self.store.user_by_id(id).await?)
    }

    /// One page of the users (of `org`, if named), in the order they were created.
    pub async fn users(&self, org: Option<&str>, page: Page) -> Result<Vec<User>, CoreError> {
        let org_id = match org {
            Some(name) => Some(self.org(name).await?.id),
            None => None,
        };
        Ok(self.store.list_users(org_id, page).await?)
    }

    /// What `user` is locked out for now (see [`crate::LockoutPolicy`]).
    pub async fn lockout(&self, user: &User) -> Result<AccountLocks, CoreError> {
        let (everywhere, addresses) = lockout::locks_of(&*self.store, user.id.as_bytes(), self.now()).await?;
        Ok(AccountLocks { everywhere, addresses })
    }

    /// Sets a password and ends the user's sessions.
    pub async fn set_password(&self, actor: &Actor, org: &str, name: &str, password: &str) -> Result<(), CoreError> {
        let user = self.user_to_manage(actor, org, name).await?;
        self.config.passwords.check(password)?;
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(user.id, &hash).await?;
        self.audit(actor, None, AuditEvent::PasswordSet { org: user.org_name.clone(), user: user.name.clone() });
        // Whoever held the old password holds no session of it any more.
        self.end_user_sessions(actor, user.id, None).await?;
        Ok(())
    }

    /// Gives a local user a password hash imported from another system (see [`HashFormat`]),
    /// checked first, and ends their sessions. The operator's import alone does this.
    pub async fn set_imported_hash(&self, org: &str, name: &str, hash: &str) -> Result<(), CoreError> {
        HashFormat::of(hash).map_err(CoreError::Invalid)?;
        let user = self.user(org, name).await?;
        self.store.set_password_hash(user.id, hash).await?;
        let event = AuditEvent::PasswordSet { org: user.org_name.clone(), user: user.name.clone() };
        self.audit(&Actor::Operator, None, event);
        self.end_user_sessions(&Actor::Operator, user.id, None).await?;
        Ok(())
    }

    /// Disabling a user also ends their sessions.
    pub async fn set_enabled(&self, actor: &Actor, org: &str, name: &str, enabled: bool) -> Result<(), CoreError> {
        let user = self.user_to_manage(actor, org, name).await?;
        self.store.set_enabled(user.id, enabled).await?;
        let (org, name) = (user.org_name.clone(), user.name.clone());
        let event = match enabled {
            true => AuditEvent::UserEnabled { org, user: name },
            false => AuditEvent::UserDisabled { org, user: name },
        };
        self.audit(actor, None, event);
        if !enabled {
            self.end_user_sessions(actor, user.id, None).await?;
        }
        Ok(())
    }

    /// Replaces the user's roles (names as [`Core::roles`] lists them).
    pub async fn set_roles(&self, actor: &Actor, org: &str, name: &str, roles: &[String]) -> Result<(), CoreError> {
        if roles.is_empty() {
            return Err(CoreError::Invalid("a user needs at least one role".into()));
        }
        let user = self.user_to_manage(actor, org, name).await?;
        self.store.set_user_roles(user.id, roles).await?;
        let event = AuditEvent::RolesChanged { org: user.org_name, user: user.name, roles: roles.to_vec() };
        self.audit(actor, None, event);
        Ok(())
    }

    /// Whether `password` is the local user's password.
    pub async fn password_matches(&self, user: &User, password: &str) -> Result<bool, CoreError> {
        match &user.password_hash {
            Some(hash) => self.hasher.verify(Some(hash), password).await,
            None => Ok(false),
        }
    }

    /// Locks the account for every address, as failed logins do, for the lockout policy's
    /// `lock_for`; an account locked everywhere already keeps the lock it has.
    pub async fn lock(&self, actor: &Actor, org: &str, name: &str) -> Result<(), CoreError> {
        let user = self.user_to_manage(actor, org, name).await?;
        if self.lockout(&user).await?.everywhere {
            return Ok(());
        }
        let lock_for = self.config.lockout.lock_for;
        self.store.lock(user.id.as_bytes(), lockout::ALL_ADDRESSES, self.now().plus(lock_for)).await?;
        let event = AuditEvent::Locked { org: user.org_name, user: user.name, locked_for_seconds: lock_for.as_secs() };
        self.audit(actor, None, event);
        Ok(())
    }

    pub async fn unlock(&self, actor: &Actor, org: &str, name: &str) -> Result<(), CoreError> {
        let user = self.user_to_manage(actor, org, name).await?;
        self.store.forget_account(user.id.as_bytes()).await?;
        self.audit(actor, None, AuditEvent::Unlocked { org: user.org_name, user: user.name });
        Ok(())
    }
}
