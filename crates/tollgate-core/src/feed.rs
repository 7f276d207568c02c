//! The revocation feed: how sessions ended elsewhere (another node, the CLI) leave this
//! node's cache.
//!
//! Every session end is appended to the store's [`RevocationLog`]. The server reads the log
//! from the last number it has seen whenever the store's push channel wakes it (PostgreSQL's
//! `NOTIFY`, Redis pub/sub) and every [`POLL_EVERY`] in any case, since pushes are lost while
//! their connection is down. Cached sessions are trusted only while the last complete read of
//! the log began less than [`FENCE`] ago; past that, each validation asks the store, which
//! when it is down fails as a server error, never as a refusal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::cache::SessionCache;
use crate::clock::Timestamp;
use crate::store::{Store, StoreResult};

/// How often the log is read when no push comes.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long the cache is trusted after the last complete read of the log began.
pub(crate) const FENCE: Duration = Duration::from_secs(1);
/// How long log entries are kept. A node that could not read the log for half of it cannot
/// tell what ended meanwhile, and forgets everything it caches.
pub(crate) const LOG_RETENTION: Duration = Duration::from_secs(3600);
/// How long a number seen skipped is asked for again: a writer's entry commits within a
/// statement's timeout of taking its number, or never.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// Skipped numbers asked for at most (a sequence may jump after a crash of the store).
const MAX_GAPS: usize = 256;
/// Entries read per store call.
const PAGE: u32 = 1000;

#[derive(Default)]
struct Cursor {
    /// The highest number read; `None` before the first read.
    last: Option<i64>,
    /// Numbers below `last` not seen yet, with when they were first missed.
    gaps: BTreeMap<i64, Timestamp>,
}

pub(crate) struct RevocationFeed {
    /// When the last complete read of the log began (core clock, ms); `i64::MIN` before one.
    fresh_as_of: AtomicI64,
    cursor: tokio::sync::Mutex<Cursor>,
}

impl Default for RevocationFeed {
    fn default() -> Self {
        RevocationFeed { fresh_as_of: AtomicI64::new(i64::MIN), cursor: tokio::sync::Mutex::default() }
    }
}

impl RevocationFeed {
    /// Whether cached sessions may be trusted at `now`: the log was read completely less than
    /// [`FENCE`] before.
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        now.millis().saturating_sub(self.fresh_as_of.load(Ordering::Acquire)) < FENCE.as_millis() as i64
    }

    /// Reads the log from where the last read ended and ends in `cache` every session it
    /// names; returns how many entries it read.
    pub async fn catch_up(&self, store: &dyn Store, cache: &SessionCache, now: Timestamp) -> StoreResult<usize> {
        let mut cursor = self.cursor.lock().await;
        let lapse = now.millis().saturating_sub(self.fresh_as_of.load(Ordering::Acquire));
        let mut last = match cursor.last {
            Some(last) if lapse < LOG_RETENTION.as_millis() as i64 / 2 => last,
            // The first read, or one after entries this node never read may have been purged:
            // start from the end, holding nothing that needed them.
            _ => {
                let latest = store.latest_revocation().await?;
                cache.clear();
                cursor.gaps.clear();
                latest
            }
        };
        let mut read = 0;
        loop {
            let also: Vec<i64> = cursor.gaps.keys().copied().collect();
            let page = store.revocations(last, &also, PAGE).await?;
            for entry in &page {
                cache.end(entry.session_id, entry.state, now);
                cursor.gaps.remove(&entry.seq);
                if entry.seq > last {
                    let skipped_from = (last + 1).max(entry.seq - MAX_GAPS as i64);
                    cursor.gaps.extend((skipped_from..entry.seq).map(|seq| (seq, now)));
                    last = entry.seq;
                }
            }
            read += page.len();
            cursor.last = Some(last);
            if page.len() < PAGE as usize {
                break;
            }
        }
        let patience = GAP_PATIENCE.as_millis() as i64;
        cursor.gaps.retain(|_, missed_at| now.millis() - missed_at.millis() < patience);
        while cursor.gaps.len() > MAX_GAPS {
            cursor.gaps.pop_first();
        }
        self.fresh_as_of.fetch_max(now.millis(), Ordering::AcqRel);
        Ok(read)
    }
}
