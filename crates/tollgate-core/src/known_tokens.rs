//! Which tokens may name a session, known without asking the store.
//!
//! A token the session cache does not hold costs a store read, so a flood of made-up tokens
//! would cost one read each. When the store says that every session in it was issued through
//! this core ([`SessionStore::sole_issuer`]: an embedded store one server holds), the core
//! keeps the digests of all live tokens in memory (the first eight bytes of each, eight bytes a
//! token: 1M sessions take about 16 MiB) and refuses any other token at once. Until it has
//! learnt the store's digests, and with a shared store always, every miss asks the store.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::store::{Store, StoreResult};
use crate::token::TokenDigest;

/// How often the set is rebuilt from the store, forgetting tokens of sessions that ended.
pub(crate) const RELEARN_EVERY: Duration = Duration::from_secs(600);
/// Digests read from the store at a time while learning: a page of 10,000 took 58 ms at 1M
/// sessions, a burst of a core's time that the validations running beside it felt.
const PAGE: u32 = 1_000;

#[derive(Default)]
pub(crate) struct KnownTokens {
    /// True once the set holds every live token of the store.
    learnt: AtomicBool,
    prefixes: RwLock<Prefixes>,
    /// When learning last began; `None` before the first time.
    last_learnt: Mutex<Option<Timestamp>>,
}

#[derive(Default)]
struct Prefixes {
    current: HashSet<u64>,
    /// While a relearning runs: what it has read so far, plus every token issued meanwhile.
    next: Option<HashSet<u64>>,
}

fn prefix(digest: &TokenDigest) -> u64 {
    u64::from_le_bytes(digest.0[..8].try_into().expect("eight bytes"))
}

impl KnownTokens {
    /// Whether `digest` may name a session: false only when it certainly does not.
    pub fn may_exist(&self, digest: &TokenDigest) -> bool {
        !self.learnt.load(Ordering::Acquire) || self.read().current.contains(&prefix(digest))
    }

    /// Records tokens just issued (after the store holds their session, so that a learning
    /// running meanwhile that read past them cannot lose them).
    pub fn issued(&self, digests: &[TokenDigest]) {
        let mut prefixes = self.write();
        for digest in digests {
            prefixes.current.insert(prefix(digest));
            if let Some(next) = prefixes.next.as_mut() {
                next.insert(prefix(digest));
            }
        }
    }

    /// Reads every live token's digest from `store` (a sole issuer) when it has never done so
    /// or did so [`RELEARN_EVERY`] ago; returns how many it holds afterwards, if it learnt.
    pub async fn learn_if_due(&self, store: &dyn Store, now: Timestamp) -> StoreResult<Option<usize>> {
        if !store.sole_issuer() {
            return Ok(None);
        }
        {
            let mut last = self.last_learnt.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|at| now.since(at) < RELEARN_EVERY) {
                return Ok(None);
            }
            *last = Some(now);
        }
        self.write().next = Some(HashSet::new());
        let learnt = self.read_all(store).await;
        let mut prefixes = self.write();
        let next = prefixes.next.take().unwrap_or_default();
        if let Err(e) = learnt {
            // Try again at the next sweep; meanwhile what was known stays known.
            *self.last_learnt.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            return Err(e);
        }
        prefixes.current = next;
        let held = prefixes.current.len();
        self.learnt.store(true, Ordering::Release);
        Ok(Some(held))
    }

    async fn read_all(&self, store: &dyn Store) -> StoreResult<()> {
        let mut after = None;
        loop {
            let page = store.live_token_digests(after, PAGE).await?;
            let Some(last) = page.last().copied() else { return Ok(()) };
            if let Some(next) = self.write().next.as_mut() {
                next.extend(page.iter().map(prefix));
            }
            after = Some(last);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Prefixes> {
        self.prefixes.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Prefixes> {
        self.prefixes.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
