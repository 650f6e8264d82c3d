//! Everything a member's reader waits for besides frames, as one deadline:
//! the next ping, the silence that ends an unanswering client, fresh ICE
//! servers, and the end of a pause after a refused frame.
//!
//! A connection waits on a single timer set to [`Deadlines::next`] rather
//! than one per purpose: each tokio timer is about a hundred bytes held for
//! the connection's whole life, and each is polled on every frame. Frames
//! only note when they came ([`Deadlines::heard`]); silence is checked when
//! the timer fires, so a frame never moves it. Kept free of clocks and I/O:
//! the caller passes the time in.

use std::time::{Duration, Instant};

/// The reader's deadlines.
#[derive(Debug)]
pub(crate) struct Deadlines {
    ping_interval: Duration,
    pong_timeout: Duration,
    /// When the next ping is due.
    ping_at: Instant,
    /// When the client was last heard from (any frame, pongs included).
    heard: Instant,
    /// How often fresh ICE servers are due, and when next; `None` for a
    /// client that gets none.
    refresh: Option<(Duration, Instant)>,
    /// Reading is paused until then.
    paused_until: Option<Instant>,
}

/// What fell due at a given time, in the order the reader handles it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// A pause is over: read again.
    pub(crate) resume: bool,
    /// Nothing heard for the pong timeout: end the connection.
    pub(crate) silent: bool,
    /// Send a ping.
    pub(crate) ping: bool,
    /// Send fresh ICE servers.
    pub(crate) refresh: bool,
}

impl Deadlines {
    /// Deadlines for a client that just connected at `now`; `refresh_every`
    /// is how often it gets fresh ICE servers, if it gets any.
    pub(crate) fn new(
        now: Instant,
        ping_interval: Duration,
        pong_timeout: Duration,
        refresh_every: Option<Duration>,
    ) -> Self {
        Self {
            ping_interval,
            pong_timeout,
            ping_at: now + ping_interval,
            heard: now,
            refresh: refresh_every.map(|every| (every, now + every)),
            paused_until: None,
        }
    }

    /// The earliest deadline: when the caller's timer should fire next.
    pub(crate) fn next(&self) -> Instant {
        let mut next = self.ping_at.min(self.heard + self.pong_timeout);
        if let Some((_, at)) = self.refresh {
            next = next.min(at);
        }
        if let Some(until) = self.paused_until {
            next = next.min(until);
        }
        next
    }

    /// A frame (or pong) came at `now`. Only ever makes [`Deadlines::next`]
    /// later or leaves it, so the timer need not move.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.heard = now;
    }

    /// Reading pauses until `until`. Makes [`Deadlines::next`] earlier when
    /// `until` is sooner than every other deadline.
    pub(crate) fn pause(&mut self, until: Instant) {
        self.paused_until = Some(until);
    }

    /// Whether reading is paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// What is due at `now`, moving each deadline that fell due past it. A
    /// pause that ends counts as hearing from the client: what it sent
    /// meanwhile was not read, which was the server's doing.
    pub(crate) fn due(&mut self, now: Instant) -> Due {
        let mut due = Due::default();
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
            self.heard = now;
            due.resume = true;
        }
        due.silent = self.heard + self.pong_timeout <= now;
        if self.ping_at <= now {
            // As tokio's `MissedTickBehavior::Delay`: one ping however late,
            // the next an interval after it.
            self.ping_at = now + self.ping_interval;
            due.ping = true;
        }
        if let Some((every, at)) = &mut self.refresh {
            if *at <= now {
                *at = now + *every;
                due.refresh = true;
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: Duration = Duration::from_secs(10);
    const PONG: Duration = Duration::from_secs(20);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_first_deadline_is_the_first_ping() {
        let start = Instant::now();
        let deadlines = Deadlines::new(start, PING, PONG, None);
        assert_eq!(deadlines.next(), start + PING);
    }

    #[test]
    fn pings_follow_one_interval_apart_from_when_each_went() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, PING, PONG, None);
        let late = start + secs(13);
        deadlines.heard(late);
        let due = deadlines.due(late);
        assert!(due.ping && !due.silent);
        assert_eq!(deadlines.next(), late + PING);
    }

    #[test]
    fn a_client_heard_from_is_not_silent() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, PING, PONG, None);
        deadlines.heard(start + secs(15));
        assert!(!deadlines.due(start + PONG).silent);
    }

    #[test]
    fn a_client_not_heard_from_for_the_pong_timeout_is_silent() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, PING, PONG, None);
        deadlines.due(start + PING);
        assert_eq!(deadlines.next(), start + PONG);
        assert!(deadlines.due(start + PONG).silent);
    }

    #[test]
    fn a_pause_is_the_next_deadline_and_its_end_counts_as_hearing() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, PING, PONG, None);
        deadlines.pause(start + secs(2));
        assert!(deadlines.paused());
        assert_eq!(deadlines.next(), start + secs(2));
        let due = deadlines.due(start + secs(2));
        assert_eq!(
            due,
            Due {
                resume: true,
                ..Due::default()
            }
        );
        assert!(!deadlines.paused());
        deadlines.due(start + PING);
        assert!(!deadlines.due(start + PONG).silent);
    }

    #[test]
    fn ice_servers_are_due_at_their_own_interval() {
        let start = Instant::now();
        let mut deadlines = Deadlines::new(start, PING, PONG, Some(secs(5)));
        assert_eq!(deadlines.next(), start + secs(5));
        deadlines.heard(start + secs(5));
        assert_eq!(
            deadlines.due(start + secs(5)),
            Due {
                refresh: true,
                ..Due::default()
            }
        );
        assert_eq!(deadlines.next(), start + secs(10));
    }
}
