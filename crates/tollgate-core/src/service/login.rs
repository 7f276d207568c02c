//! Logins: throttling, the identity source's check with lockout and audit around it,
//! provisioning, and opening the session (with the per-user cap).

use uuid::Uuid;

use super::{Core, LiveSession, LoginOutcome, LoginRequest};
use crate::actor::Actor;
use crate::audit::{Attempt, AuditEvent, LockScope, SessionEnd};
use crate::clock::Timestamp;
use crate::directory::{Org, User, UserSpec, validate_name};
use crate::error::{AuthFailure, CoreError, FailureReason};
use crate::lockout;
use crate::password::{self, Lane, MAX_PASSWORD_BYTES};
use crate::session::{Session, SessionState};
use crate::source::{Credential, DELEGATED_SOURCE, SourceAttempt, Verdict};
use crate::store::{Page, SessionFilter};
use crate::suspects::Ending;
use crate::telemetry;
use crate::token::TokenDigest;

/// Sessions beyond the per-user cap one login may end.
const EVICTION_SLACK: u32 = 16;

/// When to try again after the low lane of the hash queue was full.
const LOW_LANE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl Core {
    /// Checks credentials against the request's identity source and opens a session. Every
    /// refusal takes the time of one password verification, whatever its reason.
    pub async fn login(&self, request: LoginRequest<'_>) -> Result<LoginOutcome, CoreError> {
        if !self.is_initialised().await? {
            return Err(CoreError::NotInitialised);
        }
        let (dialect, source) = (request.dialect, request.source);
        let outcome = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => {
                let verified = password::in_lane(attempt.lane, self.verify_credentials(&request)).await;
                let outcome = match verified {
                    Ok(user) => self.open_for(user, request).await,
                    Err(e) => Err(e),
                };
                attempt.settle(&outcome);
                outcome
            }
            Err(throttled) => Err(throttled),
        };
        self.metrics.login(dialect, source, login_outcome(outcome.as_ref()));
        outcome
    }

    /// Takes a login attempt from the client's address, before any password is hashed, and
    /// picks the lane its hashes wait in; a suspect address finding the low lane full is
    /// refused like a throttled one.
    fn throttle_login(&self, remote: Option<&str>) -> Result<ThrottledAttempt<'_>, CoreError> {
        let Some(remote) = remote else {
            return Ok(ThrottledAttempt { core: self, remote: None, lane: Lane::Normal, ending: Ending::Neither });
        };
        let now = self.now();
        if let Err(throttled) = self.login_throttle.take(remote, now) {
            self.refuse_throttled_login(remote, throttled.retry_after, throttled.first_of_burst);
            return Err(CoreError::Throttled(throttled.retry_after));
        }
        let lane = self.suspects.start(remote, now);
        // From here on, dropping the attempt gives the token back and ends the login's standing.
        let attempt = ThrottledAttempt { core: self, remote: Some(remote.to_owned()), lane, ending: Ending::Neither };
        if lane == Lane::Low
            && let Err(full) = self.hasher.low_lane_room()
        {
            self.refuse_throttled_login(remote, LOW_LANE_RETRY, full.first_of_burst);
            return Err(CoreError::Throttled(LOW_LANE_RETRY));
        }
        Ok(attempt)
    }

    /// Counts a login refused with "too many", and audits the first of a burst.
    fn refuse_throttled_login(&self, remote: &str, retry_after: std::time::Duration, first_of_burst: bool) {
        self.metrics.throttled(telemetry::Throttled::Login);
        if first_of_burst {
            let event = AuditEvent::Throttled {
                what: telemetry::Throttled::Login,
                key: remote.to_owned(),
                retry_after_seconds: retry_after.as_secs().max(1),
            };
            self.audit(&Actor::System, None, event);
        }
    }

    /// Refuses a login a dialect found wrong before asking any source (an unknown SSO domain,
    /// say), in the same time and with the same audit event as any other refusal.
    pub async fn refuse_login(&self, request: LoginRequest<'_>, reason: FailureReason) -> CoreError {
        let refusal = self.refusal(&request, reason).await;
        self.metrics.login(request.dialect, request.source, login_outcome::<()>(Err(&refusal)));
        refusal
    }

    async fn refusal(&self, request: &LoginRequest<'_>, reason: FailureReason) -> CoreError {
        let attempt = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => attempt,
            Err(e) => return e,
        };
        let burn_time = self.hasher.verify_dummy(request.credential.password().unwrap_or_default());
        if let Err(e) = password::in_lane(attempt.lane, burn_time).await {
            return e;
        }
        self.audit_failure(request, reason);
        attempt.count();
        CoreError::Auth(AuthFailure { reason })
    }

    /// Checks credentials like [`Core::login`] without opening a session (Cloud Director
    /// Availability adds a site to an existing session this way). Failures count and audit
    /// as any login's.
    pub async fn check_credentials(&self, request: LoginRequest<'_>) -> Result<User, CoreError> {
        if !self.is_initialised().await? {
            return Err(CoreError::NotInitialised);
        }
        let user = match self.throttle_login(request.remote_addr.as_deref()) {
            Ok(attempt) => {
                let user = password::in_lane(attempt.lane, self.verify_credentials(&request)).await;
                attempt.settle(&user);
                user
            }
            Err(throttled) => Err(throttled),
        };
        self.metrics.login(request.dialect, request.source, login_outcome(user.as_ref()));
        user
    }

    /// Checks a login's credential with its identity source. Around the source's answer:
    /// the same time and answer for a name nobody has as for a wrong password, lockout
    /// accounting (guesses count, outages never do), refusing locked, disabled and other
    /// sources' accounts without asking the backend, audit, and creating the account of a
    /// user the source vouches for on their first login, with the roles it maps.
    async fn verify_credentials(&self, request: &LoginRequest<'_>) -> Result<User, CoreError> {
        if let Credential::DelegatedSession { token, from_dialects } = request.credential {
            return self.verify_delegated(request, token, from_dialects).await;
        }
        let source = self.sources.get(request.source).ok_or_else(|| CoreError::UnknownSource(request.source.into()))?;
        // Failures are counted per account and address (see LockoutPolicy); logins that come
        // with no address (the CLI's) share one.
        let address = request.remote_addr.as_deref().unwrap_or("-");
        let fail = |reason: FailureReason| {
            self.audit_failure(request, reason);
            CoreError::Auth(AuthFailure { reason })
        };
        // Refused before any backend sees them: an empty password would be an anonymous bind
        // to many directories, which "succeeds".
        let password = request.credential.password();
        if password.is_some_and(|p| p.is_empty() || p.len() > MAX_PASSWORD_BYTES) {
            return Err(fail(FailureReason::WrongPassword));
        }
        // What a refusal costs when the backend is not asked, so that it tells nothing.
        let burn_time = || self.hasher.verify_dummy(password.unwrap_or_default());

        let username = source.account_name(request.username);
        let username = username.as_ref();
        let org = self.store.org_by_name(request.org).await?;
        let account = match &org {
            Some(org) => self.store.user_by_name(org.id, username).await?,
            None => None,
        };
        let now = self.now();
        let unknown_key = unknown_name_key(request.org, username);
        let lock_key: &[u8] = match &account {
            Some(user) if user.identity_source != request.source => {
                burn_time().await?;
                return Err(fail(FailureReason::WrongSource));
            }
            Some(user) => user.id.as_bytes(),
            None => &unknown_key,
        };
        // Counted before any credential is checked: however many guesses run at once, on
        // however many nodes, no more than the threshold reach the hash or the backend.
        let Some(counted) = lockout::admit(&*self.store, lock_key, address, now, &self.config.lockout).await? else {
            // Whatever the password, the backend is not asked: it can neither be guessed
            // through a lock nor be made to lock the account on its side.
            burn_time().await?;
            return Err(fail(FailureReason::Locked));
        };
        if org.is_none() {
            burn_time().await?;
        }

        let verdict = match &org {
            None => Verdict::Refused(crate::source::Refusal::UnknownUser),
            Some(org) => {
                let source_attempt = SourceAttempt {
                    org: &org.name,
                    username,
                    credential: request.credential,
                    account: account.as_ref(),
                };
                let started = std::time::Instant::now();
                let checked = tokio::time::timeout(source.deadline(), source.verify(&source_attempt)).await;
                let error = match &checked {
                    Ok(Ok(_)) => None,
                    Ok(Err(_)) => Some("unavailable"),
                    Err(_) => Some("timeout"),
                };
                self.metrics.identity_source_check(request.source, source.kind(), started.elapsed(), error);
                let detail = match checked {
                    Ok(Ok(verdict)) => Ok(verdict),
                    Ok(Err(e)) => Err(e.0),
                    Err(_) => Err(format!("no answer within {:?}", source.deadline())),
                };
                match detail {
                    Ok(verdict) => verdict,
                    Err(detail) => {
                        // An outage is no guess: the attempt is given back.
                        if let Err(e) = lockout::give_back(&*self.store, lock_key, address, counted).await {
                            tracing::warn!(error = %e, "could not give back a login attempt the source did not answer");
                        }
                        let event = AuditEvent::SourceUnavailable {
                            attempt: attempt_of(request),
                            source: request.source.to_owned(),
                            detail: detail.clone(),
                        };
                        self.audit(&Actor::System, Some(request.correlation_id), event);
                        return Err(CoreError::SourceUnavailable { name: request.source.to_owned(), detail });
                    }
                }
            }
        };

        let now = self.now();
        let identity = match verdict {
            Verdict::Refused(refusal) => {
                if refusal.is_guess() {
                    let locks =
                        lockout::settle_failure(&*self.store, lock_key, address, counted, now, &self.config.lockout)
                            .await?;
                    self.audit_locks(request, locks, now);
                } else {
                    lockout::give_back(&*self.store, lock_key, address, counted).await?;
                }
                let reason = match (refusal.reason(), &org) {
                    (FailureReason::UnknownUser, None) => FailureReason::UnknownOrg,
                    (reason, _) => reason,
                };
                return Err(fail(reason));
            }
            Verdict::Accepted(identity) => identity,
        };
        // Spent in the store, so that a proof replayed to another node is refused there too.
        if let Some(proof) = &identity.single_use {
            let key = format!("{}:{}", request.source, proof.key);
            if !self.store.spend_nonce(&key, proof.until, now).await? {
                // A copy of a good proof, not a guess at a password.
                lockout::give_back(&*self.store, lock_key, address, counted).await?;
                return Err(fail(FailureReason::Replayed));
            }
        }
        // A right password forgets the failures before it, unless guesses running in parallel
        // locked the account meanwhile.
        if !lockout::reset_after_success(&*self.store, lock_key, address, now).await? {
            return Err(fail(FailureReason::Locked));
        }
        let roles = match identity.roles {
            Some(roles) => Some(self.known_roles(roles).await?),
            None => None,
        };
        if roles.as_ref().is_some_and(Vec::is_empty) {
            return Err(fail(FailureReason::NoRole));
        }
        let user = match (account, org) {
            (Some(user), _) => {
                if !user.enabled {
                    return Err(fail(FailureReason::Disabled));
                }
                match roles {
                    Some(roles) if !same_roles(&user.role_names(), &roles) => {
                        self.store.set_user_roles(user.id, &roles).await?;
                        // The source's groups changed: the roles follow them.
                        let event =
                            AuditEvent::RolesChanged { org: user.org_name.clone(), user: user.name.clone(), roles };
                        self.audit(&Actor::System, Some(request.correlation_id), event);
                        self.store.user_by_id(user.id).await?.ok_or_else(|| CoreError::NotFound("user".into()))?
                    }
                    _ => user,
                }
            }
            (None, Some(org)) => self.provision(&org, username, request, roles.unwrap_or_default()).await?,
            (None, None) => return Err(fail(FailureReason::UnknownOrg)),
        };
        self.store.set_last_login(user.id, now).await?;
        Ok(user)
    }

    /// Creates the account of a user an identity source vouched for, in the org they logged
    /// into, on their first login.
    async fn provision(
        &self,
        org: &Org,
        username: &str,
        request: &LoginRequest<'_>,
        roles: Vec<String>,
    ) -> Result<User, CoreError> {
        if roles.is_empty() {
            // A source that keeps the roles Tollgate holds has nothing to give a new account.
            return Err(CoreError::Auth(AuthFailure { reason: FailureReason::UnknownUser }));
        }
        let spec = UserSpec {
            org: org.name.clone(),
            name: username.to_owned(),
            roles,
            identity_source: request.source.to_owned(),
            password_hash: None,
        };
        validate_name("user", &spec.name).map_err(CoreError::Invalid)?;
        match self.store.create_user(&spec, self.now()).await {
            Ok(user) => {
                self.audit(&Actor::System, Some(request.correlation_id), AuditEvent::provisioned(&user));
                Ok(user)
            }
            // A first login running in parallel created it.
            Err(crate::store::StoreError::Conflict(_)) => self
                .store
                .user_by_name(org.id, &spec.name)
                .await?
                .ok_or_else(|| CoreError::NotFound(format!("user {:?}", spec.name))),
            Err(e) => Err(e.into()),
        }
    }

    /// `roles` less the names no role has (a mapping may name a role removed since), each
    /// spelled as the store spells it.
    async fn known_roles(&self, roles: Vec<String>) -> Result<Vec<String>, CoreError> {
        let known = self.roles().await?;
        let mut kept: Vec<String> = Vec::new();
        for role in roles {
            match known.iter().find(|k| crate::directory::same_role(&k.name, &role)) {
                Some(k) if !kept.contains(&k.name) => kept.push(k.name.clone()),
                Some(_) => {}
                None => tracing::warn!(role = %role, "an identity source granted a role that does not exist"),
            }
        }
        Ok(kept)
    }

    /// Opens the session a verified login asked for: as the principal it impersonates, if
    /// any, and only for a user holding one of the required roles.
    async fn open_for(&self, user: User, request: LoginRequest<'_>) -> Result<LoginOutcome, CoreError> {
        let now = self.now();
        let user = match request.impersonate {
            None => user,
            Some((org, name)) => {
                if !user.is_provider_admin() {
                    self.audit_failure(&request, FailureReason::NoImpersonation);
                    return Err(CoreError::NotPermitted(format!("{} may not impersonate", user.name)));
                }
                let principal = self.user(org, name).await?;
                if !principal.enabled {
                    return Err(CoreError::NotPermitted(format!("{name} is disabled")));
                }
                let event = AuditEvent::Impersonation {
                    by: format!("{}/{}", user.org_name, user.name),
                    org: principal.org_name.clone(),
                    user: principal.name.clone(),
                };
                self.audit(&Actor::System, Some(request.correlation_id), event);
                principal
            }
        };
        let permitted =
            request.required_roles.is_empty() || request.required_roles.iter().any(|role| user.has_role(role));
        if !permitted {
            self.audit_failure(&request, FailureReason::NoRole);
            return Err(CoreError::NotPermitted(format!("{} holds none of the roles this login needs", user.name)));
        }
        let source = match request.credential {
            Credential::DelegatedSession { .. } => DELEGATED_SOURCE.to_owned(),
            _ => user.identity_source.clone(),
        };
        self.open_session(&user, &request, &source, now).await
    }

    /// The user a live session of one of `from_dialects` names, for a delegated login. No
    /// account is named before the token is checked, so only the login throttle (per address)
    /// counts failures; each is audited as any login's.
    async fn verify_delegated(
        &self,
        request: &LoginRequest<'_>,
        token: &str,
        from_dialects: &[&str],
    ) -> Result<User, CoreError> {
        let refuse = |reason: FailureReason, why: &str| {
            tracing::info!(source = DELEGATED_SOURCE, detail = why, "a delegated login was refused");
            self.audit_failure(request, reason);
            CoreError::Auth(AuthFailure { reason })
        };
        let presented = match self.authenticate_any(from_dialects, token, true).await {
            Ok(session) => session,
            Err(CoreError::Session(rejection)) => {
                return Err(refuse(FailureReason::WrongPassword, &rejection.to_string()));
            }
            Err(other) => return Err(other),
        };
        match self.store.user_by_id(presented.user_id).await? {
            Some(user) if user.enabled => Ok(user),
            _ => Err(refuse(FailureReason::Disabled, "the delegating session's user is disabled or gone")),
        }
    }

    async fn open_session(
        &self,
        user: &User,
        request: &LoginRequest<'_>,
        source: &str,
        now: Timestamp,
    ) -> Result<LoginOutcome, CoreError> {
        if let Err(throttled) = self.session_throttle.take(&user.id.to_string(), now) {
            self.metrics.throttled(telemetry::Throttled::SessionsOfUser);
            if throttled.first_of_burst {
                let event = AuditEvent::Throttled {
                    what: telemetry::Throttled::SessionsOfUser,
                    key: format!("{}/{}", user.org_name, user.name),
                    retry_after_seconds: throttled.retry_after.as_secs().max(1),
                };
                self.audit(&Actor::System, Some(request.correlation_id), event);
            }
            return Err(CoreError::Throttled(throttled.retry_after));
        }
        let policy = self.config.policy_for(request.dialect);
        let mut session = Session {
            id: Uuid::new_v4(),
            number: 0,
            user_id: user.id,
            user_name: user.name.clone(),
            org_id: user.org_id,
            org_name: user.org_name.clone(),
            roles: user.role_names(),
            dialect: request.dialect.to_owned(),
            identity_source: source.to_owned(),
            remote_addr: request.remote_addr.clone(),
            correlation_id: request.correlation_id.to_owned(),
            created_at: now,
            last_seen_at: now,
            idle_timeout: policy.idle_timeout,
            expires_at: now.plus(policy.lifetime),
            state: SessionState::LoggedIn,
            ended_at: None,
            read_only: request.read_only,
        };
        let tokens: Vec<String> = request.tokens.iter().map(|kind| kind.generate()).collect();
        let digests: Vec<TokenDigest> = tokens.iter().map(|t| TokenDigest::of(t)).collect();
        session.number = self.store.insert_session(&session, &digests).await?;
        self.known_tokens.issued(&digests);
        let event = AuditEvent::Login { session: (&session).into() };
        self.audit(&Actor::from(&session), Some(request.correlation_id), event);
        self.evict_beyond_cap(&session, request.correlation_id, now).await?;
        let entry = self
            .cache
            .insert(session, &digests, now)
            .map_err(|_| CoreError::Internal("a new session was already ended".into()))?;
        crate::context::note_session(entry.session.id);
        Ok(LoginOutcome { session: LiveSession(entry), tokens })
    }

    /// Audits and counts the locks a failure set, each once: for its address, and for every
    /// address.
    fn audit_locks(&self, request: &LoginRequest<'_>, locks: lockout::Locks, now: Timestamp) {
        let scopes = [(LockScope::Address, locks.address_until), (LockScope::AllAddresses, locks.account_until)];
        for (scope, until) in scopes {
            if let Some(until) = until {
                self.metrics.lockout(scope == LockScope::AllAddresses);
                let event = AuditEvent::Lockout {
                    attempt: attempt_of(request),
                    scope,
                    locked_for_seconds: until.since(now).as_secs(),
                };
                self.audit(&Actor::System, Some(request.correlation_id), event);
            }
        }
    }

    /// Audits a refused login: Tollgate refused it, for whoever sent it.
    fn audit_failure(&self, request: &LoginRequest<'_>, reason: FailureReason) {
        let event = AuditEvent::LoginFailed { attempt: attempt_of(request), reason };
        self.audit(&Actor::System, Some(request.correlation_id), event);
    }

    /// Ends the user's oldest live sessions of the new session's dialect beyond the per-user
    /// cap, never the new one. Per dialect: a client that never logs out must not end the
    /// user's others. Nothing is kept of them (the audit log has them): a client that logs in
    /// before every request must not grow the store by a row each time. Logins racing here
    /// each end what they see beyond the cap; ending is idempotent, so they agree.
    async fn evict_beyond_cap(&self, new: &Session, correlation_id: &str, now: Timestamp) -> Result<(), CoreError> {
        let filter = SessionFilter {
            user_id: Some(new.user_id),
            dialect: Some(new.dialect.clone()),
            live_only: true,
            ..SessionFilter::default()
        };
        // The newest few beyond the cap: each login ends what the cap and the logins racing it
        // left over, and a lowered cap wears down what is beyond it a few at a time.
        let cap = self.config.max_sessions_per_user;
        let live = self.store.list_sessions(&filter, Page::first(cap.saturating_add(EVICTION_SLACK))).await?;
        let keep_others = cap.saturating_sub(1) as usize;
        let beyond: Vec<Uuid> = live.iter().filter(|s| s.id != new.id).skip(keep_others).map(|s| s.id).collect();
        if beyond.is_empty() {
            return Ok(());
        }
        for mut old in self.store.delete_live_sessions(&beyond, now).await? {
            old.state = SessionState::Terminated;
            old.ended_at = Some(now);
            self.cache.end(old.id, old.state, now);
            self.audit(&Actor::System, Some(correlation_id), AuditEvent::session_ended(SessionEnd::Eviction, &old));
        }
        Ok(())
    }
}

/// A login attempt taken from its address's bucket. Only a refused login keeps it: a good one
/// gives it back, and so does one that never finished (the client went away mid-hash) or that
/// failed on our side (an outage must not use up anyone's attempts). Its ending also decides
/// whether its address stays suspect.
struct ThrottledAttempt<'a> {
    core: &'a Core,
    remote: Option<String>,
    /// Where its hashes wait.
    lane: Lane,
    ending: Ending,
}

impl ThrottledAttempt<'_> {
    fn count(mut self) {
        self.ending = Ending::Refused;
    }

    fn settle<T>(mut self, outcome: &Result<T, CoreError>) {
        self.ending = match outcome {
            Ok(_) => Ending::LoggedIn,
            Err(CoreError::Auth(_)) => Ending::Refused,
            Err(_) => Ending::Neither,
        };
    }
}

impl Drop for ThrottledAttempt<'_> {
    fn drop(&mut self) {
        let Some(remote) = &self.remote else { return };
        let now = self.core.now();
        if self.ending != Ending::Refused {
            self.core.login_throttle.refund(remote, now);
        }
        self.core.suspects.finish(remote, self.ending, now);
    }
}

/// The `outcome` label of a login: `success`, or why it was refused.
fn login_outcome<T>(result: Result<&T, &CoreError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(CoreError::Auth(failure)) => failure.reason.as_str(),
        Err(CoreError::NotPermitted(_)) => "not_permitted",
        Err(CoreError::Throttled(_)) => "throttled",
        Err(CoreError::NotInitialised) => "not_initialised",
        Err(CoreError::SourceUnavailable { .. }) => "source_unavailable",
        Err(_) => "error",
    }
}

/// Identifies a login name no account has, without keeping the name itself.
fn unknown_name_key(org: &str, name: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(org.to_lowercase().as_bytes());
    digest.update([0]);
    digest.update(name.to_lowercase().as_bytes());
    digest.finalize().into()
}

/// Whether two lists name the same roles, in any order.
fn same_roles(a: &[String], b: &[String]) -> bool {
    let covers = |x: &[String], y: &[String]| x.iter().all(|r| y.iter().any(|o| crate::directory::same_role(r, o)));
    covers(a, b) && covers(b, a)
}

fn attempt_of(request: &LoginRequest<'_>) -> Attempt {
    Attempt {
        dialect: request.dialect.to_owned(),
        org: request.org.to_owned(),
        user: request.username.to_owned(),
        remote: request.remote_addr.clone(),
    }
}
