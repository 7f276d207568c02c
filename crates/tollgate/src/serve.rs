//! `tollgate serve`: bind the listeners, open the store, bootstrap, and serve the dialects: all
//! of them on the shared listener, and any on listeners of their own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Args;
use hyper_util::rt::TokioTimer;
use tollgate_core::{Core, Metrics};
use tollgate_dialects::{AppState, Dialect, Operations, Shared, Site};

use crate::admin;
use crate::config::{self, Config};
use crate::listener::{Acceptor, ConnectionLimits, Connections};
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
}

/// Hyper buffers at most this much of a request head; our own, friendlier limit is lower.
const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.http |= args.http;
    tls::install_crypto_provider();

    // Every listener is bound before anything else happens: a port that is taken fails the
    // start before the store is created and the one-time administrator password is printed.
    let listeners = bind(&config)?;

    let core = Arc::new(admin::serving_core(&config, Metrics::prometheus()).await?);
    let tls = if config.http { None } else { Some(tls::server_config(&config).await?) };
    if core.is_initialised().await? {
        admin::warn_if_admin_password_ignored("the store is already bootstrapped");
    } else if args.no_bootstrap {
        admin::warn_if_admin_password_ignored("--no-bootstrap leaves the store uninitialised");
    } else {
        admin::bootstrap_with(&core, admin::AdminPassword::Generate).await?;
    }
    let site = Site { id: core.installation_id().await?, name: config.site_name.clone() };
    let state = AppState::new(Shared {
        core: core.clone(),
        site,
        public_url: config.public_url.clone(),
        scheme: if config.http { "http" } else { "https" },
        settings: Arc::new(config.settings()),
        request_timeout: Duration::from_secs(config.limits.request_timeout_seconds),
    });
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
        };
        let mut server = axum_server::from_tcp(listener)?.acceptor(acceptor).handle(handle);
        tune(server.http_builder(), header_timeout);
        servers.spawn(async move { server.serve(make_service(app)).await });
        announce(role, scheme, local);
    }
    tokio::spawn(shutdown_on_signal(handles));
    while let Some(finished) = servers.join_next().await {
        finished.context("a listener task failed")??;
    }
    // Write back activity that has not reached the store yet.
    core.sweep().await?;
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

async fn shutdown_on_signal(handles: Vec<axum_server::Handle<SocketAddr>>) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    for handle in handles {
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
    }
}
