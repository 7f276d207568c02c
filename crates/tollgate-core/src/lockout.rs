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

/// Whether `account` refuses logins from `address` at `now`: locked for that address, or for
/// every address.
pub(crate) async fn is_locked(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    Ok(store.locked_until(account, &[address, ALL_ADDRESSES]).await?.is_some_and(|until| until > now))
}

/// Counts a failed login of `account` from `address` and locks what reached its threshold.
/// With lockout off the failure is still counted, so that every refusal costs the same write.
pub(crate) async fn count_failure(
    store: &(impl LockoutStore + ?Sized),
    account: &[u8],
    address: &str,
    now: Timestamp,
    policy: &LockoutPolicy,
) -> StoreResult<Locks> {
    let counts = store.count_failure(account, &[address, ALL_ADDRESSES], now, window_start(now, policy)).await?;
    let reached = |index: usize, max: u32| max > 0 && counts.get(index).is_some_and(|&count| count >= max);
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
