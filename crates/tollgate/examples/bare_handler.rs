//! The floor `scripts/bench.sh` measures Tollgate against, plus the Argon2id ceiling.
//!
//! `bare_handler PORT`: an axum 0.8 `GET /` answering `ok` on `127.0.0.1:PORT`, on the same
//! tokio multi-threaded runtime (one worker per core) the server uses, and nothing else: no
//! middleware, no state, no store. Prints `bare listening on http://127.0.0.1:PORT` when ready.
//!
//! `bare_handler hashes SECONDS`: verifies one Argon2id hash (the server's parameters, from
//! `tollgate_core::password`) as fast as it can for SECONDS on the same pool the server hashes
//! logins on (`PasswordHasher`, one low-priority thread per core by default; `THREADS` as a
//! third argument overrides), and prints `hashes/s R threads T hashes N cpu_ticks C`: the most
//! logins per second the server could answer if a login cost nothing but its hash, and the CPU
//! time the process spent meanwhile (user + system, in clock ticks from `/proc/self/stat`; 0
//! where there is none), which background load on the machine does not inflate.
//!
//! Built by `cargo build --release -p tollgate --example bare_handler`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tollgate_core::password::{PasswordHasher, hash_blocking};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match args.first().map(String::as_str) {
        Some("hashes") => {
            let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
            let threads: usize = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
            runtime.block_on(hashes(Duration::from_secs_f64(seconds), threads));
        }
        Some(port) if port.parse::<u16>().is_ok() => {
            runtime.block_on(serve(port.parse().unwrap()));
        }
        _ => {
            eprintln!("usage: bare_handler PORT | bare_handler hashes SECONDS [THREADS]");
            std::process::exit(2);
        }
    }
}

async fn serve(port: u16) {
    let app = Router::new().route("/", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind the port");
    println!("bare listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.expect("serve");
}

async fn hashes(period: Duration, threads: usize) {
    let hasher = PasswordHasher::new(threads);
    let hash: Arc<str> = hash_blocking("bench-password").into();
    // One hash per thread first, so that the threads and their 19 MiB are warm, as in a server
    // that has answered a login.
    let warm: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move { hasher.verify(Some(&hash), "bench-password").await })
        })
        .collect();
    for w in warm {
        w.await.unwrap().expect("the hasher runs");
    }
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_ticks();
    let start = Instant::now();
    // Twice as many requesters as threads keep the pool's queue from running dry.
    let workers: Vec<_> = (0..threads * 2)
        .map(|_| {
            let (hasher, hash, done) = (hasher.clone(), hash.clone(), done.clone());
            tokio::spawn(async move {
                while start.elapsed() < period {
                    let ok = hasher.verify(Some(&hash), "bench-password").await.expect("the hasher runs");
                    assert!(ok, "the password verifies");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks() - cpu_before;
    let done = done.load(Ordering::Relaxed);
    println!("hashes/s {:.1} threads {threads} hashes {done} cpu_ticks {cpu}", done as f64 / elapsed);
}

/// utime + stime of this process, all threads (fields 14 and 15 of `/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields.get(11..13).map_or(0, |t| t.iter().filter_map(|f| f.parse::<u64>().ok()).sum())
}
