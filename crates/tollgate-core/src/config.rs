//! Policy knobs of the core. The server fills these from its configuration file.

use std::collections::HashMap;
use std::time::Duration;

use crate::password::PasswordPolicy;
use crate::source::SourceConfig;
use crate::throttle::ThrottlePolicy;

/// Session lifetimes of one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialectPolicy {
    /// A session unused this long is over; every use slides it.
    pub idle_timeout: Duration,
    /// A session is over this long after login, however busy.
    pub lifetime: Duration,
}

impl DialectPolicy {
    pub const fn minutes(idle: u64, lifetime_hours: u64) -> Self {
        DialectPolicy {
            idle_timeout: Duration::from_secs(idle * 60),
            lifetime: Duration::from_secs(lifetime_hours * 3600),
        }
    }
}

/// Lockout, counted per account *and* client address (Keycloak's lockout-DoS lesson,
/// GHSA-cq42-vhv7-xr7p): `max_failures` failures within `window` from one address lock the
/// account for that address only, for `lock_for`, so a guesser cannot lock the owner out from
/// elsewhere; `max_failures_all_addresses` failures from all addresses together lock it for
/// everyone, so guessing spread over many addresses still locks it. `max_failures` 0 turns
/// lockout off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub max_failures_all_addresses: u32,
    pub window: Duration,
    pub lock_for: Duration,
}

impl LockoutPolicy {
    /// The same policy counted over all addresses together.
    pub fn all_addresses(&self) -> LockoutPolicy {
        let max_failures = if self.max_failures == 0 { 0 } else { self.max_failures_all_addresses };
        LockoutPolicy { max_failures, ..*self }
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            max_failures_all_addresses: 20,
            window: Duration::from_secs(15 * 60),
            lock_for: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Identity sources by name; logins name the one that checks their credentials.
    pub sources: HashMap<String, SourceConfig>,
    pub dialects: HashMap<String, DialectPolicy>,
    /// Used for a dialect that has no entry of its own.
    pub default_dialect: DialectPolicy,
    pub lockout: LockoutPolicy,
    /// Live sessions a user may hold; logging in beyond it ends the oldest.
    pub max_sessions_per_user: u32,
    /// Password hashes computed at once; each Argon2id run holds 19 MiB.
    pub max_concurrent_hashes: usize,
    /// The Argon2id cost of new password hashes.
    pub hash_cost: crate::password::HashCost,
    /// Ended sessions are kept this long for listing and audit, then deleted.
    pub ended_session_retention: Duration,
    /// What a new local password must be (bootstrap, new users, password changes).
    pub passwords: PasswordPolicy,
    /// Login attempts per client address, taken before the password is hashed; a good login
    /// gives its token back, so only failures add up.
    pub login_throttle: ThrottlePolicy,
    /// Tokens per client address that name no session, taken before the store is asked.
    pub unknown_token_throttle: ThrottlePolicy,
    /// New sessions per user, however they are opened (a delegated vcd token costs no hash):
    /// with the per-user cap, it bounds how fast one user can make the store grow.
    pub session_throttle: ThrottlePolicy,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            sources: HashMap::from([(crate::directory::LOCAL_SOURCE.to_owned(), SourceConfig::Local)]),
            dialects: HashMap::new(),
            default_dialect: DialectPolicy::minutes(30, 24),
            lockout: LockoutPolicy::default(),
            max_sessions_per_user: 32,
            // Hashing threads run at a lower priority, so they may use every core: request
            // handling still comes first.
            max_concurrent_hashes: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            hash_cost: crate::password::HashCost::Owasp,
            ended_session_retention: Duration::from_secs(7 * 24 * 3600),
            // Only "not empty" here: the server sets NIST's minimum from its configuration
            // (`[passwords] min_length`, default 8), while in-process tests built on this
            // default still create users with shorter passwords.
            passwords: PasswordPolicy { min_length: 1 },
            // 10 failures at once, then one every 2 s: a person mistyping never notices, a
            // guesser gets 30 a minute instead of hundreds a second.
            login_throttle: ThrottlePolicy { burst: 10, per_second: 0.5 },
            unknown_token_throttle: ThrottlePolicy { burst: 100, per_second: 20.0 },
            session_throttle: ThrottlePolicy { burst: 100, per_second: 10.0 },
        }
    }
}

impl CoreConfig {
    pub fn policy_for(&self, dialect: &str) -> DialectPolicy {
        self.dialects.get(dialect).copied().unwrap_or(self.default_dialect)
    }
}
