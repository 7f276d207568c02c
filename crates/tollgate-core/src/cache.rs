//! Sessions held in memory so that validating a live token costs a hash and a map lookup,
//! not a store round trip. Each session has one entry, reachable by each of its token digests.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use uuid::Uuid;

use crate::clock::Timestamp;
use crate::session::{Session, SessionState};
use crate::token::TokenDigest;

#[derive(Debug)]
pub(crate) struct Entry {
    pub session: Session,
    /// The true last use; the store may lag behind it by the touch granularity.
    last_seen: AtomicI64,
    /// What the store holds, so we know when it is worth another write.
    stored_last_seen: AtomicI64,
    /// When the store last confirmed the session was live.
    verified_at: AtomicI64,
    ended: AtomicBool,
    /// A dialect's rendering of the session's fields that never change, made by the first
    /// request that needs it (see `LiveSession::rendered`).
    pub rendered: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl Entry {
    pub fn new(session: Session, verified_at: Timestamp) -> Self {
        let stored = session.last_seen_at.0;
        Entry {
            session,
            last_seen: AtomicI64::new(stored),
            stored_last_seen: AtomicI64::new(stored),
            verified_at: AtomicI64::new(verified_at.0),
            ended: AtomicBool::new(false),
            rendered: OnceLock::new(),
        }
    }

    pub fn last_seen(&self) -> Timestamp {
        Timestamp(self.last_seen.load(Ordering::Relaxed))
    }

    pub fn verified_at(&self) -> Timestamp {
        Timestamp(self.verified_at.load(Ordering::Relaxed))
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    pub fn mark_ended(&self) {
        self.ended.store(true, Ordering::Release);
    }

    pub fn seen(&self, at: Timestamp) {
        self.last_seen.fetch_max(at.0, Ordering::Relaxed);
    }

    /// The store confirmed the session live at `at`, last seen (by any node) at `stored`.
    pub fn verified(&self, at: Timestamp, stored: Timestamp) {
        self.verified_at.store(at.0, Ordering::Relaxed);
        self.stored_last_seen.fetch_max(stored.0, Ordering::Relaxed);
        self.seen(stored);
    }

    /// Claims the write of `last_seen` to the store when the stored value is at least
    /// `granularity_ms` old; only one caller wins each time.
    pub fn claim_touch(&self, granularity_ms: i64) -> Option<Timestamp> {
        let seen = self.last_seen.load(Ordering::Relaxed);
        let stored = self.stored_last_seen.load(Ordering::Relaxed);
        if seen - stored < granularity_ms {
            return None;
        }
        self.stored_last_seen
            .compare_exchange(stored, seen, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| Timestamp(seen))
    }
}

#[derive(Default)]
struct Maps {
    by_digest: HashMap<TokenDigest, Arc<Entry>>,
    by_session: HashMap<Uuid, Arc<Entry>>,
    /// Sessions ended here recently, so that a store read that began before the end cannot
    /// bring them back to life.
    ended: HashMap<Uuid, (SessionState, Timestamp)>,
}

#[derive(Default)]
pub(crate) struct SessionCache {
    maps: RwLock<Maps>,
}

impl SessionCache {
    pub fn get(&self, digest: &TokenDigest) -> Option<Arc<Entry>> {
        self.maps.read().expect("cache lock").by_digest.get(digest).cloned()
    }

    /// Remembers `session` under `digests`, sharing the entry the session already has, if any,
    /// so that ending it through one token ends it through all. Refuses a session that was
    /// ended here meanwhile, with the state it ended in.
    pub fn insert(
        &self,
        session: Session,
        digests: &[TokenDigest],
        now: Timestamp,
    ) -> Result<Arc<Entry>, SessionState> {
        let mut maps = self.maps.write().expect("cache lock");
        if let Some((state, _)) = maps.ended.get(&session.id) {
            return Err(*state);
        }
        let entry = match maps.by_session.get(&session.id) {
            Some(existing) if !existing.is_ended() => {
                existing.verified(now, session.last_seen_at);
                existing.clone()
            }
            _ => {
                let fresh = Arc::new(Entry::new(session, now));
                maps.by_session.insert(fresh.session.id, fresh.clone());
                fresh
            }
        };
        for digest in digests {
            maps.by_digest.insert(*digest, entry.clone());
        }
        Ok(entry)
    }

    pub fn forget_digest(&self, digest: &TokenDigest) {
        let mut maps = self.maps.write().expect("cache lock");
        if let Some(entry) = maps.by_digest.remove(digest)
            && entry.is_ended()
        {
            maps.by_session.remove(&entry.session.id);
        }
    }

    /// Marks a session ended for every token that names it.
    pub fn end(&self, session_id: Uuid, state: SessionState, now: Timestamp) {
        let mut maps = self.maps.write().expect("cache lock");
        if let Some(entry) = maps.by_session.remove(&session_id) {
            entry.mark_ended();
        }
        maps.ended.insert(session_id, (state, now));
    }

    /// Forgets every session (they are read back from the store on their next use), but not
    /// which ones ended here.
    pub fn clear(&self) {
        let mut maps = self.maps.write().expect("cache lock");
        maps.by_digest.clear();
        maps.by_session.clear();
    }

    /// Entries whose last use has not reached the store yet.
    pub fn unflushed(&self) -> Vec<Arc<Entry>> {
        let maps = self.maps.read().expect("cache lock");
        maps.by_session.values().filter(|e| e.claim_touch(1).is_some()).cloned().collect()
    }

    /// Drops ended entries and those the store has not confirmed since `stale_before`;
    /// they are read back from the store on their next use.
    pub fn prune(&self, stale_before: Timestamp) {
        let mut maps = self.maps.write().expect("cache lock");
        let keep = |e: &Arc<Entry>| !e.is_ended() && e.verified_at() >= stale_before;
        maps.by_digest.retain(|_, e| keep(e));
        maps.by_session.retain(|_, e| keep(e));
        maps.ended.retain(|_, (_, at)| *at >= stale_before);
    }
}
