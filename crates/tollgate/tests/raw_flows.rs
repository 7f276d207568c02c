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
