//! The push half of the revocation feed: a connection of its own that `LISTEN`s on the channel
//! the `revocations` table's trigger notifies, reconnecting by itself. Notifications sent while
//! it is down are lost; the core polls the log as well.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Listens on the channel the `revocations_notify` trigger notifies (see the schema).
const LISTEN: &str = "LISTEN tollgate_revocations";
/// Waits between reconnections, doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// Wakes `wakeups` for each notification, for as long as the task runs.
pub(crate) async fn follow(config: tokio_postgres::Config, tls: Option<MakeRustlsConnect>, wakeups: Arc<Notify>) {
    let mut retry = FIRST_RETRY;
    loop {
        let listened = match &tls {
            Some(tls) => match config.connect(tls.clone()).await {
                Ok((client, connection)) => listen(client, connection, &wakeups, &mut retry).await,
                Err(e) => Err(e),
            },
            None => match config.connect(NoTls).await {
                Ok((client, connection)) => listen(client, connection, &wakeups, &mut retry).await,
                Err(e) => Err(e),
            },
        };
        match listened {
            Ok(()) => tracing::warn!("the LISTEN connection to PostgreSQL closed; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "the LISTEN connection to PostgreSQL failed; reconnecting"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One connection's life: listens, then wakes `wakeups` at each notification until the
/// connection ends.
async fn listen<S, T>(
    client: Client,
    mut connection: Connection<S, T>,
    wakeups: &Notify,
    retry: &mut Duration,
) -> Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let listen = client.batch_execute(LISTEN);
    let mut listen = std::pin::pin!(listen);
    let mut listening = false;
    // The connection delivers answers and notifications only while it is polled.
    loop {
        tokio::select! {
            sent = &mut listen, if !listening => {
                sent?;
                listening = true;
                *retry = FIRST_RETRY;
                // Whatever was appended while no connection listened is read now.
                wakeups.notify_one();
            }
            message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(_))) => wakeups.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}
