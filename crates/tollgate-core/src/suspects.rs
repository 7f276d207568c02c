//! Which client addresses' logins wait in the hash queue's low lane ([`crate::password::Lane`]):
//! those whose last login within the lockout window was refused, and those that already have
//! a login under way. A spray from many addresses then competes only with itself after each
//! address's first guess, while a user who logs in from an address of their own, one login at
//! a time, keeps the normal lane. A good login clears its address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::password::Lane;

/// Addresses remembered at most. When that many are suspect at once, logins from addresses
/// not remembered yet keep the normal lane: an attacker filling the table must not push
/// everyone else into the low one.
const MAX_ADDRESSES: usize = 100_000;

/// How a login from an address ended, for its standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Refused as a guess.
    Refused,
    LoggedIn,
    /// Neither: throttled, an outage, the client went away.
    Neither,
}

#[derive(Debug, Default)]
struct Standing {
    under_way: u32,
    refused_at: Option<Timestamp>,
}

#[derive(Debug)]
pub(crate) struct Suspects {
    /// How long a refusal keeps its address suspect.
    window: Duration,
    addresses: Mutex<HashMap<String, Standing>>,
}

impl Suspects {
    pub(crate) fn new(window: Duration) -> Self {
        Suspects { window, addresses: Mutex::new(HashMap::new()) }
    }

    /// Starts a login from `address`: the lane its hashes wait in. Every start is followed by
    /// one [`Suspects::finish`].
    pub(crate) fn start(&self, address: &str, now: Timestamp) -> Lane {
        let mut addresses = self.addresses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if addresses.len() >= MAX_ADDRESSES && !addresses.contains_key(address) {
            self.forget_cleared(&mut addresses, now);
            if addresses.len() >= MAX_ADDRESSES {
                return Lane::Normal;
            }
        }
        let standing = addresses.entry(address.to_owned()).or_default();
        let suspect = standing.under_way > 0 || self.refused_recently(standing, now);
        standing.under_way += 1;
        if suspect { Lane::Low } else { Lane::Normal }
    }

    /// Ends a login [`Suspects::start`] started.
    pub(crate) fn finish(&self, address: &str, ending: Ending, now: Timestamp) {
        let mut addresses = self.addresses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Absent when the table was full at its start.
        let Some(standing) = addresses.get_mut(address) else { return };
        standing.under_way = standing.under_way.saturating_sub(1);
        match ending {
            Ending::Refused => standing.refused_at = Some(now),
            Ending::LoggedIn => standing.refused_at = None,
            Ending::Neither => {}
        }
        if standing.under_way == 0 && !self.refused_recently(standing, now) {
            addresses.remove(address);
        }
    }

    /// Forgets addresses that are no longer suspect.
    pub(crate) fn prune(&self, now: Timestamp) {
        let mut addresses = self.addresses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.forget_cleared(&mut addresses, now);
    }

    fn refused_recently(&self, standing: &Standing, now: Timestamp) -> bool {
        standing.refused_at.is_some_and(|at| now.since(at) < self.window)
    }

    fn forget_cleared(&self, addresses: &mut HashMap<String, Standing>, now: Timestamp) {
        addresses.retain(|_, standing| standing.under_way > 0 || self.refused_recently(standing, now));
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.addresses.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn at(seconds: i64) -> Timestamp {
        Timestamp(seconds * 1000)
    }

    #[test]
    fn a_refusal_makes_its_address_suspect_for_the_window_and_a_good_login_clears_it() {
        let suspects = Suspects::new(WINDOW);
        assert_eq!(suspects.start("a", at(0)), Lane::Normal);
        suspects.finish("a", Ending::Refused, at(0));
        assert_eq!(suspects.start("a", at(1)), Lane::Low);
        assert_eq!(suspects.start("b", at(1)), Lane::Normal, "other addresses keep the normal lane");
        suspects.finish("b", Ending::LoggedIn, at(1));
        suspects.finish("a", Ending::LoggedIn, at(1));
        assert_eq!(suspects.start("a", at(2)), Lane::Normal, "a good login clears the address");
        suspects.finish("a", Ending::Refused, at(2));
        assert_eq!(suspects.start("a", at(61)), Lane::Low);
        suspects.finish("a", Ending::Neither, at(61));
        assert_eq!(suspects.start("a", at(62)), Lane::Normal, "the window has passed");
        suspects.finish("a", Ending::Neither, at(62));
        assert_eq!(suspects.remembered(), 0);
    }

    #[test]
    fn logins_under_way_make_the_next_ones_from_their_address_suspect() {
        let suspects = Suspects::new(WINDOW);
        assert_eq!(suspects.start("a", at(0)), Lane::Normal);
        assert_eq!(suspects.start("a", at(0)), Lane::Low);
        suspects.finish("a", Ending::LoggedIn, at(0));
        assert_eq!(suspects.start("a", at(0)), Lane::Low, "one is still under way");
        suspects.finish("a", Ending::LoggedIn, at(0));
        suspects.finish("a", Ending::LoggedIn, at(0));
        assert_eq!(suspects.remembered(), 0);
        assert_eq!(suspects.start("a", at(0)), Lane::Normal);
    }

    #[test]
    fn refusals_are_forgotten_by_the_prune_after_the_window() {
        let suspects = Suspects::new(WINDOW);
        for address in ["a", "b"] {
            suspects.start(address, at(0));
            suspects.finish(address, Ending::Refused, at(0));
        }
        suspects.start("c", at(0));
        suspects.prune(at(59));
        assert_eq!(suspects.remembered(), 3);
        suspects.prune(at(60));
        assert_eq!(suspects.remembered(), 1, "c is still under way");
    }
}
