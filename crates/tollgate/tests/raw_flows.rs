//! HCX and Cloud Director Availability have no client installable here, so these follow their
//! contracts (docs/contracts/hcx.md, vcda.md) step by step over real HTTPS against the binary.

mod support;

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Options, Server, http, vcd_login};

#[tokio::test]
async fn hcx_appliance_and_hybridity_flows_on_a_listener_of_its_own() {
    let options = Options {
        env: vec![("TOLLGATE_DIALECTS__HCX__LISTEN".into(), "[\"127.0.0.1:0\"]".into())],
        ..Options::default()
    };
    let server = Server::start(options);
    server.add_user("System", "viewer", "vApp User", "viewer-pw");
    let hcx = server.dialect_url("hcx").to_owned();
    let client = http();
    let sessions = format!("{hcx}/api/admin/v1/sessions");

    // 1. Log in (authType local by default); the token comes in a header that names itself.
    let reply = client
        .post(&sessions)
        .json(&json!({"username": "administrator", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["auth_token_name"], "x-hm-authorization");
    let token = reply.headers()["x-hm-authorization"].to_str().unwrap().to_owned();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["data"]["user"]["roles"], json!(["System Administrator"]));

    // 2. Use it, in either header.
    let reply = client.get(&sessions).header("x-hm-authorization", &token).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let reply = client.get(&sessions).bearer_auth(&token).send().await.unwrap();
    assert_eq!(reply.status(), 200);

    // 3. Log out, then the token is refused.
    let reply = client.delete(&sessions).header("x-hm-authorization", &token).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let reply = client.get(&sessions).header("x-hm-authorization", &token).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.json::<Value>().await.unwrap()["errorCode"], "INVALID_SESSION_TOKEN");

    // vSphere SSO users, users without an HCX role, and the unhappy answers.
    let vsphere = json!({"authType": "vsphere", "username": "administrator@vsphere.local", "password": ADMIN_PASSWORD});
    assert_eq!(client.post(&sessions).json(&vsphere).send().await.unwrap().status(), 200);
    let viewer = json!({"username": "viewer", "password": "viewer-pw"});
    let reply = client.post(&sessions).json(&viewer).send().await.unwrap();
    assert_eq!(reply.status(), 403);
    assert_eq!(reply.json::<Value>().await.unwrap()["errorCode"], "NOT_ENOUGH_PRIVILEGES");
    let reply = client
        .post(&sessions)
        .json(&json!({"authType": "ldap", "username": "a", "password": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert_eq!(reply.json::<Value>().await.unwrap()["error"], "Unsupported auth type: ldap");

    // The Hybridity API on the same listener.
    let reply = client
        .post(format!("{hcx}/hybridity/api/sessions"))
        .json(&json!({"username": "administrator@vsphere.local", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers().contains_key("x-hm-authorization"));

    // HCX is on the shared listener too (shared = true by default), and vcd is not on HCX's.
    assert_eq!(
        client.post(format!("{}/api/admin/v1/sessions", server.url)).json(&vsphere).send().await.unwrap().status(),
        200
    );
    assert_eq!(client.get(format!("{hcx}/api/versions")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn vcda_flow_with_local_and_vcd_credentials() {
    let server = Server::start_default();
    server.add_tenant("org1", "alice", "alice-pw");
    let client = http();
    let url = &server.url;
    let accept = "application/vnd.vmware.h4-v4.5+json;charset=UTF-8";

    // 1. The appliance's own user (localUser), negotiating v4.5 and sending an operation id.
    let reply = client
        .post(format!("{url}/sessions"))
        .header("accept", accept)
        .header("operationID", "flow-1")
        .json(&json!({"type": "localUser", "localUser": "administrator", "localPassword": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], accept);
    assert_eq!(reply.headers()["operationid"], "flow-1");
    let token = reply.headers()["x-vcav-auth"].to_str().unwrap().to_owned();

    // 2. Authenticate the session with this Cloud Director site as alice.
    let reply = client
        .post(format!("{url}/sessions/extend"))
        .header("x-vcav-auth", &token)
        .header("accept", accept)
        .json(
            &json!({"type": "credentials", "site": "Tollgate", "vcdUsername": "alice@org1", "vcdPassword": "alice-pw"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let details: Value = reply.json().await.unwrap();
    assert_eq!(details["authenticatedSites"], json!([{"org": "org1", "site": "Tollgate"}]));

    // 3. Read the session back, leave the site, log out.
    let reply = client.get(format!("{url}/sessions")).header("x-vcav-auth", &token).send().await.unwrap();
    assert_eq!(reply.json::<Value>().await.unwrap()["authenticatedSites"].as_array().unwrap().len(), 1);
    let reply = client.delete(format!("{url}/sessions/Tollgate")).header("x-vcav-auth", &token).send().await.unwrap();
    assert_eq!(reply.json::<Value>().await.unwrap()["authenticatedSites"], json!([]));
    let reply = client.delete(format!("{url}/sessions")).header("x-vcav-auth", &token).send().await.unwrap();
    assert_eq!(reply.status(), 204);
    let reply = client.get(format!("{url}/sessions")).header("x-vcav-auth", &token).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["www-authenticate"], "Authentication Token Required");

    // A live vcd session from this same server logs in to VCDA (PowerCLI's vcdAccessToken).
    let (vcloud, access, _) = vcd_login(&client, url, "alice", "org1", "alice-pw").await;
    for body in
        [json!({"type": "vcdAccessToken", "vcdAccessToken": access}), json!({"type": "vcdCookie", "vcdCookie": vcloud})]
    {
        let reply = client.post(format!("{url}/sessions")).json(&body).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.json::<Value>().await.unwrap()["user"], "alice@org1");
    }
    let reply = client
        .post(format!("{url}/sessions"))
        .json(&json!({"type": "ssoToken", "samlToken": "<a/>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert_eq!(reply.json::<Value>().await.unwrap()["code"], "BadRequest");
}

#[tokio::test]
async fn a_token_works_only_for_the_dialect_that_issued_it() {
    let server = Server::start_default();
    let client = http();
    let url = &server.url;
    let bluecat: Value = client
        .post(format!("{url}/api/v2/sessions"))
        .json(&json!({"username": "administrator", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = bluecat["apiToken"].as_str().unwrap();
    let vcd = client.get(format!("{url}/api/session")).bearer_auth(token).send().await.unwrap();
    assert_eq!(vcd.status(), 401);
    let hcx =
        client.get(format!("{url}/api/admin/v1/sessions")).header("x-hm-authorization", token).send().await.unwrap();
    assert_eq!(hcx.status(), 401);
    let vcda = client.get(format!("{url}/sessions")).header("x-vcav-auth", token).send().await.unwrap();
    assert_eq!(vcda.status(), 401);
    let own = client.get(format!("{url}/api/v2/sessions/current")).bearer_auth(token).send().await.unwrap();
    assert_eq!(own.status(), 200);
}

/// Each dialect's login URL, and the keys of its JSON error (`None`: vcd's XML `Error`).
const LOGIN_URLS: [(&str, Option<&[&str]>); 8] = [
    ("/api/sessions", None),
    ("/cloudapi/1.0.0/sessions", Some(&["message", "minorErrorCode", "stackTrace"])),
    ("/v1/sessions", Some(&["error", "message"])),
    ("/sessions", Some(&["args", "code", "msg", "stacktrace"])),
    ("/api/v1/sessions", Some(&["errorCode", "errorMessage"])),
    ("/api/admin/v1/sessions", Some(&["completed", "error", "errorCode", "success", "time", "version"])),
    ("/hybridity/api/sessions", Some(&["completed", "error", "errorCode", "success", "time", "version"])),
    ("/api/v2/sessions", Some(&["code", "message", "reason", "status"])),
];

/// A 2 MB login body: a JSON object, one long user name.
fn oversized_login_body() -> Vec<u8> {
    [&b"{\"username\":\""[..], &vec![b'a'; 2 * 1024 * 1024], b"\",\"password\":\"x\"}"].concat()
}

/// The whole request is written (no broken pipe, no reset), and the answer is a 413 in the
/// dialect's own shape, at every login URL (each checked, the failures listed together).
/// Sends each login URL `head` and `body` in one go; the write must not fail and the answer
/// must be `expected` (the status line) in the dialect's error shape.
fn assert_oversized_login_gets(server: &Server, head: &str, body: &[u8], expected: fn(&str) -> &'static str) {
    let address = server.url.strip_prefix("http://").unwrap();
    let failed: Vec<&str> = LOGIN_URLS
        .iter()
        .filter(|(path, error_keys)| {
            let request = [format!("POST {path} HTTP/1.1\r\nHost: {address}\r\n{head}\r\n").as_bytes(), body].concat();
            let check =
                || assert_error_in_shape(path, expected(path), *error_keys, &support::raw_exchange(address, &request));
            std::panic::catch_unwind(check).is_err()
        })
        .map(|(path, _)| *path)
        .collect();
    assert!(failed.is_empty(), "not the expected answer in the dialect's shape at {failed:?} (their panics above)");
}

const PAYLOAD_TOO_LARGE: &str = "HTTP/1.1 413 Payload Too Large";

fn assert_error_in_shape(path: &str, status_line: &str, error_keys: Option<&[&str]>, reply: &support::RawReply) {
    assert_eq!(reply.status_line, status_line, "{path}: {reply:#?}");
    let content_type = reply.header("content-type");
    let Some(error_keys) = error_keys else {
        let major = status_line.split(' ').nth(1).unwrap();
        assert!(content_type.starts_with("application/vnd.vmware.vcloud.error+xml"), "{path}: {reply:#?}");
        assert!(reply.body.contains(&format!(r#"majorErrorCode="{major}""#)), "{path}: {reply:#?}");
        return;
    };
    let error: Value = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{path}: {e}: {reply:#?}"));
    let mut keys: Vec<&str> = error.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, error_keys, "{path}: {reply:#?}");
    match path {
        "/sessions" => assert_eq!(content_type, "application/vnd.vmware.h4-v3.5+json;charset=UTF-8", "{reply:#?}"),
        "/api/v2/sessions" => {
            assert_eq!(content_type, "application/json", "BlueCat's errors are exactly application/json");
            assert_eq!(error["status"].to_string(), status_line.split(' ').nth(1).unwrap(), "{reply:#?}");
        }
        _ => assert!(content_type.starts_with("application/json"), "{path}: {reply:#?}"),
    }
}

#[test]
fn a_2_mb_login_body_gets_413_in_each_dialects_shape() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let body = oversized_login_body();
    let head = format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    assert_oversized_login_gets(&server, &head, &body, |_| PAYLOAD_TOO_LARGE);
}

#[test]
fn a_2_mb_chunked_login_body_is_read_to_the_end_and_answered_in_each_dialects_shape() {
    // No Content-Length to refuse up front: the body grows past the 64 KiB limit while it is read.
    let server = Server::start(Options { http: true, ..Options::default() });
    let mut chunked = Vec::new();
    for chunk in oversized_login_body().chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    // Cloud Director's logins read no body ("This request does not have a body"): they answer
    // the missing Authorization header (403), and the body is read and thrown away all the same.
    let expected = |path: &str| {
        if path == "/api/sessions" || path.starts_with("/cloudapi") {
            "HTTP/1.1 403 Forbidden"
        } else {
            PAYLOAD_TOO_LARGE
        }
    };
    assert_oversized_login_gets(
        &server,
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        &chunked,
        expected,
    );
}
