//! Throughput on loopback, as ratios against a bare handler measured in the same process and
//! run (absolute numbers on shared 2-core machines are noise; ratios are not).
//!
//! `cargo bench -p tollgate --bench throughput` prints, for each phase, requests per second
//! and the ratio to the bare handler:
//! - bare: an axum handler that returns "ok" — the floor of any HTTP request here;
//! - validate only: the same handler after validating a Bearer token with the core;
//! - GET /api/session: a Cloud Director client's validation, rendering the Session XML;
//! - validate, logins running: the same while other clients log in as fast as they can;
//! - login: POST /cloudapi/1.0.0/sessions, bounded by Argon2id.
//!
//! Every phase is bounded in time and stops by itself; traffic goes to 127.0.0.1 only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Actor, Core, CoreConfig, SystemClock, UserSpec};
use tollgate_dialects::{AppState, Dialect, Shared, Site};
use tollgate_store_sqlite::SqliteStore;

const PHASE: Duration = Duration::from_secs(4);
const CLIENTS: usize = 8;

#[tokio::main]
async fn main() {
    // reqwest is built without a crypto provider of its own; the server's is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    let config = CoreConfig { max_sessions_per_user: 10_000, ..CoreConfig::default() };
    let core = Arc::new(Core::new(store, Arc::new(SystemClock), config));
    core.bootstrap(Some("bench-admin".into())).await.unwrap();
    core.add_org(&Actor::Operator, "org1", None).await.unwrap();
    let spec = UserSpec {
        org: "org1".into(),
        name: "alice".into(),
        roles: vec!["vApp User".into()],
        identity_source: LOCAL_SOURCE.into(),
        password_hash: None,
    };
    core.add_user(&Actor::Operator, spec, Some("alice-pw")).await.unwrap();
    let site = Site { id: core.installation_id().await.unwrap(), name: "bench".into() };
    let state = AppState::new(Shared {
        core: core.clone(),
        site,
        public_url: None,
        scheme: "http",
        settings: Default::default(),
        request_timeout: std::time::Duration::from_secs(30),
        harness: Default::default(),
    });
    let validating = core.clone();
    let app = Router::new()
        .route("/bare", get(|| async { "ok" }))
        .route(
            "/validated",
            get(move |headers: HeaderMap| {
                let core = validating.clone();
                async move {
                    let token = tollgate_dialects::common::bearer_token(&headers).unwrap_or_default();
                    match core.authenticate("vcd", token).await {
                        Ok(_) => StatusCode::OK,
                        Err(_) => StatusCode::UNAUTHORIZED,
                    }
                }
            }),
        )
        .merge(tollgate_dialects::router(state, Dialect::ALL))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS * 2).build().unwrap();
    let login = {
        let client = client.clone();
        let base = base.clone();
        move || {
            let client = client.clone();
            let base = base.clone();
            async move {
                let reply = client
                    .post(format!("{base}/cloudapi/1.0.0/sessions"))
                    .basic_auth("alice@org1", Some("alice-pw"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 200);
                reply.headers()["x-vmware-vcloud-access-token"].to_str().unwrap().to_owned()
            }
        }
    };
    let token = login().await;

    // Warm up connections, caches and the CPU's clock before anything is measured.
    run("(warm-up)", CLIENTS, None, {
        let (client, base) = (client.clone(), base.clone());
        move || {
            let request = client.get(format!("{base}/bare"));
            async move { request.send().await.unwrap().status().is_success() }
        }
    })
    .await;
    let bare = run("bare handler", CLIENTS, None, {
        let (client, base) = (client.clone(), base.clone());
        move || {
            let request = client.get(format!("{base}/bare"));
            async move { request.send().await.unwrap().status().is_success() }
        }
    })
    .await;
    let validate_only = run("validate only", CLIENTS, Some(bare), {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        move || {
            let request = client.get(format!("{base}/validated")).bearer_auth(&token);
            async move { request.send().await.unwrap().status().is_success() }
        }
    })
    .await;
    let validate_request = {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        move || {
            let request = client.get(format!("{base}/api/session")).bearer_auth(&token);
            async move { request.send().await.unwrap().status().is_success() }
        }
    };
    let validate = run("GET /api/session", CLIENTS, Some(bare), validate_request.clone()).await;

    // Logins in the background, validations in the foreground.
    let stop = Arc::new(AtomicBool::new(false));
    let logins_done = Arc::new(AtomicU64::new(0));
    let mut background = Vec::new();
    for _ in 0..2 {
        let (stop, done, login) = (stop.clone(), logins_done.clone(), login.clone());
        background.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                login().await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let under_load = run("GET /api/session while logging in", CLIENTS, Some(bare), validate_request).await;
    stop.store(true, Ordering::Relaxed);
    for task in background {
        task.await.unwrap();
    }
    let logins_per_second = logins_done.load(Ordering::Relaxed) as f64 / PHASE.as_secs_f64();
    println!("{:<34} {logins_per_second:>10.0} req/s (in the background of the phase above)", "login, concurrent");

    let logins = run("login (POST /cloudapi/…/sessions)", 2, Some(bare), move || {
        let login = login.clone();
        async move { !login().await.is_empty() }
    })
    .await;
    println!();
    println!(
        "validating a token costs {:.2}x a bare request ({:.2}x with the Session XML); logins leave it at {:.2}x its own rate",
        bare / validate_only,
        bare / validate,
        under_load / validate
    );
    println!("logins: {logins:.0}/s (bounded by Argon2id, m=19 MiB, t=2, p=1)");
}

/// Runs `request` from `clients` concurrent loops for one phase; returns requests per second.
async fn run<F, Fut>(label: &str, clients: usize, baseline: Option<f64>, request: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + PHASE;
    let mut loops = Vec::new();
    for _ in 0..clients {
        let (done, request) = (done.clone(), request.clone());
        loops.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                assert!(request().await, "request failed");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for l in loops {
        l.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / PHASE.as_secs_f64();
    match baseline {
        Some(bare) => println!("{label:<34} {rate:>10.0} req/s  ({:.2}x the bare handler's time)", bare / rate),
        None => println!("{label:<34} {rate:>10.0} req/s"),
    }
    rate
}
