//! A password spray from many addresses against the real binary, while a user logs in from an
//! address of their own: the spray's guesses wait in the hash queue's low lane, so the user's
//! login keeps close to its normal latency.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{ADMIN_PASSWORD, Options, Server, http_builder, native_login};

/// Loopback addresses the spray comes from (127.0.0.2 and up); each keeps this many guesses
/// under way.
const SPRAYING_ADDRESSES: u8 = 60;
const GUESSES_AT_ONCE: usize = 3;
/// The user's own address.
const USER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 200);

fn client_from(address: Ipv4Addr) -> reqwest::Client {
    http_builder().http1_only().local_address(IpAddr::V4(address)).build().unwrap()
}

/// How long each of `count` logins of the administrator takes, one after the other.
async fn login_times(client: &reqwest::Client, url: &str, count: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let (status, _) = native_login(client, url, "System", "administrator", ADMIN_PASSWORD).await;
        times.push(started.elapsed());
        assert_eq!(status, 201);
    }
    times.sort();
    times
}

async fn hash_queue_depth(client: &reqwest::Client, url: &str) -> f64 {
    let text = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|line| line.starts_with("tollgate_password_hash_queue_depth ")).unwrap();
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_from_another_address_keeps_its_latency_during_a_spray_from_many() {
    // The defaults, throttle and lockout included: the spray is as fast as they let it be.
    let server = Server::start(Options { http: true, ..Options::default() });
    let url = server.url.clone();
    let user = client_from(USER_ADDRESS);
    let alone = login_times(&user, &url, 5).await;

    let spraying = Arc::new(AtomicBool::new(true));
    let (guessed, refused_early) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut sprayers = Vec::new();
    for n in 0..SPRAYING_ADDRESSES {
        let client = client_from(Ipv4Addr::new(127, 0, 0, 2 + n));
        for k in 0..GUESSES_AT_ONCE {
            let (client, url, spraying) = (client.clone(), url.clone(), spraying.clone());
            let (guessed, refused_early) = (guessed.clone(), refused_early.clone());
            sprayers.push(tokio::spawn(async move {
                let mut guess = 0;
                while spraying.load(Ordering::Relaxed) {
                    guess += 1;
                    // One password tried on many names: each guess costs a hash, and no single
                    // account reaches its lockout.
                    let name = format!("user-{n}-{k}-{guess}");
                    match native_login(&client, &url, "System", &name, "Summer2026!").await.0 {
                        401 => guessed.fetch_add(1, Ordering::Relaxed),
                        429 => {
                            // As told by Retry-After (at least a second): throttled sprayers
                            // come back as soon as they may.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            refused_early.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("a guess was answered {other}"),
                    };
                }
            }));
        }
    }
    // The spray's opening guesses (one per address) wait in the normal lane; measure once
    // every address has had one refused and the hashing threads are saturated.
    let observer = client_from(Ipv4Addr::new(127, 0, 0, 201));
    let started = Instant::now();
    while guessed.load(Ordering::Relaxed) < u64::from(SPRAYING_ADDRESSES) * 2
        || hash_queue_depth(&observer, &url).await < 20.0
    {
        assert!(started.elapsed() < Duration::from_secs(60), "the spray never saturated the hashing threads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queued = hash_queue_depth(&observer, &url).await;
    let during = login_times(&user, &url, 5).await;
    let queued_after = hash_queue_depth(&observer, &url).await;
    spraying.store(false, Ordering::Relaxed);
    for sprayer in sprayers {
        sprayer.await.unwrap();
    }

    let median = |times: &[Duration]| times[times.len() / 2];
    println!(
        "login alone: median {:?}, slowest {:?}; during the spray: median {:?}, slowest {:?}; \
         hashes queued before/after {queued}/{queued_after}; spray: {} guesses hashed, {} refused with 429",
        median(&alone),
        alone.last().unwrap(),
        median(&during),
        during.last().unwrap(),
        guessed.load(Ordering::Relaxed),
        refused_early.load(Ordering::Relaxed),
    );
    // In one queue the login would wait behind every hash queued (at least 20, about a second
    // on two threads); in the normal lane it waits at most for the hashes already running.
    let bound = median(&alone) * 3 + Duration::from_millis(250);
    assert!(
        *during.last().unwrap() < bound,
        "during the spray a login took {:?} (alone {:?}; bound {bound:?})",
        during.last().unwrap(),
        median(&alone)
    );
    assert!(queued_after >= 10.0, "the spray was still queueing hashes ({queued_after}) while the user logged in");
}
