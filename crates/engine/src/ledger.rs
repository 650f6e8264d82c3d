//! What a room writes to its [`Store`]: every message sent and received,
//! to whom each of ours is owed and how far it got, and who was in the
//! room. The room and its peer tasks go through this, so the rules live in
//! one place:
//!
//! - a message of ours is owed to every identity seen in the room in the
//!   last [`REMEMBER_MEMBERS_FOR`] (so someone who closed the app gets it
//!   when they return), and to whoever connects next when it has nobody;
//! - it is written before it is handed to any peer, and a received one
//!   before it is acknowledged, so a crash loses nothing;
//! - a message from a peer is shown once, however often it is re-sent,
//!   across restarts too.
//!
//! A store that fails (disk full, file removed) does not stop the chat: the
//! person is told once and messages still go out from memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parlor_protocol::MessageId;
use parlor_store::{DeliveryState, NewMessage, Store, StoreError, UnfinishedTransfer};
use tokio::sync::mpsc;
use tracing::warn;

use crate::events::{Event, EventKind};

/// How long an identity seen in a room stays owed our new messages there.
pub const REMEMBER_MEMBERS_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One room's view of the store.
#[derive(Clone)]
pub(crate) struct Ledger {
    store: Store,
    /// The room's key in the store: its link.
    room: String,
    /// Our fingerprint, the sender of our messages.
    own: String,
    own_name: Option<String>,
    events: mpsc::UnboundedSender<Event>,
    /// The person was told the store fails; not told again.
    told: Arc<AtomicBool>,
}

impl Ledger {
    pub(crate) fn new(
        store: Store,
        room: String,
        own: String,
        own_name: Option<String>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Self {
            store,
            room,
            own,
            own_name,
            events,
            told: Arc::new(AtomicBool::new(false)),
        }
    }

    /// We are in the room now: it goes to the top of the recent rooms.
    pub(crate) fn joined(&self, server: &str, name: &str) {
        let result = self.store.remember_room(&self.room, server, name, now_ms());
        self.check(result, "remember this room");
    }

    /// Writes one of our messages, owed to everyone seen in the room lately;
    /// returns how many that is (0: whoever connects next).
    pub(crate) fn sent(&self, id: &MessageId, text: &str) -> usize {
        let since = now_ms().saturating_sub(millis(REMEMBER_MEMBERS_FOR));
        let recipients: Vec<String> = self
            .check(
                self.store.members_since(&self.room, since),
                "read the room's members",
            )
            .unwrap_or_default()
            .into_iter()
            .filter(|fingerprint| *fingerprint != self.own)
            .collect();
        let message = NewMessage {
            room: &self.room,
            id: Some(id.as_str()),
            sender: &self.own,
            sender_name: self.own_name.as_deref(),
            text,
            at_ms: now_ms(),
        };
        let result = self.store.add_outgoing(&message, &recipients);
        self.check(result, "keep your message");
        recipients.len()
    }

    /// The peer proved `fingerprint`: what was queued for it is owed to that
    /// identity, and a Parlor peer (which acknowledges, and may come back)
    /// is remembered in the room and gets what waited for someone. Returns
    /// every message owed to it, oldest first, to hand to its session.
    pub(crate) fn identified(
        &self,
        fingerprint: &str,
        parlor: bool,
        queued: &[MessageId],
    ) -> Vec<(MessageId, String)> {
        let now = now_ms();
        for id in queued {
            let result =
                self.store
                    .add_recipient(&self.room, id.as_str(), fingerprint, None, parlor, now);
            self.check(result, "note who a message is for");
        }
        if !parlor {
            return Vec::new();
        }
        let result = self
            .store
            .remember_member(&self.room, fingerprint, None, now);
        self.check(result, "remember who is in the room");
        let result = self
            .store
            .address_waiting(&self.room, fingerprint, None, now);
        self.check(result, "address waiting messages");
        self.owed_to(fingerprint)
    }

    /// The peer said its name: kept with the identity for the history.
    pub(crate) fn named(&self, fingerprint: &str, name: Option<&str>) {
        let result = self
            .store
            .remember_member(&self.room, fingerprint, name, now_ms());
        self.check(result, "remember a peer's name");
    }

    /// How far one of our messages got to one recipient.
    pub(crate) fn state(&self, id: &MessageId, fingerprint: &str, state: DeliveryState) {
        let result = self
            .store
            .set_state(&self.room, id.as_str(), fingerprint, state, now_ms());
        self.check(result, "note a message's delivery");
    }

    /// Writes a message from a peer; `false` when it was received before
    /// (a re-send after a restart), so it is not shown again.
    pub(crate) fn received(
        &self,
        id: Option<&MessageId>,
        sender: &str,
        name: Option<&str>,
        text: &str,
    ) -> bool {
        let message = NewMessage {
            room: &self.room,
            id: id.map(MessageId::as_str),
            sender,
            sender_name: name,
            text,
            at_ms: now_ms(),
        };
        self.check(self.store.add_incoming(&message), "keep a received message")
            .unwrap_or(true)
    }

    /// The identities a message failed to reach.
    pub(crate) fn failed(&self, id: &MessageId) -> Vec<String> {
        self.check(
            self.store.failed_recipients(&self.room, id.as_str()),
            "read a message's failed recipients",
        )
        .unwrap_or_default()
    }

    /// Every message owed to `fingerprint`, oldest first.
    pub(crate) fn owed_to(&self, fingerprint: &str) -> Vec<(MessageId, String)> {
        self.check(
            self.store.owed_to(&self.room, fingerprint),
            "read what is owed to a peer",
        )
        .unwrap_or_default()
        .into_iter()
        .map(|owed| (MessageId::new(owed.id), owed.text))
        .collect()
    }

    /// We offer `paths` as `transfer`: kept, so that it is offered again
    /// after our restart.
    pub(crate) fn transfer_offered(&self, transfer: &str, paths: &[String]) {
        let result = self
            .store
            .add_transfer(&self.room, transfer, paths, now_ms());
        self.check(result, "keep a transfer");
    }

    /// `transfer` was offered to the identity `fingerprint`.
    pub(crate) fn transfer_offered_to(&self, transfer: &str, fingerprint: &str) {
        let result = self
            .store
            .transfer_offered_to(&self.room, transfer, fingerprint);
        self.check(result, "note who a transfer is for");
    }

    /// `fingerprint` has `transfer` whole, or it ended for it.
    pub(crate) fn transfer_finished(&self, transfer: &str, fingerprint: &str) {
        let result = self
            .store
            .transfer_finished(&self.room, transfer, fingerprint);
        self.check(result, "note a finished transfer");
    }

    /// Our transfers `fingerprint` does not have whole yet.
    pub(crate) fn unfinished_transfers(&self, fingerprint: &str) -> Vec<UnfinishedTransfer> {
        self.check(
            self.store.unfinished_transfers(&self.room, fingerprint),
            "read unfinished transfers",
        )
        .unwrap_or_default()
    }

    /// The result, or `None` after telling the person (once per room) that
    /// messages are no longer kept.
    fn check<T>(&self, result: Result<T, StoreError>, doing: &str) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                warn!(%error, "cannot {doing}");
                if !self.told.swap(true, Ordering::Relaxed) {
                    let _ = self.events.send(Event::now(EventKind::Error {
                        peer: None,
                        message: format!(
                            "cannot {doing} on disk ({error}); messages still go out, but what is not delivered is lost if Parlor closes"
                        ),
                    }));
                }
                None
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
