//! Runs the real `tollgate` binary in a temporary data directory on a free loopback port,
//! and the real Python clients from the venv `scripts/setup-clients.sh` makes.

#![allow(dead_code)] // each test file uses its own part of this

pub mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "Admin-Pw-1";

pub struct Server {
    child: Option<Child>,
    pub data: tempfile::TempDir,
    pub url: String,
    /// Listeners of single dialects: (dialect, URL).
    pub dialect_urls: Vec<(String, String)>,
    /// Everything else the server printed on stdout before it announced its address.
    pub banner: Vec<String>,
    options: Options,
}

#[derive(Clone, Default)]
pub struct Options {
    pub http: bool,
    pub no_bootstrap: bool,
    /// Leave TOLLGATE_ADMIN_PASSWORD unset, so that one is generated.
    pub generate_password: bool,
    pub env: Vec<(String, String)>,
    /// Start the server under this umask (through `sh -c 'umask …; exec tollgate …'`).
    pub umask: Option<u32>,
    /// Serve from `tollgate-data` inside the temporary directory, which the server creates,
    /// rather than from the temporary directory itself: see [`Server::data_dir`].
    pub fresh_data_dir: bool,
    /// More `serve` arguments, e.g. `--fixtures FILE`.
    pub args: Vec<String>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tollgate")
}

impl Server {
    pub fn start(options: Options) -> Server {
        let data = tempfile::tempdir().expect("temporary data directory");
        let mut server =
            Server { child: None, data, url: String::new(), dialect_urls: Vec::new(), banner: Vec::new(), options };
        server.launch();
        server
    }

    pub fn start_default() -> Server {
        Server::start(Options::default())
    }

    /// The server's data directory: the temporary directory, or the `tollgate-data` in it
    /// ([`Options::fresh_data_dir`]).
    pub fn data_dir(&self) -> PathBuf {
        match self.options.fresh_data_dir {
            true => self.data.path().join("tollgate-data"),
            false => self.data.path().to_owned(),
        }
    }

    fn launch(&mut self) {
        let mut command = match self.options.umask {
            Some(umask) => {
                let mut shell = Command::new("sh");
                shell.arg("-c").arg(format!("umask {umask:03o} && exec \"$0\" \"$@\"")).arg(binary());
                shell
            }
            None => Command::new(binary()),
        };
        command.arg("--data").arg(self.data_dir()).args(["serve", "--listen", "127.0.0.1:0"]);
        if self.options.http {
            command.arg("--http");
        }
        if self.options.no_bootstrap {
            command.arg("--no-bootstrap");
        }
        command.args(&self.options.args);
        command.env_remove("TOLLGATE_ADMIN_PASSWORD");
        if !self.options.generate_password {
            command.env("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD);
        }
        command.env("TOLLGATE_LOG", "info");
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        command.stdout(Stdio::piped()).stderr(log).stdin(Stdio::null());
        let mut child = command.spawn().expect("start tollgate");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        self.banner.clear();
        self.dialect_urls.clear();
        loop {
            match lines_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("tollgate listening on ") {
                        self.url = url.trim().to_owned();
                        return;
                    }
                    let dialect_listener = line
                        .strip_prefix("tollgate ")
                        .and_then(|rest| rest.split_once(" listening on "))
                        .map(|(dialect, url)| (dialect.to_owned(), url.trim().to_owned()));
                    match dialect_listener {
                        Some(listener) => self.dialect_urls.push(listener),
                        None => self.banner.push(line),
                    }
                }
                Err(_) => panic!("tollgate did not start; its log:\n{}", self.log()),
            }
        }
    }

    /// The URL of `dialect`'s own listener.
    pub fn dialect_url(&self, dialect: &str) -> &str {
        self.dialect_urls
            .iter()
            .find(|(d, _)| d == dialect)
            .map(|(_, url)| url.as_str())
            .expect("a listener of its own")
    }

    pub fn log_path(&self) -> PathBuf {
        self.data.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no shutdown path runs.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// The options the next [`Server::restart`] starts with.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// Starts again on the same data directory.
    pub fn restart(&mut self) {
        self.crash();
        self.launch();
    }

    /// Runs a `tollgate` command against this server's data directory, with the server's
    /// environment (its configuration, such as `TOLLGATE_PASSWORDS__MIN_LENGTH`).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let env: Vec<(&str, &str)> = self.options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        cli_with_env(&self.data_dir(), args, stdin, &env)
    }

    /// Like [`Server::cli`], insisting it succeeds; returns its stdout.
    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let output = self.cli(args, stdin);
        assert!(output.status.success(), "tollgate {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Adds a user to an existing org.
    pub fn add_user(&self, org: &str, user: &str, role: &str, password: &str) {
        self.cli_ok(&["user", "add", user, "--org", org, "--role", role, "--password-stdin"], Some(password));
    }

    pub fn add_tenant(&self, org: &str, user: &str, password: &str) {
        self.cli_ok(&["org", "add", org], None);
        self.cli_ok(
            &["user", "add", user, "--org", org, "--role", "Organization Administrator", "--password-stdin"],
            Some(password),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.crash();
    }
}

pub fn cli(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    cli_with_env(data, args, stdin, &[])
}

/// `tollgate --data DATA ARGS…` with `env` and without TOLLGATE_ADMIN_PASSWORD, its output
/// captured.
fn command(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TOLLGATE_ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Like [`cli`], with these environment variables set.
pub fn cli_with_env(data: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut child = command(data, args, env).stdin(Stdio::piped()).spawn().expect("run tollgate");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        // A command that fails before it reads its input may have closed it already.
        if let Err(e) = writeln!(pipe, "{input}") {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing tollgate {args:?}'s input: {e}");
        }
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Runs `tollgate serve` on `data` with `args` and `env` until it exits by itself (within 30 s,
/// or the test fails): for starts that must fail. Its standard input is not a terminal.
pub fn serve_until_exit(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = ["serve"].into_iter().chain(args.iter().copied()).collect();
    let env: Vec<(&str, &str)> = [("TOLLGATE_LOG", "info")].into_iter().chain(env.iter().copied()).collect();
    let child = command(data, &args, &env).stdin(Stdio::null()).spawn().expect("run tollgate serve");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.expect("wait for tollgate serve"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("tollgate serve {args:?} kept running instead of failing");
        }
    }
}

/// The venv holding the Python clients, or `None` (and a note) when this run has none.
/// Under CI, or with TOLLGATE_REQUIRE_CLIENTS=1, a missing venv fails the test.
pub fn venv() -> Option<PathBuf> {
    let required = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
        || std::env::var_os("TOLLGATE_REQUIRE_CLIENTS").is_some_and(|v| v == "1");
    match std::env::var_os("TOLLGATE_TEST_VENV").map(PathBuf::from) {
        Some(venv) if venv.join("bin/python").exists() => Some(venv),
        _ if required => panic!("TOLLGATE_TEST_VENV does not name a venv with the clients: run scripts/test.sh"),
        _ => {
            eprintln!("note: no client venv (TOLLGATE_TEST_VENV); run scripts/test.sh for the black-box client tests");
            None
        }
    }
}

/// The path of `program` (promtool, nginx), or `None` (and a note) when it is not installed.
/// Under CI, or with TOLLGATE_REQUIRE_CLIENTS=1, a missing program fails the test:
/// `scripts/setup-ops-tools.sh` installs them.
pub fn tool(program: &str) -> Option<PathBuf> {
    let required = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
        || std::env::var_os("TOLLGATE_REQUIRE_CLIENTS").is_some_and(|v| v == "1");
    let found = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file());
    match found {
        Some(path) => Some(path),
        None if required => panic!("{program} is not installed: run scripts/setup-ops-tools.sh (as root)"),
        None => {
            eprintln!("note: {program} is not installed; run scripts/setup-ops-tools.sh for the tests that need it");
            None
        }
    }
}

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// Runs a client script with the venv's interpreter; returns (success, stdout, stderr).
pub fn python(venv: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(venv.join("bin/python"))
        .arg(clients_dir().join(script))
        .args(args)
        .env("TMPDIR", std::env::temp_dir())
        .output()
        .expect("run python");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a client driver and insists it succeeds; returns the one-line JSON summary of what it
/// observed, which every driver prints last on stdout.
pub fn python_summary(venv: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = python(venv, script, args);
    summary(&format!("{script} {args:?}"), ok, &stdout, &stderr)
}

/// The JSON summary on the last line of a driver's stdout; `ok` is whether it exited 0.
pub fn summary(what: &str, ok: bool, stdout: &str, stderr: &str) -> serde_json::Value {
    assert!(ok, "{what} failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: no JSON summary ({e}):\n{stdout}\n{stderr}"))
}

/// An HTTP/1.1 client that accepts the server's self-signed certificate.
pub fn http() -> reqwest::Client {
    http_builder().http1_only().build().unwrap()
}

/// A client that accepts the server's self-signed certificate, before its HTTP version is chosen.
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().danger_accept_invalid_certs(true)
}

/// A login of `user@org` at the cloudapi URL, ready to send.
pub fn vcd_login_request(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    org: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let path = if org.eq_ignore_ascii_case("System") { "sessions/provider" } else { "sessions" };
    client
        .post(format!("{url}/cloudapi/1.0.0/{path}"))
        .basic_auth(format!("{user}@{org}"), Some(password))
        .header("accept", "application/json;version=36.0")
}

/// Logs in at the cloudapi URL; returns (x-vcloud-authorization, access token, session id).
pub async fn vcd_login(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    org: &str,
    password: &str,
) -> (String, String, String) {
    let reply = vcd_login_request(client, url, user, org, password).send().await.unwrap();
    assert_eq!(reply.status(), 200, "login of {user}@{org}");
    let header = |name: &str| reply.headers()[name].to_str().unwrap().to_owned();
    let (vcloud, access) = (header("x-vcloud-authorization"), header("x-vmware-vcloud-access-token"));
    let body: serde_json::Value = reply.json().await.unwrap();
    let id = body["id"].as_str().unwrap().rsplit(':').next().unwrap().to_owned();
    (vcloud, access, id)
}

/// Logs in to the native API; returns the status and the JSON body (the token in `token`).
pub async fn native_login(
    client: &reqwest::Client,
    url: &str,
    org: &str,
    user: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    let reply = client
        .post(format!("{url}/v1/sessions"))
        .json(&serde_json::json!({"org": org, "username": user, "password": password}))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

/// The status of GET /api/session with `x-vcloud-authorization: token`.
pub async fn session_status(client: &reqwest::Client, url: &str, token: &str) -> u16 {
    client
        .get(format!("{url}/api/session"))
        .header("x-vcloud-authorization", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One HTTP/1.1 response read off a raw TCP connection.
#[derive(Debug)]
pub struct RawReply {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> &str {
        match self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, value)) => value,
            None => panic!("no {name} header: {self:#?}"),
        }
    }
}

/// Writes all of `request` (bytes as given: the test frames them) on a new TCP connection to
/// `address` (host:port), then reads one response (Content-Length framed). Writing must not
/// fail: a server that answers early still has to read what the client sends.
pub fn raw_exchange(address: &str, request: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    if let Err(e) = stream.write_all(request) {
        panic!("writing the {} bytes of the request failed: {e} ({:?})", request.len(), e.kind());
    }
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> RawReply {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).unwrap_or_else(|e| panic!("reading the response: {e}"));
        assert!(n > 0, "connection closed before a response: {:?}", String::from_utf8_lossy(&buffer));
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length")).map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawReply { status_line, headers, body: String::from_utf8(body).unwrap() }
}
