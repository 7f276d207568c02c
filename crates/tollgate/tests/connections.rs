//! What a client can hold of the server: connections that send nothing are closed after the
//! first-byte deadline, idle ones after the idle timeout, and connections beyond the cap per
//! address are closed as they arrive, while the ones held keep working.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
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
