//! Per-connection limits: how fast a client may send (frames and bytes),
//! and how many errors it may cause before it is disconnected; and the log
//! sampler that keeps refusals from flooding the logs.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::{ByteRateLimit, ErrorLimit, RateLimit};

/// A token bucket: `capacity` tokens, refilled continuously at `rate` per
/// second; each frame takes one (or, counting bytes, its length).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket of frames.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        Self::with(
            f64::from(limit.messages_per_second),
            f64::from(limit.burst.max(1)),
            now,
        )
    }

    /// A bucket of bytes.
    pub(crate) fn bytes(limit: ByteRateLimit, now: Instant) -> Self {
        Self::with(
            f64::from(limit.bytes_per_second),
            f64::from(limit.burst.max(1)),
            now,
        )
    }

    /// A full bucket of `capacity` tokens refilled at `rate` per second.
    pub(crate) fn with(rate: f64, capacity: f64, now: Instant) -> Self {
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.try_take_n(1.0, now)
    }

    /// Takes `n` tokens if there are that many; takes none otherwise.
    pub(crate) fn try_take_n(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// How long until the bucket holds `n` tokens (`n` at most its
    /// capacity), from `now`; `None` if it never will (no refill).
    pub(crate) fn time_until(&self, n: f64, now: Instant) -> Option<std::time::Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let missing = n.min(self.capacity) - (self.tokens + elapsed * self.rate);
        if missing <= 0.0 {
            return Some(std::time::Duration::ZERO);
        }
        (self.rate > 0.0).then(|| std::time::Duration::from_secs_f64(missing / self.rate))
    }

    /// Whether the bucket would be full at `now`: such a bucket is no
    /// different from a new one and need not be kept.
    pub(crate) fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.capacity
    }

    /// When the bucket was last used.
    pub(crate) fn last_used(&self) -> Instant {
        self.last
    }
}

/// Counts errors in fixed windows.
pub(crate) struct ErrorCounter {
    limit: ErrorLimit,
    window_start: Instant,
    count: u32,
}

impl ErrorCounter {
    pub(crate) fn new(limit: ErrorLimit, now: Instant) -> Self {
        Self {
            limit,
            window_start: now,
            count: 0,
        }
    }

    /// Records one error; true when the client is over its limit.
    pub(crate) fn record(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) >= self.limit.window {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count > self.limit.max_errors
    }
}

/// Log lines about refusals allowed per second; the rest are only counted.
pub(crate) const REFUSAL_LOGS_PER_SECOND: u32 = 5;

/// Lets a few log lines through per second and counts the ones it holds
/// back, so that a flood of refusals costs a counter each, not a log line.
#[derive(Debug)]
pub(crate) struct LogSampler {
    per_second: u32,
    state: Mutex<SamplerState>,
}

#[derive(Debug)]
struct SamplerState {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogSampler {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new(SamplerState {
                window_start: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were
    /// held back since the last one that was; `None` when it may not.
    pub(crate) fn sample(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let new_window = state
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1));
        if new_window {
            state.window_start = Some(now);
            state.logged = 0;
        }
        if state.logged < self.per_second {
            state.logged += 1;
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed = state.suppressed.saturating_add(1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(
            RateLimit {
                messages_per_second: 10,
                burst: 3,
            },
            start,
        );
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(100)));
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
    }

    #[test]
    fn a_bucket_says_how_long_until_it_can_take_a_frame_again() {
        let start = Instant::now();
        let mut bucket = TokenBucket::bytes(
            ByteRateLimit {
                bytes_per_second: 1000,
                burst: 2000,
            },
            start,
        );
        assert_eq!(bucket.time_until(500.0, start), Some(Duration::ZERO));
        assert!(bucket.try_take_n(2000.0, start));
        assert_eq!(
            bucket.time_until(500.0, start),
            Some(Duration::from_millis(500))
        );
        // Never more than the capacity is waited for.
        assert_eq!(
            bucket.time_until(9000.0, start),
            Some(Duration::from_secs(2))
        );
        let dry = TokenBucket::with(0.0, 1.0, start);
        assert_eq!(dry.time_until(1.0, start), Some(Duration::ZERO));
        let mut spent = TokenBucket::with(0.0, 1.0, start);
        assert!(spent.try_take(start));
        assert_eq!(spent.time_until(1.0, start), None);
    }

    #[test]
    fn byte_bucket_takes_a_frames_length_or_nothing() {
        let start = Instant::now();
        let mut bucket = TokenBucket::bytes(
            ByteRateLimit {
                bytes_per_second: 100,
                burst: 1000,
            },
            start,
        );
        assert!(bucket.try_take_n(600.0, start));
        assert!(!bucket.try_take_n(600.0, start), "400 left");
        assert!(
            bucket.try_take_n(400.0, start),
            "a refused frame took nothing"
        );
        assert!(!bucket.try_take_n(100.0, start));
        assert!(bucket.try_take_n(100.0, start + Duration::from_secs(1)));
        assert!(!bucket.is_full_at(start + Duration::from_secs(1)));
        assert!(bucket.is_full_at(start + Duration::from_secs(11)));
    }

    #[test]
    fn log_sampler_lets_a_few_through_per_second_and_counts_the_rest() {
        let start = Instant::now();
        let sampler = LogSampler::new(2);
        assert_eq!(sampler.sample(start), Some(0));
        assert_eq!(sampler.sample(start), Some(0));
        assert_eq!(sampler.sample(start), None);
        assert_eq!(sampler.sample(start + Duration::from_millis(500)), None);
        let next = start + Duration::from_secs(1);
        assert_eq!(sampler.sample(next), Some(2), "reports what it held back");
        assert_eq!(sampler.sample(next), Some(0));
        assert_eq!(sampler.sample(next), None);
    }

    #[test]
    fn error_counter_trips_past_limit_and_resets_per_window() {
        let start = Instant::now();
        let limit = ErrorLimit {
            max_errors: 2,
            window: Duration::from_secs(1),
        };
        let mut counter = ErrorCounter::new(limit, start);
        assert!(!counter.record(start));
        assert!(!counter.record(start));
        assert!(counter.record(start));
        assert!(!counter.record(start + Duration::from_secs(1)));
    }
}
