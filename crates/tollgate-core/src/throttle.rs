//! Per-address throttling: a token bucket for each client address, checked before any work an
//! outsider can make us do for free (a password hash, a store read for a token we never
//! issued). A refusal says when to try again; the first refusal of a burst is audited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;

/// A bucket of `burst` tokens that refills at `per_second`; `per_second` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottlePolicy {
    pub burst: u32,
    pub per_second: f64,
}

impl ThrottlePolicy {
    pub const OFF: ThrottlePolicy = ThrottlePolicy { burst: 0, per_second: 0.0 };

    fn is_off(&self) -> bool {
        self.burst == 0 || self.per_second <= 0.0
    }
}

/// Addresses whose buckets we remember at most; beyond it, full buckets are forgotten first.
const MAX_ADDRESSES: usize = 100_000;

/// Why a request was throttled: when a token is next available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    /// True for the first refusal since the bucket last had tokens: the one to audit.
    pub first_of_burst: bool,
}

#[derive(Debug)]
pub struct Throttle {
    policy: ThrottlePolicy,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
    refusing: bool,
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Throttle { policy, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `address`, or says how long until one is there.
    pub fn take(&self, address: &str, now: Timestamp) -> Result<(), Throttled> {
        self.with_bucket(address, now, |bucket, policy| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                bucket.refusing = false;
                return Ok(());
            }
            Err(refusal(bucket, policy))
        })
    }

    /// Whether `address` has a token, without taking it.
    pub fn check(&self, address: &str, now: Timestamp) -> Result<(), Throttled> {
        self.with_bucket(address, now, |bucket, policy| {
            if bucket.tokens >= 1.0 {
                return Ok(());
            }
            Err(refusal(bucket, policy))
        })
    }

    /// Gives back a token taken for something that turned out legitimate (a good login).
    pub fn refund(&self, address: &str, now: Timestamp) {
        let _ = self.with_bucket(address, now, |bucket, policy| {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(policy.burst));
            Ok(())
        });
    }

    fn with_bucket(
        &self,
        address: &str,
        now: Timestamp,
        act: impl FnOnce(&mut Bucket, &ThrottlePolicy) -> Result<(), Throttled>,
    ) -> Result<(), Throttled> {
        let policy = self.policy;
        if policy.is_off() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(address) {
            forget_full(&mut buckets, &policy, now);
        }
        let full = Bucket { tokens: f64::from(policy.burst), at: now, refusing: false };
        let bucket = buckets.entry(address.to_owned()).or_insert(full);
        refill(bucket, &policy, now);
        act(bucket, &policy)
    }

    /// Forgets addresses whose buckets are full again: they are as good as new.
    pub fn prune(&self, now: Timestamp) {
        let policy = self.policy;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        forget_full(&mut buckets, &policy, now);
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

/// Refuses from an empty `bucket`: when its next token is there, and whether this starts a
/// burst of refusals.
fn refusal(bucket: &mut Bucket, policy: &ThrottlePolicy) -> Throttled {
    let first_of_burst = !bucket.refusing;
    bucket.refusing = true;
    Throttled { retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / policy.per_second), first_of_burst }
}

fn refill(bucket: &mut Bucket, policy: &ThrottlePolicy, now: Timestamp) {
    let elapsed = now.since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * policy.per_second).min(f64::from(policy.burst));
    bucket.at = now;
}

fn forget_full(buckets: &mut HashMap<String, Bucket>, policy: &ThrottlePolicy, now: Timestamp) {
    buckets.retain(|_, bucket| {
        refill(bucket, policy, now);
        bucket.tokens < f64::from(policy.burst)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy { burst: 3, per_second: 0.5 };

    fn at(seconds: f64) -> Timestamp {
        Timestamp((seconds * 1000.0) as i64)
    }

    #[test]
    fn a_burst_passes_then_one_token_per_interval() {
        let throttle = Throttle::new(POLICY);
        for _ in 0..3 {
            throttle.take("a", at(0.0)).unwrap();
        }
        let refused = throttle.take("a", at(0.0)).unwrap_err();
        assert_eq!(refused, Throttled { retry_after: Duration::from_secs(2), first_of_burst: true });
        assert!(!throttle.take("a", at(1.0)).unwrap_err().first_of_burst, "audited once per burst");
        throttle.take("a", at(2.0)).unwrap();
        throttle.take("b", at(2.0)).expect("addresses are counted apart");
    }

    #[test]
    fn refunds_and_checks() {
        let throttle = Throttle::new(POLICY);
        for _ in 0..3 {
            throttle.take("a", at(0.0)).unwrap();
        }
        assert!(throttle.check("a", at(0.0)).is_err());
        throttle.refund("a", at(0.0));
        throttle.check("a", at(0.0)).unwrap();
        throttle.take("a", at(0.0)).unwrap();
    }

    #[test]
    fn full_buckets_are_forgotten_and_off_means_off() {
        let throttle = Throttle::new(POLICY);
        throttle.take("a", at(0.0)).unwrap();
        throttle.take("b", at(0.0)).unwrap();
        throttle.prune(at(1.0));
        assert_eq!(throttle.remembered(), 2);
        throttle.prune(at(2.0));
        assert_eq!(throttle.remembered(), 0);
        let off = Throttle::new(ThrottlePolicy::OFF);
        for _ in 0..1000 {
            off.take("a", at(0.0)).unwrap();
        }
        assert_eq!(off.remembered(), 0);
    }
}
