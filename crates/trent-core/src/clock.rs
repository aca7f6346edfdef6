//! Time, injected so that tests can move it (rotation periods, deletion windows, import
//! expiry) without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in Unix milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_millis(&self) -> i64;

    fn now(&self) -> SystemTime {
        let ms = self.now_millis();
        if ms >= 0 {
            UNIX_EPOCH + std::time::Duration::from_millis(ms.unsigned_abs())
        } else {
            UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs())
        }
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that only moves when told to: the system time at creation plus an offset.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_millis: i64) -> Self {
        Self {
            now: AtomicI64::new(start_millis),
        }
    }

    pub fn advance_millis(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_millis(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The machine's clock moved by an adjustable offset, or stopped at a set time: what
/// `trent serve --dev-test-clock` runs on, so that integration tests can jump over
/// rotation periods and deletion windows on a running server. Only KMS semantics read it;
/// request signing (the SigV4 skew window) keeps using the real time.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: AtomicI64,
    /// `i64::MIN`: running (system time + offset); otherwise stopped at this time.
    frozen_at: AtomicI64,
}

/// How an [`OffsetClock`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestTime {
    /// The system time plus this many milliseconds.
    Offset(i64),
    /// Stopped at this Unix time in milliseconds.
    Frozen(i64),
}

impl OffsetClock {
    pub fn new(time: TestTime) -> Self {
        let clock = Self {
            offset: AtomicI64::new(0),
            frozen_at: AtomicI64::new(i64::MIN),
        };
        clock.set(time);
        clock
    }

    pub fn time(&self) -> TestTime {
        match self.frozen_at.load(Ordering::SeqCst) {
            i64::MIN => TestTime::Offset(self.offset.load(Ordering::SeqCst)),
            t => TestTime::Frozen(t),
        }
    }

    pub fn set(&self, time: TestTime) {
        match time {
            TestTime::Offset(o) => {
                self.offset.store(o, Ordering::SeqCst);
                self.frozen_at.store(i64::MIN, Ordering::SeqCst);
            }
            TestTime::Frozen(t) => self.frozen_at.store(t.max(i64::MIN + 1), Ordering::SeqCst),
        }
    }
}

impl Clock for OffsetClock {
    fn now_millis(&self) -> i64 {
        match self.frozen_at.load(Ordering::SeqCst) {
            i64::MIN => SystemClock
                .now_millis()
                .saturating_add(self.offset.load(Ordering::SeqCst)),
            t => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_is_the_system_time_moved_or_stopped() {
        let clock = OffsetClock::new(TestTime::Offset(0));
        let before = SystemClock.now_millis();
        assert!(clock.now_millis() >= before);
        clock.set(TestTime::Offset(86_400_000));
        assert_eq!(clock.time(), TestTime::Offset(86_400_000));
        assert!(clock.now_millis() >= before + 86_400_000);
        clock.set(TestTime::Offset(-86_400_000));
        assert!(clock.now_millis() < before);
        clock.set(TestTime::Frozen(42));
        assert_eq!(clock.now_millis(), 42);
        assert_eq!(clock.time(), TestTime::Frozen(42));
        clock.set(TestTime::Offset(5));
        assert!(clock.now_millis() >= before);
    }
}
