//! The `ldap` source against a real OpenLDAP `slapd`, started by each test on free loopback
//! ports: search-then-bind over LDAPS and StartTLS with a test CA, groups by `member` and by
//! `memberOf` mapped onto roles, escaped filter input, failover past dead URLs, and, through
//! the core over the real SQLite store, outages that are server errors and lock nobody out.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Slapd, closed_port_url, installed, silent_listener};
use tollgate_core::{
    Actor, Core, CoreConfig, CoreError, Credential, FailureReason, Identity, IdentitySource, LoginRequest, Refusal,
    SourceAttempt, SourceConfig, SystemClock, ThrottlePolicy, TokenKind, Verdict,
};
use tollgate_source_ldap::{GroupLookup, LdapSource};
use tollgate_store_sqlite::SqliteStore;

const SLAPD: &[&str] = &["slapd", "slapadd", "ldapadd"];

async fn verify(source: &LdapSource, user: &str, password: &str) -> Result<Verdict, String> {
    let attempt =
        SourceAttempt { org: "org1", username: user, credential: Credential::Password(password), account: None };
    source.verify(&attempt).await.map_err(|e| e.0)
}

fn accepted(roles: &[&str]) -> Result<Verdict, String> {
    Ok(Verdict::Accepted(Identity {
        roles: Some(roles.iter().map(|r| r.to_string()).collect()),
        ..Identity::default()
    }))
}

fn refused(refusal: Refusal) -> Result<Verdict, String> {
    Ok(Verdict::Refused(refusal))
}

#[tokio::test]
async fn search_then_bind_over_ldaps_and_starttls_maps_groups_onto_roles() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    for url in [&slapd.ldaps_url, &slapd.ldap_url] {
        for groups in [GroupLookup::Member, GroupLookup::MemberOf] {
            let source = LdapSource::new(slapd.config(&[url], groups)).unwrap();
            let case = format!("{url} with groups by {groups:?}");
            assert_eq!(
                verify(&source, "alice", "alice-pw-1").await,
                accepted(&["System Administrator", "vApp User"]),
                "{case}"
            );
            assert_eq!(verify(&source, "bob", "bob-pw-1").await, accepted(&["vApp User"]), "{case}");
            assert_eq!(verify(&source, "bob", "alice-pw-1").await, refused(Refusal::WrongPassword), "{case}");
            assert_eq!(verify(&source, "dave", "dave-pw-1").await, refused(Refusal::UnknownUser), "{case}");
            assert_eq!(verify(&source, "carol", "carol-pw-1").await, refused(Refusal::NoRole), "{case}: no group maps");
        }
    }
    let mut config = slapd.config(&[&slapd.ldaps_url], GroupLookup::None);
    config.default_roles = vec!["Console Access Only".into()];
    let source = LdapSource::new(config).unwrap();
    assert_eq!(verify(&source, "carol", "carol-pw-1").await, accepted(&["Console Access Only"]));
}

#[tokio::test]
async fn filter_input_is_escaped_and_an_empty_password_binds_nobody() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let source = LdapSource::new(slapd.config(&[&slapd.ldaps_url], GroupLookup::Member)).unwrap();
    for injected in ["*", "alice)(uid=*", "al*", "*)(|(uid=*"] {
        assert_eq!(verify(&source, injected, "alice-pw-1").await, refused(Refusal::UnknownUser), "{injected:?}");
    }
    // An empty password is an unauthenticated bind, which LDAP servers answer with success.
    assert_eq!(verify(&source, "alice", "").await, refused(Refusal::WrongPassword));
}

#[tokio::test]
async fn a_certificate_the_configured_ca_did_not_sign_is_refused() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let other = tempfile::tempdir().unwrap();
    support::write_certificates(other.path(), "127.0.0.1", &["localhost"]);
    for url in [&slapd.ldaps_url, &slapd.ldap_url] {
        let mut config = slapd.config(&[url], GroupLookup::Member);
        config.ca_file = Some(other.path().join("ca.pem"));
        let source = LdapSource::new(config).unwrap();
        let error = verify(&source, "alice", "alice-pw-1").await.expect_err("an unverified server must not be asked");
        assert!(error.contains(url.as_str()), "{error}");
    }
}

#[tokio::test]
async fn failover_passes_a_closed_port_and_a_silent_server_within_the_timeouts() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let (silent, closed_by_us) = silent_listener();
    let closed = closed_port_url();
    let source = LdapSource::new(slapd.config(&[&closed, &silent, &slapd.ldaps_url], GroupLookup::Member)).unwrap();
    let started = Instant::now();
    assert_eq!(verify(&source, "bob", "bob-pw-1").await, accepted(&["vApp User"]));
    // The silent server costs its connect timeout (1 s: StartTLS gets no answer) on each of
    // the two connections a login opens.
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    // ...and keeps neither: both sockets are closed once the timeout gives up on them.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(closed_by_us.load(std::sync::atomic::Ordering::SeqCst), 2);
}

fn core_over(store: &Arc<SqliteStore>, config: &tollgate_source_ldap::LdapConfig) -> Core {
    let source = Arc::new(LdapSource::new(config.clone()).unwrap());
    let mut core_config = CoreConfig { login_throttle: ThrottlePolicy::OFF, ..CoreConfig::default() };
    core_config.sources.insert("corp".into(), SourceConfig::Backend(source));
    Core::new(store.clone(), Arc::new(SystemClock), core_config)
}

fn login<'a>(user: &'a str, password: &'a str) -> LoginRequest<'a> {
    LoginRequest {
        dialect: "vcd",
        source: "corp",
        org: "org1",
        username: user,
        credential: Credential::Password(password),
        remote_addr: Some("192.0.2.7".into()),
        correlation_id: "test",
        tokens: &[TokenKind::Hex128],
        ..LoginRequest::default()
    }
}

#[tokio::test]
async fn through_the_core_users_appear_on_first_login_and_an_outage_is_a_server_error_that_locks_nobody() {
    if !installed(SLAPD) {
        return;
    }
    let slapd = Slapd::start();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut config = slapd.config(&[&slapd.ldaps_url], GroupLookup::MemberOf);
    let core = core_over(&store, &config);
    core.bootstrap(Some("admin-pw-1".into())).await.unwrap();
    core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    let first = core.login(login("alice", "alice-pw-1")).await.unwrap();
    assert_eq!(first.session.roles, ["System Administrator", "vApp User"]);
    let alice = core.user("org1", "alice").await.unwrap();
    assert_eq!((alice.org_name.as_str(), alice.identity_source.as_str()), ("org1", "corp"));

    // The same store behind a source whose every URL is dead: a closed port, then a server
    // that accepts and never answers (plain LDAP on loopback, so the service bind hangs).
    let (silent, _closed) = silent_listener();
    let mut dead_config = config.clone();
    dead_config.urls = vec![closed_port_url(), silent];
    dead_config.starttls = false;
    dead_config.operation_timeout_seconds = 0.3;
    let dead = core_over(&store, &dead_config);
    for _ in 0..6 {
        let started = Instant::now();
        let result = dead.login(login("alice", "alice-pw-1")).await;
        assert!(matches!(result, Err(CoreError::SourceUnavailable { .. })), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "0.3 s for the silent server: {:?}", started.elapsed());
    }
    let locks = core.lockout(&alice).await.unwrap();
    assert!(!locks.everywhere && locks.addresses.is_empty(), "outages count as no failure");
    core.login(login("alice", "alice-pw-1")).await.expect("six outages locked nobody out");

    // Guesses do count, and then the directory is not asked at all.
    config.groups = GroupLookup::Member;
    let core = core_over(&store, &config);
    for _ in 0..5 {
        let refused = core.login(login("alice", "guess")).await;
        assert!(matches!(refused, Err(CoreError::Auth(f)) if f.reason == FailureReason::WrongPassword), "{refused:?}");
    }
    let locked = core.login(login("alice", "alice-pw-1")).await;
    assert!(matches!(locked, Err(CoreError::Auth(f)) if f.reason == FailureReason::Locked), "{locked:?}");
}
