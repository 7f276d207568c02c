//! Validating tokens, ending sessions and listing them.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Core, LiveSession};
use crate::actor::Actor;
use crate::audit::{AuditEvent, SessionEnd};
use crate::authorization::Action;
use crate::cache::Entry;
use crate::clock::Timestamp;
use crate::directory::{User, same_role};
use crate::error::{CoreError, SessionRejection};
use crate::feed;
use crate::session::{Session, SessionState};
use crate::store::{Activity, Page, SessionFilter};
use crate::telemetry;
use crate::token::TokenDigest;

impl Core {
    /// The live session `token` names, if it was issued by `dialect`. Slides the idle timeout.
    pub async fn authenticate(&self, dialect: &str, token: &str) -> Result<LiveSession, CoreError> {
        self.authenticate_any(&[dialect], token, true).await
    }

    /// [`Core::authenticate`] for a request from `remote`: an address that keeps presenting
    /// tokens nobody issued is throttled before the store is asked about another.
    pub async fn authenticate_from(
        &self,
        dialect: &str,
        token: &str,
        remote: Option<&str>,
    ) -> Result<LiveSession, CoreError> {
        self.authenticate_any_from(&[dialect], token, remote).await
    }

    /// [`Core::authenticate_from`] for a token of any of `dialects` (all: empty).
    pub async fn authenticate_any_from(
        &self,
        dialects: &[&str],
        token: &str,
        remote: Option<&str>,
    ) -> Result<LiveSession, CoreError> {
        let Some(remote) = remote else { return self.authenticate_any(dialects, token, true).await };
        let now = self.now();
        let digest = TokenDigest::of(token);
        let cached = self.cache.get(&digest);
        if cached.is_none() {
            self.check_unknown_token_throttle(remote, now)?;
        }
        let result = self.validate(dialects, &digest, cached, true).await;
        if matches!(result, Err(CoreError::Session(SessionRejection::Unknown))) {
            let _ = self.unknown_token_throttle.take(remote, now);
        }
        result
    }

    /// Refuses a request from `remote` while that address is throttled for presenting tokens
    /// nobody issued.
    pub(super) fn check_unknown_token_throttle(&self, remote: &str, now: Timestamp) -> Result<(), CoreError> {
        let Err(throttled) = self.unknown_token_throttle.check(remote, now) else { return Ok(()) };
        self.metrics.throttled(telemetry::Throttled::UnknownToken);
        if throttled.first_of_burst {
            let event = AuditEvent::Throttled {
                what: telemetry::Throttled::UnknownToken,
                key: remote.to_owned(),
                retry_after_seconds: throttled.retry_after.as_secs().max(1),
            };
            self.audit(&Actor::System, None, event);
        }
        Err(CoreError::Throttled(throttled.retry_after))
    }

    /// Like [`Core::authenticate`] for a token of any of `dialects`; `slide` false looks without
    /// counting as a use (introspection).
    pub async fn authenticate_any(
        &self,
        dialects: &[&str],
        token: &str,
        slide: bool,
    ) -> Result<LiveSession, CoreError> {
        let digest = TokenDigest::of(token);
        let cached = self.cache.get(&digest);
        self.validate(dialects, &digest, cached, slide).await
    }

    /// The live session a token's `digest` names, from `cached` (the cache's entry for it, if
    /// any) while it may be trusted, else from the store.
    async fn validate(
        &self,
        dialects: &[&str],
        digest: &TokenDigest,
        cached: Option<Arc<Entry>>,
        slide: bool,
    ) -> Result<LiveSession, CoreError> {
        let now = self.now();
        let (entry, from_cache) = match cached {
            Some(entry) if !entry.is_ended() && self.feed.is_fresh(now) => {
                self.metrics.cache_hits.increment(1);
                (entry, true)
            }
            _ => {
                self.metrics.cache_misses.increment(1);
                (self.reload(digest, now).await?, false)
            }
        };
        // Other nodes' uses reach this one's cache only through the store: a session that
        // looks idle here may have been busy there.
        let entry = match entry.session.state_at(now, entry.last_seen()) {
            SessionState::LoggedIn => entry,
            _ if from_cache => self.reload(digest, now).await?,
            _ => entry,
        };
        let session = &entry.session;
        if !dialects.is_empty() && !dialects.contains(&session.dialect.as_str()) {
            return Err(SessionRejection::Unknown.into());
        }
        match session.state_at(now, entry.last_seen()) {
            SessionState::LoggedIn => {}
            ended => {
                if let Some(ended) = self.store.end_session(session.id, ended, now).await? {
                    let event = AuditEvent::session_ended(SessionEnd::Expiry, &ended);
                    self.audit(&Actor::System, Some(&session.correlation_id), event);
                }
                self.cache.end(session.id, ended, now);
                return Err(SessionRejection::Ended(ended).into());
            }
        }
        if slide {
            entry.seen(now);
            let granularity = (session.idle_timeout / 4).min(Duration::from_secs(60));
            if let Some(seen) = entry.claim_touch(granularity.as_millis() as i64) {
                // Off the request path, batched with other sessions' (see `touches`).
                let activity = Activity { session_id: session.id, last_seen: seen, ends_at: session.ends_at(seen) };
                self.touches.push(activity, &self.store);
            }
        }
        crate::context::note_session(entry.session.id);
        Ok(LiveSession(entry))
    }

    /// Whether `session` may pass a gate that admits holders of any of `roles` (every live
    /// session when `roles` is empty): the forward-auth endpoint's decision.
    pub fn require_any_role(&self, session: &Session, roles: &[&str]) -> Result<(), CoreError> {
        let holds = |wanted: &&str| session.roles.iter().any(|held| same_role(held, wanted));
        if roles.is_empty() || roles.iter().any(holds) {
            return Ok(());
        }
        Err(CoreError::NotPermitted(format!("{} holds none of the roles {}", session.user_name, roles.join(", "))))
    }

    /// The dialect that issued `token`, whether or not its session is still live.
    pub async fn token_dialect(&self, token: &str) -> Option<String> {
        let digest = TokenDigest::of(token);
        if let Some(entry) = self.cache.get(&digest) {
            return Some(entry.session.dialect.clone());
        }
        if !self.known_tokens.may_exist(&digest) {
            return None;
        }
        match self.store.session_by_digest(&digest).await {
            Ok(session) => session.map(|s| s.dialect),
            Err(e) => {
                tracing::warn!(error = %e, "could not look a token up");
                None
            }
        }
    }

    async fn reload(&self, digest: &TokenDigest, now: Timestamp) -> Result<Arc<Entry>, CoreError> {
        if !self.known_tokens.may_exist(digest) {
            return Err(SessionRejection::Unknown.into());
        }
        match self.store.session_by_digest(digest).await? {
            None => {
                self.cache.forget_digest(digest);
                Err(SessionRejection::Unknown.into())
            }
            Some(session) if session.state != SessionState::LoggedIn => {
                self.cache.end(session.id, session.state, now);
                self.cache.forget_digest(digest);
                Err(SessionRejection::Ended(session.state).into())
            }
            // Ended here while the store was being read: the store's answer is already stale.
            Some(session) => self
                .cache
                .insert(session, std::slice::from_ref(digest), now)
                .map_err(|state| SessionRejection::Ended(state).into()),
        }
    }

    // ---- the revocation feed --------------------------------------------------------------

    /// Reads the revocation log from where the last read ended and forgets the sessions it
    /// names; returns how many entries it read. Cached sessions are trusted only for a second
    /// after a read began (see `feed`); until then, every validation asks the store.
    pub async fn read_revocations(&self) -> Result<usize, CoreError> {
        let now = self.now();
        Ok(self.feed.catch_up(self.store.as_ref(), &self.cache, now).await?)
    }

    /// Follows the revocation log for as long as the server runs: reads it whenever the
    /// store's push channel says something was appended, and every 100 ms in any case.
    pub async fn follow_revocations(&self) {
        let wakeups = self.store.revocation_wakeups();
        let mut failing = false;
        loop {
            match self.read_revocations().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("the revocation log is read again; cached sessions are trusted again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot read the revocation log; a second after the last read, each validation asks the store");
                }
                Err(_) => {}
            }
            match &wakeups {
                Some(wakeups) => {
                    let _ = tokio::time::timeout(feed::POLL_EVERY, wakeups.notified()).await;
                }
                None => tokio::time::sleep(feed::POLL_EVERY).await,
            }
        }
    }

    // ---- ending sessions ------------------------------------------------------------------

    /// The holder ends their own session.
    pub async fn logout(&self, session: &LiveSession, correlation_id: &str) -> Result<(), CoreError> {
        let actor = Actor::from(session.session());
        self.end_session(&actor, session, SessionState::LoggedOut, correlation_id).await.map(|_| ())
    }

    /// `actor` ends `session`, leaving it in `state` (`LOGGED_OUT` or `TERMINATED`): the
    /// holder's logout, or someone else's revocation. `Ok(None)` when it was not live.
    pub async fn end_session(
        &self,
        actor: &Actor,
        session: &Session,
        state: SessionState,
        correlation_id: &str,
    ) -> Result<Option<Session>, CoreError> {
        let (org_id, user_id) = (session.org_id, session.user_id);
        let action = match state {
            SessionState::Terminated => Action::TerminateSession { org_id, user_id },
            _ => Action::EndSession { org_id, user_id },
        };
        self.authorize(actor, action)?;
        let holder = matches!(actor, Actor::Session(s) if s.session_id == session.id);
        let how = if holder && state == SessionState::LoggedOut { SessionEnd::Logout } else { SessionEnd::Revocation };
        let now = self.now();
        let ended = self.store.end_session(session.id, state, now).await?;
        self.cache.end(session.id, state, now);
        if let Some(ended) = &ended {
            self.audit(actor, Some(correlation_id), AuditEvent::session_ended(how, ended));
        }
        Ok(ended)
    }

    /// Ends the live session `id` as if it had idled out (`TIMED_OUT`): a test's fault rule
    /// making a session expire on its next use. `Ok(None)` when it was not live.
    pub async fn expire_session(&self, id: Uuid, correlation_id: &str) -> Result<Option<Session>, CoreError> {
        let now = self.now();
        let ended = self.store.end_session(id, SessionState::TimedOut, now).await?;
        self.cache.end(id, SessionState::TimedOut, now);
        if let Some(ended) = &ended {
            self.audit(&Actor::System, Some(correlation_id), AuditEvent::session_ended(SessionEnd::Expiry, ended));
        }
        Ok(ended)
    }

    /// The session `id`, live or ended.
    pub async fn session_by_id(&self, id: Uuid) -> Result<Option<Session>, CoreError> {
        Ok(self.store.session_by_id(id).await?)
    }

    /// `actor` revokes the live session `id`.
    pub async fn revoke_session(&self, actor: &Actor, id: Uuid, correlation_id: &str) -> Result<Session, CoreError> {
        // Before the store is asked: most callers may end no one's session but their own.
        if !actor.is_provider() {
            let org_id = actor.org_id().unwrap_or_default();
            self.authorize(actor, Action::TerminateSession { org_id, user_id: Uuid::nil() })?;
        }
        let not_live = || CoreError::NotFound(format!("live session {id}"));
        let session =
            self.store.session_by_id(id).await?.filter(|s| s.state == SessionState::LoggedIn).ok_or_else(not_live)?;
        self.end_session(actor, &session, SessionState::Terminated, correlation_id).await?.ok_or_else(not_live)
    }

    /// `actor` revokes all of a user's sessions; returns how many were live.
    pub async fn revoke_user_sessions(
        &self,
        actor: &Actor,
        org: &str,
        name: &str,
        correlation_id: &str,
    ) -> Result<usize, CoreError> {
        let user = self.user(org, name).await?;
        self.authorize(actor, Action::TerminateSession { org_id: user.org_id, user_id: user.id })?;
        self.end_user_sessions(actor, user.id, Some(correlation_id)).await
    }

    /// Ends every live session of a user, for `actor`, who was allowed to.
    pub(super) async fn end_user_sessions(
        &self,
        actor: &Actor,
        user_id: Uuid,
        correlation_id: Option<&str>,
    ) -> Result<usize, CoreError> {
        let now = self.now();
        let ended = self.store.end_user_sessions(user_id, SessionState::Terminated, now).await?;
        for session in &ended {
            self.cache.end(session.id, session.state, now);
            self.audit(actor, correlation_id, AuditEvent::session_ended(SessionEnd::Revocation, session));
        }
        Ok(ended.len())
    }

    pub async fn session_by_number(&self, number: i64) -> Result<Option<Session>, CoreError> {
        Ok(self.store.session_by_number(number).await?)
    }

    pub async fn user_by_number(&self, number: i64) -> Result<Option<User>, CoreError> {
        Ok(self.store.user_by_number(number).await?)
    }

    /// The dialect's own state attached to a session (a JSON document), if any.
    pub async fn session_data(&self, id: Uuid) -> Result<Option<String>, CoreError> {
        Ok(self.store.session_data(id).await?)
    }

    pub async fn set_session_data(&self, id: Uuid, data: &str) -> Result<(), CoreError> {
        Ok(self.store.set_session_data(id, data).await?)
    }

    /// Sessions of one dialect, newest first.
    pub async fn dialect_sessions(
        &self,
        dialect: &str,
        org_id: Option<Uuid>,
        live_only: bool,
    ) -> Result<Vec<Session>, CoreError> {
        let filter = SessionFilter { dialect: Some(dialect.to_owned()), org_id, live_only, ..SessionFilter::default() };
        Ok(self.store.list_sessions(&filter, Page::ALL).await?)
    }

    /// One page of the sessions (of an org, or of one of its users), newest first.
    pub async fn sessions(
        &self,
        org: Option<&str>,
        user: Option<&str>,
        live_only: bool,
        page: Page,
    ) -> Result<Vec<Session>, CoreError> {
        let mut filter = SessionFilter { live_only, ..SessionFilter::default() };
        match (org, user) {
            (Some(org), Some(user)) => filter.user_id = Some(self.user(org, user).await?.id),
            (Some(org), None) => filter.org_id = Some(self.org(org).await?.id),
            (None, Some(_)) => return Err(CoreError::Invalid("--user needs --org".into())),
            (None, None) => {}
        }
        Ok(self.store.list_sessions(&filter, page).await?)
    }
}
