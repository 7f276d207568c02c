//! Lockout arithmetic over the store's failure counters (see [`LockoutPolicy`]): each account
//! has a counter per client address and one for all addresses together. The store counts
//! atomically; here we decide what the counts mean, so every backend locks alike.

use crate::clock::Timestamp;
use crate::config::LockoutPolicy;
use crate::store::{LockoutStore, StoreResult};

/// The counter of an account's failures from every address together. No client address is
/// spelt like this.
pub(crate) const ALL_ADDRESSES: &str = "*";

/// The locks a failure set: for its address, and for every address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Locks {
    pub address_until: Option<Timestamp>,
    pub account_until: Option<Timestamp>,
}

fn window_start(now: Timestamp, policy: &LockoutPolicy) -> Timestamp {
    Timestamp(now.millis().saturating_sub(policy.window.as_millis() as i64))
}

/// A login attempt counted before its credential was checked (see [`admit`]); it must be
/// settled: as a failure ([`settle_failure`]), a success ([`reset_after_success`]) or no guess
/// at all ([`give_back`]).
#[derive(Debug)]
pub(crate) struct Attempt {
    /// The counts after this attempt: its address's, then all addresses'.
    counts: Vec<u32>,
    at: Timestamp,
}

/// The most attempts a counter holds in its window: the threshold that locks it. With lockout
/// off attempts are still counted, so that every refusal costs the same write.
fn limit(max: u32) -> u32 {
    if max == 0 { u32::MAX } else { max }
}

/// Counts a login attempt of `account` from `address` before its credential is checked, or
/// answers `None` when the account is locked for that address or for every address, or
/// already has as many attempts under way or failed in its window as lock it. However many
/// run at once, on however many nodes, no more credentials are checked than the threshold.
pub(crate) async fn admit(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    now: Timestamp,
    policy: &LockoutPolicy,
) -> StoreResult<Option<Attempt>> {
    let limits = [(address, limit(policy.max_failures)), (ALL_ADDRESSES, limit(policy.all_addresses().max_failures))];
    let counts = store.reserve_attempt(account, &limits, now, window_start(now, policy)).await?;
    Ok(counts.map(|counts| Attempt { counts, at: now }))
}

/// Keeps `attempt` counted as a failure (a wrong guess) and locks each counter it brought to
/// its threshold.
pub(crate) async fn settle_failure(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    attempt: Attempt,
    now: Timestamp,
    policy: &LockoutPolicy,
) -> StoreResult<Locks> {
    let reached = |index: usize, max: u32| max > 0 && attempt.counts.get(index).is_some_and(|&count| count >= max);
    let until = now.plus(policy.lock_for);
    let mut locks = Locks::default();
    if reached(0, policy.max_failures) {
        store.lock(account, address, until).await?;
        locks.address_until = Some(until);
    }
    if reached(1, policy.all_addresses().max_failures) {
        store.lock(account, ALL_ADDRESSES, until).await?;
        locks.account_until = Some(until);
    }
    Ok(locks)
}

/// Uncounts an attempt that was no guess: the identity source could not answer, or the
/// login failed for a reason that says nothing about the password.
pub(crate) async fn give_back(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    attempt: Attempt,
) -> StoreResult<()> {
    store.release_attempt(account, &[address, ALL_ADDRESSES], attempt.at).await
}

/// Forgets the failures a good login from `address` follows, unless a failure counted
/// meanwhile locked the account: then returns false.
pub(crate) async fn reset_after_success(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    store.reset_unless_locked(account, &[address, ALL_ADDRESSES], now).await
}

/// What the account is locked for at `now`: everyone, and which addresses alone.
pub(crate) async fn locks_of(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    now: Timestamp,
) -> StoreResult<(bool, Vec<String>)> {
    let mut everywhere = false;
    let mut addresses = Vec::new();
    for (address, until) in store.locks(account).await? {
        if until <= now {
            continue;
        }
        if address == ALL_ADDRESSES {
            everywhere = true;
        } else {
            addresses.push(address);
        }
    }
    Ok((everywhere, addresses))
}

/// Forgets counters that neither lock nor count any more at `now`.
pub(crate) async fn purge(
    store: &(impl LockoutStore + ?Sized),
    now: Timestamp,
    policy: &LockoutPolicy,
) -> StoreResult<u64> {
    store.purge_counters(now, window_start(now, policy)).await
}
