//! The periodic sweep: activity written back, timed-out sessions ended, old ones purged.

use uuid::Uuid;

use super::Core;
use crate::actor::Actor;
use crate::audit::{AuditEvent, SessionEnd};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::feed;
use crate::lockout;
use crate::session::SessionState;
use crate::store::Activity;

/// Sessions the sweep ends or deletes per store call.
const SWEEP_BATCH: u32 = 1000;

impl Core {
    /// Writes pending activity, ends sessions that timed out, drops what memory no longer
    /// needs and deletes long-ended sessions. The server runs this periodically.
    pub async fn sweep(&self) -> Result<(), CoreError> {
        let now = self.now();
        self.touches.flush(self.store.as_ref()).await;
        match self.known_tokens.learn_if_due(self.store.as_ref(), now).await {
            Ok(Some(held)) => tracing::debug!(tokens = held, "learnt the live tokens"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the live tokens; unknown tokens ask the store"),
        }
        let pending: Vec<Activity> = self
            .cache
            .unflushed()
            .iter()
            .map(|e| Activity {
                session_id: e.session.id,
                last_seen: e.last_seen(),
                ends_at: e.session.ends_at(e.last_seen()),
            })
            .collect();
        // A failed write only makes some sessions end a little early; expiry must go on.
        if !pending.is_empty()
            && let Err(e) = self.store.touch_sessions(&pending).await
        {
            tracing::warn!(error = %e, "could not record session activity");
        }
        self.cache.prune(Timestamp(now.millis() - 5 * 60 * 1000));
        self.metrics.upkeep();
        match self.store.count_live_sessions().await {
            Ok(counts) => self.metrics.live_sessions(&counts),
            Err(e) => tracing::warn!(error = %e, "could not count the live sessions"),
        }
        self.login_throttle.prune(now);
        self.suspects.prune(now);
        self.unknown_token_throttle.prune(now);
        self.session_throttle.prune(now);
        // Each step runs whatever became of the one before: a failed expiry must not keep the
        // store from shedding what it no longer needs.
        let expired = self.expire_sessions(now).await;
        let purged = self.purge_ended_sessions(now).await;
        let forgotten = lockout::purge(&*self.store, now, &self.config.lockout).await;
        let trimmed = self.purge_revocations(now).await;
        let nonces = self.purge_nonces(now).await;
        expired?;
        purged?;
        forgotten?;
        trimmed?;
        nonces?;
        Ok(())
    }

    /// Ends, in batches, the live sessions whose stored end has passed: timed out when idle
    /// too long, expired when past their lifetime.
    async fn expire_sessions(&self, now: Timestamp) -> Result<(), CoreError> {
        loop {
            let due = self.store.sessions_ending_by(now, SWEEP_BATCH).await?;
            let ends: Vec<(Uuid, SessionState)> = due
                .iter()
                .map(|s| (s.id, s.state_at(now, s.last_seen_at)))
                .filter(|(_, state)| *state != SessionState::LoggedIn)
                .collect();
            let ended = if ends.is_empty() { Vec::new() } else { self.store.end_sessions(&ends, now).await? };
            for session in &ended {
                self.cache.end(session.id, session.state, now);
                let event = AuditEvent::session_ended(SessionEnd::Expiry, session);
                self.audit(&Actor::System, Some(&session.correlation_id), event);
            }
            // A short batch was the last; one that ended nothing would only come back.
            if due.len() < SWEEP_BATCH as usize || ended.is_empty() {
                return Ok(());
            }
        }
    }

    /// Forgets spent single-use proofs that could no longer verify anyway.
    async fn purge_nonces(&self, now: Timestamp) -> Result<(), CoreError> {
        while self.store.purge_nonces(now, SWEEP_BATCH).await? == u64::from(SWEEP_BATCH) {}
        Ok(())
    }

    /// Deletes sessions ended before the retention period, a batch per transaction: logins
    /// wait for one batch, not for all.
    async fn purge_ended_sessions(&self, now: Timestamp) -> Result<(), CoreError> {
        let cutoff = Timestamp(now.millis() - self.config.ended_session_retention.as_millis() as i64);
        let mut purged = 0;
        loop {
            let batch = self.store.purge_ended_sessions(cutoff, SWEEP_BATCH).await?;
            purged += batch;
            if batch < u64::from(SWEEP_BATCH) {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "deleted sessions ended before the retention period");
        }
        Ok(())
    }

    /// Deletes revocation log entries older than every node still needs, a batch at a time.
    async fn purge_revocations(&self, now: Timestamp) -> Result<(), CoreError> {
        let cutoff = Timestamp(now.millis() - feed::LOG_RETENTION.as_millis() as i64);
        while self.store.purge_revocations(cutoff, SWEEP_BATCH).await? == u64::from(SWEEP_BATCH) {}
        Ok(())
    }
}
