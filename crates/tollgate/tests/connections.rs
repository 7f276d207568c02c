//! What a client can hold of the server: connections that send nothing are closed after the
//! first-byte deadline, idle ones after the idle timeout, and connections beyond the cap per
//! address are closed as they arrive, while the ones held keep working; hundreds of clients
//! sending a byte a second do not slow anyone else down.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Options, Server};

fn server(env: &[(&str, &str)]) -> Server {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Server::start(Options { http: true, env, ..Options::default() })
}

fn address(server: &Server) -> String {
    server.url.strip_prefix("http://").unwrap().to_owned()
}

/// Reads until the server closes the connection; how long that took.
fn time_until_closed(stream: &mut TcpStream) -> Duration {
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("the server kept the connection open for {:?}", started.elapsed())
            }
            // A reset is closed too.
            Err(_) => return started.elapsed(),
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends a request and reads its whole answer (the server sends a Content-Length).
fn ask(stream: &mut TcpStream) -> String {
    stream.write_all(HEALTH).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\"status\":\"ok\"") {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_deadline() {
    let server = server(&[("TOLLGATE_LIMITS__HEADER_READ_TIMEOUT_SECONDS", "1")]);
    let mut silent = TcpStream::connect(address(&server)).unwrap();
    let closed_after = time_until_closed(&mut silent);
    assert!(closed_after < Duration::from_secs(4), "closed after {closed_after:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server =
        server(&[("TOLLGATE_LIMITS__REQUEST_TIMEOUT_SECONDS", "1"), ("TOLLGATE_LIMITS__IDLE_CONNECTION_SECONDS", "2")]);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    assert!(ask(&mut stream).starts_with("HTTP/1.1 200 OK"));
    // Kept alive for the next request…
    assert!(ask(&mut stream).starts_with("HTTP/1.1 200 OK"));
    // …but not forever.
    let closed_after = time_until_closed(&mut stream);
    assert!(closed_after < Duration::from_secs(5), "closed after {closed_after:?}");
}

#[test]
fn connections_beyond_the_cap_per_address_are_closed_and_the_others_keep_working() {
    let server = server(&[("TOLLGATE_LIMITS__MAX_CONNECTIONS_PER_ADDRESS", "3")]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(address(&server)).unwrap()).collect();
    for stream in &mut held {
        assert!(ask(stream).starts_with("HTTP/1.1 200 OK"));
    }
    let mut fourth = TcpStream::connect(address(&server)).unwrap();
    let _ = fourth.write_all(HEALTH);
    let closed_after = time_until_closed(&mut fourth);
    assert!(closed_after < Duration::from_secs(2), "closed after {closed_after:?}");
    assert!(ask(&mut held[0]).starts_with("HTTP/1.1 200 OK"), "the connections held still work");
    // A slot freed is a slot for the next connection.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut next = TcpStream::connect(address(&server)).unwrap();
    assert!(ask(&mut next).starts_with("HTTP/1.1 200 OK"));
}

/// Loopback addresses the slow clients come from (127.0.1.1 and up), and how many connections
/// each holds: under the cap per address, so that the server has to carry them all.
const SLOW_ADDRESSES: u8 = 3;
const SLOW_CONNECTIONS_PER_ADDRESS: usize = 100;

/// Sorted latencies of `count` validations of `token` on one keep-alive connection, and of
/// `logins` logins after them.
async fn request_times(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    count: usize,
    logins: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut validations = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let reply = client.get(format!("{url}/v1/sessions/current")).bearer_auth(token).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        reply.bytes().await.unwrap();
        validations.push(started.elapsed());
    }
    let mut login_times = Vec::new();
    for _ in 0..logins {
        let started = Instant::now();
        let (status, _) = support::native_login(client, url, "System", "administrator", support::ADMIN_PASSWORD).await;
        assert_eq!(status, 201);
        login_times.push(started.elapsed());
    }
    validations.sort();
    login_times.sort();
    (validations, login_times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_connections_sending_a_byte_a_second_do_not_delay_logins_or_validations() {
    let server = server(&[]);
    let url = server.url.clone();
    let target: std::net::SocketAddr = address(&server).parse().unwrap();
    let client =
        support::http_builder().http1_only().local_address(std::net::IpAddr::from([127, 0, 0, 200])).build().unwrap();
    let (status, login) =
        support::native_login(&client, &url, "System", "administrator", support::ADMIN_PASSWORD).await;
    assert_eq!(status, 201);
    let token = login["token"].as_str().unwrap().to_owned();
    // Warm the connection and the session cache, then the figures without slow clients.
    request_times(&client, &url, &token, 20, 0).await;
    let (validations_alone, logins_alone) = request_times(&client, &url, &token, 200, 7).await;

    let mut slow = Vec::new();
    for n in 0..SLOW_ADDRESSES {
        for _ in 0..SLOW_CONNECTIONS_PER_ADDRESS {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::from(([127, 0, 1, 1 + n], 0))).unwrap();
            let stream = socket.connect(target).await.unwrap().into_std().unwrap();
            stream.set_nonblocking(false).unwrap();
            slow.push(stream);
        }
    }
    // A request head that never ends, a byte a second on every connection, for as long as the
    // measurements below take (well inside the 10 s header-read deadline).
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let trickling = Arc::new(AtomicBool::new(true));
    let trickle = std::thread::spawn({
        let trickling = trickling.clone();
        move || {
            let mut sent = 0;
            while trickling.load(Ordering::Relaxed) {
                for stream in &mut slow {
                    stream
                        .write_all(&head[sent % head.len()..][..1])
                        .expect("the server closed a slow connection early");
                }
                sent += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            slow.len()
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (validations_slowed, logins_slowed) = request_times(&client, &url, &token, 200, 7).await;
    trickling.store(false, Ordering::Relaxed);
    let held = tokio::task::spawn_blocking(move || trickle.join().unwrap()).await.unwrap();
    assert_eq!(held, usize::from(SLOW_ADDRESSES) * SLOW_CONNECTIONS_PER_ADDRESS);

    let at = |times: &[Duration], fraction: f64| times[((times.len() - 1) as f64 * fraction) as usize];
    println!(
        "{held} slow connections. Validation median/p90 alone {:?}/{:?}, with them {:?}/{:?}; \
         login fastest/median alone {:?}/{:?}, with them {:?}/{:?}",
        at(&validations_alone, 0.5),
        at(&validations_alone, 0.9),
        at(&validations_slowed, 0.5),
        at(&validations_slowed, 0.9),
        logins_alone[0],
        at(&logins_alone, 0.5),
        logins_slowed[0],
        at(&logins_slowed, 0.5),
    );
    let few_ms = Duration::from_millis(3);
    assert!(
        at(&validations_slowed, 0.5) < at(&validations_alone, 0.5) + few_ms,
        "validations slowed from {:?} to {:?}",
        at(&validations_alone, 0.5),
        at(&validations_slowed, 0.5)
    );
    assert!(
        at(&validations_slowed, 0.9) < at(&validations_alone, 0.9) + few_ms,
        "validations' p90 rose from {:?} to {:?}",
        at(&validations_alone, 0.9),
        at(&validations_slowed, 0.9)
    );
    // A login is mostly its hash, on low-priority threads whose time on a shared machine varies
    // by tens of ms from one login to the next: the fastest of each series is the steady figure.
    let hash_jitter = Duration::from_millis(15);
    assert!(
        logins_slowed[0] < logins_alone[0] + hash_jitter,
        "the fastest login went from {:?} to {:?}",
        logins_alone[0],
        logins_slowed[0]
    );
}
