//! The `vcd` contract (docs/contracts/vcd.md), one test per documented status and body shape.

mod support;

use axum::http::{Method, StatusCode};
use support::{ADMIN_PASSWORD, BASE, Reply, TestServer, basic, elements, server, uninitialised};
use tollgate_core::Actor;

const NS_VCLOUD: &str = "http://www.vmware.com/vcloud/v1.5";
const NS_VERSIONS: &str = "http://www.vmware.com/vcloud/versions";
const ERROR_XML: &str = "application/vnd.vmware.vcloud.error+xml";
const ACCEPT_XML_32: (&str, &str) = ("accept", "application/*+xml;version=32.0");
const ACCEPT_JSON_36: (&str, &str) = ("accept", "application/json;version=36.0");

/// Both tokens of a fresh login: (x-vcloud-authorization, access token).
struct Tokens {
    vcloud: String,
    access: String,
}

async fn cloudapi_login(server: &TestServer, path: &str, credentials: &str) -> Reply {
    server.send(Method::POST, path, &[("authorization", &basic(credentials)), ACCEPT_JSON_36], "").await
}

async fn login_alice(server: &TestServer) -> Tokens {
    tokens(&cloudapi_login(server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await)
}

async fn login_admin(server: &TestServer) -> Tokens {
    tokens(
        &cloudapi_login(server, "/cloudapi/1.0.0/sessions/provider", &format!("administrator@System:{ADMIN_PASSWORD}"))
            .await,
    )
}

fn tokens(reply: &Reply) -> Tokens {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Tokens {
        vcloud: reply.header("x-vcloud-authorization").into(),
        access: reply.header("x-vmware-vcloud-access-token").into(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_xml_error(reply: &Reply, status: StatusCode, minor: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.content_type().starts_with(ERROR_XML), "{}", reply.content_type());
    let root = &elements(&reply.body)[0];
    assert_eq!(root.name, "Error");
    assert_eq!(root.namespace.as_deref(), Some(NS_VCLOUD));
    assert_eq!(root.attr("majorErrorCode"), Some(status.as_str()));
    assert_eq!(root.attr("minorErrorCode"), Some(minor));
    assert!(!root.attr("message").unwrap_or_default().is_empty());
}

fn assert_json_error(reply: &Reply, status: StatusCode, minor: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    // Every /cloudapi answer names the API version, as Cloud Director's do.
    assert!(reply.content_type().starts_with("application/json;version="), "{}", reply.content_type());
    let body = reply.json();
    assert_eq!(body["minorErrorCode"], minor);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["stackTrace"].is_null());
}

// ---- GET /api/versions --------------------------------------------------------------------

#[tokio::test]
async fn versions_lists_27_to_37_with_absolute_login_urls() {
    let server = server().await;
    let reply = server.get("/api/versions", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let all = elements(&reply.body);
    assert_eq!(all[0].name, "SupportedVersions");
    assert!(all.iter().all(|e| e.namespace.as_deref() == Some(NS_VERSIONS)), "every element in the versions namespace");
    let infos: Vec<_> = all.iter().enumerate().filter(|(_, e)| e.name == "VersionInfo").collect();
    let versions: Vec<&str> = all.iter().filter(|e| e.name == "Version").map(|e| e.text.as_str()).collect();
    // 27.0 is the version seed 000 logs in with; go-vcloud-director needs exactly 37.0.
    for v in ["27.0", "32.0", "33.0", "34.0", "35.0", "36.0", "37.0"] {
        assert!(versions.contains(&v), "{v} listed");
    }
    assert!(!versions.iter().any(|v| v.parse::<f64>().unwrap() >= 40.0), "nothing at 40.0 or above");
    let child = |info: usize, name: &str| {
        all[info + 1..]
            .iter()
            .take_while(|e| e.depth > all[info].depth)
            .find(|e| e.name == name)
            .map(|e| e.text.clone())
    };
    for (i, info) in &infos {
        let version: f64 = child(*i, "Version").unwrap().parse().unwrap();
        let deprecated = if version < 33.0 { "true" } else { "false" };
        assert_eq!(info.attr("deprecated"), Some(deprecated), "{version}");
        let login = child(*i, "LoginUrl").unwrap();
        if version >= 36.0 {
            assert_eq!(login, format!("{BASE}/cloudapi/1.0.0/sessions"));
            assert_eq!(child(*i, "ProviderLoginUrl").unwrap(), format!("{BASE}/cloudapi/1.0.0/sessions/provider"));
        } else {
            assert_eq!(login, format!("{BASE}/api/sessions"));
        }
    }
}

#[tokio::test]
async fn versions_answers_before_bootstrap_too() {
    let server = uninitialised().await;
    assert_eq!(server.get("/api/versions", &[]).await.status, StatusCode::OK);
}

// ---- POST /api/sessions (legacy) ----------------------------------------------------------

#[tokio::test]
async fn legacy_login_returns_both_tokens_and_a_session_document() {
    let server = server().await;
    let reply = server
        .send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:alice-pw")), ACCEPT_XML_32], "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let vcloud = reply.header("x-vcloud-authorization");
    assert_eq!(vcloud.len(), 32);
    assert!(vcloud.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(reply.header("x-vmware-vcloud-access-token").len() > 32);
    assert_eq!(reply.header("x-vmware-vcloud-token-type"), "Bearer");
    assert_eq!(reply.content_type(), "application/vnd.vmware.vcloud.session+xml;version=32.0");
    let root = &elements(&reply.body)[0];
    assert_eq!((root.name.as_str(), root.namespace.as_deref()), ("Session", Some(NS_VCLOUD)));
    assert_eq!(root.attr("user"), Some("alice"));
    assert_eq!(root.attr("org"), Some("org1"));
}

#[tokio::test]
async fn seed_000_logs_in_at_version_27_as_printed() {
    let server = server().await;
    let accept = ("accept", "application/vnd.vmware.vcloud.session+xml;version=27.0");
    let reply = server
        .send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:alice-pw")), accept], "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply.header("x-vcloud-authorization").to_owned();
    assert!(token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    assert_eq!(reply.content_type(), "application/vnd.vmware.vcloud.session+xml;version=27.0");
    // "This header, including the token, must be included in each subsequent vCloud API request."
    let session = server.get("/api/session", &[("x-vcloud-authorization", &token), accept]).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.body);
    // "If the Authorization header is missing ... 403"; "If the credentials ... are invalid ... 401".
    let missing = server.send(Method::POST, "/api/sessions", &[accept], "").await;
    assert_xml_error(&missing, StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN");
    let wrong =
        server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:nope")), accept], "").await;
    assert_xml_error(&wrong, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(wrong.content_type(), "application/vnd.vmware.vcloud.error+xml;version=27.0");
}

#[tokio::test]
async fn legacy_login_without_authorization_is_403() {
    let server = server().await;
    let reply = server.send(Method::POST, "/api/sessions", &[ACCEPT_XML_32], "").await;
    assert_xml_error(&reply, StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN");
}

#[tokio::test]
async fn legacy_login_with_bad_credentials_is_401() {
    let server = server().await;
    for credentials in [
        "alice@org1:wrong",
        "nobody@org1:alice-pw",
        "alice@nosuchorg:alice-pw",
        "alice:alice-pw",
        "@org1:x",
        "alice@:x",
    ] {
        let reply = server.send(Method::POST, "/api/sessions", &[("authorization", &basic(credentials))], "").await;
        assert_xml_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn unreadable_authorization_headers_are_401() {
    let server = server().await;
    for value in ["Basic !!!not-base64!!!", "Bearer abc", "Basic", "Digest x", "Basic //79"] {
        let reply = server.send(Method::POST, "/api/sessions", &[("authorization", value)], "").await;
        assert_xml_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let request = axum::http::Request::post("/api/sessions")
        .header("host", support::HOST)
        .header("authorization", axum::http::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap())
        .body(axum::body::Body::empty())
        .unwrap();
    assert_xml_error(&server.send_request(request).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn user_names_may_contain_at_signs() {
    let server = server().await;
    support::add_user(&server, "org1", "bob@example.com", "vApp User", "bob-pw").await;
    let reply = server
        .send(Method::POST, "/api/sessions", &[("authorization", &basic("bob@example.com@org1:bob-pw"))], "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(elements(&reply.body)[0].attr("user"), Some("bob@example.com"));
}

#[tokio::test]
async fn a_locked_account_gets_the_same_401_as_a_wrong_password() {
    let server = server().await;
    let wrong = server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:wrong"))], "").await;
    for _ in 0..4 {
        server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:wrong"))], "").await;
    }
    let locked =
        server.send(Method::POST, "/api/sessions", &[("authorization", &basic("alice@org1:alice-pw"))], "").await;
    assert_xml_error(&locked, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(locked.body, wrong.body);
}

#[tokio::test]
async fn an_unsupported_version_is_406() {
    let server = server().await;
    let reply = server
        .send(
            Method::POST,
            "/api/sessions",
            &[("authorization", &basic("alice@org1:alice-pw")), ("accept", "application/*+xml;version=99.0")],
            "",
        )
        .await;
    assert_xml_error(&reply, StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE");
    let reply = server
        .send(
            Method::POST,
            "/cloudapi/1.0.0/sessions",
            &[("authorization", &basic("alice@org1:alice-pw")), ("accept", "application/json;version=12.0")],
            "",
        )
        .await;
    assert_json_error(&reply, StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE");
}

// ---- POST /cloudapi/1.0.0/sessions[/provider] ---------------------------------------------

#[tokio::test]
async fn tenant_login_is_exactly_200_with_the_session_json() {
    let server = server().await;
    let reply = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("x-vmware-vcloud-access-token").len() > 32);
    assert_eq!(reply.header("x-vmware-vcloud-token-type"), "Bearer");
    assert_eq!(reply.header("x-vcloud-authorization").len(), 32);
    let body = reply.json();
    let id = |v: &serde_json::Value, kind: &str| {
        let id = v.as_str().unwrap();
        assert!(id.starts_with(&format!("urn:vcloud:{kind}:")), "{id}");
        id.rsplit(':').next().unwrap().to_owned()
    };
    id(&body["id"], "session");
    let site = id(&body["site"]["id"], "site");
    assert_eq!(body["site"]["name"], "site1");
    assert_eq!(body["user"]["name"], "alice");
    id(&body["user"]["id"], "user");
    assert_eq!(body["org"]["name"], "org1");
    let org = id(&body["org"]["id"], "org");
    assert_eq!(body["operatingOrg"], body["org"]);
    assert_eq!(body["location"], format!("{org}@{site}"));
    assert_eq!(body["roles"], serde_json::json!(["Organization Administrator"]));
    assert_eq!(body["roleRefs"][0]["name"], "Organization Administrator");
    id(&body["roleRefs"][0]["id"], "role");
    assert_eq!(body["sessionIdleTimeoutMinutes"], 30);
}

#[tokio::test]
async fn provider_login_is_for_the_system_org_only() {
    let server = server().await;
    let reply =
        cloudapi_login(&server, "/cloudapi/1.0.0/sessions/provider", &format!("administrator@system:{ADMIN_PASSWORD}"))
            .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["org"]["name"], "System");
    let tenant_at_provider = cloudapi_login(&server, "/cloudapi/1.0.0/sessions/provider", "alice@org1:alice-pw").await;
    assert_json_error(&tenant_at_provider, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let system_at_tenant =
        cloudapi_login(&server, "/cloudapi/1.0.0/sessions", &format!("administrator@System:{ADMIN_PASSWORD}")).await;
    assert_json_error(&system_at_tenant, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn cloudapi_login_errors_are_json() {
    let server = server().await;
    let wrong = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:nope").await;
    assert_json_error(&wrong, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let missing = server.send(Method::POST, "/cloudapi/1.0.0/sessions", &[ACCEPT_JSON_36], "").await;
    assert_json_error(&missing, StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN");
}

// ---- presenting the token -----------------------------------------------------------------

#[tokio::test]
async fn every_token_header_reaches_the_same_session() {
    let server = server().await;
    let t = login_alice(&server).await;
    let presented = [
        ("authorization", bearer(&t.access)),
        ("authorization", format!("bearer {}", t.access)),
        ("x-vcloud-authorization", t.vcloud.clone()),
        ("x-vmware-vcloud-access-token", t.access.clone()),
        ("authorization", bearer(&t.vcloud)),
    ];
    for (name, value) in &presented {
        let reply = server.get("/api/session", &[(name, value)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        assert_eq!(elements(&reply.body)[0].attr("user"), Some("alice"));
    }
}

#[tokio::test]
async fn no_or_unknown_token_is_401() {
    let server = server().await;
    assert_xml_error(&server.get("/api/session", &[]).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let reply = server.get("/api/session", &[("x-vcloud-authorization", "0123456789abcdef0123456789abcdef")]).await;
    assert_xml_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let reply = server.get("/cloudapi/1.0.0/sessions/current", &[("authorization", "Bearer nope")]).await;
    assert_json_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_token_of_another_dialect_is_401() {
    let server = server().await;
    let native = server
        .send(
            Method::POST,
            "/v1/sessions",
            &[("content-type", "application/json")],
            r#"{"org":"org1","username":"alice","password":"alice-pw"}"#,
        )
        .await;
    let token = native.json()["token"].as_str().unwrap().to_owned();
    assert_xml_error(
        &server.get("/api/session", &[("authorization", &bearer(&token))]).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn the_request_id_is_echoed_or_generated() {
    let server = server().await;
    let reply = server.get("/api/versions", &[("x-vmware-vcloud-client-request-id", "my-request-1")]).await;
    assert_eq!(reply.header("x-vmware-vcloud-request-id"), "my-request-1");
    let reply = server.get("/api/session", &[]).await;
    assert!(!reply.header("x-vmware-vcloud-request-id").is_empty());
    let reply = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await;
    assert!(!reply.header("x-vmware-vcloud-request-id").is_empty());
}

// ---- GET /api/session ---------------------------------------------------------------------

fn links(body: &str) -> Vec<support::Element> {
    elements(body).into_iter().filter(|e| e.name == "Link").collect()
}

#[tokio::test]
async fn the_session_document_has_namespaced_links_one_per_rel_and_type() {
    let server = server().await;
    let t = login_alice(&server).await;
    let reply = server.get("/api/session", &[("authorization", &bearer(&t.access))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type().starts_with("application/vnd.vmware.vcloud.session+xml"));
    let all = elements(&reply.body);
    assert!(all.iter().all(|e| e.namespace.as_deref() == Some(NS_VCLOUD)), "every element in the vCloud namespace");
    let root = &all[0];
    assert_eq!(root.attr("href"), Some(format!("{BASE}/api/session").as_str()));
    assert_eq!(root.attr("roles"), Some("Organization Administrator"));
    assert!(root.attr("userId").unwrap().starts_with("urn:vcloud:user:"));
    let links = links(&reply.body);
    let mut pairs: Vec<_> = links.iter().map(|l| (l.attr("rel").unwrap(), l.attr("type"))).collect();
    let count = pairs.len();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), count, "one Link per (rel, type)");
    assert!(links.iter().all(|l| l.attr("href").unwrap().starts_with(BASE)), "absolute hrefs");
    let org_link = links.iter().find(|l| l.attr("type") == Some("application/vnd.vmware.vcloud.org+xml")).unwrap();
    assert_eq!(org_link.attr("name"), Some("org1"));
    assert!(!links.iter().any(|l| l.attr("type") == Some("application/vnd.vmware.admin.vcloud+xml")));
    let location = all.iter().find(|e| e.name == "LocationId").unwrap();
    assert_eq!(Some(location.text.as_str()), root.attr("locationId"));
    assert_eq!(all.iter().find(|e| e.name == "OrgName").unwrap().text, "org1");
}

#[tokio::test]
async fn a_system_session_links_the_admin_resources() {
    let server = server().await;
    let t = login_admin(&server).await;
    let reply = server.get("/api/session", &[("x-vcloud-authorization", &t.vcloud)]).await;
    let links = links(&reply.body);
    for ty in ["application/vnd.vmware.admin.vcloud+xml", "application/vnd.vmware.admin.vmwExtension+xml"] {
        assert_eq!(links.iter().filter(|l| l.attr("type") == Some(ty)).count(), 1, "{ty}");
    }
    assert_eq!(elements(&reply.body)[0].attr("org"), Some("System"));
}

#[tokio::test]
async fn every_link_of_the_session_document_answers() {
    let server = server().await;
    for t in [login_admin(&server).await, login_alice(&server).await] {
        let session = server.get("/api/session", &[("x-vcloud-authorization", &t.vcloud)]).await;
        for link in links(&session.body).into_iter().filter(|l| l.attr("rel") != Some("remove")) {
            let path = link.attr("href").unwrap().strip_prefix(BASE).unwrap().to_owned();
            let reply = server.get(&path, &[("x-vcloud-authorization", &t.vcloud)]).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            if let Some(ty) = link.attr("type") {
                assert!(reply.content_type().starts_with(ty), "{path}: {} is not {ty}", reply.content_type());
            }
        }
    }
}

#[tokio::test]
async fn cloudapi_current_session_is_the_login_json() {
    let server = server().await;
    let login = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await;
    let t = tokens(&login);
    let reply = server.get("/cloudapi/1.0.0/sessions/current", &[("authorization", &bearer(&t.access))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), login.json());
}

// ---- what clients read after login --------------------------------------------------------

#[tokio::test]
async fn org_list_shows_a_tenant_only_its_org_and_the_provider_all() {
    let server = server().await;
    let alice = login_alice(&server).await;
    let reply = server.get("/api/org/", &[("authorization", &bearer(&alice.access))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(elements(&reply.body)[0].name, "OrgList");
    let names: Vec<_> = elements(&reply.body)
        .into_iter()
        .filter(|e| e.name == "Org")
        .map(|e| e.attr("name").unwrap().to_owned())
        .collect();
    assert_eq!(names, ["org1"]);

    let admin = login_admin(&server).await;
    let reply = server.get("/api/org", &[("authorization", &bearer(&admin.access))]).await;
    let orgs: Vec<_> = elements(&reply.body).into_iter().filter(|e| e.name == "Org").collect();
    let names: Vec<_> = orgs.iter().map(|e| e.attr("name").unwrap()).collect();
    assert_eq!(names, ["org1", "System"]);
    assert!(orgs.iter().all(|o| o.attr("href").unwrap().starts_with(&format!("{BASE}/api/org/"))));
}

#[tokio::test]
async fn an_org_links_its_vdc_query_unless_it_is_system() {
    let server = server().await;
    let alice = login_alice(&server).await;
    let session = server.get("/api/session", &[("authorization", &bearer(&alice.access))]).await;
    let href = links(&session.body)
        .into_iter()
        .find(|l| l.attr("name") == Some("org1"))
        .unwrap()
        .attr("href")
        .unwrap()
        .to_owned();
    let path = href.strip_prefix(BASE).unwrap();
    let reply = server.get(path, &[("authorization", &bearer(&alice.access))]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/vnd.vmware.vcloud.org+xml;version=37.0");
    let all = elements(&reply.body);
    assert_eq!((all[0].name.as_str(), all[0].attr("name")), ("Org", Some("org1")));
    assert_eq!(all.iter().find(|e| e.name == "FullName").unwrap().text, "Org One");
    let query = links(&reply.body)
        .into_iter()
        .find(|l| l.attr("type") == Some("application/vnd.vmware.vcloud.query.records+xml"))
        .unwrap();
    assert_eq!(query.attr("href").unwrap(), format!("{BASE}/api/query?type=vdc&filter=orgName==org1"));

    let query_reply =
        server.get("/api/query?type=vdc&filter=orgName==org1", &[("authorization", &bearer(&alice.access))]).await;
    assert_eq!(query_reply.status, StatusCode::OK);
    let root = &elements(&query_reply.body)[0];
    assert_eq!((root.name.as_str(), root.attr("total")), ("QueryResultRecords", Some("0")));

    let admin = login_admin(&server).await;
    let system = server.core.org("System").await.unwrap();
    let reply = server.get(&format!("/api/org/{}", system.id), &[("authorization", &bearer(&admin.access))]).await;
    assert_eq!(elements(&reply.body)[0].attr("name"), Some("System"));
    assert!(links(&reply.body).is_empty(), "no vdc query for System");
}

#[tokio::test]
async fn another_orgs_resource_is_403_and_a_bad_id_400() {
    let server = server().await;
    let alice = login_alice(&server).await;
    let system = server.core.org("System").await.unwrap();
    let auth = bearer(&alice.access);
    let reply = server.get(&format!("/api/org/{}", system.id), &[("authorization", &auth)]).await;
    assert_xml_error(&reply, StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN");
    assert_xml_error(
        &server.get("/api/org/not-a-uuid", &[("authorization", &auth)]).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_xml_error(
        &server.get("/api/admin", &[("authorization", &auth)]).await,
        StatusCode::FORBIDDEN,
        "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
    );
}

#[tokio::test]
async fn query_without_a_type_lists_the_queries() {
    let server = server().await;
    let alice = login_alice(&server).await;
    let reply = server.get("/api/query", &[("authorization", &bearer(&alice.access))]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.content_type(), "application/vnd.vmware.vcloud.query.queryList+xml;version=37.0");
    assert_eq!(elements(&reply.body)[0].name, "QueryList");
    assert!(links(&reply.body).iter().any(|l| l.attr("name") == Some("orgVdc")));
}

#[tokio::test]
async fn admin_describes_the_product_for_the_provider() {
    let server = server().await;
    let admin = login_admin(&server).await;
    let reply = server.get("/api/admin", &[("authorization", &bearer(&admin.access))]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/vnd.vmware.admin.vcloud+xml;version=37.0");
    let all = elements(&reply.body);
    assert_eq!(all[0].name, "VCloud");
    // go-vcloud-director reads "<four-part version> <build date>".
    let description = all.iter().find(|e| e.name == "Description").unwrap().text.clone();
    let (version, date) = description.split_once(' ').unwrap();
    assert_eq!(version.split('.').filter(|p| p.parse::<u32>().is_ok()).count(), 4, "{description}");
    assert!(time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339).is_ok(), "{date}");
}

// ---- logout -------------------------------------------------------------------------------

#[tokio::test]
async fn logout_is_204_and_kills_both_tokens() {
    let server = server().await;
    let t = login_alice(&server).await;
    let reply = server.send(Method::DELETE, "/api/session", &[("authorization", &bearer(&t.access))], "").await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    for (name, value) in [("authorization", bearer(&t.access)), ("x-vcloud-authorization", t.vcloud.clone())] {
        assert_xml_error(
            &server.get("/api/session", &[(name, &value)]).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
        );
    }
}

#[tokio::test]
async fn every_cloudapi_logout_form_is_204() {
    let server = server().await;
    for path in ["/cloudapi/1.0.0/sessions/current", "/cloudapi/1.0.0/sessions", "/cloudapi/1.0.0/sessions/provider"] {
        let t = login_alice(&server).await;
        let auth = bearer(&t.access);
        let reply = server.send(Method::DELETE, path, &[("authorization", &auth)], "").await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{path}");
        let after = server.get("/cloudapi/1.0.0/sessions/current", &[("authorization", &auth)]).await;
        assert_json_error(&after, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn deleting_a_session_by_id() {
    let server = server().await;
    let own = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await;
    let own_id = own.json()["id"].as_str().unwrap().to_owned();
    let alice = tokens(&own);
    let reply = server
        .send(
            Method::DELETE,
            &format!("/cloudapi/1.0.0/sessions/{own_id}"),
            &[("authorization", &bearer(&alice.access))],
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let admin_login =
        cloudapi_login(&server, "/cloudapi/1.0.0/sessions/provider", &format!("administrator@System:{ADMIN_PASSWORD}"))
            .await;
    let admin_id = admin_login.json()["id"].as_str().unwrap().to_owned();
    let admin = tokens(&admin_login);
    let alice_login = cloudapi_login(&server, "/cloudapi/1.0.0/sessions", "alice@org1:alice-pw").await;
    let alice_id = alice_login.json()["id"].as_str().unwrap().to_owned();
    let alice = tokens(&alice_login);

    let reply = server
        .send(
            Method::DELETE,
            &format!("/cloudapi/1.0.0/sessions/{admin_id}"),
            &[("authorization", &bearer(&alice.access))],
            "",
        )
        .await;
    assert_json_error(&reply, StatusCode::FORBIDDEN, "ACCESS_TO_RESOURCE_IS_FORBIDDEN");
    let reply = server
        .send(
            Method::DELETE,
            &format!("/cloudapi/1.0.0/sessions/{alice_id}"),
            &[("authorization", &bearer(&admin.access))],
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/api/session", &[("authorization", &bearer(&alice.access))]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = server
        .send(Method::DELETE, "/cloudapi/1.0.0/sessions/garbage", &[("authorization", &bearer(&admin.access))], "")
        .await;
    assert_json_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
}

// ---- bad input and the unknown ------------------------------------------------------------

#[tokio::test]
async fn oversized_headers_get_431_in_the_paths_error_format() {
    let server = server().await;
    let big = "x".repeat(20 * 1024);
    assert_xml_error(
        &server.get("/api/session", &[("x-padding", &big)]).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
    );
    let reply = server.send(Method::POST, "/cloudapi/1.0.0/sessions", &[("x-padding", &big)], "").await;
    assert_json_error(&reply, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "REQUEST_HEADER_FIELDS_TOO_LARGE");
}

#[tokio::test]
async fn oversized_tokens_and_credentials_are_refused_without_work() {
    let server = server().await;
    let long = "a".repeat(4000);
    assert_xml_error(
        &server.get("/api/session", &[("x-vcloud-authorization", &long)]).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
    let credentials = format!("{long}@org1:pw");
    let reply = server.send(Method::POST, "/api/sessions", &[("authorization", &basic(&credentials))], "").await;
    assert_xml_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let password = format!("alice@org1:{}", "p".repeat(2000));
    let reply = server.send(Method::POST, "/api/sessions", &[("authorization", &basic(&password))], "").await;
    assert_xml_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn unknown_resources_and_methods_keep_the_paths_error_format() {
    let server = server().await;
    assert_xml_error(&server.get("/api/nothing/here", &[]).await, StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND");
    let reply = server.get("/cloudapi/1.0.0/nothing", &[]).await;
    assert_json_error(&reply, StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND");
    let reply = server.send(Method::PUT, "/api/session", &[], "").await;
    assert_xml_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let reply = server.send(Method::GET, "/cloudapi/1.0.0/sessions", &[], "").await;
    assert_json_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn before_bootstrap_logins_are_503() {
    let server = uninitialised().await;
    let reply =
        server.send(Method::POST, "/api/sessions", &[("authorization", &basic("administrator@System:x"))], "").await;
    assert_xml_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    let reply = cloudapi_login(&server, "/cloudapi/1.0.0/sessions/provider", "administrator@System:x").await;
    assert_json_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn xml_is_escaped_in_attributes() {
    let server = server().await;
    server.core.add_org(&Actor::Operator, "a&b<c>", None).await.unwrap();
    support::add_user(&server, "a&b<c>", "q\"uote", "vApp User", "pw").await;
    let reply = server.send(Method::POST, "/api/sessions", &[("authorization", &basic("q\"uote@a&b<c>:pw"))], "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let root = &elements(&reply.body)[0];
    assert_eq!(root.attr("org"), Some("a&b<c>"));
    assert_eq!(root.attr("user"), Some("q\"uote"));
}
