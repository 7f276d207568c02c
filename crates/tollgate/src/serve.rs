//! `tollgate serve`: bind the listeners, open the store, bootstrap, and serve the dialects: all
//! of them on the shared listener, and any on listeners of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Args;
use hyper_util::rt::TokioTimer;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tollgate_core::directory::{SYSTEM_ADMINISTRATOR, SYSTEM_ORG};
use tollgate_core::password::HashCost;
use tollgate_core::{Actor, ApiTokenSpec, Core, Metrics, SystemClock};
use tollgate_dialects::faults::Faults;
use tollgate_dialects::journal::Journal;
use tollgate_dialects::{AppState, Dialect, Harness, Operations, Shared, Site};

use crate::config::{self, Config};
use crate::ephemeral::{self, Ephemeral, Ready};
use crate::fixtures::Fixtures;
use crate::listener::{Acceptor, ConnectionLimits, Connections};
use crate::operator;
use crate::tls;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port of the shared listener, e.g. 127.0.0.1:8443, 0.0.0.0:443 or [::1]:8443;
    /// port 0 picks a free one [default: 127.0.0.1:8443]. Dialects' own listeners come from
    /// the configuration (dialects.NAME.listen).
    #[arg(long, value_name = "ADDR:PORT", env = "TOLLGATE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS (for loopback and tests).
    #[arg(long)]
    http: bool,
    /// Do not create the administrator: every dialect answers "not initialised" until
    /// `tollgate bootstrap` runs.
    #[arg(long)]
    no_bootstrap: bool,
    /// A throw-away server for tests: free loopback ports, a store in a new temporary directory
    /// removed when the server stops (Ctrl-C, SIGTERM, or its parent process exiting), a
    /// generated administrator password (or TOLLGATE_ADMIN_PASSWORD), and one JSON line on
    /// stdout, printed once it is ready, with the URLs and credentials. Example: `tollgate
    /// serve --ephemeral --http`.
    #[arg(long, conflicts_with = "no_bootstrap")]
    ephemeral: bool,
    /// Orgs and users (roles, password, disabled, locked) to bring the store to at start-up,
    /// after the bootstrap; applying the same file again changes nothing. See the README,
    /// "Testing your automation against Tollgate". Example: `--fixtures tests/fixtures.toml`.
    #[arg(long, value_name = "FILE.toml", conflicts_with = "no_bootstrap")]
    fixtures: Option<PathBuf>,
}

/// The name of the API token `--ephemeral` creates for the administrator.
const EPHEMERAL_API_TOKEN: &str = "ephemeral";

/// Hyper buffers at most this much of a request head; our own, friendlier limit is lower.
const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.http |= args.http;
    // Caught from the start: a signal during start-up (an ephemeral server's parent dying
    // early) stops the server once it runs, instead of killing it with its temporary files.
    let stop = StopSignals::install()?;
    let fixtures = match &args.fixtures {
        Some(path) => Some((path, Fixtures::load(path)?)),
        None => None,
    };
    let ephemeral = match args.ephemeral {
        true => Some(Ephemeral::prepare(&mut config, args.listen.is_some())?),
        false => None,
    };
    tls::install_crypto_provider();

    // Every listener is bound before anything else happens: a port that is taken fails the
    // start before the store is created and the one-time administrator password is printed.
    let listeners = bind(&config)?;

    let mut core_config = config.core()?;
    if ephemeral.is_some() {
        core_config.hash_cost = HashCost::Throwaway;
    }
    let core =
        Arc::new(operator::serving_core(&config, core_config, Arc::new(SystemClock), Metrics::prometheus()).await?);
    let tls = if config.http { None } else { Some(tls::server_config(&config).await?) };
    let mut admin_password = None;
    if ephemeral.is_some() {
        // Nothing on stdout but the ready line: the password goes there.
        let password = operator::admin_password_from_env().unwrap_or_else(|| core.config().passwords.generate());
        core.bootstrap(Some(password.clone())).await?;
        let spec = ApiTokenSpec {
            name: EPHEMERAL_API_TOKEN.into(),
            org: SYSTEM_ORG.into(),
            role: SYSTEM_ADMINISTRATOR.into(),
        };
        let (_, api_token) = core.create_api_token(&Actor::Operator, &spec).await?;
        admin_password = Some((password, api_token));
    } else if core.is_initialised().await? {
        operator::warn_if_admin_password_ignored("the store is already bootstrapped");
    } else if args.no_bootstrap {
        operator::warn_if_admin_password_ignored("--no-bootstrap leaves the store uninitialised");
    } else {
        operator::bootstrap_with(&core, operator::AdminPassword::Generate).await?;
    }
    if let Some((path, (fixtures, text))) = &fixtures {
        fixtures.apply(&core, path, text).await?;
    }
    let site = Site { id: core.installation_id().await?, name: config.site_name.clone() };
    let state = AppState::new(Shared {
        core: core.clone(),
        site,
        public_url: config.public_url.clone(),
        scheme: if config.http { "http" } else { "https" },
        settings: Arc::new(config.settings()),
        request_timeout: Duration::from_secs(config.limits.request_timeout_seconds),
        // A throw-away server, or one started from fixtures, is a test's.
        harness: Arc::new(Harness {
            serves_faults: config.testing.faults || ephemeral.is_some() || fixtures.is_some(),
            faults: Faults::new(),
            journal: Journal::new(config.testing.journal || ephemeral.is_some(), config.testing.journal_capacity),
        }),
    });
    if let Some((path, (fixtures, text))) = &fixtures {
        fixtures.install_faults(&state.harness.faults, path, text)?;
    }
    tokio::spawn(sweep(core.clone(), Duration::from_secs(config.sessions.sweep_interval_seconds.max(1))));
    // Sessions other nodes or the CLI end leave this node's cache through the revocation log.
    let feed = core.clone();
    tokio::spawn(async move { feed.follow_revocations().await });

    let header_timeout = Duration::from_secs(config.limits.header_read_timeout_seconds.max(1));
    let limits = ConnectionLimits {
        max_connections: config.limits.max_connections,
        max_per_address: config.limits.max_connections_per_address,
        first_byte: header_timeout,
        idle: Duration::from_secs(config.limits.idle_connection_seconds.max(1)),
    };
    let connections = Arc::new(Connections::default());
    let scheme = if config.http { "http" } else { "https" };
    let mut handles = Vec::new();
    let mut servers = tokio::task::JoinSet::new();
    let mut ready =
        admin_password.map(|(password, api_token)| Ready::new(config.data_dir.clone(), password, api_token));
    for Bound { role, dialects, listener, local } in listeners {
        let operations =
            Operations { metrics: role == Role::Metrics || (role == Role::Shared && config.metrics.listen.is_empty()) };
        let app = tollgate_dialects::listener_router(state.clone(), &dialects, operations);
        let handle = axum_server::Handle::new();
        handles.push(handle.clone());
        let acceptor = Acceptor {
            tls: tls.as_ref().map(|tls| tls.get_inner()),
            plain: config.tls.plain_http,
            limits,
            connections: connections.clone(),
            harness: state.harness.clone(),
        };
        let mut server = axum_server::from_tcp(listener)?.acceptor(acceptor).handle(handle);
        tune(server.http_builder(), header_timeout);
        servers.spawn(async move { server.serve(make_service(app)).await });
        match &mut ready {
            Some(ready) => {
                let url = format!("{scheme}://{local}");
                match role {
                    Role::Metrics => ready.metrics = Some(url),
                    Role::Dialect(dialect) => ready.served(dialect, &url),
                    Role::Shared => {
                        dialects.iter().for_each(|&dialect| ready.served(dialect, &url));
                        ready.url = url;
                    }
                }
            }
            None => announce(role, scheme, local),
        }
    }
    if let Some(ready) = ready {
        ready.print()?;
    }
    let parent = ephemeral.as_ref().and_then(Ephemeral::parent);
    tokio::spawn(stop.shut_down(handles, ephemeral::parent_gone(parent)));
    while let Some(finished) = servers.join_next().await {
        finished.context("a listener task failed")??;
    }
    // Write back activity that has not reached the store yet.
    core.sweep().await?;
    if let Some(ephemeral) = ephemeral {
        ephemeral.remove()?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connections a listener lets wait for `accept`: a burst of connects is queued, not dropped
/// (the OS default is 128).
const LISTEN_BACKLOG: i32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// What a listener is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Every dialect not taken off it, and `/metrics` unless it has listeners of its own.
    Shared,
    /// One dialect of its own.
    Dialect(Dialect),
    /// `/metrics` of its own (`metrics.listen`).
    Metrics,
}

/// A bound listener and the dialects it serves.
struct Bound {
    role: Role,
    dialects: Vec<Dialect>,
    listener: std::net::TcpListener,
    local: SocketAddr,
}

/// Binds every listener the configuration asks for: dialects and metrics with listeners of
/// their own first, the shared listener last (its line is the one that says the server is ready).
fn bind(config: &Config) -> anyhow::Result<Vec<Bound>> {
    let mut plan: Vec<(Role, Vec<Dialect>, SocketAddr)> = Vec::new();
    for &dialect in Dialect::ALL {
        for &addr in config.dialects.get(dialect.name()).map(|d| d.listen.as_slice()).unwrap_or_default() {
            plan.push((Role::Dialect(dialect), vec![dialect], addr));
        }
    }
    for &addr in &config.metrics.listen {
        plan.push((Role::Metrics, Vec::new(), addr));
    }
    let shared: Vec<Dialect> =
        Dialect::ALL.iter().copied().filter(|d| config.dialects.get(d.name()).is_none_or(|c| c.shared)).collect();
    plan.push((Role::Shared, shared, config.listen));
    let mut bound = Vec::new();
    for (role, dialects, addr) in plan {
        let listener = match listen(addr) {
            Ok(listener) => listener,
            // A product port served by default is a convenience, not a reason not to start.
            Err(e) if matches!(role, Role::Dialect(d) if config::is_default_listener(d, addr)) => {
                let dialect = dialects.first().map(|d| d.name()).unwrap_or_default();
                tracing::warn!(%addr, dialect, error = %e, "not serving this dialect's default port; set dialects.{dialect}.listen to choose another");
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
        };
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        bound.push(Bound { role, dialects, listener, local });
    }
    Ok(bound)
}

fn make_service(app: Router) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    app.into_make_service_with_connect_info::<SocketAddr>()
}

fn tune(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(MAX_REQUEST_HEAD_BYTES);
    builder.http2().max_header_list_size(MAX_REQUEST_HEAD_BYTES as u32);
}

/// The lines tests and operators wait for; with port 0 they tell which port was picked.
fn announce(role: Role, scheme: &str, addr: SocketAddr) {
    match role {
        Role::Dialect(dialect) => {
            tracing::info!(%addr, dialect = dialect.name(), "listening");
            println!("tollgate {} listening on {scheme}://{addr}", dialect.name());
        }
        Role::Metrics => {
            tracing::info!(%addr, "metrics listening");
            println!("tollgate metrics listening on {scheme}://{addr}");
        }
        Role::Shared => {
            tracing::info!(%addr, "listening");
            println!("tollgate listening on {scheme}://{addr}");
        }
    }
}

async fn sweep(core: Arc<Core>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = core.sweep().await {
            tracing::warn!(error = %e, "session sweep failed");
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, which stop the server gracefully.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        let watch = |kind| signal(kind).context("cannot watch for SIGINT and SIGTERM");
        Ok(StopSignals { interrupt: watch(SignalKind::interrupt())?, terminate: watch(SignalKind::terminate())? })
    }

    /// Stops the listeners gracefully on either signal, or when `also` resolves.
    async fn shut_down(mut self, handles: Vec<axum_server::Handle<SocketAddr>>, also: impl Future<Output = ()>) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = also => tracing::info!("the parent process has exited"),
        }
        tracing::info!("shutting down");
        for handle in handles {
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
        }
    }
}
