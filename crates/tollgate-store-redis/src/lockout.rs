//! Lockout counters in Redis: one hash per (account, address) with the failures of its
//! current window (`failures`, `first`) and its lock (`locked`), and one set per account naming
//! its addresses. Each step that reads and writes is one Lua script, so it is atomic as the
//! [`tollgate_core::LockoutStore`] contract asks.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use tollgate_core::Timestamp;

/// How long an idle counter is kept: past any lockout window the core would use. A lock keeps
/// its counter at least until it ends.
const KEEP: Duration = Duration::from_secs(24 * 3600);

fn prefix(account: &[u8]) -> String {
    format!("tollgate:lockout:{}:", hex::encode(account))
}

/// The set of the account's addresses.
fn index_key(account: &[u8]) -> String {
    format!("tollgate:lockout:{}", hex::encode(account))
}

fn keep_ms() -> i64 {
    KEEP.as_millis() as i64
}

/// KEYS: the index, then each counter; ARGV: now, window start, keep (ms), then each
/// counter's address and limit. Returns the counts, or nil (and changes nothing) when one is
/// locked or full.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now, window_start, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local current = {}
for i = 2, #KEYS do
    local locked = tonumber(redis.call('HGET', KEYS[i], 'locked'))
    if locked and locked > now then return false end
    local first = tonumber(redis.call('HGET', KEYS[i], 'first'))
    local count = 0
    if first and first > window_start then
        count = tonumber(redis.call('HGET', KEYS[i], 'failures')) or 0
        if count >= tonumber(ARGV[2 * i + 1]) then return false end
    end
    current[i] = count
end
local counts = {}
for i = 2, #KEYS do
    local first = tonumber(redis.call('HGET', KEYS[i], 'first'))
    if first and first > window_start then
        counts[#counts + 1] = redis.call('HINCRBY', KEYS[i], 'failures', 1)
    else
        redis.call('HSET', KEYS[i], 'failures', 1, 'first', now)
        counts[#counts + 1] = 1
    end
    if redis.call('PTTL', KEYS[i]) < keep then redis.call('PEXPIRE', KEYS[i], keep) end
    redis.call('SADD', KEYS[1], ARGV[2 * i])
end
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return counts
",
    )
});

/// KEYS: each counter; ARGV: when the attempt was reserved.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local reserved_at = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
    local first = tonumber(redis.call('HGET', key, 'first'))
    local failures = tonumber(redis.call('HGET', key, 'failures')) or 0
    if first and first <= reserved_at and failures > 0 then
        redis.call('HINCRBY', key, 'failures', -1)
    end
end
return 1
",
    )
});

/// KEYS: the index, the counter; ARGV: until, keep (ms), address, now.
static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local until_, keep, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local held = tonumber(redis.call('HGET', KEYS[2], 'locked'))
if held and held > until_ then until_ = held end
redis.call('HSET', KEYS[2], 'failures', 0, 'locked', until_)
redis.call('HDEL', KEYS[2], 'first')
keep = math.max(keep, until_ - now + keep)
for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
end
redis.call('SADD', KEYS[1], ARGV[3])
return 1
",
    )
});

/// KEYS: the index, then each counter; ARGV: now, then each address.
static RESET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
for i = 2, #KEYS do
    local locked = tonumber(redis.call('HGET', KEYS[i], 'locked'))
    if locked and locked > now then return 0 end
end
for i = 2, #KEYS do
    redis.call('DEL', KEYS[i])
    redis.call('SREM', KEYS[1], ARGV[i])
end
return 1
",
    )
});

/// KEYS: the index; ARGV: the counters' key prefix. Returns address, lock end, address, ...
static LOCKS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, address in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local locked = redis.call('HGET', ARGV[1] .. address, 'locked')
    if locked then
        out[#out + 1] = address
        out[#out + 1] = locked
    end
end
return out
",
    )
});

/// KEYS: the index; ARGV: the counters' key prefix.
static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for _, address in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    redis.call('DEL', ARGV[1] .. address)
end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

pub(crate) async fn reserve_attempt(
    redis: &mut ConnectionManager,
    account: &[u8],
    limits: &[(&str, u32)],
    now: Timestamp,
    window_start: Timestamp,
) -> redis::RedisResult<Option<Vec<u32>>> {
    let prefix = prefix(account);
    let mut call = RESERVE.key(index_key(account));
    for (address, _) in limits {
        call.key(format!("{prefix}{address}"));
    }
    call.arg(now.millis()).arg(window_start.millis()).arg(keep_ms());
    for (address, limit) in limits {
        call.arg(*address).arg(*limit);
    }
    call.invoke_async(redis).await
}

pub(crate) async fn release_attempt(
    redis: &mut ConnectionManager,
    account: &[u8],
    addresses: &[&str],
    reserved_at: Timestamp,
) -> redis::RedisResult<()> {
    let prefix = prefix(account);
    let mut call = RELEASE.prepare_invoke();
    for address in addresses {
        call.key(format!("{prefix}{address}"));
    }
    let _: i64 = call.arg(reserved_at.millis()).invoke_async(redis).await?;
    Ok(())
}

pub(crate) async fn lock(
    redis: &mut ConnectionManager,
    account: &[u8],
    address: &str,
    until: Timestamp,
) -> redis::RedisResult<()> {
    // For the counter's expiry only: the wall clock, not the core's.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let _: i64 = LOCK
        .key(index_key(account))
        .key(format!("{}{address}", prefix(account)))
        .arg(until.millis())
        .arg(keep_ms())
        .arg(address)
        .arg(now.as_millis() as i64)
        .invoke_async(redis)
        .await?;
    Ok(())
}

pub(crate) async fn reset_unless_locked(
    redis: &mut ConnectionManager,
    account: &[u8],
    addresses: &[&str],
    now: Timestamp,
) -> redis::RedisResult<bool> {
    let prefix = prefix(account);
    let mut call = RESET.key(index_key(account));
    for address in addresses {
        call.key(format!("{prefix}{address}"));
    }
    call.arg(now.millis());
    for address in addresses {
        call.arg(*address);
    }
    let reset: i64 = call.invoke_async(redis).await?;
    Ok(reset == 1)
}

pub(crate) async fn locks(
    redis: &mut ConnectionManager,
    account: &[u8],
) -> redis::RedisResult<Vec<(String, Timestamp)>> {
    let flat: Vec<String> = LOCKS.key(index_key(account)).arg(prefix(account)).invoke_async(redis).await?;
    Ok(flat
        .chunks(2)
        .filter_map(|pair| match pair {
            [address, until] => until.parse().ok().map(|until| (address.clone(), Timestamp(until))),
            _ => None,
        })
        .collect())
}

pub(crate) async fn forget(redis: &mut ConnectionManager, account: &[u8]) -> redis::RedisResult<()> {
    let _: i64 = FORGET.key(index_key(account)).arg(prefix(account)).invoke_async(redis).await?;
    Ok(())
}
