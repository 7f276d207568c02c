//! What the core does around an identity source's answer, over the real embedded store: a
//! scripted backend stands in for the directory here (the LDAP crate's tests use real ones),
//! so that each answer a backend can give is seen once.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tollgate_core::{
    Actor, Core, CoreConfig, CoreError, Credential, FailureReason, Identity, IdentitySource, LoginRequest, ManualClock,
    ProbeStep, Refusal, SourceAttempt, SourceConfig, SourceError, ThrottlePolicy, Timestamp, TokenKind, Verdict,
};
use tollgate_store_sqlite::SqliteStore;

/// A backend that answers what the test last told it to, counting the questions.
#[derive(Debug)]
struct Scripted {
    answer: Mutex<Answer>,
    asked: AtomicUsize,
}

#[derive(Debug, Clone)]
enum Answer {
    Accept(Vec<&'static str>),
    Refuse(Refusal),
    Fail,
    Hang,
}

impl Scripted {
    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

#[async_trait]
impl IdentitySource for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn deadline(&self) -> Duration {
        Duration::from_millis(300)
    }

    fn account_name<'a>(&self, typed: &'a str) -> std::borrow::Cow<'a, str> {
        typed.strip_prefix("CORP\\").unwrap_or(typed).into()
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        assert!(attempt.credential.password().is_some_and(|p| !p.is_empty()), "only non-empty passwords reach it");
        self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer.lock().unwrap().clone();
        match answer {
            Answer::Accept(roles) => Ok(Verdict::Accepted(Identity {
                roles: Some(roles.into_iter().map(str::to_owned).collect()),
                ..Identity::default()
            })),
            Answer::Refuse(refusal) => Ok(Verdict::Refused(refusal)),
            Answer::Fail => Err(SourceError("connection refused".into())),
            Answer::Hang => std::future::pending().await,
        }
    }

    async fn probe(&self, _user: Option<&str>, _password: Option<&str>) -> Vec<ProbeStep> {
        Vec::new()
    }
}

struct Fixture {
    core: Core,
    directory: Arc<Scripted>,
}

async fn fixture() -> Fixture {
    let directory = Arc::new(Scripted { answer: Mutex::new(Answer::Fail), asked: AtomicUsize::new(0) });
    let mut config = CoreConfig { login_throttle: ThrottlePolicy::OFF, ..CoreConfig::default() };
    config.sources.insert("corp".into(), SourceConfig::Backend(directory.clone()));
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let core = Core::new(store, Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))), config);
    core.bootstrap(Some("admin-pw".into())).await.unwrap();
    core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    Fixture { core, directory }
}

fn login<'a>(user: &'a str, password: &'a str) -> LoginRequest<'a> {
    LoginRequest {
        dialect: "vcd",
        source: "corp",
        org: "org1",
        username: user,
        credential: Credential::Password(password),
        remote_addr: Some("192.0.2.1".into()),
        correlation_id: "test",
        tokens: &[TokenKind::Hex128],
        ..LoginRequest::default()
    }
}

fn refusal(result: Result<impl Sized, CoreError>) -> FailureReason {
    match result {
        Err(CoreError::Auth(failure)) => failure.reason,
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("expected a refusal, got a session"),
    }
}

#[tokio::test]
async fn a_user_the_source_vouches_for_is_created_in_the_org_with_the_mapped_roles_re_read_each_login() {
    let f = fixture().await;
    f.directory.answer(Answer::Accept(vec!["vapp user", "No Such Role"]));
    let first = f.core.login(login("CORP\\alice", "pw")).await.unwrap();
    assert_eq!(first.session.roles, vec!["vApp User".to_owned()], "store spelling; unknown roles dropped");
    let alice = f.core.user("org1", "alice").await.unwrap();
    assert_eq!((alice.identity_source.as_str(), alice.password_hash.as_deref()), ("corp", None));

    f.directory.answer(Answer::Accept(vec!["Organization Administrator"]));
    let second = f.core.login(login("alice", "pw")).await.unwrap();
    assert_eq!(second.session.user_id, first.session.user_id, "one account whichever form is typed");
    assert_eq!(second.session.roles, vec!["Organization Administrator".to_owned()]);
    assert_eq!(f.core.user("org1", "alice").await.unwrap().role_names(), second.session.roles);

    f.directory.answer(Answer::Accept(vec![]));
    assert_eq!(refusal(f.core.login(login("alice", "pw")).await), FailureReason::NoRole);
}

#[tokio::test]
async fn an_unreachable_or_silent_source_is_a_server_error_within_its_deadline_and_never_locks() {
    let f = fixture().await;
    f.directory.answer(Answer::Accept(vec!["vApp User"]));
    f.core.login(login("alice", "pw")).await.unwrap();

    f.directory.answer(Answer::Fail);
    for _ in 0..25 {
        let result = f.core.login(login("alice", "pw")).await;
        assert!(matches!(result, Err(CoreError::SourceUnavailable { ref name, .. }) if name == "corp"), "{result:?}");
    }
    f.directory.answer(Answer::Hang);
    let started = Instant::now();
    let result = f.core.login(login("alice", "pw")).await;
    assert!(matches!(result, Err(CoreError::SourceUnavailable { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "gave up after {:?}", started.elapsed());

    f.directory.answer(Answer::Accept(vec!["vApp User"]));
    f.core.login(login("alice", "pw")).await.expect("26 outages locked nobody out");
    let locks = f.core.lockout(&f.core.user("org1", "alice").await.unwrap()).await.unwrap();
    assert!(!locks.everywhere && locks.addresses.is_empty(), "{locks:?}");
}

#[tokio::test]
async fn refusals_after_a_right_password_do_not_count_and_guesses_lock_without_asking_the_source_again() {
    let f = fixture().await;
    f.directory.answer(Answer::Accept(vec!["vApp User"]));
    f.core.login(login("alice", "pw")).await.unwrap();

    f.directory.answer(Answer::Refuse(Refusal::MustChangePassword));
    for _ in 0..10 {
        assert_eq!(refusal(f.core.login(login("alice", "pw")).await), FailureReason::MustChangePassword);
    }
    f.directory.answer(Answer::Refuse(Refusal::WrongPassword));
    for _ in 0..5 {
        assert_eq!(refusal(f.core.login(login("alice", "guess")).await), FailureReason::WrongPassword);
    }
    let asked = f.directory.asked.load(Ordering::SeqCst);
    f.directory.answer(Answer::Accept(vec!["vApp User"]));
    assert_eq!(refusal(f.core.login(login("alice", "pw")).await), FailureReason::Locked);
    assert_eq!(f.directory.asked.load(Ordering::SeqCst), asked, "a locked account's login never reaches the source");
}

#[tokio::test]
async fn empty_passwords_unknown_names_and_other_sources_accounts_are_refused_alike() {
    let f = fixture().await;
    assert_eq!(refusal(f.core.login(login("alice", "")).await), FailureReason::WrongPassword);
    assert_eq!(f.directory.asked.load(Ordering::SeqCst), 0, "an empty password never reaches the source");

    f.directory.answer(Answer::Refuse(Refusal::UnknownUser));
    for _ in 0..5 {
        assert_eq!(refusal(f.core.login(login("ghost", "pw")).await), FailureReason::UnknownUser);
    }
    assert_eq!(refusal(f.core.login(login("ghost", "pw")).await), FailureReason::Locked, "unknown names lock too");

    // The bootstrap administrator is local: the directory cannot log in as it.
    f.directory.answer(Answer::Accept(vec!["System Administrator"]));
    let admin = LoginRequest { org: "System", ..login("administrator", "pw") };
    assert_eq!(refusal(f.core.login(admin).await), FailureReason::WrongSource);
}
