//! For tests (feature `testing`): a `redis-server` of the test's own, in a temporary
//! directory on a free loopback port, stopped when dropped (or, with [`Server::stop`], when
//! the test says so: an outage). A watchdog also stops it when the test process ends, however
//! it ends: a server kept in a `static` is never dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Server {
    /// Starts a server and waits until it answers.
    pub fn start() -> Server {
        Server::launch(|port| vec!["--port".into(), port.to_string()])
    }

    /// Starts a server that speaks TLS only, with the certificate chain and key of these PEM
    /// files, and asks clients for no certificate.
    pub fn start_tls(cert: &Path, key: &Path) -> Server {
        Server::launch(|port| {
            let (cert, key) = (cert.display().to_string(), key.display().to_string());
            ["--port", "0", "--tls-port", &port.to_string(), "--tls-cert-file", &cert, "--tls-key-file", &key]
                .into_iter()
                .map(str::to_owned)
                .chain(["--tls-auth-clients".into(), "no".into()])
                .collect()
        })
    }

    /// Starts a server with the listener `listener` gives for a free port.
    fn launch(listener: impl FnOnce(u16) -> Vec<String>) -> Server {
        let dir = std::env::temp_dir().join(format!("tollgate-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(listener(port))
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/setup-database-servers.sh (as root)");
        // In the background of a shell that exits at once: the watchdog outlives this process.
        let watchdog = format!(
            "(while kill -0 {test} 2>/dev/null; do sleep 0.2; done; kill -9 {server}; rm -rf {dir}) >/dev/null 2>&1 &",
            test = std::process::id(),
            server = child.id(),
            dir = dir.display(),
        );
        let watching = Command::new("sh").args(["-c", &watchdog]).stdin(Stdio::null()).status();
        assert!(watching.is_ok_and(|status| status.success()), "the watchdog of the test's redis-server did not start");
        let server = Server { port, child: Some(child), dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The URL of the plain server [`Server::start`] starts.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
