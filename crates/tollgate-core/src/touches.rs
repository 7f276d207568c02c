//! Last-seen times on their way to the store, written in batches.
//!
//! A session's idle timeout slides with use, but the store hears of a use only once per
//! granularity (see `Core::validate`). When many tokens are used for the first time at once
//! (a restart, a burst of new clients), one write each would queue thousands of small
//! transactions on the store's blocking threads, and lookups would wait behind them. Instead
//! the first use of a batch schedules one write of everything queued until then, a moment
//! later; a crash loses at most that moment's worth of activity, which only makes those
//! sessions end a little early.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{Activity, Store};

/// How long a batch collects activity before it is written.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_millis(200);
/// The most rows one store write carries, so that no transaction holds the store for long.
const MAX_BATCH: usize = 1000;

#[derive(Default)]
pub(crate) struct TouchQueue {
    pending: Mutex<Vec<Activity>>,
}

impl TouchQueue {
    /// Queues `activity`; the first of a batch schedules the write of the whole batch.
    pub fn push(self: &Arc<Self>, activity: Activity, store: &Arc<dyn Store>) {
        let first = {
            let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pending.push(activity);
            pending.len() == 1
        };
        if first {
            let (queue, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                tokio::time::sleep(FLUSH_DELAY).await;
                queue.flush(store.as_ref()).await;
            });
        }
    }

    /// Writes whatever is queued now.
    pub async fn flush(&self, store: &dyn Store) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for chunk in batch.chunks(MAX_BATCH) {
            if let Err(e) = store.touch_sessions(chunk).await {
                tracing::warn!(error = %e, sessions = chunk.len(), "could not record session activity");
            }
        }
    }
}
