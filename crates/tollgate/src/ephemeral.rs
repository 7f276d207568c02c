//! `tollgate serve --ephemeral`: a throw-away server for the tests of client automation. It
//! listens on free loopback ports, keeps its store in a temporary directory that is removed
//! when it stops (Ctrl-C, SIGTERM, or its parent exiting), and prints one JSON line saying
//! where it is and how to log in once it is ready.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tollgate_dialects::Dialect;

use crate::config::Config;

/// The throw-away data directory and the parent this server ends with.
pub struct Ephemeral {
    dir: tempfile::TempDir,
    parent: Option<rustix::process::Pid>,
}

/// How often the parent is looked for, in case its death signal cannot arrive (the parent's
/// thread that started us, not the process, is what `PR_SET_PDEATHSIG` watches).
const PARENT_POLL: Duration = Duration::from_millis(250);

impl Ephemeral {
    /// Points `config` at a new temporary data directory and at free ports (port 0 on each
    /// listener's address; the shared one on 127.0.0.1 unless `listen_given`), and arranges for
    /// SIGTERM when the parent process dies.
    pub fn prepare(config: &mut Config, listen_given: bool) -> anyhow::Result<Ephemeral> {
        anyhow::ensure!(
            config.store.url.is_none(),
            "--ephemeral keeps its own throw-away store; it cannot use a PostgreSQL store (--store, store.url)"
        );
        let parent = rustix::process::getppid();
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
            .context("cannot ask to be stopped with the parent process (PR_SET_PDEATHSIG)")?;
        // The parent may have gone before the death signal was asked for.
        anyhow::ensure!(rustix::process::getppid() == parent, "the parent process has already exited");
        let dir = tempfile::Builder::new()
            .prefix("tollgate-ephemeral-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("cannot create the temporary data directory")?;
        config.data_dir = dir.path().to_owned();
        if !listen_given {
            config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        for dialect in config.dialects.values_mut() {
            for addr in &mut dialect.listen {
                addr.set_port(0);
            }
        }
        for addr in &mut config.metrics.listen {
            addr.set_port(0);
        }
        // The parent's pid 1 (or a subreaper) is no parent to follow.
        let parent = parent.filter(|pid| !pid.is_init());
        Ok(Ephemeral { dir, parent })
    }

    /// The process this server ends with.
    pub fn parent(&self) -> Option<rustix::process::Pid> {
        self.parent
    }

    /// Removes the data directory and everything in it.
    pub fn remove(self) -> anyhow::Result<()> {
        let path = self.dir.path().to_owned();
        self.dir.close().with_context(|| format!("cannot remove the temporary data directory {}", path.display()))
    }
}

/// Resolves once `parent` has gone (this process was re-parented); never without a parent.
pub async fn parent_gone(parent: Option<rustix::process::Pid>) {
    let Some(parent) = parent else { return std::future::pending().await };
    let mut ticks = tokio::time::interval(PARENT_POLL);
    loop {
        ticks.tick().await;
        if rustix::process::getppid() != Some(parent) {
            return;
        }
    }
}

/// The line `--ephemeral` prints on stdout once every listener accepts connections and the
/// fixtures are applied: everything a test needs to reach the server and log in.
#[derive(Debug, Serialize)]
pub struct Ready {
    /// The shared listener's base URL, e.g. `https://127.0.0.1:41234`.
    pub url: String,
    /// Each dialect's base URL: its own listener when it has one, else the shared one.
    pub dialects: BTreeMap<&'static str, String>,
    /// `/metrics`' own listener, when it has one (else the shared listener serves it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    pub admin: AdminCredentials,
    /// The temporary data directory, removed when the server stops.
    pub data_dir: PathBuf,
    pub pid: u32,
}

#[derive(Debug, Serialize)]
pub struct AdminCredentials {
    pub org: &'static str,
    pub username: &'static str,
    pub password: String,
    /// An API token (`tga_…`) acting as System Administrator of System on the admin API
    /// (`/v1/admin`), named `ephemeral` in `tollgate token list`.
    pub api_token: String,
}

impl Ready {
    /// The line before the listeners are known ([`Ready::served`] and the fields fill it in).
    pub fn new(data_dir: PathBuf, password: String, api_token: String) -> Ready {
        Ready {
            url: String::new(),
            dialects: BTreeMap::new(),
            metrics: None,
            admin: AdminCredentials {
                org: tollgate_core::directory::SYSTEM_ORG,
                username: tollgate_core::BOOTSTRAP_ADMIN,
                password,
                api_token,
            },
            data_dir,
            pid: std::process::id(),
        }
    }

    /// Records where `dialect` is served, unless an earlier listener (its own) already serves it.
    pub fn served(&mut self, dialect: Dialect, url: &str) {
        self.dialects.entry(dialect.name()).or_insert_with(|| url.to_owned());
    }

    /// Prints the line; stdout carries nothing else in this mode.
    pub fn print(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}
