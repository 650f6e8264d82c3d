//! Rooms and their members: who is where, in which order, and delivery of
//! frames to members' outboxes.
//!
//! All rooms sit behind one mutex that is only held for in-memory work
//! (never across an `.await`): pushing to a member's outbox is a
//! non-blocking `try_send`. Doing every push under the lock gives each
//! member one consistent order of events, e.g. a newcomer always gets its
//! peer list before any message from the members it lists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use parlor_protocol::{JoinRejection, PeerId, PeerList, RoomName, ServerMessage};
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
}

impl Outbox {
    pub(crate) fn new(frames: mpsc::Sender<Utf8Bytes>, overflow: Arc<Notify>) -> Self {
        Self { frames, overflow }
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
    outbox: Outbox,
}

/// Members in join order, oldest first.
#[derive(Default)]
struct Room {
    members: Vec<Member>,
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

/// Every room of one server.
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<RoomName, Room>>,
    max_peers_per_room: usize,
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
    pub(crate) fn new(max_peers_per_room: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            max_peers_per_room,
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
    pub(crate) fn join(
        self: &Arc<Self>,
        room: RoomName,
        id: PeerId,
        parlor: bool,
        outbox: Outbox,
    ) -> Result<Membership, JoinRejection> {
        let mut rooms = self.lock();
        let size = match rooms.get(&room) {
            Some(existing) if existing.members.iter().any(|m| m.id == id) => {
                return Err(JoinRejection::DuplicatePeerId);
            }
            Some(existing) => existing.members.len(),
            None => 0,
        };
        if size >= self.max_peers_per_room {
            return Err(JoinRejection::RoomFull);
        }
        let entry = rooms.entry(room.clone()).or_default();
        entry.members.push(Member {
            id: id.clone(),
            parlor,
            outbox,
        });
        entry.send_peer_lists();
        Ok(Membership {
            rooms: Arc::clone(self),
            room,
            id,
        })
    }

    pub(crate) fn occupancy(&self) -> Occupancy {
        let rooms = self.lock();
        Occupancy {
            rooms: rooms.len(),
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
}

impl Membership {
    /// Delivers a prepared frame to `to`, or to every other member. Returns
    /// how many members it was queued for.
    pub(crate) fn relay(&self, to: Option<&str>, frame: &Utf8Bytes) -> Result<usize, UnknownPeer> {
        let rooms = self.rooms.lock();
        let Some(room) = rooms.get(&self.room) else {
            return Err(UnknownPeer);
        };
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
        room.members.retain(|m| m.id != self.id);
        if room.members.is_empty() {
            rooms.remove(&self.room);
        } else {
            room.send_peer_lists();
        }
    }
}
