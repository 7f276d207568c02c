//! HCX `local` and VCDA `localUser` through a `pam` source (real OS accounts, made as root),
//! and VCDA `ssoToken` through a `saml` source (assertions minted by xmlsec1, proofs by
//! openssl), end to end over HTTPS against the binary; refusals in each dialect's shape. Each
//! flow also times its good logins and prints the median (the README's figures).

mod support;

#[path = "../../tollgate-source-pam/tests/support/mod.rs"]
mod pam_support;
#[path = "../../tollgate-source-saml/tests/support/mod.rs"]
mod saml_support;

use std::time::{Duration, Instant};

use pam_support::{OsUser, PASSWORD, Service};
use serde_json::{Value, json};
use support::{Options, Server, http};

/// Starts the server with `config` (TOML) as its configuration file.
fn server_with(config: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, config).unwrap();
    let env = vec![
        ("TOLLGATE_CONFIG".to_owned(), path.to_str().unwrap().to_owned()),
        ("TOLLGATE_DIALECTS__HCX__LISTEN".to_owned(), "[]".to_owned()),
    ];
    (Server::start(Options { env, ..Options::default() }), dir)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn os_accounts_log_in_to_hcx_and_vcda_through_pam() {
    if !pam_support::running_as_root() {
        return;
    }
    let (user, outsider) = (OsUser::create(), OsUser::create());
    let service = Service::install(tollgate_source_pam::SERVICE_FILE);
    let (server, _config) = server_with(&format!(
        r#"
[sources.os]
kind = "pam"
service = "{}"
allowed_users = ["{}"]
roles = ["System Administrator"]

[dialects.hcx]
providers = {{ local = "os" }}

[dialects.vcda]
providers = {{ localUser = "os" }}
"#,
        service.0, user.0
    ));
    let client = http();
    let hcx = format!("{}/api/admin/v1/sessions", server.url);
    let vcda = format!("{}/sessions", server.url);
    let hcx_login = |name: &str, password: &str| {
        client.post(&hcx).json(&json!({"authType": "local", "username": name, "password": password})).send()
    };
    let vcda_login = |name: &str, password: &str| {
        client.post(&vcda).json(&json!({"type": "localUser", "localUser": name, "localPassword": password})).send()
    };

    // The right password: HCX's session, then VCDA's, for the account made on first login.
    let reply = hcx_login(&user.0, PASSWORD).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("x-hm-authorization"));
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["data"]["user"]["username"], user.0.as_str());
    let reply = vcda_login(&user.0, PASSWORD).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("x-vcav-auth"));
    assert_eq!(reply.json::<Value>().await.unwrap()["user"], user.0.as_str());

    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(hcx_login(&user.0, PASSWORD).await.unwrap().status(), 200);
        samples.push(started.elapsed());
    }
    eprintln!("login latency through pam (HCX local, median of 5): {:?}", median(samples));

    // Refusals, each in its dialect's shape.
    let refused = |reply: reqwest::Response| async move {
        assert_eq!(reply.status(), 401);
        reply.json::<Value>().await.unwrap()
    };
    let body = refused(hcx_login(&user.0, "not the password").await.unwrap()).await;
    assert_eq!(body["errorCode"], "INVALID_CREDENTIALS");
    let body = refused(vcda_login(&user.0, "not the password").await.unwrap()).await;
    assert_eq!(body["code"], "NotAuthenticated");
    // Off the allow-list, with its own right password.
    let body = refused(hcx_login(&outsider.0, PASSWORD).await.unwrap()).await;
    assert_eq!(body["errorCode"], "INVALID_CREDENTIALS");
    // Expired, then locked: refused although the password is right.
    pam_support::run("chage", &["-E", "0", &user.0], None);
    let body = refused(vcda_login(&user.0, PASSWORD).await.unwrap()).await;
    assert_eq!(body["code"], "NotAuthenticated");
    pam_support::run("chage", &["-E", "-1", &user.0], None);
    pam_support::run("usermod", &["-L", &user.0], None);
    let body = refused(hcx_login(&user.0, PASSWORD).await.unwrap()).await;
    assert_eq!(body["errorCode"], "INVALID_CREDENTIALS");
    // The operator's check of the source, step by step: the account is locked now.
    let probe = server.cli(&["source", "test", "os", "--user", &user.0, "--password-stdin"], Some(PASSWORD));
    let report = String::from_utf8_lossy(&probe.stdout);
    assert!(!probe.status.success());
    assert!(report.contains("ok") && report.contains("allow-list") && report.contains("FAIL"), "{report}");
    pam_support::run("usermod", &["-U", &user.0], None);
    let probe = server.cli(&["source", "test", "os", "--user", &user.0, "--password-stdin"], Some(PASSWORD));
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stdout));
    assert!(String::from_utf8_lossy(&probe.stdout).contains("authenticated, account usable"));

    let log = server.log();
    assert!(log.contains("account_expired"), "the audit log keeps PAM's reason");
    assert!(!log.contains(PASSWORD), "no password in the log");
}

#[tokio::test]
async fn vcda_sso_tokens_log_in_through_a_saml_source() {
    let keys = saml_support::Keys::new();
    let (server, _config) = server_with(&format!(
        r#"
[sources.sts]
kind = "saml"
idp_certificate = "{}"
audience = "{}"
issuer = "{}"
roles = ["System Administrator"]

[dialects.vcda]
providers = {{ ssoToken = "sts" }}
"#,
        keys.path("idp.crt").display(),
        saml_support::AUDIENCE,
        saml_support::ISSUER
    ));
    let client = http();
    let sessions = format!("{}/sessions", server.url);
    let body_for = |token: &str| {
        let stamp = saml_support::millis(time::OffsetDateTime::now_utc());
        let nonce = saml_support::nonce();
        let signature = keys.prove(token, &stamp, &nonce);
        json!({"type": "ssoToken", "samlToken": token, "timestamp": stamp.parse::<i64>().unwrap(),
               "nonce": nonce, "signature": signature})
    };

    let token = keys.sign(&saml_support::Template::default());
    let login = body_for(&token);
    let reply = client.post(&sessions).json(&login).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let session = reply.headers()["x-vcav-auth"].to_str().unwrap().to_owned();
    assert_eq!(reply.json::<Value>().await.unwrap()["user"], "alice@vsphere.local");
    let reply = client.get(&sessions).header("X-VCAV-Auth", &session).send().await.unwrap();
    assert_eq!(reply.status(), 200);

    let bodies: Vec<Value> = (0..5).map(|_| body_for(&token)).collect();
    let mut samples = Vec::new();
    for body in &bodies {
        let started = Instant::now();
        assert_eq!(client.post(&sessions).json(body).send().await.unwrap().status(), 200);
        samples.push(started.elapsed());
    }
    eprintln!("login latency through saml (VCDA ssoToken, median of 5): {:?}", median(samples));

    // Refused with VCDA's 401: a replayed nonce, a token by another IdP, a changed claim, a
    // DOCTYPE, and a token that is no assertion at all.
    let by_other = keys.sign_with("other", &keys.template(&saml_support::Template::default()));
    let tampered = token.replace(">alice@vsphere.local<", ">administrator@vsphere.local<");
    let doctype = token.replacen(
        "<saml:Assertion",
        "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<saml:Assertion",
        1,
    );
    for refused in [login, body_for(&by_other), body_for(&tampered), body_for(&doctype), body_for("not xml")] {
        let reply = client.post(&sessions).json(&refused).send().await.unwrap();
        assert_eq!(reply.status(), 401);
        let body: Value = reply.json().await.unwrap();
        assert_eq!(body["code"], "NotAuthenticated");
        assert_eq!(body["stacktrace"], Value::Null);
    }
    let log = server.log();
    assert!(log.contains("replayed"), "the audit log keeps the true reason: the nonce was spent");
    assert!(log.contains("digest does not match"));
}
