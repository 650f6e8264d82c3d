//! Timing knobs and the back-off of re-sent offers.
//!
//! Time is a plain [`Duration`] measured by the driver from any fixed origin
//! (usually when it started); the core never reads a clock itself, so tests
//! and simulations control time completely.

use std::time::Duration;

/// Timing and size limits of a [`Negotiator`](crate::Negotiator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Wait before the first re-send of an unanswered offer. Old clients
    /// drop offers that arrive before they have fetched `/turn` and built
    /// their peer connection, which takes a round trip or two.
    pub resend_initial: Duration,
    /// Longest wait between two re-sends: the wait doubles up to this.
    pub resend_max_interval: Duration,
    /// Re-sends of one offer before giving up on it (an
    /// [`Event::OfferUnanswered`](crate::Event::OfferUnanswered) is emitted).
    pub resend_max_attempts: u32,
    /// How long ICE may stay `disconnected` before the core restarts it;
    /// short blips recover on their own and a restart would only slow them.
    pub disconnected_grace: Duration,
    /// How long DTLS may take once ICE is connected before the connection
    /// is given up and made again: DTLS takes milliseconds on a LAN and a
    /// few round trips across the world.
    pub handshake_timeout: Duration,
    /// How long ICE may try before the core reports that no path works and
    /// starts over with a fresh connection: long enough for checks through
    /// NATs and a TURN allocation across the world (a few seconds), short
    /// enough that a person hears why nothing happens within 15 s.
    pub connect_timeout: Duration,
    /// Longest wait between two fresh attempts once several timed out: the
    /// wait doubles up to this, so a peer that cannot be reached costs
    /// little while the engine keeps trying in the background.
    pub connect_retry_max_interval: Duration,
    /// Remote candidates kept while they cannot be applied yet; they come
    /// from the network, so the queue is bounded.
    pub max_queued_candidates: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resend_initial: Duration::from_millis(1500),
            resend_max_interval: Duration::from_secs(12),
            resend_max_attempts: 8,
            disconnected_grace: Duration::from_secs(4),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(12),
            connect_retry_max_interval: Duration::from_secs(60),
            max_queued_candidates: 64,
        }
    }
}

impl Config {
    /// Wait after the `attempt`-th send of an offer (0 = the first send).
    pub(crate) fn resend_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
        self.resend_initial
            .saturating_mul(factor)
            .min(self.resend_max_interval)
    }

    /// How long the attempt after `failed` timed-out attempts in a row may
    /// take (0 = the first attempt).
    pub(crate) fn connect_wait(&self, failed: u32) -> Duration {
        let factor = 1u32.checked_shl(failed.min(16)).unwrap_or(u32::MAX);
        self.connect_timeout
            .saturating_mul(factor)
            .min(self.connect_retry_max_interval.max(self.connect_timeout))
    }
}

/// The pending re-send of the current local offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resend {
    /// When to re-send.
    pub at: Duration,
    /// Re-sends already made.
    pub attempt: u32,
}

#[cfg(test)]
mod tests {
    use super::Config;
    use std::time::Duration;

    #[test]
    fn resend_delay_doubles_up_to_the_cap() {
        let config = Config::default();
        assert_eq!(config.resend_delay(0), Duration::from_millis(1500));
        assert_eq!(config.resend_delay(1), Duration::from_millis(3000));
        assert_eq!(config.resend_delay(3), Duration::from_secs(12));
        assert_eq!(config.resend_delay(40), Duration::from_secs(12));
    }

    #[test]
    fn connect_wait_doubles_up_to_the_cap() {
        let config = Config::default();
        assert_eq!(config.connect_wait(0), Duration::from_secs(12));
        assert_eq!(config.connect_wait(1), Duration::from_secs(24));
        assert_eq!(config.connect_wait(2), Duration::from_secs(48));
        assert_eq!(config.connect_wait(30), Duration::from_secs(60));
    }
}
