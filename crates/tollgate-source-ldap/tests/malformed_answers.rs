//! A directory that answers with malformed BER: ldap3 decodes answers with `expect`, so some
//! of them panic inside the client. Each must be a server error for the login that met it,
//! never an outage of the server; a good directory afterwards logs users in as before.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use tollgate_core::{
    Actor, Core, CoreConfig, CoreError, Credential, IdentitySource, LoginRequest, SourceAttempt, SourceConfig,
    SystemClock, ThrottlePolicy, TokenKind,
};
use tollgate_source_ldap::{LdapConfig, LdapSource};
use tollgate_store_sqlite::SqliteStore;

const BIND_REQUEST: u8 = 0x60;
const SEARCH_REQUEST: u8 = 0x63;

/// A successful BindResponse to message `id`.
fn bind_ok(id: u8) -> Vec<u8> {
    vec![0x30, 0x0c, 0x02, 0x01, id, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]
}

/// A listener on loopback that answers each LDAP request with what `answer` makes of its
/// protocol-op tag and message id (nothing when `None`).
fn directory(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(32).flatten() {
            std::thread::spawn(move || {
                let mut request = [0u8; 1024];
                // One request per read: the client waits for each answer.
                while let Ok(n @ 3..) = stream.read(&mut request) {
                    let length_bytes = if request[1] & 0x80 != 0 { 1 + (request[1] & 0x7f) as usize } else { 1 };
                    let id_at = 1 + length_bytes + 2;
                    let Some((&id, &op)) = request.get(id_at).zip(request.get(id_at + 1)) else { break };
                    if id_at + 1 >= n {
                        break;
                    }
                    match answer(op, id) {
                        Some(bytes) if stream.write_all(&bytes).is_ok() => {}
                        _ => break,
                    }
                }
            });
        }
    });
    url
}

fn config(url: &str) -> LdapConfig {
    LdapConfig {
        urls: vec![url.into()],
        starttls: false,
        ca_file: None,
        bind_dn: Some("cn=search,dc=example,dc=org".into()),
        bind_password: Some("svc-pw-1".into()),
        base_dn: "dc=example,dc=org".into(),
        user_filter: "(uid={user})".into(),
        domain: None,
        netbios_domain: None,
        groups: Default::default(),
        group_base_dn: None,
        group_roles: Default::default(),
        default_roles: vec!["vApp User".into()],
        connect_timeout_seconds: 1.0,
        operation_timeout_seconds: 1.0,
        login_timeout_seconds: 3.0,
    }
}

type Answer = fn(u8, u8) -> Option<Vec<u8>>;

/// The garbage each case answers with, and what the login's server error says.
const CASES: &[(&str, Answer, &str)] = &[
    // An empty LDAPMessage: the decoder panics in the task that drives the connection (tokio
    // catches it), so the bind waiting for its answer learns that the connection is gone.
    ("an empty message", |_, _| Some(vec![0x30, 0x00]), "channel closed"),
    // A BindResponse with no result in it: turning it into a result panics in the caller.
    ("an empty bind response", |_, id| Some(vec![0x30, 0x05, 0x02, 0x01, id, 0x61, 0x00]), "could not decode"),
    // A good bind, then a search entry with nothing in it and a good SearchResultDone:
    // reading the entry panics in the caller.
    (
        "an empty search entry",
        |op, id| match op {
            BIND_REQUEST => Some(bind_ok(id)),
            SEARCH_REQUEST => {
                let mut answer = vec![0x30, 0x05, 0x02, 0x01, id, 0x64, 0x00];
                answer.extend([0x30, 0x0c, 0x02, 0x01, id, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
                Some(answer)
            }
            _ => None,
        },
        "could not decode",
    ),
];

#[tokio::test]
async fn a_malformed_answer_is_a_server_error_not_a_panic() {
    for (case, answer, says) in CASES {
        let source = LdapSource::new(config(&directory(*answer))).unwrap();
        let attempt = SourceAttempt {
            org: "org1",
            username: "alice",
            credential: Credential::Password("alice-pw-1"),
            account: None,
        };
        let error = source.verify(&attempt).await.expect_err(case);
        assert!(error.0.contains(says), "{case}: {}", error.0);
        let steps = source.probe(Some("alice"), None).await;
        assert!(steps.iter().any(|step| step.outcome.is_err()), "{case}: {steps:?}");
    }
}

#[tokio::test]
async fn through_the_core_garbage_is_a_server_error_and_the_core_keeps_serving() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let source = Arc::new(LdapSource::new(config(&directory(CASES[1].1))).unwrap());
    let mut core_config = CoreConfig { login_throttle: ThrottlePolicy::OFF, ..CoreConfig::default() };
    core_config.sources.insert("corp".into(), SourceConfig::Backend(source));
    let core = Core::new(store, Arc::new(SystemClock), core_config);
    core.bootstrap(Some("admin-pw-1".into())).await.unwrap();
    core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    for _ in 0..6 {
        let result = core
            .login(LoginRequest {
                dialect: "vcd",
                source: "corp",
                org: "org1",
                username: "alice",
                credential: Credential::Password("alice-pw-1"),
                remote_addr: Some("192.0.2.7".into()),
                correlation_id: "test",
                tokens: &[TokenKind::Hex128],
                ..LoginRequest::default()
            })
            .await;
        assert!(matches!(result, Err(CoreError::SourceUnavailable { .. })), "{result:?}");
    }
    // The task that met the panics was the test's own: it goes on, and so does the core.
    core.login(LoginRequest {
        dialect: "vcd",
        source: "local",
        org: "System",
        username: "administrator",
        credential: Credential::Password("admin-pw-1"),
        correlation_id: "test",
        tokens: &[TokenKind::Hex128],
        ..LoginRequest::default()
    })
    .await
    .expect("the core still serves logins");
}
