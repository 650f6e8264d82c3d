//! The setup boost: early timer wakes while a connection is being set up.
//!
//! # Why
//!
//! webrtc 0.21's driver writes out what the sans-IO `rtc` core queued only at the top
//! of its loop, and the loop only turns when a datagram, an API call or a timer wakes
//! it. Three setup flights are queued with none of those following: the DTLS
//! ClientHello (rtc's DTLS handler does not flush after `connect()`), the SCTP INIT
//! and the data-channel OPEN. Each waits for the next ICE timer tick, 200 ms apart,
//! which is why two stock webrtc-rs peers take ~600 ms to connect.
//!
//! The driver arms its timer through [`Runtime::sleep`](webrtc::runtime::Runtime::sleep)
//! and, when that sleep completes, calls `handle_timeout(now)` (which makes the DTLS
//! handler produce its flight) and then flushes every queued write. So a runtime whose
//! sleeps end early gets those flights out promptly, without touching webrtc or rtc.
//! [`BoostRuntime`](crate::runtime::BoostRuntime) does that while this boost is armed:
//!
//! - right after a datagram arrived, the next sleep ends at once: the reply to it (the
//!   next handshake flight) is usually what the core just queued;
//! - otherwise a sleep lasts at most [`BoostLimits::tick`] (1 ms), which catches flights
//!   caused by API calls and by events the driver handled after its flush.
//!
//! # Why it must stop
//!
//! A 1 ms timer is a thousand driver wakes a second. Once the data channel is open the
//! flights that need it are over, and an idle connection must cost no CPU. So the boost
//! is armed only during setup and ICE restarts, and disarmed by whichever comes first:
//! [`SetupBoost::channel_open`], the connection failing or closing, or
//! [`BoostLimits::max_duration`] (10 s) after it was armed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::BoostLimits;

/// Handle the engine keeps per connection to say when setup is over or starts again.
///
/// Cheap to clone; every clone controls the same connection. See the [module
/// docs](crate::boost) for what the boost does and why it is bounded.
#[derive(Debug, Clone)]
pub struct SetupBoost {
    state: std::sync::Arc<BoostState>,
}

impl SetupBoost {
    pub(crate) fn new(state: std::sync::Arc<BoostState>) -> Self {
        Self { state }
    }

    /// The data channel opened: setup is over, stop waking the driver early.
    pub fn channel_open(&self) {
        self.state.disarm();
    }

    /// An ICE restart begins: handshake flights are coming again, wake early until the
    /// next [`channel_open`](Self::channel_open) or the automatic cap.
    pub fn restarting(&self) {
        self.state.arm();
    }

    /// Whether the driver's timers are currently being shortened.
    pub fn is_active(&self) -> bool {
        self.state.is_active(Instant::now())
    }

    /// How many driver timer sleeps the boost has shortened so far: a diagnostic, and
    /// how tests check that the boost really stops.
    pub fn early_wakes(&self) -> u64 {
        self.state.early_wakes.load(Ordering::Relaxed)
    }

    /// How many timer sleeps the driver has asked for, shortened or not: lets a
    /// test wait for the driver to take some turns instead of waiting a fixed time.
    pub fn timer_sleeps(&self) -> u64 {
        self.state.sleeps.load(Ordering::Relaxed)
    }
}

/// State shared by the [`SetupBoost`] handle, the runtime and the socket wrapper.
#[derive(Debug)]
pub(crate) struct BoostState {
    limits: BoostLimits,
    /// Fast path for the driver's every loop turn: no lock once the boost is off.
    active: AtomicBool,
    /// When an armed boost ends by itself.
    deadline: Mutex<Instant>,
    /// A datagram arrived since the driver last armed its timer.
    datagram_arrived: AtomicBool,
    early_wakes: AtomicU64,
    sleeps: AtomicU64,
}

impl BoostState {
    /// A boost armed from now on: building a connection is the start of its setup.
    pub(crate) fn armed(limits: BoostLimits) -> Self {
        Self {
            limits,
            active: AtomicBool::new(true),
            deadline: Mutex::new(Instant::now() + limits.max_duration),
            datagram_arrived: AtomicBool::new(false),
            early_wakes: AtomicU64::new(0),
            sleeps: AtomicU64::new(0),
        }
    }

    /// A boost that stays off until armed: what a [`Tuning::Stock`](crate::Tuning::Stock)
    /// connection gets, so its handle works the same and reports no early wakes.
    pub(crate) fn disarmed(limits: BoostLimits) -> Self {
        let state = Self::armed(limits);
        state.disarm();
        state
    }

    pub(crate) fn arm(&self) {
        // A poisoned lock only means another thread panicked mid-store of an Instant;
        // the value is still a valid deadline, so keep using it.
        let mut deadline = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *deadline = Instant::now() + self.limits.max_duration;
        self.active.store(true, Ordering::Release);
    }

    pub(crate) fn disarm(&self) {
        self.active.store(false, Ordering::Release);
    }

    fn is_active(&self, now: Instant) -> bool {
        if !self.active.load(Ordering::Acquire) {
            return false;
        }
        let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        if now >= deadline {
            self.disarm();
            return false;
        }
        true
    }

    /// Called by the socket wrapper for every receive that returned data.
    pub(crate) fn note_datagram(&self) {
        if self.active.load(Ordering::Relaxed) {
            self.datagram_arrived.store(true, Ordering::Relaxed);
        }
    }

    /// How long the driver should really sleep when it asks for `requested`; `None`
    /// leaves the request alone.
    pub(crate) fn shorten(&self, requested: Duration) -> Option<Duration> {
        self.sleeps.fetch_add(1, Ordering::Relaxed);
        if !self.is_active(Instant::now()) {
            return None;
        }
        let shortened = if self.datagram_arrived.swap(false, Ordering::Relaxed) {
            Duration::ZERO
        } else if requested > self.limits.tick {
            self.limits.tick
        } else {
            return None;
        };
        self.early_wakes.fetch_add(1, Ordering::Relaxed);
        Some(shortened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn boost() -> (SetupBoost, Arc<BoostState>) {
        let state = Arc::new(BoostState::armed(BoostLimits::default()));
        (SetupBoost::new(state.clone()), state)
    }

    #[test]
    fn an_armed_boost_caps_long_sleeps_at_the_tick() {
        let (_handle, state) = boost();
        assert_eq!(
            state.shorten(Duration::from_millis(200)),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn a_datagram_makes_the_next_sleep_end_at_once_and_only_the_next() {
        let (_handle, state) = boost();
        state.note_datagram();
        assert_eq!(
            state.shorten(Duration::from_millis(200)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            state.shorten(Duration::from_millis(200)),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn channel_open_leaves_sleeps_alone() {
        let (handle, state) = boost();
        handle.channel_open();
        state.note_datagram();
        assert_eq!(state.shorten(Duration::from_millis(200)), None);
        assert!(!handle.is_active());
    }

    #[test]
    fn restarting_arms_again() {
        let (handle, state) = boost();
        handle.channel_open();
        handle.restarting();
        assert!(handle.is_active());
        assert!(state.shorten(Duration::from_millis(200)).is_some());
    }

    #[test]
    fn the_boost_ends_by_itself_after_its_cap() {
        let state = BoostState::armed(BoostLimits {
            tick: Duration::from_millis(1),
            max_duration: Duration::ZERO,
        });
        assert_eq!(state.shorten(Duration::from_millis(200)), None);
    }
}
