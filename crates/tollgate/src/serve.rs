//! `tollgate serve`: open the store, bootstrap, and serve every dialect on one listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Args;
use hyper_util::rt::TokioTimer;
use tollgate_core::Core;
use tollgate_dialects::{AppState, Dialect, Shared, Site};
use tower_http::timeout::TimeoutLayer;

use crate::admin;
use crate::config::Config;
use crate::tls;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8443].
    #[arg(long, env = "TOLLGATE_LISTEN")]
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

    let core = Arc::new(admin::open_core(&config)?);
    if !args.no_bootstrap && !core.is_initialised().await? {
        admin::bootstrap_with(&core, false).await?;
    }
    let site = Site { id: core.installation_id().await?, name: config.site_name.clone() };
    let state = AppState::new(Shared {
        core: core.clone(),
        site,
        public_url: config.public_url.clone(),
        scheme: if config.http { "http" } else { "https" },
    });
    let app = tollgate_dialects::router(state, Dialect::ALL).layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(config.limits.request_timeout_seconds),
    ));

    tokio::spawn(sweep(core.clone(), Duration::from_secs(config.sessions.sweep_interval_seconds.max(1))));

    let listener =
        std::net::TcpListener::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    let scheme = if config.http { "http" } else { "https" };
    let header_timeout = Duration::from_secs(config.limits.header_read_timeout_seconds.max(1));

    if config.http {
        let mut server = axum_server::from_tcp(listener)?.handle(handle);
        tune(server.http_builder(), header_timeout);
        announce(scheme, local);
        server.serve(make_service(app)).await?;
    } else {
        let tls = tls::server_config(&config).await?;
        let mut server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)?.handle(handle);
        tune(server.http_builder(), header_timeout);
        announce(scheme, local);
        server.serve(make_service(app)).await?;
    }
    // Write back activity that has not reached the store yet.
    core.sweep().await?;
    tracing::info!("stopped");
    Ok(())
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

/// The line tests and operators wait for; with port 0 it tells which port was picked.
fn announce(scheme: &str, addr: SocketAddr) {
    tracing::info!(%addr, "listening");
    println!("tollgate listening on {scheme}://{addr}");
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

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>) {
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
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
