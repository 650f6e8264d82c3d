//! What one peer may make this side do, bounded: every peer is a stranger.
//!
//! A peer sends chat frames over its data channel at will. Without bounds it
//! could make us hold every message id it ever sent (to drop re-sent
//! duplicates), parse megabyte frames, or flood the window with thousands of
//! messages a second. A peer over a bound is dropped with a reason the
//! person can read; other peers are unaffected.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use parlor_protocol::MessageId;

/// Largest data-channel text accepted from a peer, in bytes. A chat message
/// is typed by a person; 64 KiB is ample (and is webrtc's own default
/// maximum message size).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Messages a peer may send per second, sustained; [`BURST`] at once.
pub const MESSAGES_PER_SECOND: u32 = 50;

/// Messages a peer may send at once after a quiet spell (a reconnection
/// re-sends everything unacknowledged in one go).
pub const BURST: u32 = 500;

/// Bytes of our own messages a peer may leave unacknowledged before we send
/// it no more: a peer that never acknowledges (a slow line, a stuck or
/// hostile client) would otherwise make us hold everything typed, for ever.
/// Four megabytes is thousands of typed messages; the sender is told to
/// wait (back-pressure) rather than anything being dropped.
pub const MAX_UNACKED_BYTES: usize = 4 * 1024 * 1024;

/// How many message ids are remembered to drop re-sent duplicates. A
/// re-send follows a reconnection within seconds, so the last few thousand
/// ids cover it; older ones are forgotten instead of kept forever.
pub const SEEN_WINDOW: usize = 4096;

/// Why a peer was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Its description names another certificate than the expected one.
    OtherIdentity {
        /// The fingerprint it presented (`ab:cd:…`).
        presented: String,
    },
    /// It sent a data-channel text over [`MAX_FRAME_BYTES`].
    FrameTooLarge {
        /// Its size in bytes.
        bytes: usize,
    },
    /// It sent messages faster than [`MESSAGES_PER_SECOND`] for longer than
    /// [`BURST`] allows.
    Flooding,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::OtherIdentity { presented } => write!(
                f,
                "its identity is {presented}, not the expected one; someone may be in the middle"
            ),
            DropReason::FrameTooLarge { bytes } => write!(
                f,
                "it sent a message of {bytes} bytes (at most {MAX_FRAME_BYTES} are accepted)"
            ),
            DropReason::Flooding => write!(
                f,
                "it sent more than {MESSAGES_PER_SECOND} messages a second"
            ),
        }
    }
}

/// The last [`SEEN_WINDOW`] message ids received, oldest forgotten first.
#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    order: VecDeque<MessageId>,
    ids: HashSet<MessageId>,
}

impl SeenIds {
    /// Remembers `id`; `false` if it was already remembered (a duplicate).
    pub(crate) fn insert(&mut self, id: MessageId) -> bool {
        if self.ids.contains(&id) {
            return false;
        }
        if self.order.len() == SEEN_WINDOW {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.order.push_back(id.clone());
        self.ids.insert(id);
        true
    }
}

/// A token bucket on the session's time line.
#[derive(Debug)]
pub(crate) struct MessageRate {
    tokens: f64,
    last: Option<Duration>,
}

impl Default for MessageRate {
    fn default() -> Self {
        Self {
            tokens: f64::from(BURST),
            last: None,
        }
    }
}

impl MessageRate {
    /// Takes one token at `now`; `false` when none is left.
    pub(crate) fn take(&mut self, now: Duration) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_sub(last).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * f64::from(MESSAGES_PER_SECOND)).min(f64::from(BURST));
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_window_drops_duplicates_and_forgets_the_oldest() {
        let mut seen = SeenIds::default();
        assert!(seen.insert(MessageId::new("0")));
        assert!(!seen.insert(MessageId::new("0")));
        for n in 1..=SEEN_WINDOW {
            seen.insert(MessageId::new(n.to_string()));
        }
        assert_eq!(seen.ids.len(), SEEN_WINDOW);
        assert!(seen.insert(MessageId::new("0")), "forgotten, so new again");
    }

    #[test]
    fn the_rate_allows_a_burst_then_the_sustained_rate() {
        let mut rate = MessageRate::default();
        let now = Duration::from_secs(1);
        let burst = (0..BURST * 2).filter(|_| rate.take(now)).count();
        assert_eq!(burst, BURST as usize);
        let later = now + Duration::from_secs(1);
        let refilled = (0..BURST).filter(|_| rate.take(later)).count();
        assert_eq!(refilled, MESSAGES_PER_SECOND as usize);
    }
}
