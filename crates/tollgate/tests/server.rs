//! The binary as an operator meets it: zero-configuration start, TLS, bootstrap, crashes,
//! and the CLI's answers to mistakes.

mod support;

use support::{ADMIN_PASSWORD, Options, Server, http, session_status, vcd_login};

#[tokio::test]
async fn acknowledged_sessions_survive_a_crash() {
    let mut server = Server::start(Options { http: true, ..Options::default() });
    let client = http();
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(vcd_login(&client, &server.url, "administrator", "System", ADMIN_PASSWORD).await);
    }
    server.crash();
    server.restart();
    for (vcloud, access, _) in &tokens {
        assert_eq!(session_status(&client, &server.url, vcloud).await, 200);
        let reply = client.get(format!("{}/api/session", server.url)).bearer_auth(access).send().await.unwrap();
        assert_eq!(reply.status(), 200);
    }
}

#[tokio::test]
async fn the_tls_certificate_is_generated_once_and_reused() {
    let mut server = Server::start_default();
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let cert_path = server.data.path().join("tls/cert.pem");
    let cert = std::fs::read(&cert_path).unwrap();
    let mode = |path: &str| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(server.data.path().join(path)).unwrap().permissions(),
        )
    };
    assert_eq!(mode("tls/key.pem") & 0o077, 0, "the private key is readable by its owner only");
    assert_eq!(mode("tollgate.db") & 0o077, 0, "so is the store, with its password hashes");
    assert_eq!(mode("tollgate.db-wal") & 0o077, 0, "and its write-ahead log");
    server.restart();
    assert_eq!(std::fs::read(&cert_path).unwrap(), cert);
    let reply = http().get(format!("{}/api/versions", server.url)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn a_generated_admin_password_is_printed_once_and_works() {
    let mut server = Server::start(Options { http: true, generate_password: true, ..Options::default() });
    let line =
        server.banner.iter().find(|l| l.contains("generated password: ")).expect("the password is printed").clone();
    let password = line.rsplit("generated password: ").next().unwrap().trim().to_owned();
    vcd_login(&http(), &server.url, "administrator", "System", &password).await;
    assert!(!server.log().contains(&password), "the password never reaches the log");
    server.restart();
    assert!(!server.banner.iter().any(|l| l.contains("password")), "printed only on the first start");
}

#[tokio::test]
async fn without_bootstrap_logins_are_503_until_the_cli_bootstraps() {
    let server = Server::start(Options { http: true, no_bootstrap: true, ..Options::default() });
    let client = http();
    let reply = client
        .post(format!("{}/api/sessions", server.url))
        .basic_auth("administrator@System", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 503);
    assert!(reply.headers()["content-type"].to_str().unwrap().starts_with("application/vnd.vmware.vcloud.error+xml"));
    let out = server.cli_ok(&["bootstrap", "--password-stdin"], Some("Boot-Pw-2"));
    assert!(out.contains("Bootstrapped"), "{out}");
    vcd_login(&client, &server.url, "administrator", "System", "Boot-Pw-2").await;
    let again = server.cli(&["bootstrap", "--password-stdin"], Some("x"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already bootstrapped"));
}

#[tokio::test]
async fn neither_passwords_nor_tokens_reach_the_log() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let client = http();
    let (vcloud, access, _) = vcd_login(&client, &server.url, "administrator", "System", ADMIN_PASSWORD).await;
    let reply = client
        .post(format!("{}/api/sessions", server.url))
        .basic_auth("administrator@System", Some("Wrong-Pw-9"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    client.delete(format!("{}/api/session", server.url)).bearer_auth(&access).send().await.unwrap();
    let log = server.log();
    assert!(log.contains("login_failed") && log.contains("logout"), "audit events are logged:\n{log}");
    for secret in [ADMIN_PASSWORD, "Wrong-Pw-9", vcloud.as_str(), access.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[test]
fn cli_mistakes_get_clear_messages_and_a_failing_exit_code() {
    let server = Server::start(Options { http: true, ..Options::default() });
    server.add_tenant("org1", "alice", "pw");
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["org", "add", "org1"], None, "already exists"),
        (
            &["user", "add", "bob", "--org", "nope", "--role", "vApp User", "--password-stdin"],
            Some("pw"),
            "does not exist",
        ),
        (&["user", "add", "bob", "--org", "org1", "--role", "Wizard", "--password-stdin"], Some("pw"), "unknown role"),
        (&["user", "add", "bob", "--org", "org1", "--role", "vApp User", "--password-stdin"], Some(""), "no password"),
        (
            &["user", "add", "alice", "--org", "org1", "--role", "vApp User", "--password-stdin"],
            Some("pw"),
            "already exists",
        ),
        (&["user", "unlock", "carol", "--org", "org1"], None, "does not exist"),
        (&["session", "revoke", "not-a-uuid"], None, "not a session id"),
        (&["session", "revoke", "00000000-0000-0000-0000-000000000000"], None, "does not exist"),
        (&["session", "list", "--org", "nope"], None, "does not exist"),
    ];
    for (args, stdin, message) in cases {
        let output = server.cli(args, *stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr:?}");
    }
    // Usage mistakes are clap's exit code 2.
    for args in [&["user", "add", "bob"][..], &["session", "revoke"], &["frobnicate"]] {
        assert_eq!(server.cli(args, None).status.code(), Some(2), "{args:?}");
    }
    for args in [&["--help"][..], &["serve", "--help"], &["user", "add", "--help"], &["session", "revoke", "--help"]] {
        let output = server.cli(args, None);
        assert!(output.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn a_new_data_directory_is_private() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("tollgate-data");
    let output = support::cli(&data, &["org", "list"], None);
    assert!(output.status.success());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn the_directory_commands_work_against_a_running_server() {
    let server = Server::start(Options { http: true, ..Options::default() });
    server.add_tenant("org1", "alice", "pw");
    assert!(server.cli_ok(&["org", "list"], None).contains("org1"));
    assert!(server.cli_ok(&["roles"], None).contains("Organization Administrator"));
    server.cli_ok(&["user", "passwd", "alice", "--org", "org1", "--password-stdin"], Some("new-pw"));
    server.cli_ok(&["user", "disable", "alice", "--org", "org1"], None);
    assert!(server.cli_ok(&["user", "list", "--org", "org1"], None).contains("disabled"));
    server.cli_ok(&["user", "enable", "alice", "--org", "org1"], None);
    let listed = server.cli_ok(&["user", "list"], None);
    assert!(listed.contains("alice") && listed.contains("administrator"), "{listed}");
}
