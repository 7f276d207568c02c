//! Accepting connections: caps on connections in all and per client address, a deadline for
//! a connection's first byte and for any silence after it, and HTTPS listeners that also
//! understand a plain-HTTP request sent to them. BlueCat's own documentation prints its login
//! as `curl … http://{Address_Manager_IP}/api/v2/sessions`, and users paste it: the first byte
//! of a connection tells a TLS handshake (0x16) from HTTP, and plain HTTP is served to the
//! clients `tls.plain_http` allows (loopback, by default). Everyone else gets the dialect's 400
//! ("use https://") instead of bytes they cannot read.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum_server::accept::Accept;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;
use tollgate_dialects::Harness;
use tollgate_dialects::common::Transport;
use tollgate_dialects::faults::{Connection, Cut};
use tower::Service;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Who may speak plain HTTP to an HTTPS listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlainHttp {
    /// Nobody: every plain request gets a 400.
    Never,
    /// Clients on this machine (127.0.0.0/8, ::1).
    #[default]
    Loopback,
    /// Anyone (only behind a proxy that terminates TLS, or on a trusted network).
    Any,
}

impl PlainHttp {
    fn allows(self, peer: SocketAddr) -> bool {
        match self {
            PlainHttp::Never => false,
            PlainHttp::Loopback => peer.ip().to_canonical().is_loopback(),
            PlainHttp::Any => true,
        }
    }
}

/// How many connections a listener holds, and for how long a silent one.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    /// How long a client may take to send its first byte, or to finish the TLS handshake.
    pub first_byte: Duration,
    /// How long a connection may stay silent in both directions before it is closed.
    pub idle: Duration,
}

/// The connections held now, in all and by address; shared by every listener.
#[derive(Default)]
pub struct Connections {
    by_address: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

impl Connections {
    /// A slot for a connection from `address`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, address: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
        let mut by_address = self.by_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let held = by_address.entry(address).or_insert(0);
        if *held >= limits.max_per_address || self.total.load(Ordering::Relaxed) >= limits.max_connections {
            if *held == 0 {
                by_address.remove(&address);
            }
            return None;
        }
        *held += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot { connections: self.clone(), address })
    }
}

/// One admitted connection; dropping it (the connection closed) frees the slot.
struct Slot {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_address = self.connections.by_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(held) = by_address.get_mut(&self.address) {
            *held -= 1;
            if *held == 0 {
                by_address.remove(&self.address);
            }
        }
        self.connections.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections within [`ConnectionLimits`]; on an HTTPS listener (`tls`), TLS and, by
/// the rules of [`PlainHttp`], plain HTTP on one port.
#[derive(Clone)]
pub struct Acceptor {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub plain: PlainHttp,
    pub limits: ConnectionLimits,
    pub connections: Arc<Connections>,
    /// The fault rules, some of which cut connections.
    pub harness: Arc<Harness>,
}

type Stream = Guarded<Either<TlsStream<TcpStream>, TcpStream>>;
type Accepted<S> = (Stream, WithTransport<S>);

impl<S: Send + 'static> Accept<TcpStream, S> for Acceptor {
    type Stream = Stream;
    type Service = WithTransport<S>;
    type Future = Pin<Box<dyn Future<Output = io::Result<Accepted<S>>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let peer = stream.peer_addr()?;
            let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "too many connections");
            let slot = this.connections.admit(peer.ip().to_canonical(), &this.limits).ok_or_else(refused)?;
            let deadline = this.limits.first_byte;
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(deadline, stream.peek(&mut first))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client sent nothing"))??;
            let (stream, transport) = match this.tls {
                Some(tls) if peeked == 0 || first[0] == TLS_HANDSHAKE => {
                    let tls = tokio::time::timeout(deadline, TlsAcceptor::from(tls).accept(stream))
                        .await
                        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out"))??;
                    (Either::Left(tls), Transport::Tls)
                }
                Some(_) => (Either::Right(stream), Transport::Plain { allowed: this.plain.allows(peer) }),
                None => (Either::Right(stream), Transport::Plain { allowed: true }),
            };
            let connection = Connection::default();
            let stream = Guarded::new(stream, this.limits.idle, slot, connection.clone());
            Ok((stream, WithTransport { inner: service, transport, connection, harness: this.harness }))
        })
    }
}

/// A connection that is closed after `idle` without a byte either way, and that holds its
/// [`Slot`] while open. Activity only stamps the time: the timer is moved when it fires, once
/// per idle period, not on every read and write. A fault rule that cuts the connection
/// ([`Connection`]) fails its next write, so not a byte of the answer leaves.
pub struct Guarded<T> {
    inner: T,
    idle: Duration,
    last_active: tokio::time::Instant,
    deadline: Pin<Box<tokio::time::Sleep>>,
    connection: Connection,
    _slot: Slot,
}

/// The TCP socket under a connection, for a reset (`SO_LINGER` 0).
pub trait Socket {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for Either<TlsStream<TcpStream>, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        match self {
            Either::Left(tls) => tls.get_ref().0,
            Either::Right(tcp) => tcp,
        }
    }
}

impl<T> Guarded<T> {
    fn new(inner: T, idle: Duration, slot: Slot, connection: Connection) -> Self {
        let last_active = tokio::time::Instant::now();
        let deadline = Box::pin(tokio::time::sleep(idle));
        Guarded { inner, idle, last_active, deadline, connection, _slot: slot }
    }

    fn active(&mut self) {
        self.last_active = tokio::time::Instant::now();
    }

    /// While the other side is pending: an error once the connection has been idle too long.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let due = self.last_active + self.idle;
            if due <= tokio::time::Instant::now() {
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the connection was idle"));
            }
            self.deadline.as_mut().reset(due);
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Socket + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(cut) = this.connection.is_cut() {
            let kind = match cut {
                // Closed with an RST instead of a FIN.
                Cut::Reset => {
                    let _ = this.inner.tcp().set_zero_linger();
                    io::ErrorKind::ConnectionReset
                }
                Cut::Close => io::ErrorKind::BrokenPipe,
            };
            return Poll::Ready(Err(io::Error::new(kind, "a fault rule cut the connection")));
        }
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Tells every request how its connection reached us and, while fault rules are held, hands
/// it the connection's fate.
#[derive(Clone)]
pub struct WithTransport<S> {
    inner: S,
    transport: Transport,
    connection: Connection,
    harness: Arc<Harness>,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for WithTransport<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Incoming>) -> S::Future {
        request.extensions_mut().insert(self.transport);
        // Without rules, nothing more per request than this load.
        if self.harness.faults.armed() {
            request.extensions_mut().insert(self.connection.clone());
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_to_loopback_clients_by_default() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert!(PlainHttp::default().allows(local) && PlainHttp::default().allows(mapped));
        assert!(!PlainHttp::default().allows(remote));
        assert!(!PlainHttp::Never.allows(local));
        assert!(PlainHttp::Any.allows(remote));
    }
}
