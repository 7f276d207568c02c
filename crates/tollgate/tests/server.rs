//! The binary as an operator meets it: zero-configuration start, TLS, bootstrap, crashes,
//! and the CLI's answers to mistakes.

mod support;

use support::{ADMIN_PASSWORD, Options, Server, http, serve_until_exit, session_status, vcd_login};

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
    // Right after the start, and again once the first sweep has learnt the live tokens (from
    // then on a token it did not learn is refused without a store read).
    for _ in 0..2 {
        for (vcloud, access, _) in &tokens {
            assert_eq!(session_status(&client, &server.url, vcloud).await, 200);
            let reply = client.get(format!("{}/api/session", server.url)).bearer_auth(access).send().await.unwrap();
            assert_eq!(reply.status(), 200);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let made_up = "0123456789abcdef0123456789abcdef";
    assert_eq!(session_status(&client, &server.url, made_up).await, 401);
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
    server.add_tenant("org1", "alice", "alice-pw");
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["org", "add", "org1"], None, "already exists"),
        (
            &["user", "add", "bob", "--org", "nope", "--role", "vApp User", "--password-stdin"],
            Some("bob-pw-1"),
            "does not exist",
        ),
        (
            &["user", "add", "bob", "--org", "org1", "--role", "Wizard", "--password-stdin"],
            Some("bob-pw-1"),
            "unknown role",
        ),
        (&["user", "add", "bob", "--org", "org1", "--role", "vApp User", "--password-stdin"], Some(""), "no password"),
        (
            &["user", "add", "alice", "--org", "org1", "--role", "vApp User", "--password-stdin"],
            Some("alice-pw-2"),
            "already exists",
        ),
        // Without --password-stdin the password is asked for at a terminal, and there is none.
        (&["user", "add", "bob", "--org", "org1", "--role", "vApp User"], Some("bob-pw-1"), "pass --password-stdin"),
        (&["user", "passwd", "alice", "--org", "org1"], Some("alice-pw-2"), "pass --password-stdin"),
        (&["user", "passwd", "carol", "--org", "org1", "--password-stdin"], Some("carol-pw"), "does not exist"),
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
    // Every command's help describes every argument, with an example of each form.
    let helps: &[(&[&str], &[&str])] = &[
        (&[], &["--config <FILE>", "e.g. /etc/tollgate/tollgate.toml", "--data <DIR>", "e.g. /var/lib/tollgate"]),
        (&["serve"], &["--listen <ADDR:PORT>", "e.g. 127.0.0.1:8443", "--http", "--no-bootstrap", "SIGTERM"]),
        (&["bootstrap"], &["--password-stdin", "TOLLGATE_ADMIN_PASSWORD"]),
        (&["org", "add"], &["<NAME>", "e.g. org1", "--full-name <TEXT>", "e.g. 'Org One'"]),
        (
            &["user", "add"],
            &["--org <ORG>", "e.g. org1", "--role <ROLE>", "'Organization Administrator'", "--password-stdin"],
        ),
        (
            &["user", "passwd"],
            &["<NAME>", "--org <ORG>", "--password-stdin", "tollgate user passwd administrator --org System"],
        ),
        (&["user", "disable"], &["<NAME>", "e.g. alice", "--org <ORG>"]),
        (&["user", "enable"], &["<NAME>", "--org <ORG>"]),
        (&["user", "unlock"], &["<NAME>", "--org <ORG>"]),
        (&["user", "list"], &["--org <ORG>", "e.g. org1"]),
        (&["session", "list"], &["--org <ORG>", "--user <NAME>", "--all"]),
        (
            &["session", "revoke"],
            &["[ID]", "e.g. 0b6c7e0e-5f2a-4c4e-9d53-6a1f0c3e2b71", "--org <ORG>", "--user <NAME>"],
        ),
        (&["roles"], &["Usage: tollgate roles"]),
    ];
    for (command, expected) in helps {
        let args: Vec<&str> = command.iter().copied().chain(["--help"]).collect();
        let output = server.cli(&args, None);
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        for text in *expected {
            assert!(help.contains(text), "{args:?}: expected {text:?} in\n{help}");
        }
    }
}

#[test]
fn a_new_data_directory_is_private() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("tollgate-data");
    let output = support::cli(&data, &["bootstrap", "--password-stdin"], Some("Boot-Pw-2"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn the_directory_commands_work_against_a_running_server() {
    let server = Server::start(Options { http: true, ..Options::default() });
    server.add_tenant("org1", "alice", "alice-pw");
    assert!(server.cli_ok(&["org", "list"], None).contains("org1"));
    assert!(server.cli_ok(&["roles"], None).contains("Organization Administrator"));
    server.cli_ok(&["user", "passwd", "alice", "--org", "org1", "--password-stdin"], Some("new-alice-pw"));
    server.cli_ok(&["user", "disable", "alice", "--org", "org1"], None);
    assert!(server.cli_ok(&["user", "list", "--org", "org1"], None).contains("disabled"));
    server.cli_ok(&["user", "enable", "alice", "--org", "org1"], None);
    let listed = server.cli_ok(&["user", "list"], None);
    assert!(listed.contains("alice") && listed.contains("administrator"), "{listed}");
}

#[test]
fn a_taken_port_fails_the_start_before_the_store_and_the_password_exist() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let own_listener = format!("[\"{addr}\"]");
    // The shared listener, then a dialect's own listener, on the taken port.
    type Start<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let starts: [Start; 2] = [
        (&["--listen", &addr], &[]),
        (&["--listen", "127.0.0.1:0"], &[("TOLLGATE_DIALECTS__HCX__LISTEN", &own_listener)]),
    ];
    for (args, env) in starts {
        let data = tempfile::tempdir().unwrap();
        let output = serve_until_exit(data.path(), args, env);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
        assert!(!stdout.contains("password") && !stdout.contains("Bootstrapped"), "{stdout}");
        assert!(!stdout.contains("listening"), "{stdout}");
        assert!(!data.path().join("tollgate.db").exists(), "no store was created, so nothing was bootstrapped");
        // The first start that gets its port still bootstraps and prints the password.
        let output = support::cli(data.path(), &["bootstrap"], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(String::from_utf8_lossy(&output.stdout).contains("generated password: "));
    }
}

#[tokio::test]
async fn an_admin_password_for_a_bootstrapped_store_is_ignored_with_a_warning() {
    let mut server = Server::start(Options { http: true, ..Options::default() });
    let warning = "TOLLGATE_ADMIN_PASSWORD is set but ignored: the store is already bootstrapped";
    assert!(!server.log().contains(warning), "the first start used it");
    server.options_mut().env.push(("TOLLGATE_ADMIN_PASSWORD".into(), "Another-Pw-3".into()));
    server.restart();
    let log = server.log();
    assert!(log.contains(warning), "{log}");
    assert!(log.contains("tollgate user passwd administrator --org System"), "the warning says what to do instead");
    assert!(!log.contains("Another-Pw-3"), "the password itself is not logged");
    // The password it had stays the password.
    vcd_login(&http(), &server.url, "administrator", "System", ADMIN_PASSWORD).await;
}

#[test]
fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let log = server.log();
    assert!(log.contains("INFO") && log.contains("listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in a log written to a file:\n{log:?}");
    let output = server.cli(&["user", "unlock", "administrator", "--org", "System"], None);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFO"), "the CLI logs its audit events: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn commands_other_than_serve_and_bootstrap_never_create_a_store() {
    let parent = tempfile::tempdir().unwrap();
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = parent.path().join("missing");
    let commands: &[&[&str]] = &[
        &["org", "list"],
        &["org", "add", "org1"],
        &["user", "add", "alice", "--org", "org1", "--role", "vApp User", "--password-stdin"],
        &["user", "passwd", "alice", "--org", "org1", "--password-stdin"],
        &["user", "disable", "alice", "--org", "org1"],
        &["user", "enable", "alice", "--org", "org1"],
        &["user", "unlock", "alice", "--org", "org1"],
        &["user", "list"],
        &["session", "list"],
        &["session", "revoke", "00000000-0000-0000-0000-000000000000"],
        &["session", "revoke", "--org", "org1", "--user", "alice"],
        &["roles"],
    ];
    for dir in [&empty, &missing] {
        for args in commands {
            let output = support::cli(dir, args, Some("alice-pw"));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            let expected = format!(
                "no Tollgate store in {}; run `tollgate serve` or `tollgate bootstrap` there first, or pass --data",
                dir.display()
            );
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
            assert!(!dir.join("tollgate.db").exists(), "{args:?} created a store");
        }
    }
    assert!(!missing.exists(), "nor a data directory");
}

#[test]
fn passwords_shorter_than_the_policy_are_refused() {
    let server = Server::start(Options { http: true, ..Options::default() });
    server.cli_ok(&["org", "add", "org1"], None);
    let add = ["user", "add", "bob", "--org", "org1", "--role", "vApp User", "--password-stdin"];
    let output = server.cli(&add, Some("bob-pw1"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the password is too short: 7 characters, at least 8 required"), "{stderr}");
    assert!(!server.cli_ok(&["user", "list"], None).contains("bob"), "no user was created");
    server.cli_ok(&add, Some("bob-pw-1"));
    let output = server.cli(&["user", "passwd", "bob", "--org", "org1", "--password-stdin"], Some("short"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("too short"));
    // The minimum is configurable.
    let longer = [("TOLLGATE_PASSWORDS__MIN_LENGTH", "12")];
    let output = support::cli_with_env(
        server.data.path(),
        &["user", "add", "carol", "--org", "org1", "--role", "vApp User", "--password-stdin"],
        Some("carol-pw-11"),
        &longer,
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12 required"), "{output:?}");

    // Bootstrap: by the CLI, and by serve with TOLLGATE_ADMIN_PASSWORD.
    let data = tempfile::tempdir().unwrap();
    let output = support::cli(data.path(), &["bootstrap", "--password-stdin"], Some("admin"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("too short: 5 characters"), "{output:?}");
    let output = serve_until_exit(
        data.path(),
        &["--http", "--listen", "127.0.0.1:0"],
        &[("TOLLGATE_ADMIN_PASSWORD", "admin-1")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("too short: 7 characters"), "{output:?}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
    // Still not bootstrapped: a bootstrap with an acceptable password works.
    let output = support::cli_with_env(data.path(), &["bootstrap"], None, &[("TOLLGATE_ADMIN_PASSWORD", "admin-pw")]);
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn hcx_is_served_on_its_product_port_unless_that_port_is_taken() {
    // Hold 127.0.0.1:9443 for the test (or find it held by someone else, which is the same).
    let _held = std::net::TcpListener::bind("127.0.0.1:9443");
    let server = Server::start(Options { http: true, ..Options::default() });
    let log = server.log();
    assert!(log.contains("not serving this dialect's default port"), "{log}");
    assert!(log.contains("dialects.hcx.listen"), "the warning says how to choose another port");
    assert!(server.dialect_urls.iter().all(|(dialect, _)| dialect != "hcx"), "{:?}", server.dialect_urls);
    // The shared listener serves HCX all the same.
    let reply = http().get(format!("{}/api/admin/v1/sessions", server.url)).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}

/// The permission bits of `path`.
fn mode_of(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

/// When the certificate in the PEM file `path` expires.
fn not_after(path: &std::path::Path) -> time::OffsetDateTime {
    let pem = std::fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    pem.parse_x509().unwrap().validity().not_after.to_datetime()
}

/// A self-signed certificate for localhost valid from `not_before` to `not_after`, and its key,
/// written to `cert` and `key`.
fn write_certificate(
    cert: &std::path::Path,
    key: &std::path::Path,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.not_before = not_before;
    params.not_after = not_after;
    let pair = rcgen::KeyPair::generate().unwrap();
    std::fs::write(cert, params.self_signed(&pair).unwrap().pem()).unwrap();
    std::fs::write(key, pair.serialize_pem()).unwrap();
}

#[test]
fn files_the_server_creates_get_their_modes_whatever_the_umask() {
    // Before: under umask 000 the tls directory came out 0777 and the certificate 0666.
    let server = Server::start(Options { umask: Some(0o000), fresh_data_dir: true, ..Options::default() });
    let data = server.data_dir();
    let modes: Vec<(&str, u32)> = ["", "tollgate.db", "tollgate.db-wal", "tls", "tls/key.pem", "tls/cert.pem"]
        .into_iter()
        .map(|path| (path, mode_of(&data.join(path))))
        .collect();
    let expected = [
        ("", 0o700),
        ("tollgate.db", 0o600),
        ("tollgate.db-wal", 0o600),
        ("tls", 0o700),
        ("tls/key.pem", 0o600),
        ("tls/cert.pem", 0o644),
    ];
    assert_eq!(modes, expected, "modes in {}", data.display());
}

#[test]
fn a_data_or_tls_directory_others_can_write_is_refused_and_one_they_can_read_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Before: a 0777 data directory only got a warning, and the server started.
    for mode in [0o777, 0o770, 0o702] {
        let data = tempfile::tempdir().unwrap();
        chmod(data.path(), mode);
        let output = serve_until_exit(data.path(), &["--listen", "127.0.0.1:0"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{mode:o}: {stderr}");
        let message = format!("the data directory {} is writable by other users", data.path().display());
        assert!(stderr.contains(&message), "{mode:o}: {stderr}");
        assert!(stderr.contains(&format!("chmod 700 {}", data.path().display())), "{stderr}");
        assert!(!data.path().join("tollgate.db").exists(), "nothing was created in it");
    }
    // The tls directory inside a private data directory, likewise.
    let mut server = Server::start_default();
    let tls = server.data_dir().join("tls");
    server.crash();
    chmod(&tls, 0o777);
    let output = serve_until_exit(&server.data_dir(), &["--listen", "127.0.0.1:0"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("the TLS directory {} is writable by other users", tls.display())), "{stderr}");
    assert!(stderr.contains(&format!("chmod 700 {}", tls.display())), "{stderr}");
    // Readable by others only: the server starts, with warnings naming the fix.
    chmod(&tls, 0o755);
    chmod(&server.data_dir(), 0o755);
    server.restart();
    let log = server.log();
    assert!(log.contains("the data directory is readable by other users"), "{log}");
    assert!(log.contains("the TLS directory is readable by other users"), "{log}");
    assert!(log.contains(&format!("chmod 700 {}", tls.display())), "{log}");
}

#[test]
fn the_generated_certificate_lives_397_days() {
    // Before: until 4096-01-01.
    let server = Server::start_default();
    let now = time::OffsetDateTime::now_utc();
    let expires = not_after(&server.data_dir().join("tls/cert.pem"));
    assert!(expires > now + time::Duration::days(396), "{expires}");
    assert!(expires < now + time::Duration::days(400), "{expires}");
}

#[tokio::test]
async fn a_generated_certificate_near_its_expiry_is_replaced_at_start() {
    let now = time::OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    let mut server = Server::start_default();
    let (cert, key) = (server.data_dir().join("tls/cert.pem"), server.data_dir().join("tls/key.pem"));
    // Expired yesterday, expiring in three days: replaced; valid for thirty more days: kept.
    let mut replacements = 0;
    for (valid_days, replaced) in [(-1, true), (3, true), (30, false)] {
        server.crash();
        write_certificate(&cert, &key, now - 400 * day, now + valid_days * day);
        let before = std::fs::read(&cert).unwrap();
        server.restart();
        let after = std::fs::read(&cert).unwrap();
        assert_eq!(after != before, replaced, "valid {valid_days} more days");
        if replaced {
            assert!(not_after(&cert) > now + 396 * day, "{}", not_after(&cert));
            replacements += 1;
            let log = server.log();
            assert_eq!(log.matches("the generated TLS certificate").count(), replacements, "{log}");
            assert_eq!((mode_of(&cert), mode_of(&key)), (0o644, 0o600));
        }
        let reply = http().get(format!("{}/api/versions", server.url)).send().await.unwrap();
        assert_eq!(reply.status(), 200, "the server serves with the new certificate and its key");
    }
}

#[tokio::test]
async fn an_expired_certificate_the_operator_configured_is_never_replaced() {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    let now = time::OffsetDateTime::now_utc();
    write_certificate(&cert, &key, now - time::Duration::days(30), now - time::Duration::days(1));
    let before = std::fs::read(&cert).unwrap();
    let env = vec![
        ("TOLLGATE_TLS__CERT".to_owned(), cert.display().to_string()),
        ("TOLLGATE_TLS__KEY".to_owned(), key.display().to_string()),
    ];
    let server = Server::start(Options { env, ..Options::default() });
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    assert!(!server.data_dir().join("tls").exists(), "no certificate was generated");
}

#[test]
fn an_http_1_1_request_without_host_is_400_in_the_dialects_shape() {
    // Before: answered as if it had one (200 for /api/versions).
    let server = Server::start(Options { http: true, ..Options::default() });
    let address = server.url.strip_prefix("http://").unwrap();
    let reply =
        support::raw_exchange(address, b"GET /api/versions HTTP/1.1\r\nAccept: application/*+xml;version=36.0\r\n\r\n");
    assert!(reply.status_line.starts_with("HTTP/1.1 400"), "{reply:#?}");
    assert!(reply.header("content-type").starts_with("application/vnd.vmware.vcloud.error+xml"), "{reply:#?}");
    assert!(reply.body.contains("majorErrorCode=\"400\"") && reply.body.contains("Host"), "{}", reply.body);
    let reply = support::raw_exchange(address, b"POST /v1/sessions HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(reply.status_line.starts_with("HTTP/1.1 400"), "{reply:#?}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert!(body["error"].is_string() && body["message"].as_str().unwrap().contains("Host"), "{body}");
    // HTTP/1.0 needs no Host; with one, HTTP/1.1 is answered as before.
    let reply = support::raw_exchange(address, b"GET /api/versions HTTP/1.0\r\n\r\n");
    assert!(reply.status_line.ends_with("200 OK"), "{reply:#?}");
    let reply = support::raw_exchange(address, b"GET /api/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(reply.status_line.starts_with("HTTP/1.1 200"), "{reply:#?}");
}

#[test]
fn a_listing_piped_into_a_reader_that_stops_early_ends_quietly() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let binary = support::binary();
    let data = server.data.path().display().to_string();
    let errors = server.data.path().join("listing-errors.txt").display().to_string();
    // `true` reads nothing and exits: the listing writes into a closed pipe.
    let piped = std::process::Command::new("sh")
        .args(["-c", &format!("'{binary}' --data '{data}' user list 2>'{errors}' | true")])
        .status()
        .unwrap();
    assert!(piped.success());
    let errors = std::fs::read_to_string(errors).unwrap();
    assert!(!errors.contains("panicked") && !errors.contains("Broken pipe"), "{errors}");
}

#[test]
fn install_pam_writes_the_shipped_service_and_keeps_a_different_one_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec!["install-pam", "--pam-dir", dir.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        std::process::Command::new(support::binary()).args(&args).current_dir(dir.path()).output().unwrap()
    };
    let service = dir.path().join("tollgate");
    assert!(install(&[]).status.success());
    let shipped = std::fs::read_to_string(&service).unwrap();
    assert!(shipped.lines().any(|l| l.split_whitespace().eq(["auth", "required", "pam_unix.so", "nodelay"])));
    assert!(shipped.lines().any(|l| l.split_whitespace().eq(["account", "required", "pam_unix.so"])));
    // Installing again is a no-op; a file the operator changed is kept.
    assert!(install(&[]).status.success());
    std::fs::write(&service, "auth required pam_deny.so\n").unwrap();
    let refused = install(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&service).unwrap(), "auth required pam_deny.so\n");
    assert!(install(&["--force"]).status.success());
    assert_eq!(std::fs::read_to_string(&service).unwrap(), shipped);
    // A service name is a file name, never a path.
    assert!(!install(&["--service", "../escape"]).status.success());
}
