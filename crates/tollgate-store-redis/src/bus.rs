//! The revocation bus: a Redis pub/sub channel on which a node announces that sessions ended,
//! so that the others read the revocation log at once. A subscription of its own per node,
//! resubscribing by itself; messages published while it is down are lost, and the log, which
//! the nodes poll, has them all the same.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

pub(crate) const CHANNEL: &str = "tollgate:revocations";
/// Waits between resubscriptions, doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);
/// Connecting and subscribing.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Wakes `wakeups` for each message, for as long as the task runs.
pub(crate) async fn follow(client: redis::Client, wakeups: Arc<Notify>) {
    let mut retry = FIRST_RETRY;
    loop {
        let subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(mut pubsub)) => {
                retry = FIRST_RETRY;
                // Whatever was announced while no subscription listened is read now.
                wakeups.notify_one();
                let mut messages = pubsub.on_message();
                while messages.next().await.is_some() {
                    wakeups.notify_one();
                }
                tracing::warn!("the Redis revocation bus closed; resubscribing");
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "cannot subscribe to the Redis revocation bus"),
            Err(_) => tracing::debug!("no answer from Redis while subscribing to the revocation bus"),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}
