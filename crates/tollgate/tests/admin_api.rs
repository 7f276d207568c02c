//! The admin REST API (`/v1/admin`) and its API tokens, end to end: the real binary, its CLI
//! and HTTP.

mod support;

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Server, http, native_login};

/// Creates an API token with the CLI; returns its secret.
fn create_token(server: &Server, name: &str, role: &str, org: &str) -> String {
    let secret = server.cli_ok(&["token", "create", "--name", name, "--role", role, "--org", org], None);
    secret.trim().to_owned()
}

#[test]
fn api_tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let server = Server::start_default();
    let secret = create_token(&server, "ci", "Auditor", "System");
    assert!(secret.starts_with("tga_") && secret.len() == 47, "{secret}");
    assert_ne!(create_token(&server, "backup", "System Administrator", "System"), secret);

    let listing = server.cli_ok(&["token", "list"], None);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].starts_with("backup ") && lines[2].starts_with("ci ") && lines[2].contains("Auditor"),
        "{listing}"
    );
    assert!(!listing.contains(&secret[4..]), "a listing never shows a secret");
    let store = std::fs::read(server.data_dir().join("tollgate.db")).unwrap();
    assert!(!store.windows(secret.len()).any(|w| w == secret.as_bytes()), "the store keeps only a digest");

    assert_eq!(server.cli_ok(&["token", "revoke", "ci"], None).trim(), "Revoked API token ci");
    assert!(server.cli_ok(&["token", "list"], None).lines().nth(2).is_some_and(|l| !l.trim_end().ends_with('-')));

    for (args, message) in [
        (&["token", "create", "--name", "CI", "--role", "Auditor"][..], "already exists"),
        (&["token", "create", "--name", "x", "--role", "Nope"][..], "role \"Nope\" does not exist"),
        (&["token", "create", "--name", "x", "--role", "Auditor", "--org", "nope"][..], "org \"nope\" does not exist"),
        (&["token", "create", "--name", " x", "--role", "Auditor"][..], "white space"),
        (&["token", "revoke", "nobody"][..], "API token \"nobody\" does not exist"),
    ] {
        let output = server.cli(args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// GET `path` of the server with `Authorization: Bearer token`; the status and the JSON body.
async fn get(server: &Server, path: &str, token: &str) -> (u16, Value) {
    let reply = http().get(format!("{}{path}", server.url)).bearer_auth(token).send().await.unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

/// The names in a listing's `items`.
fn names(listing: &Value) -> Vec<&str> {
    listing["items"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn orgs_are_listed_to_the_provider_in_full_and_to_an_org_administrator_their_own() {
    let server = Server::start_default();
    server.add_tenant("org1", "olive", "Olive-Pw-1");
    server.cli_ok(&["org", "add", "org2"], None);
    server.add_user("org2", "bob", "vApp User", "Bob-Pw-1");

    let provider = create_token(&server, "provider", "System Administrator", "System");
    let (status, listing) = get(&server, "/v1/admin/orgs", &provider).await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(names(&listing), ["org1", "org2", "System"], "by name, whatever its case");
    let org1 = &listing["items"][0];
    assert_eq!(org1["full_name"], "org1");
    assert!(org1["id"].as_str().unwrap().len() == 36 && org1["created_at"].as_str().unwrap().ends_with('Z'), "{org1}");

    // A native session of the System administrator sees the same.
    let (status, login) = native_login(&http(), &server.url, "System", "administrator", ADMIN_PASSWORD).await;
    assert_eq!(status, 201, "{login}");
    let (status, by_session) = get(&server, "/v1/admin/orgs", login["token"].as_str().unwrap()).await;
    assert_eq!((status, &by_session), (200, &listing));

    let (_, tenant) = native_login(&http(), &server.url, "org1", "olive", "Olive-Pw-1").await;
    let (status, own) = get(&server, "/v1/admin/orgs", tenant["token"].as_str().unwrap()).await;
    assert_eq!((status, names(&own)), (200, vec!["org1"]), "{own}");
    let auditor = create_token(&server, "org1-audit", "Auditor", "org1");
    assert_eq!(names(&get(&server, "/v1/admin/orgs", &auditor).await.1), ["org1"]);

    let (_, plain_user) = native_login(&http(), &server.url, "org2", "bob", "Bob-Pw-1").await;
    let (status, refused) = get(&server, "/v1/admin/orgs", plain_user["token"].as_str().unwrap()).await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("forbidden")), "{refused}");

    for token in ["tga_not-a-token", "not-a-session", &format!("{provider}x")] {
        let (status, refused) = get(&server, "/v1/admin/orgs", token).await;
        assert_eq!((status, refused["error"].as_str()), (401, Some("invalid_token")), "{token}: {refused}");
    }
    let reply = http().get(format!("{}/v1/admin/orgs", server.url)).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.json::<Value>().await.unwrap()["error"], "invalid_token");

    server.cli_ok(&["token", "revoke", "provider"], None);
    let (status, refused) = get(&server, "/v1/admin/orgs", &provider).await;
    assert_eq!((status, refused["error"].as_str()), (401, Some("invalid_token")), "a revoked token is refused at once");
}

/// The admin API as one caller (a session or API token) sees it.
struct Api<'a> {
    server: &'a Server,
    token: String,
}

impl Api<'_> {
    /// Sends `method path` with `body` (JSON, when given); the status and the JSON body (null
    /// when there is none).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = http().request(method, format!("{}{path}", self.server.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    /// Insists on `status`; returns the body.
    async fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, reply) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {reply}");
        reply
    }

    /// Insists on a failure with `status`, `error` and a message containing `message`.
    async fn refused(&self, status: u16, error: &str, message: &str, method: &str, path: &str, body: Option<Value>) {
        let reply = self.expect(status, method, path, body).await;
        assert_eq!(reply["error"], error, "{method} {path}: {reply}");
        let said = reply["message"].as_str().unwrap();
        assert!(said.contains(message), "{method} {path}: {said:?} does not say {message:?}");
    }
}

fn api<'a>(server: &'a Server, token: &str) -> Api<'a> {
    Api { server, token: token.to_owned() }
}

/// A server with org1 (administered by olive, with alice a vApp User) and a provider token.
fn tenant_server(env: &[(&str, &str)]) -> (Server, String) {
    let server = Server::start(support::Options {
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ..support::Options::default()
    });
    server.add_tenant("org1", "olive", "Olive-Pw-1");
    server.add_user("org1", "alice", "vApp User", "Alice-Pw-1");
    let provider = create_token(&server, "provider", "System Administrator", "System");
    (server, provider)
}

/// The id of `org`, as the provider's listing shows it.
async fn org_id(provider: &Api<'_>, org: &str) -> String {
    let listing = provider.expect(200, "GET", "/v1/admin/orgs", None).await;
    let found = listing["items"].as_array().unwrap().iter().find(|o| o["name"] == org);
    found.unwrap_or_else(|| panic!("no org {org}: {listing}"))["id"].as_str().unwrap().to_owned()
}

/// The id of `user` of `org`.
async fn user_id(provider: &Api<'_>, org: &str, user: &str) -> String {
    let listing = provider.expect(200, "GET", &format!("/v1/admin/users?org={org}&name_contains={user}"), None).await;
    let found = listing["items"].as_array().unwrap().iter().find(|u| u["name"] == user);
    found.unwrap_or_else(|| panic!("no user {user}: {listing}"))["id"].as_str().unwrap().to_owned()
}

/// The native session token of a fresh login, or the status of a refused one.
async fn login(server: &Server, org: &str, user: &str, password: &str) -> Result<String, u16> {
    match native_login(&http(), &server.url, org, user, password).await {
        (201, body) => Ok(body["token"].as_str().unwrap().to_owned()),
        (status, _) => Err(status),
    }
}

/// The kinds and actors of the audit events `query` selects, newest first.
async fn audit_trail(caller: &Api<'_>, query: &str) -> Vec<(String, String)> {
    let events = caller.expect(200, "GET", &format!("/v1/admin/audit?{query}"), None).await;
    let actor = |a: &Value| match a["type"].as_str().unwrap() {
        "api_token" => format!("token:{}", a["name"].as_str().unwrap()),
        "session" => format!("{}/{}", a["org"].as_str().unwrap(), a["user"].as_str().unwrap()),
        other => other.to_owned(),
    };
    let items = events["items"].as_array().unwrap();
    items.iter().map(|e| (e["event"]["kind"].as_str().unwrap().to_owned(), actor(&e["actor"]))).collect()
}

const UNKNOWN_ID: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn orgs_are_created_and_deleted_by_the_provider_alone() {
    let (server, provider_token) = tenant_server(&[]);
    let provider = api(&server, &provider_token);
    let created =
        provider.expect(201, "POST", "/v1/admin/orgs", Some(json!({"name": "acme", "full_name": "Acme Inc."}))).await;
    assert_eq!((created["name"].as_str(), created["full_name"].as_str()), (Some("acme"), Some("Acme Inc.")));
    provider.refused(409, "conflict", "already exists", "POST", "/v1/admin/orgs", Some(json!({"name": "ACME"}))).await;
    provider
        .refused(400, "invalid_request", "white space", "POST", "/v1/admin/orgs", Some(json!({"name": " x"})))
        .await;
    provider.refused(400, "invalid_request", "'/'", "POST", "/v1/admin/orgs", Some(json!({"name": "a/b"}))).await;
    provider
        .refused(400, "invalid_request", "fields and types", "POST", "/v1/admin/orgs", Some(json!({"nom": "x"})))
        .await;

    let olive = create_token(&server, "olive-token", "Organization Administrator", "org1");
    let tenant = api(&server, &olive);
    tenant
        .refused(403, "forbidden", "may not create organisations", "POST", "/v1/admin/orgs", Some(json!({"name": "x"})))
        .await;
    let acme = created["id"].as_str().unwrap();
    tenant.refused(403, "forbidden", "may not delete", "DELETE", &format!("/v1/admin/orgs/{acme}"), None).await;

    provider.refused(400, "invalid_request", "not a UUID", "DELETE", "/v1/admin/orgs/acme", None).await;
    provider.refused(404, "not_found", "does not exist", "DELETE", &format!("/v1/admin/orgs/{UNKNOWN_ID}"), None).await;
    let system = org_id(&provider, "System").await;
    provider
        .refused(409, "conflict", "System org cannot be deleted", "DELETE", &format!("/v1/admin/orgs/{system}"), None)
        .await;
    let org1 = org_id(&provider, "org1").await;
    provider.refused(409, "conflict", "still has users", "DELETE", &format!("/v1/admin/orgs/{org1}"), None).await;
    provider.expect(204, "DELETE", &format!("/v1/admin/orgs/{acme}"), None).await;
    provider.refused(404, "not_found", "does not exist", "DELETE", &format!("/v1/admin/orgs/{acme}"), None).await;
    assert_eq!(names(&provider.expect(200, "GET", "/v1/admin/orgs", None).await), ["org1", "System"]);

    let trail = audit_trail(&provider, "kind=org_created,org_deleted&org=acme").await;
    let by_provider = |kind: &str| (kind.to_owned(), "token:provider".to_owned());
    assert_eq!(trail, [by_provider("org_deleted"), by_provider("org_created")]);
}

#[tokio::test]
async fn users_are_created_changed_and_deleted_and_every_change_is_audited() {
    let (server, provider_token) =
        tenant_server(&[("TOLLGATE_LOCKOUT__MAX_FAILURES", "2"), ("TOLLGATE_THROTTLE__LOGIN_BURST", "0")]);
    let provider = api(&server, &provider_token);
    let new_user = |name: &str, roles: Value, password: &str| json!({"org": "org1", "name": name, "roles": roles, "password": password});
    let bob =
        provider.expect(201, "POST", "/v1/admin/users", Some(new_user("bob", json!(["vApp User"]), "Bob-Pw-1"))).await;
    assert_eq!(
        (bob["org"].as_str(), bob["enabled"].as_bool(), bob["locked"].as_bool()),
        (Some("org1"), Some(true), Some(false))
    );
    assert_eq!(bob["roles"], json!(["vApp User"]));
    let bob_id = bob["id"].as_str().unwrap().to_owned();
    let bob_session = login(&server, "org1", "bob", "Bob-Pw-1").await.expect("bob logs in");

    let users = "/v1/admin/users";
    provider.refused(409, "conflict", "", "POST", users, Some(new_user("BOB", json!(["vApp User"]), "Bob-Pw-1"))).await;
    provider
        .refused(
            404,
            "not_found",
            "role \"Nope\" does not exist",
            "POST",
            users,
            Some(new_user("x", json!(["Nope"]), "X-Pw-1234")),
        )
        .await;
    let unknown_org = json!({"org": "nope", "name": "x", "roles": ["vApp User"], "password": "X-Pw-1234"});
    provider.refused(404, "not_found", "org \"nope\" does not exist", "POST", users, Some(unknown_org)).await;
    provider
        .refused(
            400,
            "invalid_request",
            "at least one role",
            "POST",
            users,
            Some(new_user("x", json!([]), "X-Pw-1234")),
        )
        .await;
    provider
        .refused(400, "invalid_request", "", "POST", users, Some(new_user("x", json!(["vApp User"]), "short")))
        .await;

    // Listing: filters and pages.
    let names_of = |listing: &Value| names(listing).into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        names_of(&provider.expect(200, "GET", "/v1/admin/users?org=org1", None).await),
        ["olive", "alice", "bob"]
    );
    assert_eq!(
        names_of(&provider.expect(200, "GET", "/v1/admin/users?org=org1&role=vapp%20user", None).await),
        ["alice", "bob"]
    );
    let first = provider.expect(200, "GET", "/v1/admin/users?role=vApp%20User&limit=1", None).await;
    assert_eq!(names_of(&first), ["alice"]);
    let after = first["next_after"].as_i64().expect("a next page");
    let second =
        provider.expect(200, "GET", &format!("/v1/admin/users?role=vApp%20User&limit=1&after={after}"), None).await;
    assert_eq!((names_of(&second), second.get("next_after")), (vec!["bob".to_owned()], None), "{second}");
    assert_eq!(names_of(&provider.expect(200, "GET", "/v1/admin/users?name_contains=LIV", None).await), ["olive"]);
    assert_eq!(
        names_of(&provider.expect(200, "GET", "/v1/admin/users?source=local&org=System", None).await),
        ["administrator"]
    );
    for (query, says) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("after=-1", "after"),
        ("enabled=maybe", "enabled"),
        ("colour=red", "colour"),
    ] {
        provider.refused(400, "invalid_request", says, "GET", &format!("/v1/admin/users?{query}"), None).await;
    }
    provider.refused(404, "not_found", "org \"nope\"", "GET", "/v1/admin/users?org=nope", None).await;
    provider.refused(400, "invalid_request", "not a UUID", "GET", "/v1/admin/users/bob", None).await;
    provider.refused(404, "not_found", "does not exist", "GET", &format!("/v1/admin/users/{UNKNOWN_ID}"), None).await;

    // Roles.
    let user = format!("/v1/admin/users/{bob_id}");
    let changed = provider
        .expect(200, "PUT", &format!("{user}/roles"), Some(json!({"roles": ["vApp Author", "Catalog Author"]})))
        .await;
    assert_eq!(changed["roles"].as_array().unwrap().len(), 2, "{changed}");
    provider
        .refused(
            400,
            "invalid_request",
            "at least one role",
            "PUT",
            &format!("{user}/roles"),
            Some(json!({"roles": []})),
        )
        .await;
    provider
        .refused(404, "not_found", "role \"Nope\"", "PUT", &format!("{user}/roles"), Some(json!({"roles": ["Nope"]})))
        .await;

    // Disabling ends the user's sessions and refuses their logins; enabling lets them in again.
    let disabled = provider.expect(200, "PUT", &format!("{user}/enabled"), Some(json!({"enabled": false}))).await;
    assert_eq!(disabled["enabled"], false);
    assert_eq!(api(&server, &bob_session).get("/v1/sessions/current").await.0, 401, "disabling ends the sessions");
    assert_eq!(login(&server, "org1", "bob", "Bob-Pw-1").await, Err(401));
    assert_eq!(names_of(&provider.expect(200, "GET", "/v1/admin/users?enabled=false", None).await), ["bob"]);
    provider.expect(200, "PUT", &format!("{user}/enabled"), Some(json!({"enabled": true}))).await;
    let bob_session = login(&server, "org1", "bob", "Bob-Pw-1").await.expect("enabled again");

    // Two failures lock bob out for this address; unlocking lets him in.
    for _ in 0..2 {
        assert_eq!(login(&server, "org1", "bob", "wrong").await, Err(401));
    }
    let locked = provider.expect(200, "GET", &user, None).await;
    assert_eq!(locked["locked_for"].as_array().map(Vec::len), Some(1), "{locked}");
    assert_eq!(login(&server, "org1", "bob", "Bob-Pw-1").await, Err(401), "locked out");
    let unlocked = provider.expect(200, "POST", &format!("{user}/unlock"), None).await;
    assert_eq!(unlocked["locked_for"], json!([]), "{unlocked}");
    login(&server, "org1", "bob", "Bob-Pw-1").await.expect("unlocked");

    // A new password ends the sessions of the old one.
    provider
        .refused(400, "invalid_request", "", "PUT", &format!("{user}/password"), Some(json!({"password": "short"})))
        .await;
    provider.expect(204, "PUT", &format!("{user}/password"), Some(json!({"password": "Bob-New-Pw-2"}))).await;
    assert_eq!(api(&server, &bob_session).get("/v1/sessions/current").await.0, 401);
    assert_eq!(login(&server, "org1", "bob", "Bob-Pw-1").await, Err(401));
    let bob_session = login(&server, "org1", "bob", "Bob-New-Pw-2").await.expect("the new password");
    login(&server, "org1", "bob", "Bob-New-Pw-2").await.expect("a second session");

    let revoked = provider.expect(200, "DELETE", &format!("{user}/sessions"), None).await;
    assert_eq!(revoked["revoked"], 2);
    assert_eq!(api(&server, &bob_session).get("/v1/sessions/current").await.0, 401);

    let bob_session = login(&server, "org1", "bob", "Bob-New-Pw-2").await.expect("bob once more");
    provider.expect(204, "DELETE", &user, None).await;
    assert_eq!(api(&server, &bob_session).get("/v1/sessions/current").await.0, 401, "deleting ends the sessions");
    provider.refused(404, "not_found", "does not exist", "GET", &user, None).await;
    provider.refused(404, "not_found", "does not exist", "DELETE", &user, None).await;

    let kinds = "user_created,roles_changed,user_disabled,user_enabled,unlock,password_set,user_deleted,lockout";
    let trail = audit_trail(&provider, &format!("org=org1&user=bob&kind={kinds}")).await;
    let by = |kind: &str, actor: &str| (kind.to_owned(), actor.to_owned());
    let provider_did = |kind: &str| by(kind, "token:provider");
    assert_eq!(
        trail,
        [
            provider_did("user_deleted"),
            provider_did("password_set"),
            // The filter names the kind `unlock`; the event's JSON calls it `unlocked`.
            provider_did("unlocked"),
            by("lockout", "system"),
            provider_did("user_enabled"),
            provider_did("user_disabled"),
            provider_did("roles_changed"),
            provider_did("user_created"),
        ]
    );
}

#[tokio::test]
async fn sessions_are_listed_filtered_paged_and_revoked() {
    let (server, provider_token) = tenant_server(&[]);
    let provider = api(&server, &provider_token);
    let alice = login(&server, "org1", "alice", "Alice-Pw-1").await.unwrap();
    let alice_again = login(&server, "org1", "alice", "Alice-Pw-1").await.unwrap();
    let olive = login(&server, "org1", "olive", "Olive-Pw-1").await.unwrap();
    let client = http();
    let (vcloud, _, vcd_id) = support::vcd_login(&client, &server.url, "alice", "org1", "Alice-Pw-1").await;

    let listed = |listing: &Value| -> Vec<(String, String)> {
        let items = listing["items"].as_array().unwrap();
        items
            .iter()
            .map(|s| (s["user"].as_str().unwrap().to_owned(), s["dialect"].as_str().unwrap().to_owned()))
            .collect()
    };
    let pair = |user: &str, dialect: &str| (user.to_owned(), dialect.to_owned());
    let all = provider.expect(200, "GET", "/v1/admin/sessions?org=org1", None).await;
    assert_eq!(
        listed(&all),
        [pair("alice", "vcd"), pair("olive", "native"), pair("alice", "native"), pair("alice", "native")]
    );
    let alices = provider.expect(200, "GET", "/v1/admin/sessions?org=org1&user=alice&dialect=native", None).await;
    assert_eq!(listed(&alices).len(), 2);
    let first = provider.expect(200, "GET", "/v1/admin/sessions?org=org1&limit=3", None).await;
    let after = first["next_after"].as_i64().expect("a second page");
    let rest = provider.expect(200, "GET", &format!("/v1/admin/sessions?org=org1&limit=3&after={after}"), None).await;
    assert_eq!(listed(&rest), [pair("alice", "native")]);
    // Without an org, a user name is looked for in the caller's own (System has no alice).
    provider.refused(404, "not_found", "user \"alice\"", "GET", "/v1/admin/sessions?user=alice", None).await;
    provider.refused(404, "not_found", "user \"nobody\"", "GET", "/v1/admin/sessions?org=org1&user=nobody", None).await;

    let vcd_session = provider.expect(200, "GET", &format!("/v1/admin/sessions/{vcd_id}"), None).await;
    assert_eq!((vcd_session["state"].as_str(), vcd_session["org"].as_str()), (Some("LOGGED_IN"), Some("org1")));
    let ended = provider.expect(200, "DELETE", &format!("/v1/admin/sessions/{vcd_id}"), None).await;
    assert_eq!(ended["id"].as_str(), Some(vcd_id.as_str()));
    assert_eq!(support::session_status(&client, &server.url, &vcloud).await, 401, "a revoked session is over");
    let gone = provider.expect(200, "GET", &format!("/v1/admin/sessions/{vcd_id}"), None).await;
    assert_eq!(gone["state"], "TERMINATED");
    provider.refused(404, "not_found", "does not exist", "DELETE", &format!("/v1/admin/sessions/{vcd_id}"), None).await;
    provider.refused(400, "invalid_request", "not a UUID", "GET", "/v1/admin/sessions/123", None).await;
    provider
        .refused(404, "not_found", "does not exist", "GET", &format!("/v1/admin/sessions/{UNKNOWN_ID}"), None)
        .await;
    let with_ended = provider.expect(200, "GET", "/v1/admin/sessions?org=org1&all=true", None).await;
    assert_eq!(listed(&with_ended).len(), 4);
    assert_eq!(listed(&provider.expect(200, "GET", "/v1/admin/sessions?org=org1", None).await).len(), 3);

    // The org's administrator ends a session of their org through their own native session.
    let alice_id =
        api(&server, &alice).expect(200, "GET", "/v1/sessions/current", None).await["id"].as_str().unwrap().to_owned();
    api(&server, &olive).expect(200, "DELETE", &format!("/v1/admin/sessions/{alice_id}"), None).await;
    assert_eq!(api(&server, &alice).get("/v1/sessions/current").await.0, 401);
    assert_eq!(api(&server, &alice_again).get("/v1/sessions/current").await.0, 200, "the other one lives");
    let trail = audit_trail(&provider, "kind=revocation&org=org1").await;
    assert_eq!(
        trail,
        [("revocation".to_owned(), "org1/olive".to_owned()), ("revocation".to_owned(), "token:provider".to_owned())]
    );
}

#[tokio::test]
async fn a_tenant_administrator_keeps_to_their_org_and_an_auditor_changes_nothing() {
    let (server, provider_token) = tenant_server(&[]);
    let provider = api(&server, &provider_token);
    server.cli_ok(&["org", "add", "org2"], None);
    server.add_user("org2", "carol", "vApp User", "Carol-Pw-1");
    let admin_id = user_id(&provider, "System", "administrator").await;
    let alice_id = user_id(&provider, "org1", "alice").await;
    let carol_id = user_id(&provider, "org2", "carol").await;
    let admin_session = login(&server, "System", "administrator", support::ADMIN_PASSWORD).await.unwrap();
    let admin_session_id = api(&server, &admin_session).expect(200, "GET", "/v1/sessions/current", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let olive = login(&server, "org1", "olive", "Olive-Pw-1").await.unwrap();
    let tenant_token = create_token(&server, "org1-admin", "Organization Administrator", "org1");
    for tenant in [api(&server, &olive), api(&server, &tenant_token)] {
        assert_eq!(
            names(&tenant.expect(200, "GET", "/v1/admin/users", None).await),
            ["olive", "alice"],
            "their own org"
        );
        tenant.expect(200, "GET", &format!("/v1/admin/users/{alice_id}"), None).await;
        assert!(!tenant.expect(200, "GET", "/v1/admin/roles", None).await["items"].as_array().unwrap().is_empty());
        for (method, path, body) in [
            ("GET", "/v1/admin/users?org=System".to_owned(), None),
            ("GET", format!("/v1/admin/users/{admin_id}"), None),
            ("GET", format!("/v1/admin/users/{carol_id}"), None),
            ("PUT", format!("/v1/admin/users/{admin_id}/enabled"), Some(json!({"enabled": false}))),
            ("PUT", format!("/v1/admin/users/{admin_id}/password"), Some(json!({"password": "Taken-Over-1"}))),
            ("DELETE", format!("/v1/admin/users/{carol_id}"), None),
            (
                "POST",
                "/v1/admin/users".to_owned(),
                Some(
                    json!({"org": "System", "name": "mole", "roles": ["System Administrator"], "password": "Mole-Pw-12"}),
                ),
            ),
            ("GET", "/v1/admin/sessions?org=System".to_owned(), None),
            ("DELETE", format!("/v1/admin/sessions/{admin_session_id}"), None),
            ("GET", "/v1/admin/audit?org=System".to_owned(), None),
            ("GET", "/v1/admin/sources".to_owned(), None),
            ("POST", "/v1/admin/sources/local/test".to_owned(), Some(json!({}))),
        ] {
            tenant.refused(403, "forbidden", "may not", method, &path, body).await;
        }
        let own_audit = audit_trail(&tenant, "").await;
        assert!(!own_audit.is_empty() && own_audit.iter().all(|(kind, _)| kind != "token_created"), "{own_audit:?}");
    }
    assert_eq!(api(&server, &admin_session).get("/v1/sessions/current").await.0, 200, "System's session untouched");
    let admin = provider.expect(200, "GET", &format!("/v1/admin/users/{admin_id}"), None).await;
    assert_eq!(admin["enabled"], true);

    let auditor = api(&server, &create_token(&server, "org1-audit", "Auditor", "org1"));
    assert_eq!(names(&auditor.expect(200, "GET", "/v1/admin/users", None).await), ["olive", "alice"]);
    auditor.expect(200, "GET", "/v1/admin/sessions", None).await;
    auditor.expect(200, "GET", "/v1/admin/audit?kind=login", None).await;
    for (method, path, body) in [
        (
            "POST",
            "/v1/admin/users".to_owned(),
            Some(json!({"org": "org1", "name": "x", "roles": ["vApp User"], "password": "X-Pw-12345"})),
        ),
        ("PUT", format!("/v1/admin/users/{alice_id}/enabled"), Some(json!({"enabled": false}))),
        ("PUT", format!("/v1/admin/users/{alice_id}/roles"), Some(json!({"roles": ["Organization Administrator"]}))),
        ("POST", format!("/v1/admin/users/{alice_id}/unlock"), None),
        ("DELETE", format!("/v1/admin/users/{alice_id}/sessions"), None),
        ("DELETE", format!("/v1/admin/users/{alice_id}"), None),
    ] {
        auditor.refused(403, "forbidden", "may not", method, &path, body).await;
    }

    // A plain user's session is no admin's.
    let alice = api(&server, &login(&server, "org1", "alice", "Alice-Pw-1").await.unwrap());
    alice.refused(403, "forbidden", "may not", "GET", "/v1/admin/users", None).await;
    alice.refused(403, "forbidden", "may not", "GET", "/v1/admin/roles", None).await;
}

#[tokio::test]
async fn identity_sources_are_listed_and_tested_by_the_provider() {
    let (server, provider_token) = tenant_server(&[]);
    let provider = api(&server, &provider_token);
    let sources = provider.expect(200, "GET", "/v1/admin/sources", None).await;
    assert_eq!(sources["items"], json!([{"name": "local", "kind": "local"}]));
    let report = provider.expect(200, "POST", "/v1/admin/sources/local/test", Some(json!({"user": "alice"}))).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["steps"][0]["step"], "local accounts");
    provider
        .refused(
            404,
            "not_found",
            "identity source \"corp\" does not exist",
            "POST",
            "/v1/admin/sources/corp/test",
            Some(json!({})),
        )
        .await;
    let alone = provider.expect(200, "POST", "/v1/admin/sources/local/test", Some(json!({"password": "x"}))).await;
    let last = alone["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&alone["ok"], &last["step"], &last["ok"], &last["detail"]),
        (&json!(false), &json!("password check"), &json!(false), &json!("needs a user to check the password of")),
        "a password alone is a failed step: {alone}"
    );
    let roles = provider.expect(200, "GET", "/v1/admin/roles", None).await;
    assert!(roles["items"].as_array().unwrap().iter().any(|r| r["name"] == "Auditor"), "{roles}");
}

/// The README's admin API examples, replayed as they stand (with `B` and `T`, which the README
/// sets before them) by bash against a live server: each curl must succeed (`-f`).
#[test]
fn the_readme_admin_api_examples_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after_marker = readme.split("<!-- admin-api-examples -->").nth(1).expect("the README marks its examples");
    let block = after_marker.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let server = Server::start(support::Options { http: true, ..support::Options::default() });
    let token = create_token(&server, "readme", "System Administrator", "System");
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .env("B", &server.url)
        .env("T", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // curl prints JSON bodies without a newline: look for each answer anywhere in the output.
    for expected in
        ["System\n", "alice\n", "LOGGED_IN\n", "}true\n", "user_created by readme\n", "roles_changed by readme\n"]
    {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
    assert!(stdout.contains(r#"{"revoked":0}"#), "{stdout}");
}
