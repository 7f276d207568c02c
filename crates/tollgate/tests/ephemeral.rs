//! `tollgate serve --ephemeral`: one ready line with working URLs and credentials, a data
//! directory that is gone once the server stops, and a server that ends with its parent.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{binary, http, native_login, python_summary, vcd_login, venv};

/// A `tollgate serve --ephemeral --http` with its own TMPDIR, so that what it leaves there can
/// be looked at; `extra` are more `serve` arguments.
struct Ephemeral {
    child: Child,
    stdout: BufReader<ChildStdout>,
    tmp: tempfile::TempDir,
    ready: Value,
}

impl Ephemeral {
    fn start(extra: &[&str]) -> Ephemeral {
        let tmp = tempfile::tempdir().unwrap();
        let mut command = Command::new(binary());
        command.args(["serve", "--ephemeral", "--http"]).args(extra);
        let (child, stdout) = spawn_reading(command, tmp.path());
        let mut ephemeral = Ephemeral { child, stdout, tmp, ready: Value::Null };
        ephemeral.ready = ready_line(&mut ephemeral.stdout, tmp_log(ephemeral.tmp.path()));
        ephemeral
    }

    fn url(&self, dialect: &str) -> String {
        self.ready["dialects"][dialect].as_str().unwrap().to_owned()
    }

    fn admin_password(&self) -> String {
        self.ready["admin"]["password"].as_str().unwrap().to_owned()
    }

    fn data_dir(&self) -> PathBuf {
        PathBuf::from(self.ready["data_dir"].as_str().unwrap())
    }

    /// Sends `name` (TERM, INT), then waits for the exit; returns whether it succeeded and the
    /// rest of stdout.
    fn stop_with(&mut self, name: &str) -> (bool, String) {
        signal(self.child.id(), name);
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap().success(), rest)
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` with TMPDIR=`tmp`, its stderr into `tmp`'s log, its stdout piped.
fn spawn_reading(mut command: Command, tmp: &Path) -> (Child, BufReader<ChildStdout>) {
    let log = std::fs::File::create(tmp_log(tmp)).unwrap();
    command
        .env("TMPDIR", tmp)
        .env_remove("TOLLGATE_ADMIN_PASSWORD")
        .env("TOLLGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = command.spawn().expect("start tollgate");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// The server's log, beside (not inside) what it creates in `tmp`.
fn tmp_log(tmp: &Path) -> PathBuf {
    tmp.with_extension("log")
}

/// The first line on stdout, which must be the ready JSON.
fn ready_line(stdout: &mut BufReader<ChildStdout>, log: PathBuf) -> Value {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!("no ready line ({e}): {line:?}; log:\n{}", std::fs::read_to_string(log).unwrap_or_default())
    })
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

/// Waits up to 10 s for `done`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_ready_line_names_working_urls_and_credentials_and_sigterm_leaves_nothing_behind() {
    let server = Ephemeral::start(&[]);
    let ready = server.ready.clone();
    let data_dir = server.data_dir();
    assert!(data_dir.starts_with(server.tmp.path()), "{ready}");
    assert!(data_dir.join("tollgate.db").is_file(), "{ready}");
    assert_eq!((&ready["admin"]["org"], &ready["admin"]["username"]), (&"System".into(), &"administrator".into()));
    assert_eq!(ready["pid"], server.child.id());
    // The admin API token is a real one: the store lists it.
    assert!(ready["admin"]["api_token"].as_str().unwrap().starts_with("tga_"), "{ready}");
    let tokens = support::cli(&data_dir, &["token", "list"], None);
    let tokens = String::from_utf8_lossy(&tokens.stdout);
    assert!(tokens.lines().any(|l| l.starts_with("ephemeral ") && l.contains("System Administrator")), "{tokens}");
    // Every dialect has a URL; HCX keeps a listener of its own (on a free port, not 9443).
    for dialect in ["vcd", "vcda", "loginsight", "hcx", "bluecat", "native"] {
        assert!(server.url(dialect).starts_with("http://127.0.0.1:"), "{dialect}: {ready}");
    }
    assert_ne!(server.url("hcx"), ready["url"], "{ready}");
    assert!(!server.url("hcx").ends_with(":9443"), "{ready}");

    let client = http();
    let (status, body) =
        native_login(&client, &server.url("native"), "System", "administrator", &server.admin_password()).await;
    assert_eq!(status, 201, "{body}");
    vcd_login(&client, &server.url("vcd"), "administrator", "System", &server.admin_password()).await;
    let hcx = client
        .post(format!("{}/hybridity/api/sessions", server.url("hcx")))
        .json(&serde_json::json!({"username": "administrator@vsphere.local", "password": server.admin_password()}))
        .send()
        .await
        .unwrap();
    assert_eq!(hcx.status(), 200);

    let mut server = server;
    let (success, rest) = server.stop_with("TERM");
    assert!(success, "exit status");
    assert_eq!(rest, "", "stdout carries the ready line only");
    assert!(!data_dir.exists(), "{} is left behind", data_dir.display());
    assert_eq!(entries(server.tmp.path()), Vec::<PathBuf>::new(), "left in TMPDIR");
}

#[test]
fn sigint_also_removes_the_data_directory() {
    let mut server = Ephemeral::start(&[]);
    let data_dir = server.data_dir();
    let (success, _) = server.stop_with("INT");
    assert!(success);
    assert!(!data_dir.exists());
    assert_eq!(entries(server.tmp.path()), Vec::<PathBuf>::new());
}

#[test]
fn the_server_ends_and_cleans_up_when_its_parent_dies() {
    let tmp = tempfile::tempdir().unwrap();
    // The shell is the parent; SIGKILL gives it no chance to pass anything on.
    let mut command = Command::new("sh");
    command.arg("-c").arg("\"$0\" serve --ephemeral --http & wait").arg(binary());
    let (mut parent, mut stdout) = spawn_reading(command, tmp.path());
    let ready = ready_line(&mut stdout, tmp_log(tmp.path()));
    let data_dir = PathBuf::from(ready["data_dir"].as_str().unwrap());
    let pid = ready["pid"].as_u64().unwrap();
    assert!(data_dir.is_dir());

    parent.kill().unwrap();
    parent.wait().unwrap();
    eventually("the server's exit", || !Path::new(&format!("/proc/{pid}")).exists());
    // Its stdout closed with it, and it printed nothing more.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(!data_dir.exists(), "{} is left behind", data_dir.display());
    let log = std::fs::read_to_string(tmp_log(tmp.path())).unwrap();
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn a_real_client_logs_in_with_what_the_ready_line_says() {
    let Some(venv) = venv() else { return };
    let server = Ephemeral::start(&[]);
    let password = server.admin_password();
    let args = ["--url", &server.url("vcd"), "--org", "System", "--user", "administrator", "--password", &password];
    let seen = python_summary(&venv, "vcd/pyvcloud_flow.py", &args);
    assert_eq!((&seen["session_user"], &seen["session_org"]), (&"administrator".into(), &"System".into()), "{seen}");
    let args = ["--url", &server.url("bluecat"), "--user", "administrator", "--password", &password];
    let seen = python_summary(&venv, "bluecat/bluecat_flow.py", &args);
    assert_eq!((&seen["user"], &seen["current_id_matches"]), (&"administrator".into(), &true.into()), "{seen}");
}

#[test]
fn ephemeral_refuses_a_shared_store_and_no_bootstrap() {
    let tmp = tempfile::tempdir().unwrap();
    let output = support::serve_until_exit(
        tmp.path(),
        &["--ephemeral", "--http"],
        &[("TOLLGATE_STORE__URL", "postgres://nobody@127.0.0.1:1/none")],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ephemeral keeps its own throw-away store"));
    let output = support::serve_until_exit(tmp.path(), &["--ephemeral", "--no-bootstrap"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
}
