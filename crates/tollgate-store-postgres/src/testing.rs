//! For tests (feature `testing`): a PostgreSQL server of the test's own: `initdb` and `pg_ctl` in a temporary directory, on a
//! free loopback port, run as the `postgres` OS user when the tests run as root (the server
//! refuses to run as root). One server per test process, one throw-away database per store.
//! A watchdog stops the server and removes its directory when the process ends, however it
//! ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Server {
    pub port: u16,
    /// The server's own directory: its data, socket and log, and files a test gives it.
    dir: PathBuf,
    bin: PathBuf,
    options: String,
}

/// The newest installed PostgreSQL's binaries (Debian's layout).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/install-system-deps.sh (as root)")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("no initdb under /usr/lib/postgresql: run scripts/install-system-deps.sh").1
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// `program` with `args`, as the `postgres` user when we are root.
fn as_server_user(program: PathBuf, args: &[&str]) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run(mut command: Command, what: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn start() -> Server {
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!("tollgate-pg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown");
    }
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    run(
        as_server_user(bin.join("initdb"), &["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
        "initdb",
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        dir.display()
    );
    let server = Server { port, dir: dir.clone(), bin: bin.clone(), options };
    server.start_again();
    // Stops the server once this process is gone, whatever ended it (waking it first, should
    // a test have left it hung).
    let as_user = if is_root() { "runuser -u postgres -- " } else { "" };
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
         postmaster=$(head -1 {data}/postmaster.pid); pkill -CONT -P $postmaster; kill -CONT $postmaster; \
         {as_user}{pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        dir = dir.display(),
    );
    // In the background of a shell that exits at once: the watchdog outlives this process.
    let started = Command::new("sh")
        .args(["-c", &format!("({stop}) >/dev/null 2>&1 &")])
        .stdin(Stdio::null())
        .status()
        .expect("a watchdog for the test server");
    assert!(started.success(), "the watchdog did not start");
    server
}

pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

/// A server of the calling test's own, which it may stop, hang or reconfigure (the one
/// [`server`] returns is shared by every test of the process).
pub fn own_server() -> Server {
    start()
}

impl Server {
    fn data(&self) -> String {
        self.dir.join("data").to_str().unwrap().to_owned()
    }

    /// Where a test may put files for the server to read (see [`Server::give_to_server`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes `path` the server's: PostgreSQL reads its key only if it owns it, mode 0600.
    pub fn give_to_server(&self, path: &Path) {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(path);
            run(chown, "chown");
        }
    }

    /// Starts the server (again, after [`Server::stop`]) on its port and data.
    pub fn start_again(&self) {
        let data = self.data();
        let log = self.dir.join("server.log");
        run(
            as_server_user(
                self.bin.join("pg_ctl"),
                &["-D", &data, "-l", log.to_str().unwrap(), "-w", "-t", "30", "-o", &self.options, "start"],
            ),
            "pg_ctl start",
        );
    }

    /// Stops the server as an operator does (`pg_ctl stop -m fast`: connections are closed).
    pub fn stop(&self) {
        run(as_server_user(self.bin.join("pg_ctl"), &["-D", &self.data(), "-m", "fast", "-w", "stop"]), "pg_ctl stop");
    }

    /// The postmaster and every process it started.
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).expect("a running server");
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let children = std::fs::read_to_string(format!("/proc/{postmaster}/task/{postmaster}/children")).unwrap();
        std::iter::once(postmaster).chain(children.split_whitespace().map(str::to_owned)).collect()
    }

    fn signal(&self, signal: &str) {
        let mut kill = Command::new("kill");
        kill.arg(format!("-{signal}")).args(self.processes());
        run(kill, "kill");
    }

    /// Hangs the server as a stuck machine does: every process of it stopped (SIGSTOP), its
    /// sockets open and silent, until the guard is dropped (SIGCONT).
    pub fn hang(&self) -> Hung<'_> {
        self.signal("STOP");
        Hung(self)
    }

    /// Runs `sql` (one statement: ALTER SYSTEM cannot share a transaction) on the server's `postgres` database as the superuser.
    pub async fn execute(&self, sql: &str) {
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("a connection to the test server");
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database on the server; its URL.
    pub async fn database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("a connection to the test server");
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("a test database");
        self.url(&name)
    }
}

/// A server [`Server::hang`] stopped; wakes it when dropped.
pub struct Hung<'a>(&'a Server);

impl Drop for Hung<'_> {
    fn drop(&mut self) {
        self.0.signal("CONT");
    }
}

/// A certificate authority for TLS tests (of this store, and of Redis beside it), named
/// `name`; its certificate is written to `dir/{name}.pem`.
pub fn test_ca(dir: &Path, name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), ca.pem()).unwrap();
    ca
}
