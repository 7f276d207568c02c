//! Time, injectable so that tests can move it instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC. The unit every store persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration.as_millis().min(i64::MAX as u128) as i64))
    }

    /// Time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the form BlueCat and our own API use. Written digit by digit:
    /// `format!` cost a validation of `/v1/sessions/current` more than the validation itself.
    pub fn to_rfc3339_seconds(self) -> String {
        let t = self.to_datetime();
        let fields = [
            (t.year().clamp(0, 9999) as u32, 4, '-'),
            (u32::from(u8::from(t.month())), 2, '-'),
            (u32::from(t.day()), 2, 'T'),
            (u32::from(t.hour()), 2, ':'),
            (u32::from(t.minute()), 2, ':'),
            (u32::from(t.second()), 2, 'Z'),
        ];
        let mut out = String::with_capacity(20);
        for (value, width, separator) in fields {
            for place in (0..width).rev() {
                out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
            }
            out.push(separator);
        }
        out
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // Not through `OffsetDateTime`: its 128-bit nanoseconds cost a division on every request.
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(since_epoch.as_millis() as i64)
    }
}

/// A clock that only moves when told to: for tests of idle timeouts and expiry.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(Timestamp(1_674_250_848_000).to_rfc3339_seconds(), "2023-01-20T21:40:48Z");
        assert_eq!(Timestamp(0).to_rfc3339_seconds(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(-62_135_596_800_000).to_rfc3339_seconds(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Timestamp(5).since(Timestamp(10)), Duration::ZERO);
        assert_eq!(Timestamp(10).since(Timestamp(4)), Duration::from_millis(6));
    }
}
