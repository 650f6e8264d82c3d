//! A member's outbox: what its connection's writer must send (frames from
//! the room, and the pings and close the reader asks for), bounded in bytes
//! per member and across the server.
//!
//! It is a plain queue behind a mutex with one [`Notify`] for the writer,
//! rather than a channel per connection plus one for control: a tokio
//! channel allocates a block of 32 slots up front, which was 2.3 KiB of an
//! idle connection's 14 KiB; an empty queue here allocates nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::metrics::Limit;

/// What each queued frame costs beyond its length, so that a flood of tiny
/// frames is bounded too (roughly the queue's own bookkeeping per frame).
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// The byte budgets of all outboxes: one per member and one for the server.
#[derive(Debug)]
pub(crate) struct OutboxBudget {
    per_member: usize,
    total_limit: usize,
    total: AtomicUsize,
    /// Every member's queue, to find the largest when the total is over.
    queues: Mutex<Queues>,
}

/// The queues of [`OutboxBudget`], with those of members gone swept out
/// now and then rather than on every join: sweeping on each one cost a scan
/// of every connection per new connection, 9 % of the server's CPU while
/// 5 000 clients joined at once.
#[derive(Debug, Default)]
struct Queues {
    list: Vec<Weak<OutboxState>>,
    /// How many were left after the last sweep; the next one comes when
    /// the list has doubled since.
    after_sweep: usize,
}

impl Queues {
    /// Sweeps before the list grows past twice its last live size (at
    /// least [`Queues::SMALLEST_SWEEP`]), so each join costs O(1) amortized
    /// and the list holds at most about twice the live queues.
    const SMALLEST_SWEEP: usize = 64;

    fn push(&mut self, queue: Weak<OutboxState>) {
        if self.list.len() >= (2 * self.after_sweep).max(Self::SMALLEST_SWEEP) {
            self.list.retain(|queue| queue.strong_count() > 0);
            self.after_sweep = self.list.len();
        }
        self.list.push(queue);
    }
}

impl OutboxBudget {
    /// Zero for either budget turns it off.
    pub(crate) fn new(per_member: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_member,
            total_limit: total,
            total: AtomicUsize::new(0),
            queues: Mutex::new(Queues::default()),
        })
    }

    fn register(&self, queue: &Arc<OutboxState>) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues.push(Arc::downgrade(queue));
    }

    /// The queue holding the most bytes: the member most behind on reading,
    /// which is the one to drop when all queues together are over budget
    /// (not whoever a frame happens to be for next, which would close
    /// well-behaved members of other rooms).
    fn largest(&self) -> Option<Arc<OutboxState>> {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues
            .list
            .iter()
            .filter_map(Weak::upgrade)
            .max_by_key(|queue| queue.queued.load(Ordering::Acquire))
    }

    /// Tells every member's connection that the server is shutting down.
    /// Through the outboxes rather than a watch each connection waits on:
    /// a `watch` wait is 160 bytes of every idle connection.
    pub(crate) fn shut_down_all(&self) {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        for queue in queues.list.iter().filter_map(Weak::upgrade) {
            queue.end(End::ShuttingDown);
        }
    }

    /// Bytes queued across all outboxes now.
    pub(crate) fn queued(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// What the writer is asked to send besides frames.
#[derive(Debug, Default)]
struct Requests {
    frames: VecDeque<Utf8Bytes>,
    ping: bool,
    close: Option<(u16, &'static str)>,
    /// The writer is gone: nothing more is queued.
    closed: bool,
}

/// Why the server ends a member's connection, told through its outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Its queue broke this budget.
    Overflow(Limit),
    /// The member's owner connected again: this connection is a stale one
    /// the server had not yet noticed was dead.
    Replaced,
    /// The server is shutting down.
    ShuttingDown,
}

/// One member's queue and share of the budget, and how its connection is
/// told to end.
#[derive(Debug)]
struct OutboxState {
    budget: Arc<OutboxBudget>,
    /// Bytes of the frames queued and not yet handed to the socket.
    queued: AtomicUsize,
    requests: Mutex<Requests>,
    /// Woken when there is something for the writer.
    ready: Notify,
    /// Why the connection is to end, set once (the first reason stays).
    end_reason: OnceLock<End>,
    /// Woken when it is set, so the connection closes itself. One for
    /// every reason: each wait is a future held by every idle connection.
    end: Notify,
}

impl OutboxState {
    /// Tells the connection to close (the first reason given stays).
    fn end(&self, reason: End) {
        let _ = self.end_reason.set(reason);
        self.end.notify_one();
    }

    fn release(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::AcqRel);
        self.budget.total.fetch_sub(cost, Ordering::AcqRel);
    }

    fn requests(&self) -> MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the requests and wakes the writer.
    fn ask(&self, change: impl FnOnce(&mut Requests)) {
        change(&mut self.requests());
        self.ready.notify_one();
    }
}

fn cost_of(frame: &Utf8Bytes) -> usize {
    frame.len() + FRAME_OVERHEAD
}

/// The sending side of a member's outbox. The queue is bounded in bytes: a
/// member whose frames pile up past its budget is not reading, and is
/// disconnected rather than allowed to make the server buffer without
/// bound.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    state: Arc<OutboxState>,
}

impl Outbox {
    pub(crate) fn new(budget: Arc<OutboxBudget>) -> (Self, OutboxReceiver) {
        let state = Arc::new(OutboxState {
            budget,
            queued: AtomicUsize::new(0),
            requests: Mutex::new(Requests::default()),
            ready: Notify::new(),
            end_reason: OnceLock::new(),
            end: Notify::new(),
        });
        state.budget.register(&state);
        let receiver = OutboxReceiver {
            state: Arc::clone(&state),
            batch: VecDeque::new(),
        };
        (Self { state }, receiver)
    }

    /// Queues a frame; false if the member is gone or not keeping up.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        let cost = cost_of(&frame);
        let budget = &self.state.budget;
        let queued = self.state.queued.fetch_add(cost, Ordering::AcqRel) + cost;
        let total = budget.total.fetch_add(cost, Ordering::AcqRel) + cost;
        if budget.per_member != 0 && queued > budget.per_member {
            self.state.release(cost);
            self.state.end(End::Overflow(Limit::Outbox));
            return false;
        }
        if budget.total_limit != 0 && total > budget.total_limit {
            match budget.largest() {
                Some(largest) if !Arc::ptr_eq(&largest, &self.state) => {
                    // Its queue goes when its connection closes, which
                    // gives the budget back; this frame is queued.
                    largest.end(End::Overflow(Limit::OutboxTotal));
                }
                _ => {
                    self.state.release(cost);
                    self.state.end(End::Overflow(Limit::OutboxTotal));
                    return false;
                }
            }
        }
        let mut requests = self.state.requests();
        if requests.closed {
            drop(requests);
            self.state.release(cost);
            return false;
        }
        let was_empty = requests.frames.is_empty();
        requests.frames.push_back(frame);
        drop(requests);
        // The writer takes everything at once, so a queue that already had
        // frames has a wake-up pending.
        if was_empty {
            self.state.ready.notify_one();
        }
        true
    }

    /// Asks the writer to send a ping before anything else queued.
    pub(crate) fn ping(&self) {
        self.state.ask(|requests| requests.ping = true);
    }

    /// Asks the writer to send what is queued, then this close frame, and
    /// stop.
    pub(crate) fn close(&self, code: u16, reason: &'static str) {
        self.state.ask(|requests| {
            requests.close.get_or_insert((code, reason));
        });
    }

    /// Tells the connection a newer one of the member's owner replaced it.
    pub(crate) fn replace(&self) {
        self.state.end(End::Replaced);
    }

    /// Resolves when the server wants the connection ended, and says why.
    pub(crate) async fn ended(&self) -> End {
        self.state.end.notified().await;
        // Set before the wake-up, always.
        self.state
            .end_reason
            .get()
            .copied()
            .unwrap_or(End::ShuttingDown)
    }
}

/// What the writer is to do next, besides the frames in
/// [`OutboxReceiver::next_frame`].
pub(crate) struct Work {
    /// Send a ping first.
    pub(crate) ping: bool,
    /// After the frames, send this close frame and stop.
    pub(crate) close: Option<(u16, &'static str)>,
}

/// The writer's end of an outbox. Frames taken out give their bytes back to
/// the budgets one at a time, as they go to the socket; whatever is left
/// when it is dropped gives them back too.
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    state: Arc<OutboxState>,
    /// Frames taken from the queue and not yet handed to the socket.
    batch: VecDeque<Utf8Bytes>,
}

impl OutboxReceiver {
    /// Waits until there is something to send, and takes all of it.
    pub(crate) async fn ready(&mut self) -> Work {
        loop {
            {
                let mut requests = self.state.requests();
                let work = Work {
                    ping: std::mem::take(&mut requests.ping),
                    close: requests.close,
                };
                // Swapping keeps both queues' allocations for reuse.
                if self.batch.is_empty() {
                    std::mem::swap(&mut self.batch, &mut requests.frames);
                } else {
                    self.batch.append(&mut requests.frames);
                }
                if work.ping || work.close.is_some() || !self.batch.is_empty() {
                    return work;
                }
            }
            self.state.ready.notified().await;
        }
    }

    /// The next frame of the batch [`OutboxReceiver::ready`] took.
    pub(crate) fn next_frame(&mut self) -> Option<Utf8Bytes> {
        let frame = self.batch.pop_front()?;
        self.state.release(cost_of(&frame));
        Some(frame)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut requests = self.state.requests();
        requests.closed = true;
        let left: usize = requests
            .frames
            .drain(..)
            .chain(self.batch.drain(..))
            .map(|frame| cost_of(&frame))
            .sum();
        drop(requests);
        self.state.release(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outboxes_of_members_gone_are_swept_out_as_others_join() {
        let budget = OutboxBudget::new(1024, 1 << 20);
        let live: Vec<_> = (0..100).map(|_| Outbox::new(budget.clone())).collect();
        for _ in 0..10_000 {
            drop(Outbox::new(budget.clone()));
        }
        let queues = budget.queues.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            queues.list.len() <= 2 * live.len() + Queues::SMALLEST_SWEEP,
            "{} queues kept for {} members",
            queues.list.len(),
            live.len()
        );
        let alive = queues.list.iter().filter(|q| q.strong_count() > 0).count();
        assert_eq!(alive, live.len());
    }

    fn frame(text: &str) -> Utf8Bytes {
        Utf8Bytes::from(text.to_owned())
    }

    #[tokio::test]
    async fn the_writer_gets_a_ping_first_then_every_queued_frame_in_order() {
        let (outbox, mut receiver) = Outbox::new(OutboxBudget::new(0, 0));
        assert!(outbox.push(frame("one")));
        assert!(outbox.push(frame("two")));
        outbox.ping();
        let work = receiver.ready().await;
        assert!(work.ping);
        assert_eq!(work.close, None);
        assert_eq!(receiver.next_frame().as_deref(), Some("one"));
        assert_eq!(receiver.next_frame().as_deref(), Some("two"));
        assert_eq!(receiver.next_frame(), None);
    }

    #[tokio::test]
    async fn a_close_comes_after_the_frames_queued_before_it() {
        let (outbox, mut receiver) = Outbox::new(OutboxBudget::new(0, 0));
        assert!(outbox.push(frame("last words")));
        outbox.close(1008, "bye");
        let work = receiver.ready().await;
        assert_eq!(work.close, Some((1008, "bye")));
        assert_eq!(receiver.next_frame().as_deref(), Some("last words"));
    }

    #[tokio::test]
    async fn frames_give_their_bytes_back_as_they_are_sent_or_dropped() {
        let budget = OutboxBudget::new(0, 0);
        let (outbox, mut receiver) = Outbox::new(Arc::clone(&budget));
        for text in ["a", "bb", "ccc"] {
            assert!(outbox.push(frame(text)));
        }
        assert_eq!(budget.queued(), 6 + 3 * FRAME_OVERHEAD);
        receiver.ready().await;
        receiver.next_frame();
        assert_eq!(budget.queued(), 5 + 2 * FRAME_OVERHEAD);
        assert!(outbox.push(frame("dddd")));
        drop(receiver);
        assert_eq!(budget.queued(), 0);
        assert!(!outbox.push(frame("to nobody")), "the writer is gone");
        assert_eq!(budget.queued(), 0);
    }
}
