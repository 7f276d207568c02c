//! Forward authentication through a real nginx (`auth_request` to `/v1/auth/verify`) in front
//! of a real upstream: real clients' tokens open it, no token, a logged-out token or a missing
//! role does not, and the upstream sees who is calling.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ADMIN_PASSWORD, Options, Server, clients_dir, http, native_login, python_summary, tool, venv};

/// A child process stopped (SIGTERM, then waited for) when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The README's section on forward authentication, whose nginx configuration this test runs.
const README: &str = include_str!("../../../README.md");

/// The README's fenced nginx block that contains `marker`.
fn readme_nginx_block(marker: &str) -> &'static str {
    let section = README.split("## Forward authentication").nth(1).expect("the README's forward-auth section");
    section
        .split("```nginx\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no nginx block with {marker:?} in the README's forward-auth section"))
}

/// `text` with `from` replaced by `to`, which must be there: the README must not drift from
/// what this test runs.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the README's nginx configuration no longer has {from:?}:\n{text}");
    text.replace(from, to)
}

/// The nginx configuration the README documents (`/app/` admits any live session, `/admin/`
/// only System Administrators), with this test's ports and directories: plain HTTP on a free
/// loopback port in place of TLS on 443, and the paths an unprivileged nginx writes to.
/// Writes the two files it includes into `dir`, and returns the main one.
fn nginx_config(dir: &Path, port: u16, tollgate: &str, upstream: u16) -> String {
    let d = dir.display();
    for (name, marker) in [
        ("tollgate-verify.conf", "# /etc/nginx/tollgate-verify.conf"),
        ("tollgate-identity.conf", "# /etc/nginx/tollgate-identity.conf"),
    ] {
        std::fs::write(dir.join(name), readme_nginx_block(marker)).unwrap();
    }
    let config = readme_nginx_block("upstream tollgate");
    let config = replaced(
        config,
        "events {}\n",
        &format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log notice;\nevents {{ worker_connections 64; }}\n"
        ),
    );
    let config = replaced(
        &config,
        "http {\n",
        &format!(
            "http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  \
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n"
        ),
    );
    let config = replaced(
        &config,
        "    listen 443 ssl;\n    ssl_certificate     /etc/nginx/tls/cert.pem;\n    ssl_certificate_key /etc/nginx/tls/key.pem;\n",
        &format!("    listen 127.0.0.1:{port};\n"),
    );
    let config = replaced(&config, "server 127.0.0.1:8080;", &format!("server {tollgate};"));
    let config = replaced(&config, "http://127.0.0.1:9000;", &format!("http://127.0.0.1:{upstream};"));
    replaced(&config, "/etc/nginx/", &format!("{d}/"))
}

struct Proxied {
    url: String,
    _nginx: Running,
    _upstream: Running,
    _dir: tempfile::TempDir,
}

/// nginx on a free loopback port in front of the echo upstream, asking `tollgate` (host:port).
fn proxy(nginx: &Path, python: &Path, tollgate: &str) -> Proxied {
    let mut upstream = Command::new(python)
        .arg(clients_dir().join("proxy/echo_upstream.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the upstream");
    let mut line = String::new();
    BufReader::new(upstream.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let upstream_port: u16 = line.trim().strip_prefix("listening ").expect("the upstream's port").parse().unwrap();
    let upstream = Running(upstream);

    let dir = tempfile::tempdir().unwrap();
    // nginx's workers run as nobody when it starts as root: they must reach the directory.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("nginx.conf"), nginx_config(dir.path(), port, tollgate, upstream_port)).unwrap();
    let config = dir.path().join("nginx.conf");
    let started = Command::new(nginx)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let nginx = Running(started);
    wait_for_port(port, "nginx");
    Proxied { url: format!("http://127.0.0.1:{port}"), _nginx: nginx, _upstream: upstream, _dir: dir }
}

#[tokio::test]
async fn real_client_tokens_open_an_upstream_behind_nginx_and_nothing_else_does() {
    let (Some(nginx), Some(venv)) = (tool("nginx"), venv()) else { return };
    let server = Server::start(Options {
        http: true,
        env: vec![("TOLLGATE_TRUSTED_PROXIES".into(), "[\"127.0.0.1\"]".into())],
        ..Options::default()
    });
    server.add_tenant("org1", "alice", "alice-pw-1");
    let tollgate = server.url.strip_prefix("http://").unwrap().to_owned();
    let proxied = proxy(&nginx, &venv.join("bin/python"), &tollgate);

    for client in ["bluecat", "pyvcloud"] {
        let seen = python_summary(
            &venv,
            "proxy/forward_auth_flow.py",
            &[
                "--client",
                client,
                "--tollgate",
                &server.url,
                "--proxy",
                &proxied.url,
                "--user",
                "administrator",
                "--password",
                ADMIN_PASSWORD,
            ],
        );
        let dialect = if client == "bluecat" { "bluecat" } else { "vcd" };
        let upstream = &seen["upstream_saw"];
        assert_eq!(upstream["path"], "/app/hello", "{client}: {seen}");
        assert_eq!(upstream["X-Tollgate-User"], "administrator", "{client}: {seen}");
        assert_eq!(upstream["X-Tollgate-Org"], "System", "{client}: {seen}");
        assert_eq!(upstream["X-Tollgate-Roles"], "System Administrator", "{client}: {seen}");
        assert_eq!(upstream["X-Tollgate-Dialect"], dialect, "{client}: {seen}");
        assert_eq!(upstream["X-Tollgate-Session"].as_str().unwrap().len(), 36, "{client}: a session id: {seen}");
        assert_eq!(seen["forged_upstream_saw"]["X-Tollgate-User"], "administrator", "{client}: nginx replaces it");
        assert_eq!(seen["admin_status"], 200, "{client}: the administrator holds the gate's role");
        assert_eq!(seen["after_logout_status"], 401, "{client}: a logged-out token opens nothing");
    }

    let client = http();
    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(format!("{}{path}", proxied.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get("/app/hello", None).await.unwrap().status(), 401, "no token");
    assert_eq!(get("/app/hello", Some("no-such-token")).await.unwrap().status(), 401, "an unknown token");
    let (status, login) = native_login(&client, &server.url, "org1", "alice", "alice-pw-1").await;
    assert_eq!(status, 201);
    let alice = login["token"].as_str().unwrap().to_owned();
    let opened = get("/app/hello", Some(&alice)).await.unwrap();
    assert_eq!(opened.status(), 200);
    let upstream: Value = opened.json().await.unwrap();
    assert_eq!(upstream["X-Tollgate-User"], "alice");
    assert_eq!(upstream["X-Tollgate-Org"], "org1");
    assert_eq!(upstream["X-Tollgate-Dialect"], "native");
    assert_eq!(get("/admin/panel", Some(&alice)).await.unwrap().status(), 403, "alice lacks the gate's role");
}

#[tokio::test]
async fn verify_answers_each_dialect_header_directly() {
    let server = Server::start(Options { http: true, ..Options::default() });
    let client = http();
    let verify = format!("{}/v1/auth/verify", server.url);
    let (vcloud, access, _) = support::vcd_login(&client, &server.url, "administrator", "System", ADMIN_PASSWORD).await;
    for (header, token) in [("x-vcloud-authorization", &vcloud), ("x-vmware-vcloud-access-token", &access)] {
        let reply = client.get(&verify).header(header, token.as_str()).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{header}");
        assert_eq!(reply.headers()["x-tollgate-dialect"], "vcd");
        assert_eq!(reply.headers()["x-tollgate-user"], "administrator");
    }
    // Envoy keeps the method and appends the original path.
    let envoy = client.post(format!("{verify}/some/original/path")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(envoy.status(), 200);
    // A token of one dialect in another's header is no token there.
    let wrong = client.get(&verify).header("x-hm-authorization", vcloud.as_str()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "native error shape");
    let gate = |roles: &str| client.get(format!("{verify}?roles={roles}")).bearer_auth(&access).send();
    assert_eq!(gate("Organization%20Administrator,system%20administrator").await.unwrap().status(), 200);
    let refused = gate("Organization%20Administrator").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "forbidden");
    let too_many = vec!["r"; 17].join(",");
    assert_eq!(gate(&too_many).await.unwrap().status(), 400);
}
