//! A log filter that lets each log line through at most a few times per
//! second.
//!
//! Some lines repeat as fast as packets arrive: webrtc-rs logs a warning for
//! every DTLS alert it receives, which was 20 000 lines a second from one
//! broken connection. That drowns what matters and costs CPU. Past the limit
//! a line is dropped, and once a second a summary says how many were.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Filter};

/// How many times one line may be logged per window.
const PER_WINDOW: u32 = 10;
/// The window.
const WINDOW: Duration = Duration::from_secs(1);

/// Where a log line comes from: its file and line, or its target when
/// the event has no location.
type Key = (String, u32);

struct Count {
    since: Instant,
    logged: u32,
    dropped: u32,
}

/// The filter: `inner` (usually an `EnvFilter`) decides what is logged at
/// all, and of that, each line passes a few times per second. Only lines
/// `inner` lets through are counted.
pub struct LogRateLimit<F> {
    inner: F,
    counts: Mutex<HashMap<Key, Count>>,
}

impl<F> LogRateLimit<F> {
    /// Rate-limits what `inner` lets through.
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event from `key`: whether to let it through, and how many
    /// from the same key were dropped in the window that just ended (0 while
    /// the window runs).
    fn admit(&self, key: Key, now: Instant) -> (bool, u32) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(Count {
            since: now,
            logged: 0,
            dropped: 0,
        });
        let mut dropped_before = 0;
        if now.duration_since(count.since) >= WINDOW {
            dropped_before = std::mem::take(&mut count.dropped);
            count.since = now;
            count.logged = 0;
        }
        if count.logged < PER_WINDOW {
            count.logged += 1;
            (true, dropped_before)
        } else {
            count.dropped += 1;
            (false, dropped_before)
        }
    }
}

impl<S: Subscriber, F: Filter<S>> Filter<S> for LogRateLimit<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.inner.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Sometimes: every event of an enabled callsite must reach
        // `event_enabled` to be counted.
        if self.inner.callsite_enabled(meta).is_never() {
            Interest::never()
        } else {
            Interest::sometimes()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        if !self.inner.event_enabled(event, cx) {
            return false;
        }
        // Events bridged from the `log` crate (webrtc-rs logs that way) all
        // share one callsite; their own location is in the normalized metadata.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let key = match (meta.file(), meta.line()) {
            (Some(file), Some(line)) => (file.to_owned(), line),
            _ => (meta.target().to_owned(), 0),
        };
        let (pass, dropped) = self.admit(key.clone(), Instant::now());
        if dropped > 0 {
            tracing::warn!(
                target: "parlor::log_limit",
                "{dropped} more log lines from {}:{} were dropped in the last second",
                key.0,
                key.1
            );
        }
        pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        ("src/noisy.rs".into(), 7)
    }

    fn limit() -> LogRateLimit<()> {
        LogRateLimit::new(())
    }

    #[test]
    fn a_line_is_let_through_a_few_times_per_window_then_dropped() {
        let limit = limit();
        let now = Instant::now();
        let passed = (0..1000).filter(|_| limit.admit(key(), now).0).count();
        assert_eq!(passed, PER_WINDOW as usize);
    }

    #[test]
    fn the_next_window_lets_the_line_through_again_and_counts_what_was_dropped() {
        let limit = limit();
        let now = Instant::now();
        for _ in 0..25 {
            limit.admit(key(), now);
        }
        assert_eq!(limit.admit(key(), now + WINDOW), (true, 15));
    }

    #[test]
    fn different_lines_are_counted_apart() {
        let limit = limit();
        let now = Instant::now();
        for _ in 0..PER_WINDOW {
            limit.admit(key(), now);
        }
        assert!(limit.admit(("src/other.rs".into(), 1), now).0);
    }
}
