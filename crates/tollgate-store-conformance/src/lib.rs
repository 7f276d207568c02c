//! The store conformance suite: the core's rules, exercised over a real backend. Every
//! backend runs all of it (as Ory Kratos runs its `TestPersister` over each database), so
//! that lockout, caps, expiry and listings hold the same whatever stores the state.
//!
//! A backend's test file names how to make a fresh, empty store and expands the suite:
//!
//! ```ignore
//! tollgate_store_conformance::conformance_tests!(async { Arc::new(SqliteStore::in_memory().unwrap()) as Arc<dyn Store> });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::token::TokenDigest;
use tollgate_core::{
    Actor, ApiTokenSpec, Core, CoreConfig, CoreError, Credential, DELEGATED_SOURCE, DialectPolicy, FailureReason,
    Identity, IdentitySource, LoginRequest, ManualClock, Page, PasswordPolicy, ProbeStep, SessionRejection,
    SessionState, SingleUse, SourceAttempt, SourceConfig, SourceError, Store, StoreError, ThrottlePolicy, Timestamp,
    TokenKind, UserSpec, Verdict,
};

type FreshStore = Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>>;

/// The backend under test: makes a fresh, empty store each time it is asked.
pub struct Backend {
    fresh: Box<dyn Fn() -> FreshStore + Send + Sync>,
}

impl Backend {
    pub fn new(fresh: impl Fn() -> FreshStore + Send + Sync + 'static) -> Backend {
        Backend { fresh: Box::new(fresh) }
    }

    pub async fn fresh(&self) -> Arc<dyn Store> {
        (self.fresh)().await
    }
}

/// Expands to one `#[tokio::test]` per test of the suite, each over a store `$fresh` (an
/// expression of type `impl Future<Output = Arc<dyn Store>>`, evaluated anew for each store).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh; login_issues_tokens_that_validate_and_name_one_session,
            org_and_user_names_are_case_insensitive,
            every_refusal_is_the_same_error_with_its_reason_kept_for_audit,
            lockout_after_consecutive_failures_until_unlocked,
            guesses_in_parallel_cannot_outrun_the_lockout,
            unknown_names_lock_like_real_ones,
            a_new_password_ends_the_old_sessions,
            an_imported_hash_becomes_argon2id_at_the_first_good_login,
            a_single_use_proof_is_refused_the_second_time_by_every_node,
            a_delegated_session_token_is_a_credential_audited_and_throttled_like_any,
            the_session_cap_is_per_dialect,
            lockout_ends_by_itself_and_failures_outside_the_window_do_not_add_up,
            a_success_resets_the_failure_count,
            idle_timeout_slides_with_use,
            absolute_expiry_ends_even_a_busy_session,
            logout_ends_every_token_of_the_session,
            a_token_is_valid_only_for_its_dialect,
            the_oldest_sessions_are_evicted_beyond_the_cap,
            sessions_a_user_opens_are_throttled_per_user_however_they_are_opened,
            the_sweep_deletes_sessions_ended_before_the_retention_period,
            revocations_by_another_process_reach_the_cache_through_the_log,
            a_cache_whose_log_was_not_read_for_a_second_asks_the_store,
            a_session_busy_on_another_node_is_not_timed_out_by_this_ones_cache,
            the_revocation_log_numbers_every_end_and_is_purged_after_an_hour,
            revoking_all_of_a_users_sessions,
            disabling_a_user_ends_their_sessions,
            the_sweep_ends_idle_sessions_in_the_store_and_keeps_busy_ones,
            before_bootstrap_logins_are_refused_as_not_initialised,
            bootstrap_can_generate_the_password,
            the_password_policy_holds_for_bootstrap_new_users_and_password_changes,
            directory_mistakes_are_reported,
            introspection_does_not_slide_the_idle_timeout,
            failed_logins_from_one_address_are_throttled_before_any_hash,
            good_logins_give_their_attempt_back,
            a_login_the_client_abandoned_mid_hash_gives_its_attempt_back,
            unknown_tokens_from_one_address_are_throttled_before_the_store_is_asked,
            a_guesser_locks_only_its_own_address_out_and_the_owner_logs_in_from_hers,
            guessing_spread_over_many_addresses_still_locks_the_account,
            unknown_names_lock_per_address_too,
            attempts_are_counted_before_the_check_up_to_each_limit,
            attempts_reserved_at_once_never_exceed_the_limit,
            a_lock_or_a_full_counter_refuses_the_attempt_and_counts_nothing,
            a_given_back_attempt_frees_its_place_in_its_own_window_only,
            listings_come_in_pages_without_gaps_or_repeats,
            the_sweep_ends_sessions_in_batches_and_keeps_the_live_ones,
            first_uses_of_many_sessions_reach_the_store_without_a_sweep,
            live_sessions_are_counted_by_dialect,
            api_tokens_are_found_by_digest_listed_and_revoked,
            api_token_mistakes_are_reported,
            an_api_token_authenticates_until_it_is_revoked,
            deleting_a_user_deletes_their_sessions_and_an_org_must_be_empty_to_go);
    };
    (@each $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $crate::Backend::new(|| Box::pin($fresh));
                $crate::$name(&backend).await;
            }
        )*
    };
}

use tollgate_core::directory::LOCAL_SOURCE;

const START: Timestamp = Timestamp(1_700_000_000_000);

struct Fixture {
    core: Core,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
}

fn config() -> CoreConfig {
    let mut config = CoreConfig::default();
    config.dialects.insert(
        "vcd".into(),
        DialectPolicy { idle_timeout: Duration::from_secs(60), lifetime: Duration::from_secs(600) },
    );
    config.max_sessions_per_user = 3;
    // These tests are about lockout and sessions; the per-address throttle, which would answer
    // their volleys of failures first, has tests of its own below.
    config.login_throttle = ThrottlePolicy::OFF;
    config.unknown_token_throttle = ThrottlePolicy::OFF;
    config
}

async fn fixture_with(store: Arc<dyn Store>, config: CoreConfig) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let core = Core::new(store.clone(), clock.clone(), config);
    Fixture { core, clock, store }
}

async fn fixture(backend: &Backend) -> Fixture {
    let f = fixture_with(backend.fresh().await, config()).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    f
}

/// A local user of `org` holding `role`, to be created with a password.
fn local_user(org: &str, name: &str, role: &str) -> UserSpec {
    UserSpec {
        org: org.into(),
        name: name.into(),
        roles: vec![role.into()],
        identity_source: LOCAL_SOURCE.into(),
        password_hash: None,
    }
}

fn request<'a>(org: &'a str, user: &'a str, password: &'a str) -> LoginRequest<'a> {
    LoginRequest {
        dialect: "vcd",
        source: "local",
        org,
        username: user,
        credential: Credential::Password(password),
        remote_addr: Some("127.0.0.1".into()),
        correlation_id: "test",
        tokens: &[TokenKind::Hex128, TokenKind::Base64Url256],
        ..LoginRequest::default()
    }
}

fn failure(result: Result<impl Sized, CoreError>) -> FailureReason {
    match result {
        Err(CoreError::Auth(failure)) => failure.reason,
        Err(other) => panic!("expected an auth failure, got {other:?}"),
        Ok(_) => panic!("expected an auth failure, got a session"),
    }
}

fn rejection(result: Result<impl Sized, CoreError>) -> SessionRejection {
    match result {
        Err(CoreError::Session(rejection)) => rejection,
        Err(other) => panic!("expected a session rejection, got {other:?}"),
        Ok(_) => panic!("expected a session rejection, got a session"),
    }
}

pub async fn login_issues_tokens_that_validate_and_name_one_session(backend: &Backend) {
    let f = fixture(backend).await;
    let outcome = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    assert_eq!(outcome.tokens.len(), 2);
    assert_eq!(outcome.tokens[0].len(), 32);
    assert!(outcome.tokens[1].len() > 32);
    for token in &outcome.tokens {
        let session = f.core.authenticate("vcd", token).await.unwrap();
        assert_eq!(session.id, outcome.session.id);
        assert_eq!(session.user_name, "alice");
        assert_eq!(session.org_name, "org1");
        assert_eq!(session.roles, vec!["vApp User".to_owned()]);
    }
}

pub async fn org_and_user_names_are_case_insensitive(backend: &Backend) {
    let f = fixture(backend).await;
    assert!(f.core.login(request("ORG1", "Alice", "pw")).await.is_ok());
    assert!(f.core.login(request("system", "administrator", "admin-pw")).await.is_ok());
}

pub async fn every_refusal_is_the_same_error_with_its_reason_kept_for_audit(backend: &Backend) {
    let f = fixture(backend).await;
    assert_eq!(failure(f.core.login(request("nope", "alice", "pw")).await), FailureReason::UnknownOrg);
    assert_eq!(failure(f.core.login(request("org1", "bob", "pw")).await), FailureReason::UnknownUser);
    assert_eq!(failure(f.core.login(request("org1", "alice", "wrong")).await), FailureReason::WrongPassword);
    f.core.set_enabled(&Actor::Operator, "org1", "alice", false).await.unwrap();
    assert_eq!(failure(f.core.login(request("org1", "alice", "pw")).await), FailureReason::Disabled);
}

pub async fn lockout_after_consecutive_failures_until_unlocked(backend: &Backend) {
    let f = fixture(backend).await;
    for _ in 0..5 {
        assert_eq!(failure(f.core.login(request("org1", "alice", "wrong")).await), FailureReason::WrongPassword);
    }
    // Locked now: even the right password is refused, with the same error.
    assert_eq!(failure(f.core.login(request("org1", "alice", "pw")).await), FailureReason::Locked);
    f.core.unlock(&Actor::Operator, "org1", "alice").await.unwrap();
    assert!(f.core.login(request("org1", "alice", "pw")).await.is_ok());
}

pub async fn guesses_in_parallel_cannot_outrun_the_lockout(backend: &Backend) {
    let f = Arc::new(fixture(backend).await);
    let mut guesses = Vec::new();
    for i in 0..20 {
        let f = f.clone();
        guesses.push(tokio::spawn(async move {
            // One right guess among the wrong ones, late in the volley.
            let password = if i == 15 { "pw" } else { "wrong" };
            f.core.login(request("org1", "alice", password)).await.map(|_| ())
        }));
    }
    let (mut logged_in, mut checked_wrong) = (0, 0);
    for guess in guesses {
        match guess.await.unwrap() {
            Ok(()) => logged_in += 1,
            Err(CoreError::Auth(failure)) if failure.reason == FailureReason::WrongPassword => checked_wrong += 1,
            Err(CoreError::Auth(failure)) => assert_eq!(failure.reason, FailureReason::Locked),
            Err(other) => panic!("{other:?}"),
        }
    }
    // However the volley interleaved, at most the one right guess got in, and no more wrong
    // passwords were checked than the threshold (5) allows: attempts count before their hash,
    // those under way included. A right guess checked resets the count (it was admitted with
    // at most 4 before it), so up to 5 more may follow it.
    assert!(logged_in <= 1);
    let most_checked = if logged_in == 0 { 5 } else { 4 + 5 };
    assert!(checked_wrong <= most_checked, "{checked_wrong} wrong passwords checked");
    // Unless the right guess got in, the account ends up locked.
    if logged_in == 0 {
        assert_eq!(failure(f.core.login(request("org1", "alice", "pw")).await), FailureReason::Locked);
    }
}

pub async fn unknown_names_lock_like_real_ones(backend: &Backend) {
    let f = fixture(backend).await;
    for _ in 0..5 {
        assert_eq!(failure(f.core.login(request("org1", "mallory", "x")).await), FailureReason::UnknownUser);
    }
    assert_eq!(failure(f.core.login(request("org1", "Mallory", "x")).await), FailureReason::Locked);
    assert_eq!(failure(f.core.login(request("nowhere", "x", "x")).await), FailureReason::UnknownOrg);
    f.clock.advance(Duration::from_secs(15 * 60));
    f.core.sweep().await.unwrap();
    assert_eq!(failure(f.core.login(request("org1", "mallory", "x")).await), FailureReason::UnknownUser);
}

pub async fn a_new_password_ends_the_old_sessions(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    f.core.set_password(&Actor::Operator, "org1", "alice", "new-pw").await.unwrap();
    assert!(f.core.authenticate("vcd", &token).await.is_err());
    assert!(f.core.login(request("org1", "alice", "new-pw")).await.is_ok());
}

pub async fn a_delegated_session_token_is_a_credential_audited_and_throttled_like_any(backend: &Backend) {
    let mut config = config();
    config.login_throttle = ThrottlePolicy { burst: 2, per_second: 0.01 };
    let f = fixture_with(backend.fresh().await, config).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    let vcd = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    let delegate = |token| LoginRequest {
        dialect: "vcda",
        source: DELEGATED_SOURCE,
        credential: Credential::DelegatedSession { token, from_dialects: &["vcd"] },
        tokens: &[TokenKind::Base64Url256],
        ..request("org1", "alice", "")
    };
    let opened = f.core.login(delegate(&vcd)).await.unwrap();
    assert_eq!((opened.session.user_name.as_str(), opened.session.dialect.as_str()), ("alice", "vcda"));
    assert_eq!(opened.session.identity_source, DELEGATED_SOURCE);
    assert!(f.core.authenticate("vcd", &vcd).await.is_ok(), "the delegating session lives on");
    // Only the named dialects' sessions delegate; a token nobody issued neither. Each failure
    // takes an attempt from the address's login throttle, as a wrong password does.
    assert_eq!(failure(f.core.login(delegate(&opened.tokens[0])).await), FailureReason::WrongPassword);
    assert_eq!(failure(f.core.login(delegate("no-such-token")).await), FailureReason::WrongPassword);
    assert!(matches!(f.core.login(delegate(&vcd)).await, Err(CoreError::Throttled(_))), "burst of 2 spent");
    f.clock.advance(Duration::from_secs(200));
    f.core.set_enabled(&Actor::Operator, "org1", "alice", false).await.unwrap();
    assert!(f.core.login(delegate(&vcd)).await.is_err(), "disabling ended the delegating session too");
}

/// A source that accepts any proof, once: the password is its single-use key (as a SAML
/// holder-of-key nonce is), good for a minute.
#[derive(Debug)]
struct SingleUseProofs;

#[async_trait::async_trait]
impl IdentitySource for SingleUseProofs {
    fn kind(&self) -> &'static str {
        "proofs"
    }

    fn deadline(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        let key = attempt.credential.password().unwrap_or_default().to_owned();
        Ok(Verdict::Accepted(Identity {
            roles: Some(vec!["vApp User".into()]),
            single_use: Some(SingleUse { key, until: Timestamp(START.0 + 60_000) }),
        }))
    }

    async fn probe(&self, _user: Option<&str>, _password: Option<&str>) -> Vec<ProbeStep> {
        Vec::new()
    }
}

pub async fn a_single_use_proof_is_refused_the_second_time_by_every_node(backend: &Backend) {
    // Two cores on one store: two nodes of a cluster.
    let store = backend.fresh().await;
    let clock = Arc::new(ManualClock::new(START));
    let mut config = config();
    config.sources.insert("proofs".into(), SourceConfig::Backend(Arc::new(SingleUseProofs)));
    let a = Core::new(store.clone(), clock.clone(), config.clone());
    let b = Core::new(store.clone(), clock.clone(), config);
    a.bootstrap(Some("admin-pw".into())).await.unwrap();
    a.add_org(&Actor::Operator, "org1", None).await.unwrap();
    let proof = |nonce| LoginRequest { source: "proofs", ..request("org1", "sso-user", nonce) };
    a.login(proof("nonce-1")).await.unwrap();
    assert_eq!(failure(b.login(proof("nonce-1")).await), FailureReason::Replayed);
    assert_eq!(failure(a.login(proof("nonce-1")).await), FailureReason::Replayed);
    b.login(proof("nonce-2")).await.unwrap();
    // Keys are the source's own: another source's proof with the same nonce is another proof.
    assert!(store.spend_nonce("other:nonce-1", Timestamp(START.0 + 60_000), START).await.unwrap());
    // Past its `until` a proof may be forgotten (by then the source refuses its stale
    // timestamp anyway): the sweep deletes them, and a late spend takes an old row over.
    let later = Timestamp(START.0 + 61_000);
    assert!(store.spend_nonce("proofs:nonce-1", Timestamp(later.0 + 60_000), later).await.unwrap());
    assert!(!store.spend_nonce("proofs:nonce-1", Timestamp(later.0 + 60_000), later).await.unwrap());
    assert_eq!(store.purge_nonces(later, 10).await.unwrap(), 2, "nonce-2 and other:nonce-1");
    assert_eq!(store.purge_nonces(later, 10).await.unwrap(), 0);
}

/// bcrypt of "pw" at cost 5, by htpasswd (`htpasswd -nbB -C 5 u pw`).
const IMPORTED_BCRYPT: &str = "$2y$05$k.fXJQ1hiRjWxtoxze8SJu8EigiqmdmyBdcL4jQhrbmGRUeUedni6";

pub async fn an_imported_hash_becomes_argon2id_at_the_first_good_login(backend: &Backend) {
    let f = fixture(backend).await;
    let spec = UserSpec { password_hash: Some(IMPORTED_BCRYPT.into()), ..local_user("org1", "bob", "vApp User") };
    let bob = f.core.add_user(&Actor::Operator, spec, None).await.unwrap();
    let stored = || async { f.core.user("org1", "bob").await.unwrap().password_hash.unwrap() };
    assert_eq!(failure(f.core.login(request("org1", "bob", "pW")).await), FailureReason::WrongPassword);
    assert_eq!(stored().await, IMPORTED_BCRYPT, "a wrong password changes nothing");
    f.core.login(request("org1", "bob", "pw")).await.unwrap();
    let upgraded = stored().await;
    assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{upgraded}");
    f.core.login(request("org1", "bob", "pw")).await.unwrap();
    assert_eq!(failure(f.core.login(request("org1", "bob", "pW")).await), FailureReason::WrongPassword);
    // The swap happens only over the hash it replaces: a password set since stays.
    assert!(!f.store.replace_password_hash(bob.id, IMPORTED_BCRYPT, "$argon2id$stale").await.unwrap());
    assert_eq!(stored().await, upgraded);
    // An unknown format is refused when imported, never stored.
    let md5 = UserSpec { password_hash: Some("$1$salt$hash".into()), ..local_user("org1", "carol", "vApp User") };
    assert!(
        matches!(f.core.add_user(&Actor::Operator, md5, None).await, Err(CoreError::Invalid(why)) if why.contains("unknown"))
    );
}

pub async fn the_session_cap_is_per_dialect(backend: &Backend) {
    let f = fixture(backend).await;
    let vcd = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    for _ in 0..5 {
        let mut other = request("org1", "alice", "pw");
        other.dialect = "vcda";
        other.tokens = &[TokenKind::Base64Url256];
        f.clock.advance(Duration::from_millis(10));
        f.core.login(other).await.unwrap();
    }
    assert!(f.core.authenticate("vcd", &vcd).await.is_ok(), "another dialect's logins evict only their own");
    assert_eq!(f.core.dialect_sessions("vcda", None, true).await.unwrap().len(), 3);
}

pub async fn lockout_ends_by_itself_and_failures_outside_the_window_do_not_add_up(backend: &Backend) {
    let f = fixture(backend).await;
    for _ in 0..4 {
        f.core.login(request("org1", "alice", "wrong")).await.unwrap_err();
    }
    f.clock.advance(Duration::from_secs(16 * 60));
    // The window has passed: this failure starts a new count.
    f.core.login(request("org1", "alice", "wrong")).await.unwrap_err();
    assert!(f.core.login(request("org1", "alice", "pw")).await.is_ok());

    for _ in 0..5 {
        f.core.login(request("org1", "alice", "wrong")).await.unwrap_err();
    }
    assert_eq!(failure(f.core.login(request("org1", "alice", "pw")).await), FailureReason::Locked);
    f.clock.advance(Duration::from_secs(15 * 60));
    assert!(f.core.login(request("org1", "alice", "pw")).await.is_ok());
}

pub async fn a_success_resets_the_failure_count(backend: &Backend) {
    let f = fixture(backend).await;
    for _ in 0..4 {
        f.core.login(request("org1", "alice", "wrong")).await.unwrap_err();
    }
    f.core.login(request("org1", "alice", "pw")).await.unwrap();
    for _ in 0..4 {
        f.core.login(request("org1", "alice", "wrong")).await.unwrap_err();
    }
    assert!(f.core.login(request("org1", "alice", "pw")).await.is_ok());
}

pub async fn idle_timeout_slides_with_use(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    for _ in 0..5 {
        f.clock.advance(Duration::from_secs(50));
        f.core.authenticate("vcd", &token).await.unwrap();
    }
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(rejection(f.core.authenticate("vcd", &token).await), SessionRejection::Ended(SessionState::TimedOut));
    // And it stays ended, recorded in the store.
    assert_eq!(rejection(f.core.authenticate("vcd", &token).await), SessionRejection::Ended(SessionState::TimedOut));
}

pub async fn absolute_expiry_ends_even_a_busy_session(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    for _ in 0..10 {
        f.clock.advance(Duration::from_secs(55));
        f.core.authenticate("vcd", &token).await.unwrap();
    }
    f.clock.advance(Duration::from_secs(55));
    assert_eq!(rejection(f.core.authenticate("vcd", &token).await), SessionRejection::Ended(SessionState::Expired));
}

pub async fn logout_ends_every_token_of_the_session(backend: &Backend) {
    let f = fixture(backend).await;
    let outcome = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    let session = f.core.authenticate("vcd", &outcome.tokens[1]).await.unwrap();
    f.core.logout(&session, "test").await.unwrap();
    for token in &outcome.tokens {
        assert_eq!(
            rejection(f.core.authenticate("vcd", token).await),
            SessionRejection::Ended(SessionState::LoggedOut)
        );
    }
}

pub async fn a_token_is_valid_only_for_its_dialect(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    assert_eq!(rejection(f.core.authenticate("bluecat", &token).await), SessionRejection::Unknown);
    assert!(f.core.authenticate("vcd", &token).await.is_ok());
    assert_eq!(rejection(f.core.authenticate("vcd", "no-such-token").await), SessionRejection::Unknown);
}

pub async fn the_oldest_sessions_are_evicted_beyond_the_cap(backend: &Backend) {
    let f = fixture(backend).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        f.clock.advance(Duration::from_millis(10));
        tokens.push(f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0));
    }
    for (i, token) in tokens.iter().enumerate() {
        let result = f.core.authenticate("vcd", token).await;
        if i < 2 {
            // Nothing is kept of an evicted session: its token is as unknown as one never issued.
            assert_eq!(rejection(result), SessionRejection::Unknown, "session {i}");
        } else {
            assert!(result.is_ok(), "session {i} should be live");
        }
    }
    // Ended sessions included: the evicted ones left no row behind.
    assert_eq!(f.core.sessions(Some("org1"), Some("alice"), false, Page::ALL).await.unwrap().len(), 3);
}

pub async fn sessions_a_user_opens_are_throttled_per_user_however_they_are_opened(backend: &Backend) {
    let mut config = config();
    config.session_throttle = ThrottlePolicy { burst: 3, per_second: 1.0 };
    let f = fixture_with(backend.fresh().await, config).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    let vcd_token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    // A delegated vcd token opens sessions without any hash: the per-user throttle holds them.
    let delegate = || LoginRequest {
        dialect: "vcda",
        source: DELEGATED_SOURCE,
        credential: Credential::DelegatedSession { token: &vcd_token, from_dialects: &["vcd"] },
        ..request("org1", "alice", "")
    };
    for _ in 0..2 {
        f.core.login(delegate()).await.unwrap();
    }
    let refused = f.core.login(delegate()).await;
    assert!(matches!(refused, Err(CoreError::Throttled(wait)) if wait == Duration::from_secs(1)), "{refused:?}");
    // Another user is not held up.
    f.core.login(request("System", "administrator", "admin-pw")).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.core.login(delegate()).await.unwrap();
}

pub async fn the_sweep_deletes_sessions_ended_before_the_retention_period(backend: &Backend) {
    let mut config = config();
    config.ended_session_retention = Duration::from_secs(3600);
    let f = fixture_with(backend.fresh().await, config).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    for _ in 0..3 {
        let outcome = f.core.login(request("org1", "alice", "pw")).await.unwrap();
        f.core.logout(&outcome.session, "test").await.unwrap();
    }
    let all = || async { f.core.sessions(Some("org1"), Some("alice"), false, Page::ALL).await.unwrap().len() };
    f.clock.advance(Duration::from_secs(3599));
    f.core.sweep().await.unwrap();
    assert_eq!(all().await, 3, "kept for the retention period");
    f.clock.advance(Duration::from_secs(2));
    f.core.sweep().await.unwrap();
    assert_eq!(all().await, 0, "and deleted after it");
}

pub async fn revocations_by_another_process_reach_the_cache_through_the_log(backend: &Backend) {
    let mut config = config();
    config.max_sessions_per_user = 1;
    let f = fixture_with(backend.fresh().await, config.clone()).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "bob", "vApp User"), Some("pw")).await.unwrap();
    f.core.read_revocations().await.unwrap();
    let evicted = f.core.login(request("org1", "bob", "pw")).await.unwrap().tokens.remove(0);
    let disabled = f.core.login(request("System", "administrator", "admin-pw")).await.unwrap().tokens.remove(0);
    let revoked = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);

    // A second core over the same store stands for another node: it evicts, disables and
    // revokes, and this core hears of each through the log alone.
    let other = Core::new(f.store.clone(), f.clock.clone(), config);
    other.login(request("org1", "bob", "pw")).await.unwrap();
    other.set_enabled(&Actor::Operator, "System", "administrator", false).await.unwrap();
    other.revoke_user_sessions(&Actor::Operator, "org1", "alice", "test").await.unwrap();
    for token in [&evicted, &disabled, &revoked] {
        assert!(f.core.authenticate("vcd", token).await.is_ok(), "trusted from memory until the log is read");
    }
    assert_eq!(f.core.read_revocations().await.unwrap(), 3);
    // Nothing is kept of an evicted session, so its token is as unknown as one never issued.
    assert_eq!(rejection(f.core.authenticate("vcd", &evicted).await), SessionRejection::Unknown);
    assert_eq!(
        rejection(f.core.authenticate("vcd", &disabled).await),
        SessionRejection::Ended(SessionState::Terminated)
    );
    assert_eq!(
        rejection(f.core.authenticate("vcd", &revoked).await),
        SessionRejection::Ended(SessionState::Terminated)
    );
    assert_eq!(f.core.read_revocations().await.unwrap(), 0, "each entry is read once");
}

pub async fn a_cache_whose_log_was_not_read_for_a_second_asks_the_store(backend: &Backend) {
    let f = fixture(backend).await;
    f.core.read_revocations().await.unwrap();
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    let other = Core::new(f.store.clone(), f.clock.clone(), config());
    other.revoke_user_sessions(&Actor::Operator, "org1", "alice", "test").await.unwrap();
    f.clock.advance(Duration::from_millis(999));
    assert!(f.core.authenticate("vcd", &token).await.is_ok(), "the log was read 999 ms ago");
    f.clock.advance(Duration::from_millis(1));
    assert_eq!(rejection(f.core.authenticate("vcd", &token).await), SessionRejection::Ended(SessionState::Terminated));
}

pub async fn a_session_busy_on_another_node_is_not_timed_out_by_this_ones_cache(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    let other = Core::new(f.store.clone(), f.clock.clone(), config());
    // Used on the other node every 40 s for two minutes (idle timeout: 60 s), never here.
    for _ in 0..3 {
        f.clock.advance(Duration::from_secs(40));
        other.read_revocations().await.unwrap();
        other.authenticate("vcd", &token).await.unwrap();
        other.sweep().await.unwrap();
    }
    f.core.read_revocations().await.unwrap();
    assert!(f.core.authenticate("vcd", &token).await.is_ok(), "this node's cache last saw it 120 s ago");
}

pub async fn the_revocation_log_numbers_every_end_and_is_purged_after_an_hour(backend: &Backend) {
    let f = fixture(backend).await;
    let start = f.store.latest_revocation().await.unwrap();
    let first = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    let second = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    f.core.logout(&first.session, "test").await.unwrap();
    f.core.revoke_session(&Actor::Operator, second.session.id, "test").await.unwrap();
    let entries = f.store.revocations(start, &[], 10).await.unwrap();
    let ends: Vec<_> = entries.iter().map(|e| (e.session_id, e.state, e.at)).collect();
    assert_eq!(
        ends,
        [(first.session.id, SessionState::LoggedOut, START), (second.session.id, SessionState::Terminated, START)]
    );
    assert!(entries[0].seq > start && entries[1].seq > entries[0].seq);
    let latest = f.store.latest_revocation().await.unwrap();
    assert_eq!(latest, entries[1].seq);
    // A reader that saw a number skipped asks for it again with the new ones.
    let again = f.store.revocations(latest, &[entries[0].seq], 10).await.unwrap();
    assert_eq!(again.iter().map(|e| e.seq).collect::<Vec<_>>(), [entries[0].seq]);
    assert_eq!(f.store.revocations(latest, &[], 10).await.unwrap(), []);

    f.clock.advance(Duration::from_secs(3600));
    f.core.sweep().await.unwrap();
    assert_eq!(f.store.revocations(start, &[], 10).await.unwrap().len(), 2, "kept for an hour");
    f.clock.advance(Duration::from_millis(1));
    let third = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    f.core.sweep().await.unwrap();
    assert_eq!(f.store.revocations(start, &[], 10).await.unwrap(), [], "and purged after it");
    f.core.logout(&third.session, "test").await.unwrap();
    let after_purge = f.store.revocations(start, &[], 10).await.unwrap();
    assert!(after_purge[0].seq > latest, "numbers are never reused");
}

pub async fn revoking_all_of_a_users_sessions(backend: &Backend) {
    let f = fixture(backend).await;
    let a = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    let b = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(1);
    let admin = f.core.login(request("System", "administrator", "admin-pw")).await.unwrap().tokens.remove(0);
    assert_eq!(f.core.revoke_user_sessions(&Actor::Operator, "org1", "alice", "test").await.unwrap(), 2);
    assert!(f.core.authenticate("vcd", &a).await.is_err());
    assert!(f.core.authenticate("vcd", &b).await.is_err());
    assert!(f.core.authenticate("vcd", &admin).await.is_ok());
}

pub async fn disabling_a_user_ends_their_sessions(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    f.core.set_enabled(&Actor::Operator, "org1", "alice", false).await.unwrap();
    assert!(f.core.authenticate("vcd", &token).await.is_err());
}

pub async fn the_sweep_ends_idle_sessions_in_the_store_and_keeps_busy_ones(backend: &Backend) {
    let f = fixture(backend).await;
    let idle = f.core.login(request("org1", "alice", "pw")).await.unwrap();
    let busy = f.core.login(request("System", "administrator", "admin-pw")).await.unwrap();
    // Used only in memory (below the touch granularity), then swept: the sweep must write that
    // use back before judging.
    f.clock.advance(Duration::from_secs(10));
    f.core.authenticate("vcd", &busy.tokens[0]).await.unwrap();
    f.clock.advance(Duration::from_secs(55));
    f.core.sweep().await.unwrap();
    let live = f.core.sessions(None, None, true, Page::ALL).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, busy.session.id);
    let all = f.core.sessions(None, None, false, Page::ALL).await.unwrap();
    let ended = all.iter().find(|s| s.id == idle.session.id).unwrap();
    assert_eq!(ended.state, SessionState::TimedOut);
}

pub async fn first_uses_of_many_sessions_reach_the_store_without_a_sweep(backend: &Backend) {
    let f = fixture(backend).await;
    let mut tokens = Vec::new();
    for name in ["bob", "carol", "dave", "erin", "frank"] {
        f.core.add_user(&Actor::Operator, local_user("org1", name, "vApp User"), Some("pw")).await.unwrap();
        tokens.push(f.core.login(request("org1", name, "pw")).await.unwrap().tokens.remove(0));
    }
    // Past the touch granularity (a quarter of the 60 s idle timeout): each use is news.
    f.clock.advance(Duration::from_secs(20));
    let used_at = f.core.now();
    for token in &tokens {
        f.core.authenticate("vcd", token).await.unwrap();
    }
    // Written in one batch a moment later (200 ms), not one write per use, nor at the sweep.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let live = f.core.sessions(Some("org1"), None, true, Page::ALL).await.unwrap();
        assert_eq!(live.len(), tokens.len());
        if live.iter().all(|s| s.last_seen_at == used_at) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "activity not in the store after 3 s: {live:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn before_bootstrap_logins_are_refused_as_not_initialised(backend: &Backend) {
    let f = fixture_with(backend.fresh().await, config()).await;
    assert!(matches!(f.core.login(request("System", "administrator", "x")).await, Err(CoreError::NotInitialised)));
    f.core.bootstrap(Some("pw".into())).await.unwrap();
    assert!(f.core.login(request("System", "administrator", "pw")).await.is_ok());
    assert!(matches!(f.core.bootstrap(None).await, Err(CoreError::Conflict(_))));
}

pub async fn bootstrap_can_generate_the_password(backend: &Backend) {
    let f = fixture_with(backend.fresh().await, config()).await;
    let generated = f.core.bootstrap(None).await.unwrap().expect("a generated password");
    assert!(generated.len() >= 20);
    assert!(f.core.login(request("System", "administrator", &generated)).await.is_ok());
}

pub async fn the_password_policy_holds_for_bootstrap_new_users_and_password_changes(backend: &Backend) {
    let config = CoreConfig { passwords: PasswordPolicy { min_length: 10 }, ..config() };
    let f = fixture_with(backend.fresh().await, config).await;
    fn too_short<T>(result: Result<T, CoreError>) {
        match result {
            Err(CoreError::Invalid(why)) => assert!(why.contains("too short"), "{why}"),
            Err(other) => panic!("expected a refusal of the password, got {other:?}"),
            Ok(_) => panic!("a 9-character password was accepted"),
        }
    }
    too_short(f.core.bootstrap(Some("admin-pw1".into())).await);
    assert!(!f.core.is_initialised().await.unwrap(), "a refused bootstrap leaves the store uninitialised");
    let generated = f.core.bootstrap(None).await.unwrap().expect("a generated password");
    assert!(generated.chars().count() >= 10);
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    let spec = local_user("org1", "alice", "vApp User");
    too_short(f.core.add_user(&Actor::Operator, spec.clone(), Some("alice-pw1")).await);
    assert!(matches!(f.core.user("org1", "alice").await, Err(CoreError::NotFound(_))));
    f.core.add_user(&Actor::Operator, spec, Some("alice-pw-10")).await.unwrap();
    too_short(f.core.set_password(&Actor::Operator, "org1", "alice", "short-pw1").await);
    assert!(f.core.login(request("org1", "alice", "alice-pw-10")).await.is_ok(), "the old password still works");
}

pub async fn directory_mistakes_are_reported(backend: &Backend) {
    let f = fixture(backend).await;
    assert!(matches!(f.core.add_org(&Actor::Operator, "org1", None).await, Err(CoreError::Conflict(_))));
    assert!(matches!(f.core.add_org(&Actor::Operator, "a@b", None).await, Err(CoreError::Invalid(_))));
    let spec = |org: &str, role: &str| local_user(org, "bob", role);
    assert!(matches!(
        f.core.add_user(&Actor::Operator, spec("nope", "vApp User"), Some("x")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        f.core.add_user(&Actor::Operator, spec("org1", "No Such Role"), Some("x")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        f.core.add_user(&Actor::Operator, spec("org1", "vApp User"), Some("")).await,
        Err(CoreError::Invalid(_))
    ));
    f.core.add_user(&Actor::Operator, spec("org1", "vApp User"), Some("x")).await.unwrap();
    assert!(matches!(
        f.core.add_user(&Actor::Operator, spec("org1", "vApp User"), Some("x")).await,
        Err(CoreError::Conflict(_))
    ));
    assert!(matches!(f.core.unlock(&Actor::Operator, "org1", "carol").await, Err(CoreError::NotFound(_))));
}

pub async fn introspection_does_not_slide_the_idle_timeout(backend: &Backend) {
    let f = fixture(backend).await;
    let token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    f.clock.advance(Duration::from_secs(40));
    f.core.authenticate_any(&[], &token, false).await.unwrap();
    f.clock.advance(Duration::from_secs(21));
    assert!(f.core.authenticate("vcd", &token).await.is_err());
}

// ---- per-address throttling ---------------------------------------------------------------

fn from<'a>(address: &'a str, password: &'a str) -> LoginRequest<'a> {
    LoginRequest { remote_addr: Some(address.into()), ..request("org1", "alice", password) }
}

async fn throttled_fixture(backend: &Backend) -> Fixture {
    let mut config = config();
    config.login_throttle = ThrottlePolicy { burst: 3, per_second: 0.5 };
    config.unknown_token_throttle = ThrottlePolicy { burst: 2, per_second: 1.0 };
    config.lockout.max_failures = 0;
    let f = fixture_with(backend.fresh().await, config).await;
    f.core.bootstrap(Some("admin-pw".into())).await.unwrap();
    f.core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    f.core.add_user(&Actor::Operator, local_user("org1", "alice", "vApp User"), Some("pw")).await.unwrap();
    f
}

pub async fn failed_logins_from_one_address_are_throttled_before_any_hash(backend: &Backend) {
    let f = throttled_fixture(backend).await;
    for _ in 0..3 {
        assert_eq!(failure(f.core.login(from("192.0.2.1", "wrong")).await), FailureReason::WrongPassword);
    }
    let started = std::time::Instant::now();
    let refused = f.core.login(from("192.0.2.1", "pw")).await;
    assert!(matches!(refused, Err(CoreError::Throttled(wait)) if wait == Duration::from_secs(2)), "{refused:?}");
    assert!(started.elapsed() < Duration::from_millis(5), "answered without hashing: {:?}", started.elapsed());
    // The owner, from another address, is not held up by the guesser.
    f.core.login(from("198.51.100.7", "pw")).await.unwrap();
    // One attempt every 2 seconds after the burst.
    f.clock.advance(Duration::from_secs(2));
    f.core.login(from("192.0.2.1", "pw")).await.unwrap();
}

pub async fn good_logins_give_their_attempt_back(backend: &Backend) {
    let f = throttled_fixture(backend).await;
    for _ in 0..10 {
        f.core.login(from("192.0.2.1", "pw")).await.unwrap();
    }
    assert_eq!(failure(f.core.login(from("192.0.2.1", "wrong")).await), FailureReason::WrongPassword);
}

pub async fn a_login_the_client_abandoned_mid_hash_gives_its_attempt_back(backend: &Backend) {
    let f = throttled_fixture(backend).await;
    for _ in 0..3 {
        // Dropped before it finishes, as when the client disconnects.
        let login = f.core.login(from("192.0.2.1", "wrong"));
        let _ = tokio::time::timeout(Duration::from_micros(1), login).await;
    }
    assert_eq!(failure(f.core.login(from("192.0.2.1", "wrong")).await), FailureReason::WrongPassword);
}

pub async fn unknown_tokens_from_one_address_are_throttled_before_the_store_is_asked(backend: &Backend) {
    let f = throttled_fixture(backend).await;
    let live = f.core.login(from("192.0.2.1", "pw")).await.unwrap().tokens[1].clone();
    for i in 0..2 {
        let refused = f.core.authenticate_from("vcd", &format!("unknown-{i}"), Some("192.0.2.9")).await;
        assert!(matches!(refused, Err(CoreError::Session(_))), "{refused:?}");
    }
    let refused = f.core.authenticate_from("vcd", "unknown-3", Some("192.0.2.9")).await;
    assert!(matches!(refused, Err(CoreError::Throttled(_))), "{refused:?}");
    // A token this server issued and knows is still good from that address, and others are
    // not affected.
    f.core.authenticate_from("vcd", &live, Some("192.0.2.9")).await.unwrap();
    let other = f.core.authenticate_from("vcd", "unknown-4", Some("192.0.2.10")).await;
    assert!(matches!(other, Err(CoreError::Session(_))), "{other:?}");
}

// ---- lockout per account and address ----------------------------------------------------------

/// A login of alice's from `address`; `from` (above) is the same with the throttle's fixture.
fn alice_from<'a>(address: &'a str, password: &'a str) -> LoginRequest<'a> {
    LoginRequest { remote_addr: Some(address.into()), ..request("org1", "alice", password) }
}

pub async fn a_guesser_locks_only_its_own_address_out_and_the_owner_logs_in_from_hers(backend: &Backend) {
    let f = fixture(backend).await;
    for _ in 0..5 {
        assert_eq!(failure(f.core.login(alice_from("192.0.2.66", "wrong")).await), FailureReason::WrongPassword);
    }
    assert_eq!(failure(f.core.login(alice_from("192.0.2.66", "pw")).await), FailureReason::Locked);
    // Five more every fifteen minutes would keep the guesser's address locked, never hers.
    f.core.login(alice_from("198.51.100.7", "pw")).await.unwrap();
    let alice = f.core.user("org1", "alice").await.unwrap();
    let locks = f.core.lockout(&alice).await.unwrap();
    assert_eq!(locks.addresses, ["192.0.2.66"]);
    assert!(!locks.everywhere, "the account itself is not locked");
    f.core.unlock(&Actor::Operator, "org1", "alice").await.unwrap();
    f.core.login(alice_from("192.0.2.66", "pw")).await.unwrap();
}

pub async fn guessing_spread_over_many_addresses_still_locks_the_account(backend: &Backend) {
    let f = fixture(backend).await;
    // 4 addresses × 5 failures: each address locks itself out, and all together lock the account.
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        for _ in 0..5 {
            assert_eq!(failure(f.core.login(alice_from(address, "wrong")).await), FailureReason::WrongPassword);
        }
    }
    assert_eq!(failure(f.core.login(alice_from("198.51.100.7", "pw")).await), FailureReason::Locked);
    f.clock.advance(Duration::from_secs(15 * 60));
    f.core.login(alice_from("198.51.100.7", "pw")).await.unwrap();
}

pub async fn unknown_names_lock_per_address_too(backend: &Backend) {
    let f = fixture(backend).await;
    let ghost = |address: &'static str, password: &'static str| LoginRequest {
        remote_addr: Some(address.into()),
        ..request("org1", "ghost", password)
    };
    for _ in 0..5 {
        assert_eq!(failure(f.core.login(ghost("192.0.2.66", "x")).await), FailureReason::UnknownUser);
    }
    assert_eq!(failure(f.core.login(ghost("192.0.2.66", "x")).await), FailureReason::Locked);
    assert_eq!(failure(f.core.login(ghost("198.51.100.7", "x")).await), FailureReason::UnknownUser);
}

// ---- the lockout primitive ------------------------------------------------------------------

const WINDOW_START: Timestamp = Timestamp(START.0 - 15 * 60 * 1000);

pub async fn attempts_are_counted_before_the_check_up_to_each_limit(backend: &Backend) {
    let store = backend.fresh().await;
    let limits = [("192.0.2.1", 3), ("*", 10)];
    for expected in 1..=3 {
        let counts = store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap();
        assert_eq!(counts, Some(vec![expected, expected]));
    }
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), None);
    // Another address has a counter of its own; the all-addresses one goes on.
    let elsewhere = store.reserve_attempt(b"account", &[("192.0.2.2", 3), ("*", 10)], START, WINDOW_START).await;
    assert_eq!(elsewhere.unwrap(), Some(vec![1, 4]));
    // Once the window has passed, counting starts again.
    let later = Timestamp(START.0 + 16 * 60 * 1000);
    let restarted = store.reserve_attempt(b"account", &limits, later, Timestamp(later.0 - 15 * 60 * 1000)).await;
    assert_eq!(restarted.unwrap(), Some(vec![1, 1]));
}

pub async fn attempts_reserved_at_once_never_exceed_the_limit(backend: &Backend) {
    let store = backend.fresh().await;
    let mut attempts = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        attempts.push(tokio::spawn(async move {
            let address = ["192.0.2.1", "192.0.2.2", "192.0.2.3"][i % 3];
            store.reserve_attempt(b"account", &[(address, 100), ("*", 7)], START, WINDOW_START).await.unwrap()
        }));
    }
    let mut all_addresses = Vec::new();
    for attempt in attempts {
        if let Some(counts) = attempt.await.unwrap() {
            all_addresses.push(counts[1]);
        }
    }
    all_addresses.sort_unstable();
    assert_eq!(all_addresses, (1..=7).collect::<Vec<u32>>(), "each count handed out once, up to the limit");
}

pub async fn a_lock_or_a_full_counter_refuses_the_attempt_and_counts_nothing(backend: &Backend) {
    let store = backend.fresh().await;
    let until = Timestamp(START.0 + 60_000);
    store.lock(b"account", "*", until).await.unwrap();
    let limits = [("192.0.2.1", 5), ("*", 20)];
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), None);
    // A lock that has ended counts no more; the refusal left the address's counter uncounted.
    let after = Timestamp(until.0 + 1);
    assert_eq!(store.reserve_attempt(b"account", &limits, after, WINDOW_START).await.unwrap(), Some(vec![1, 1]));
    store.forget_account(b"account").await.unwrap();
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), Some(vec![1, 1]));
    // A full address counter refuses without counting against all addresses.
    let tight = [("192.0.2.1", 1), ("*", 20)];
    assert_eq!(store.reserve_attempt(b"account", &tight, START, WINDOW_START).await.unwrap(), None);
    let other = store.reserve_attempt(b"account", &[("192.0.2.9", 5), ("*", 20)], START, WINDOW_START).await;
    assert_eq!(other.unwrap(), Some(vec![1, 2]));
    // An address's lock refuses that address only until it ends.
    store.lock(b"account", "192.0.2.1", until).await.unwrap();
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), None);
    assert_eq!(store.reserve_attempt(b"account", &limits, after, WINDOW_START).await.unwrap(), Some(vec![1, 3]));
}

pub async fn a_given_back_attempt_frees_its_place_in_its_own_window_only(backend: &Backend) {
    let store = backend.fresh().await;
    let limits = [("192.0.2.1", 2), ("*", 20)];
    store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap().unwrap();
    store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap().unwrap();
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), None);
    store.release_attempt(b"account", &["192.0.2.1", "*"], START).await.unwrap();
    assert_eq!(store.reserve_attempt(b"account", &limits, START, WINDOW_START).await.unwrap(), Some(vec![2, 2]));
    // An attempt of a window that has since been replaced takes nothing from the new one.
    let later = Timestamp(START.0 + 16 * 60 * 1000);
    let later_window = Timestamp(later.0 - 15 * 60 * 1000);
    assert_eq!(store.reserve_attempt(b"account", &limits, later, later_window).await.unwrap(), Some(vec![1, 1]));
    store.release_attempt(b"account", &["192.0.2.1", "*"], START).await.unwrap();
    assert_eq!(store.reserve_attempt(b"account", &limits, later, later_window).await.unwrap(), Some(vec![2, 2]));
}

// ---- listings ------------------------------------------------------------------------------

pub async fn listings_come_in_pages_without_gaps_or_repeats(backend: &Backend) {
    let f = fixture(backend).await;
    for i in 0..5 {
        f.core
            .add_user(&Actor::Operator, local_user("org1", &format!("user{i}"), "vApp User"), Some("pw"))
            .await
            .unwrap();
    }
    for _ in 0..7 {
        f.clock.advance(Duration::from_millis(10));
        f.core.login(request("org1", "alice", "pw")).await.unwrap();
    }
    let everyone = f.core.users(None, Page::ALL).await.unwrap();
    assert_eq!(everyone.len(), 7, "administrator, alice and five more");
    let mut paged = Vec::new();
    let mut page = Some(Page::first(3));
    while let Some(current) = page {
        let users = f.core.users(None, current).await.unwrap();
        assert!(users.len() <= 3);
        page = current.next(&users, |u| u.number);
        paged.extend(users);
    }
    assert_eq!(paged, everyone);

    let sessions = f.core.sessions(Some("org1"), Some("alice"), true, Page::ALL).await.unwrap();
    assert_eq!(sessions.len(), 3, "the cap");
    assert!(sessions.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    let first = f.core.sessions(Some("org1"), Some("alice"), true, Page::first(2)).await.unwrap();
    let next = Page::first(2).next(&first, |s| s.number).expect("a full page has a next one");
    let rest = f.core.sessions(Some("org1"), Some("alice"), true, next).await.unwrap();
    assert_eq!([first, rest].concat(), sessions);
    assert_eq!(Page::first(2).next(&sessions[2..], |s| s.number), None, "a short page is the last");
}

pub async fn the_sweep_ends_sessions_in_batches_and_keeps_the_live_ones(backend: &Backend) {
    let f = fixture(backend).await;
    let mut config = config();
    config.max_sessions_per_user = 10_000;
    config.session_throttle = ThrottlePolicy::OFF;
    let core = Core::new(f.store.clone(), f.clock.clone(), config);
    // More than a sweep batch (1000), opened without a hash each: one login, then delegation.
    let sessions = 1000 + 17;
    let token = core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(0);
    let delegated = Credential::DelegatedSession { token: &token, from_dialects: &["vcd"] };
    for _ in 1..sessions {
        core.login(LoginRequest { source: DELEGATED_SOURCE, credential: delegated, ..request("org1", "alice", "") })
            .await
            .unwrap();
    }
    f.clock.advance(Duration::from_secs(30));
    let kept = core.login(request("System", "administrator", "admin-pw")).await.unwrap();
    f.clock.advance(Duration::from_secs(31));
    core.sweep().await.unwrap();
    let live = core.sessions(None, None, true, Page::ALL).await.unwrap();
    assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), [kept.session.id]);
    let ended = core.sessions(Some("org1"), Some("alice"), false, Page::ALL).await.unwrap();
    assert_eq!(ended.len(), sessions);
    assert!(ended.iter().all(|s| s.state == SessionState::TimedOut));
}

pub async fn live_sessions_are_counted_by_dialect(backend: &Backend) {
    let f = fixture(backend).await;
    assert_eq!(f.store.count_live_sessions().await.unwrap(), vec![]);
    let mut vcd = Vec::new();
    for _ in 0..3 {
        vcd.push(f.core.login(request("org1", "alice", "pw")).await.unwrap());
    }
    f.core.login(LoginRequest { dialect: "native", ..request("org1", "alice", "pw") }).await.unwrap();
    f.core.logout(&vcd[0].session, "test").await.unwrap();
    let mut counts = f.store.count_live_sessions().await.unwrap();
    counts.sort();
    assert_eq!(counts, vec![("native".to_owned(), 1), ("vcd".to_owned(), 2)], "ended sessions are not live");
    // Beyond the cap (3 a dialect) the oldest are deleted, uncounted with them.
    for _ in 0..2 {
        f.core.login(request("org1", "alice", "pw")).await.unwrap();
    }
    let mut counts = f.store.count_live_sessions().await.unwrap();
    counts.sort();
    assert_eq!(counts, vec![("native".to_owned(), 1), ("vcd".to_owned(), 3)]);
    // So are the sessions of a user deleted.
    let org = f.store.org_by_name("org1").await.unwrap().unwrap();
    let alice = f.store.user_by_name(org.id, "alice").await.unwrap().unwrap();
    f.store.delete_user(alice.id, f.core.now()).await.unwrap();
    assert_eq!(f.store.count_live_sessions().await.unwrap(), vec![]);
}

// ---- API tokens and deletions ---------------------------------------------------------------

fn token_spec(name: &str, org: &str, role: &str) -> ApiTokenSpec {
    ApiTokenSpec { name: name.into(), org: org.into(), role: role.into() }
}

pub async fn api_tokens_are_found_by_digest_listed_and_revoked(backend: &Backend) {
    let f = fixture(backend).await;
    let digest = TokenDigest::of("secret-one");
    let created = f.store.create_api_token(&token_spec("ci", "org1", "Auditor"), &digest, START).await.unwrap();
    assert_eq!((created.name.as_str(), created.org_name.as_str(), created.role.as_str()), ("ci", "org1", "Auditor"));
    assert_eq!((created.created_at, created.revoked_at), (START, None));
    f.store
        .create_api_token(&token_spec("Backup", "System", "System Administrator"), &TokenDigest::of("two"), START)
        .await
        .unwrap();

    assert_eq!(f.store.api_token_by_digest(&digest).await.unwrap(), Some(created.clone()));
    assert_eq!(f.store.api_token_by_digest(&TokenDigest::of("secret-two")).await.unwrap(), None);
    let names: Vec<String> = f.store.list_api_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["Backup", "ci"]);

    let later = Timestamp(START.millis() + 1000);
    let revoked = f.store.revoke_api_token("CI", later).await.unwrap().unwrap();
    assert_eq!((revoked.id, revoked.revoked_at), (created.id, Some(later)));
    // A second revocation keeps the first one's time; the digest still names the token, so
    // that the core can tell a revoked token from an unknown one.
    let again = f.store.revoke_api_token("ci", Timestamp(later.millis() + 1000)).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(later));
    assert_eq!(f.store.api_token_by_digest(&digest).await.unwrap().unwrap().revoked_at, Some(later));
    assert_eq!(f.store.revoke_api_token("nobody", later).await.unwrap(), None);
    // With their digests (for `store copy`), by name, the revoked one as it is now.
    let with_digests: Vec<(String, Option<Timestamp>, TokenDigest)> =
        f.store.api_token_digests().await.unwrap().into_iter().map(|(t, d)| (t.name, t.revoked_at, d)).collect();
    assert_eq!(with_digests, [("Backup".into(), None, TokenDigest::of("two")), ("ci".into(), Some(later), digest)]);
}

pub async fn api_token_mistakes_are_reported(backend: &Backend) {
    let f = fixture(backend).await;
    f.store.create_api_token(&token_spec("ci", "org1", "Auditor"), &TokenDigest::of("a"), START).await.unwrap();
    let create = |name: &'static str, org: &'static str, role: &'static str, secret: &'static str| {
        let store = f.store.clone();
        async move { store.create_api_token(&token_spec(name, org, role), &TokenDigest::of(secret), START).await }
    };
    assert!(matches!(create("CI", "org1", "Auditor", "b").await, Err(StoreError::Conflict(_))));
    assert!(matches!(create("other", "nope", "Auditor", "c").await, Err(StoreError::NotFound(_))));
    assert!(matches!(create("other", "org1", "No Such Role", "d").await, Err(StoreError::NotFound(_))));
    assert_eq!(f.store.list_api_tokens().await.unwrap().len(), 1);
}

pub async fn deleting_a_user_deletes_their_sessions_and_an_org_must_be_empty_to_go(backend: &Backend) {
    let f = fixture(backend).await;
    let org = f.core.org("org1").await.unwrap();
    let alice = f.core.user("org1", "alice").await.unwrap();
    let session = f.core.login(request("org1", "alice", "pw")).await.unwrap().session.session().clone();
    assert_eq!(f.store.session_by_id(session.id).await.unwrap().map(|s| s.number), Some(session.number));
    assert!(matches!(f.store.delete_org(org.id).await, Err(StoreError::Conflict(_))));

    let logged = f.store.latest_revocation().await.unwrap();
    f.store.delete_user(alice.id, START).await.unwrap();
    assert_eq!(f.store.user_by_id(alice.id).await.unwrap(), None);
    assert_eq!(f.store.session_by_id(session.id).await.unwrap(), None);
    let ends: Vec<_> =
        f.store.revocations(logged, &[], 10).await.unwrap().iter().map(|e| (e.session_id, e.state)).collect();
    assert_eq!(ends, [(session.id, SessionState::Terminated)], "other nodes hear the session is gone");
    assert!(matches!(f.store.delete_user(alice.id, START).await, Err(StoreError::NotFound(_))));

    f.store.create_api_token(&token_spec("ci", "org1", "Auditor"), &TokenDigest::of("a"), START).await.unwrap();
    assert!(matches!(f.store.delete_org(org.id).await, Err(StoreError::Conflict(_))));
    f.core.add_org(&Actor::Operator, "org2", None).await.unwrap();
    let org2 = f.core.org("org2").await.unwrap();
    f.store.delete_org(org2.id).await.unwrap();
    assert_eq!(f.store.org_by_id(org2.id).await.unwrap(), None);
    assert!(matches!(f.store.delete_org(org2.id).await, Err(StoreError::NotFound(_))));
}

pub async fn an_api_token_authenticates_until_it_is_revoked(backend: &Backend) {
    let f = fixture(backend).await;
    let (token, secret) =
        f.core.create_api_token(&Actor::Operator, &token_spec("ci", "org1", "Auditor")).await.unwrap();
    assert!(secret.starts_with(tollgate_core::API_TOKEN_PREFIX));
    assert_eq!(f.core.authenticate_api_token(&secret, Some("10.0.0.1")).await.unwrap(), token);
    let unknown = |result: Result<_, CoreError>| matches!(result, Err(CoreError::Session(SessionRejection::Unknown)));
    assert!(unknown(f.core.authenticate_api_token(&format!("{secret}x"), None).await));
    // A session token is no API token, whatever it names.
    let session_token = f.core.login(request("org1", "alice", "pw")).await.unwrap().tokens.remove(1);
    assert!(unknown(f.core.authenticate_api_token(&session_token, None).await));
    f.core.revoke_api_token(&Actor::Operator, "ci").await.unwrap();
    assert!(unknown(f.core.authenticate_api_token(&secret, None).await));
    assert!(matches!(f.core.revoke_api_token(&Actor::Operator, "nobody").await, Err(CoreError::NotFound(_))));
    assert!(matches!(
        f.core.create_api_token(&Actor::Operator, &token_spec("", "org1", "Auditor")).await,
        Err(CoreError::Invalid(_))
    ));
}
