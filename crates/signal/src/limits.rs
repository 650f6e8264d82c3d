//! Per-connection limits: how fast a client may send, and how many errors it
//! may cause before it is disconnected.

use std::time::Instant;

use crate::config::{ErrorLimit, RateLimit};

/// A token bucket: `burst` tokens, refilled continuously at the configured
/// rate; each frame takes one.
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        let capacity = f64::from(limit.burst.max(1));
        Self {
            rate: f64::from(limit.messages_per_second),
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
