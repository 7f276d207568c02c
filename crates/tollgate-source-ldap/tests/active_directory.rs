//! The `ldap` source against a real Active Directory: a Samba AD domain controller the test
//! provisions (about 4 s, so once, in this one test) on 127.0.0.2. It refuses simple binds in
//! clear, so everything goes over LDAPS or StartTLS with the domain controller's test CA.

mod support;

use std::sync::Arc;

use support::{AD_ALICE_PW, AD_BOB_PW, AD_CAROL_PW, AD_IP, SambaDc, installed};
use tollgate_core::{
    Actor, Core, CoreConfig, CoreError, Credential, FailureReason, Identity, IdentitySource, LoginRequest, Refusal,
    SourceAttempt, SourceConfig, SystemClock, ThrottlePolicy, TokenKind, Verdict,
};
use tollgate_source_ldap::{GroupLookup, LdapSource};
use tollgate_store_sqlite::SqliteStore;

async fn verify(source: &LdapSource, typed: &str, password: &str) -> Result<Verdict, String> {
    let username = source.account_name(typed);
    let attempt =
        SourceAttempt { org: "corp", username: &username, credential: Credential::Password(password), account: None };
    source.verify(&attempt).await.map_err(|e| e.0)
}

fn accepted(roles: &[&str]) -> Result<Verdict, String> {
    Ok(Verdict::Accepted(Identity {
        roles: Some(roles.iter().map(|r| r.to_string()).collect()),
        ..Identity::default()
    }))
}

#[tokio::test]
async fn active_directory_logins_groups_and_bind_sub_codes() {
    if !installed(&["samba", "samba-tool", "ldapsearch", "ldapmodify"]) {
        return;
    }
    let dc = SambaDc::start();
    let ldaps = format!("ldaps://{AD_IP}");
    let starttls = format!("ldap://{AD_IP}");
    for url in [&ldaps, &starttls] {
        let nested = LdapSource::new(dc.config(&[url], GroupLookup::InChain)).unwrap();
        let both = accepted(&["System Administrator", "vApp User"]);
        for typed in ["alice", "alice@tg.test", "ALICE@TG.TEST", "TG\\alice", "tg\\alice"] {
            assert_eq!(verify(&nested, typed, AD_ALICE_PW).await, both, "{typed} over {url}");
        }
        // memberOf lists direct groups only: inner, not outer.
        let direct = LdapSource::new(dc.config(&[url], GroupLookup::MemberOf)).unwrap();
        assert_eq!(verify(&direct, "alice@tg.test", AD_ALICE_PW).await, accepted(&["vApp User"]), "over {url}");

        let refused = |refusal| Ok(Verdict::Refused(refusal));
        assert_eq!(verify(&nested, "alice", "Wrong-Pass-1").await, refused(Refusal::WrongPassword), "52e");
        assert_eq!(verify(&nested, "bob@tg.test", AD_BOB_PW).await, refused(Refusal::MustChangePassword), "773");
        assert_eq!(verify(&nested, "TG\\carol", AD_CAROL_PW).await, refused(Refusal::Disabled), "533");
        assert_eq!(verify(&nested, "mallory", "Any-Pass-1").await, refused(Refusal::UnknownUser));
        // Another domain's name is not this directory's account.
        assert_eq!(verify(&nested, "alice@other.example", AD_ALICE_PW).await, refused(Refusal::UnknownUser));
    }

    // The latency of one login (LDAPS, service bind, search, user bind, nested groups), for
    // the README's figures.
    let nested = LdapSource::new(dc.config(&[&ldaps], GroupLookup::InChain)).unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = std::time::Instant::now();
        assert!(matches!(verify(&nested, "alice", AD_ALICE_PW).await, Ok(Verdict::Accepted(_))));
        times.push(started.elapsed());
    }
    times.sort();
    println!("Active Directory (Samba) login over LDAPS with nested groups: median {:?}, max {:?}", times[5], times[9]);

    // Plain LDAP on 389 without StartTLS: AD refuses the simple bind (strong auth required),
    // which is a server error, not a refusal of the user.
    let mut clear = dc.config(&[&starttls], GroupLookup::InChain);
    clear.starttls = false;
    let clear = LdapSource::new(clear).unwrap();
    let error = verify(&clear, "alice", AD_ALICE_PW).await.expect_err("a bind in clear must fail");
    assert!(error.contains("service bind"), "{error}");

    // Through the core: one account whichever form is typed; the true reasons of AD's refusals
    // reach the audit log while none of them counts toward lockout.
    let mut config = CoreConfig { login_throttle: ThrottlePolicy::OFF, ..CoreConfig::default() };
    let source = LdapSource::new(dc.config(&[&ldaps], GroupLookup::InChain)).unwrap();
    config.sources.insert("tg-ad".into(), SourceConfig::Backend(Arc::new(source)));
    let core = Core::new(Arc::new(SqliteStore::in_memory().unwrap()), Arc::new(SystemClock), config);
    core.bootstrap(Some("admin-pw-1".into())).await.unwrap();
    core.add_org(&Actor::Operator, "corp", None).await.unwrap();
    let login = |user: &'static str, password: &'static str| LoginRequest {
        dialect: "vcd",
        source: "tg-ad",
        org: "corp",
        username: user,
        credential: Credential::Password(password),
        remote_addr: Some("192.0.2.9".into()),
        correlation_id: "test",
        tokens: &[TokenKind::Hex128],
        ..LoginRequest::default()
    };
    let upn = core.login(login("alice@tg.test", AD_ALICE_PW)).await.unwrap();
    let netbios = core.login(login("TG\\alice", AD_ALICE_PW)).await.unwrap();
    assert_eq!(upn.session.user_id, netbios.session.user_id);
    assert_eq!(upn.session.user_name, "alice");
    for _ in 0..6 {
        let must_change = core.login(login("bob", AD_BOB_PW)).await;
        assert!(matches!(must_change, Err(CoreError::Auth(f)) if f.reason == FailureReason::MustChangePassword));
    }
    let disabled = core.login(login("carol", AD_CAROL_PW)).await;
    assert!(matches!(disabled, Err(CoreError::Auth(f)) if f.reason == FailureReason::Disabled), "{disabled:?}");
}
