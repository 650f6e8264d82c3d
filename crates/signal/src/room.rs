//! Rooms and their members: who is where, in which order, and delivery of
//! frames to members' outboxes.
//!
//! All rooms sit behind one mutex that is only held for in-memory work
//! (never across an `.await`): pushing to a member's outbox is a
//! non-blocking `try_send`. Doing every push under the lock gives each
//! member one consistent order of events, e.g. a newcomer always gets its
//! peer list before any message from the members it lists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use parlor_protocol::{IdKey, JoinRejection, PeerId, PeerList, RoomName, ServerMessage};
use tokio::sync::{Notify, mpsc};

use crate::metrics::Metrics;

/// Frames queued for one member, at most. A member whose queue is full is
/// not reading: it is disconnected rather than allowed to make the server
/// buffer without bound.
pub(crate) const OUTBOX_CAPACITY: usize = 256;

/// The sending side of a member's queue of outgoing frames.
#[derive(Clone)]
pub(crate) struct Outbox {
    frames: mpsc::Sender<Utf8Bytes>,
    /// Woken when the queue overflows, so the connection closes itself.
    overflow: Arc<Notify>,
    /// Woken when the member's owner connected again: this connection is a
    /// stale one the server had not yet noticed was dead.
    replaced: Arc<Notify>,
}

impl Outbox {
    pub(crate) fn new(
        frames: mpsc::Sender<Utf8Bytes>,
        overflow: Arc<Notify>,
        replaced: Arc<Notify>,
    ) -> Self {
        Self {
            frames,
            overflow,
            replaced,
        }
    }

    /// Queues a frame; false if the member is gone or not keeping up.
    pub(crate) fn push(&self, frame: Utf8Bytes) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Member {
    id: PeerId,
    parlor: bool,
    /// The owner's proof, for Parlor clients.
    key: Option<IdKey>,
    /// Tells this member's connection apart from a later one with its id.
    connection: u64,
    outbox: Outbox,
}

/// An id kept for its owner, who left (or lost its connection) a moment ago
/// and is expected back with the same key.
struct Reservation {
    id: PeerId,
    key: IdKey,
    until: Instant,
}

/// Members in join order, oldest first, and ids kept for their owners.
#[derive(Default)]
struct Room {
    members: Vec<Member>,
    reserved: Vec<Reservation>,
}

impl Room {
    /// Sends every member the list of the others.
    fn send_peer_lists(&self) {
        for member in &self.members {
            let others = self.members.iter().filter(|m| m.id != member.id);
            let list = PeerList {
                peers: others.clone().map(|m| m.id.clone()).collect(),
                parlor: others.filter(|m| m.parlor).map(|m| m.id.clone()).collect(),
            };
            member
                .outbox
                .push(ServerMessage::PeerList(list).to_json().into());
        }
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinRefusal {
    /// A member has this id, and the newcomer cannot prove it is its owner.
    Taken,
    /// The id's owner left a moment ago and may come back: only its key
    /// takes the id.
    Reserved,
    /// The room is full.
    Full,
}

impl JoinRefusal {
    /// The rejection the client is told.
    pub(crate) fn rejection(self) -> JoinRejection {
        match self {
            JoinRefusal::Taken | JoinRefusal::Reserved => JoinRejection::DuplicatePeerId,
            JoinRefusal::Full => JoinRejection::RoomFull,
        }
    }
}

/// Every room of one server.
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<RoomName, Room>>,
    max_peers_per_room: usize,
    /// How long a departed Parlor member's id stays reserved for it.
    id_reservation: Duration,
    next_connection: AtomicU64,
    metrics: Arc<Metrics>,
}

/// How many rooms and members there are, for `/metrics`.
pub(crate) struct Occupancy {
    pub(crate) rooms: usize,
    pub(crate) members: usize,
}

/// `to` named no other member of the room.
#[derive(Debug)]
pub(crate) struct UnknownPeer;

impl Rooms {
    pub(crate) fn new(
        max_peers_per_room: usize,
        id_reservation: Duration,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            max_peers_per_room,
            id_reservation,
            next_connection: AtomicU64::new(0),
            metrics,
        })
    }

    /// A panic elsewhere while holding the lock must not take every room
    /// down with it: the map stays consistent between statements, so the
    /// poison is ignored.
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomName, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a member and sends everyone in the room the new peer lists.
    /// The member stays until the returned [`Membership`] is dropped.
    ///
    /// A Parlor client sends a key with its id. The same id with the same
    /// key is its owner: it takes over from a connection the server still
    /// holds (a dead one, not yet noticed), and it alone may take the id in
    /// the moments after its owner left, while it reconnects. Anyone else
    /// with the id is refused; without keys (old clients) the first
    /// connection keeps the id, as before.
    pub(crate) fn join(
        self: &Arc<Self>,
        room: RoomName,
        id: PeerId,
        parlor: bool,
        key: Option<IdKey>,
        outbox: Outbox,
    ) -> Result<Membership, JoinRefusal> {
        let mut rooms = self.lock();
        let now = Instant::now();
        let entry = rooms.entry(room.clone()).or_default();
        entry.reserved.retain(|r| r.until > now);
        let owns = |owner: Option<&IdKey>| owner.is_some() && owner == key.as_ref();
        let verdict = if let Some(index) = entry.members.iter().position(|m| m.id == id) {
            if owns(entry.members[index].key.as_ref()) {
                let stale = entry.members.remove(index);
                stale.outbox.replaced.notify_one();
                Ok(())
            } else {
                Err(JoinRefusal::Taken)
            }
        } else if let Some(index) = entry.reserved.iter().position(|r| r.id == id) {
            if owns(Some(&entry.reserved[index].key)) {
                entry.reserved.remove(index);
                Ok(())
            } else {
                Err(JoinRefusal::Reserved)
            }
        } else {
            Ok(())
        };
        let verdict = verdict.and_then(|()| {
            if entry.members.len() >= self.max_peers_per_room {
                Err(JoinRefusal::Full)
            } else {
                Ok(())
            }
        });
        if let Err(refusal) = verdict {
            if entry.members.is_empty() && entry.reserved.is_empty() {
                rooms.remove(&room);
            }
            return Err(refusal);
        }
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        entry.members.push(Member {
            id: id.clone(),
            parlor,
            key,
            connection,
            outbox,
        });
        entry.send_peer_lists();
        Ok(Membership {
            rooms: Arc::clone(self),
            room,
            id,
            connection,
        })
    }

    /// Also forgets reservations that ran out, in every room.
    pub(crate) fn occupancy(&self) -> Occupancy {
        let mut rooms = self.lock();
        let now = Instant::now();
        rooms.retain(|_, room| {
            room.reserved.retain(|r| r.until > now);
            !room.members.is_empty() || !room.reserved.is_empty()
        });
        Occupancy {
            rooms: rooms
                .values()
                .filter(|room| !room.members.is_empty())
                .count(),
            members: rooms.values().map(|room| room.members.len()).sum(),
        }
    }
}

/// A connection's place in a room. Dropping it leaves the room and sends
/// the remaining members their new peer lists, whichever way the connection
/// ended (close, error, timeout, even a panic).
pub(crate) struct Membership {
    rooms: Arc<Rooms>,
    room: RoomName,
    id: PeerId,
    connection: u64,
}

impl Membership {
    /// Delivers a prepared frame to `to`, or to every other member. Returns
    /// how many members it was queued for.
    pub(crate) fn relay(&self, to: Option<&str>, frame: &Utf8Bytes) -> Result<usize, UnknownPeer> {
        let rooms = self.rooms.lock();
        let Some(room) = rooms.get(&self.room) else {
            return Err(UnknownPeer);
        };
        if !room.members.iter().any(|m| m.connection == self.connection) {
            // A stale connection its owner's newer one replaced.
            return Err(UnknownPeer);
        }
        let delivered = match to {
            Some(to) => {
                let target = room
                    .members
                    .iter()
                    .find(|m| m.id.as_str() == to && m.id != self.id)
                    .ok_or(UnknownPeer)?;
                usize::from(target.outbox.push(frame.clone()))
            }
            None => room
                .members
                .iter()
                .filter(|m| m.id != self.id)
                .filter(|m| m.outbox.push(frame.clone()))
                .count(),
        };
        self.rooms.metrics.relayed(delivered, frame.len());
        Ok(delivered)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut rooms = self.rooms.lock();
        let Some(room) = rooms.get_mut(&self.room) else {
            return;
        };
        // Gone already if its owner's newer connection replaced it.
        let Some(index) = room
            .members
            .iter()
            .position(|m| m.connection == self.connection)
        else {
            return;
        };
        let member = room.members.remove(index);
        let now = Instant::now();
        room.reserved.retain(|r| r.until > now);
        if let Some(key) = member.key {
            room.reserved.push(Reservation {
                id: member.id,
                key,
                until: now + self.rooms.id_reservation,
            });
        }
        if room.members.is_empty() {
            if room.reserved.is_empty() {
                rooms.remove(&self.room);
            }
        } else {
            room.send_peer_lists();
        }
    }
}
