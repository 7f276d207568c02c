//! HTTPS listeners that also understand a plain-HTTP request sent to them. BlueCat's own
//! documentation prints its login as `curl … http://{Address_Manager_IP}/api/v2/sessions`, and
//! users paste it: the first byte of a connection tells a TLS handshake (0x16) from HTTP, and
//! plain HTTP is served to the clients `tls.plain_http` allows (loopback, by default). Everyone
//! else gets the dialect's 400 ("use https://") instead of bytes they cannot read.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum_server::accept::Accept;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;
use tollgate_dialects::common::Transport;
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

/// Accepts TLS and, by the rules of [`PlainHttp`], plain HTTP on one port.
#[derive(Clone)]
pub struct Sniffing {
    pub tls: Arc<rustls::ServerConfig>,
    pub plain: PlainHttp,
    /// How long a client may take to send its first byte, or to finish the TLS handshake.
    pub handshake_timeout: Duration,
}

type Accepted<S> = (Either<TlsStream<TcpStream>, TcpStream>, WithTransport<S>);

impl<S: Send + 'static> Accept<TcpStream, S> for Sniffing {
    type Stream = Either<TlsStream<TcpStream>, TcpStream>;
    type Service = WithTransport<S>;
    type Future = Pin<Box<dyn Future<Output = io::Result<Accepted<S>>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let timeout = this.handshake_timeout;
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(timeout, stream.peek(&mut first))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client sent nothing"))??;
            if peeked == 0 || first[0] == TLS_HANDSHAKE {
                let tls = tokio::time::timeout(timeout, TlsAcceptor::from(this.tls).accept(stream))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out"))??;
                Ok((Either::Left(tls), WithTransport { inner: service, transport: Transport::Tls }))
            } else {
                let allowed = stream.peer_addr().is_ok_and(|peer| this.plain.allows(peer));
                let transport = Transport::Plain { allowed };
                Ok((Either::Right(stream), WithTransport { inner: service, transport }))
            }
        })
    }
}

/// Tells every request how its connection reached us.
#[derive(Clone)]
pub struct WithTransport<S> {
    inner: S,
    transport: Transport,
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
