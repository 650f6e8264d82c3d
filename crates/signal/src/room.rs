//! Rooms and their members: who is where, in which order, and delivery of
//! frames to members' outboxes.
//!
//! All rooms sit behind one mutex that is only held for in-memory work
//! (never across an `.await`): pushing to a member's outbox never blocks.
//! Doing every push under the lock gives each member one consistent order
//! of events, e.g. a newcomer always gets its peer list before any message
//! from the members it lists.
//!
//! Peer lists to members already in the room are rate-limited (at most one
//! per [`Config::peer_list_interval`](crate::Config::peer_list_interval)):
//! a list that falls due sooner is held back and sent, up to date, when the
//! interval is over, so churn costs each member a few lists per second at
//! most and the last list always arrives. The order above still holds: a
//! frame from a member that the recipient's last list did not name (a
//! newcomer) first sends the recipient its held-back list.
//!
//! In a cluster (`--redis`), Redis decides who is in a room (see
//! [`crate::cluster`]); each node keeps here a mirror of the rooms its own
//! clients are in, members on other nodes included (without an outbox), so
//! that peer lists, `to` lookups and local deliveries need no round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use parlor_protocol::{IdKey, JoinRejection, PeerId, PeerList, RoomName, ServerMessage};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::cluster::{Link, Snapshot};
use crate::config::ByteRateLimit;
use crate::limits::TokenBucket;
use crate::metrics::Metrics;
use crate::outbox::Outbox;

struct Member {
    id: PeerId,
    parlor: bool,
    /// The owner's proof, for Parlor clients.
    key: Option<IdKey>,
    /// Tells this member's connection apart from a later one with its id
    /// (cluster-wide in a cluster: Redis hands the numbers out).
    connection: u64,
    /// `None` for a member connected to another node of the cluster.
    outbox: Option<Outbox>,
    /// When it was last sent a peer list.
    list_sent_at: Option<Instant>,
    /// The connections of the members that list named.
    listed: Vec<u64>,
    /// A newer list is due, held back until the interval is over.
    list_pending: bool,
}

impl Member {
    /// Whether its last peer list is at least `interval` old (or it has had
    /// none), so another may go out now.
    fn may_get_a_list(&self, now: Instant, interval: Duration) -> bool {
        self.list_sent_at.is_none_or(|sent| now >= sent + interval)
    }

    /// A member connected to this node, before its first peer list.
    fn local(
        id: PeerId,
        parlor: bool,
        key: Option<IdKey>,
        connection: u64,
        outbox: Outbox,
    ) -> Self {
        Self {
            id,
            parlor,
            key,
            connection,
            outbox: Some(outbox),
            list_sent_at: None,
            listed: Vec::new(),
            list_pending: false,
        }
    }

    /// A member connected to another node, as a snapshot names it.
    fn remote(id: PeerId, parlor: bool, connection: u64) -> Self {
        Self {
            id,
            parlor,
            key: None,
            connection,
            outbox: None,
            list_sent_at: None,
            listed: Vec::new(),
            list_pending: false,
        }
    }
}

/// An id kept for its owner, who left (or lost its connection) a moment ago
/// and is expected back with the same key.
struct Reservation {
    id: PeerId,
    key: IdKey,
    until: Instant,
}

/// Members in join order, oldest first, and ids kept for their owners.
struct Room {
    members: Vec<Member>,
    reserved: Vec<Reservation>,
    /// Tells this room apart from a later one of the same name.
    epoch: u64,
    /// A task will send the held-back peer lists.
    flush_scheduled: bool,
    /// In a cluster: the version of the last membership snapshot applied
    /// (Redis counts them per room; older ones are stale).
    version: u64,
    /// In a cluster: this node's members and joins in progress. The room is
    /// mirrored while it is above zero.
    interest: usize,
    /// In a cluster: connections that left here but that Redis may still
    /// list for a moment; a snapshot must not bring them back.
    departed: Vec<u64>,
    /// Bytes this room may still make this node send (see
    /// [`Config::room_fanout_limit`](crate::Config::room_fanout_limit));
    /// filled when the room's first frame is relayed.
    fanout: Option<TokenBucket>,
}

impl Room {
    fn new(epoch: u64) -> Self {
        Self {
            members: Vec::new(),
            reserved: Vec::new(),
            epoch,
            flush_scheduled: false,
            version: 0,
            interest: 0,
            departed: Vec::new(),
            fanout: None,
        }
    }

    /// Sends the member at `index` the list of the others, now.
    fn send_peer_list(&mut self, index: usize, now: Instant, metrics: &Metrics) {
        let Some(member) = self.members.get(index) else {
            return;
        };
        let Some(outbox) = &member.outbox else {
            return;
        };
        let others = self.members.iter().filter(|m| m.id != member.id);
        let list = PeerList {
            peers: others.clone().map(|m| m.id.clone()).collect(),
            parlor: others
                .clone()
                .filter(|m| m.parlor)
                .map(|m| m.id.clone())
                .collect(),
        };
        let listed = others.map(|m| m.connection).collect();
        outbox.push(ServerMessage::PeerList(list).to_json().into());
        metrics.peer_list_sent();
        let member = &mut self.members[index];
        member.list_sent_at = Some(now);
        member.listed = listed;
        member.list_pending = false;
    }

    /// The members changed: everyone gets a new list, `newcomer` at once and
    /// the others at once too unless they had one less than `interval` ago.
    /// Returns when the earliest held-back list falls due.
    fn members_changed(
        &mut self,
        newcomer: Option<u64>,
        now: Instant,
        interval: Duration,
        metrics: &Metrics,
    ) -> Option<Instant> {
        for index in 0..self.members.len() {
            let member = &self.members[index];
            if member.outbox.is_none() {
                continue;
            }
            let may_send =
                Some(member.connection) == newcomer || member.may_get_a_list(now, interval);
            if may_send {
                self.send_peer_list(index, now, metrics);
            } else {
                let member = &mut self.members[index];
                if member.list_pending {
                    metrics.peer_list_merged();
                }
                member.list_pending = true;
            }
        }
        self.next_list_due(interval)
    }

    /// Sends the held-back lists that are due; returns when the next one is.
    fn send_due_lists(
        &mut self,
        now: Instant,
        interval: Duration,
        metrics: &Metrics,
    ) -> Option<Instant> {
        for index in 0..self.members.len() {
            let member = &self.members[index];
            let due = member.may_get_a_list(now, interval);
            if member.list_pending && due {
                self.send_peer_list(index, now, metrics);
            }
        }
        self.next_list_due(interval)
    }

    fn next_list_due(&self, interval: Duration) -> Option<Instant> {
        self.members
            .iter()
            .filter(|m| m.list_pending)
            .filter_map(|m| m.list_sent_at.map(|sent| sent + interval))
            .min()
    }

    /// Before a frame from `sender` goes to the member at `index`: if that
    /// member's last list did not name the sender, its held-back list goes
    /// first, so nobody hears from a member before hearing it joined.
    fn list_before_frame(&mut self, index: usize, sender: u64, now: Instant, metrics: &Metrics) {
        let member = &self.members[index];
        if member.list_pending && !member.listed.contains(&sender) {
            self.send_peer_list(index, now, metrics);
        }
    }

    /// Queues a relayed frame for the local member at `index`, after the
    /// peer list it is owed first; says whether it was queued.
    fn deliver(
        &mut self,
        index: usize,
        sender: u64,
        frame: Utf8Bytes,
        now: Instant,
        metrics: &Metrics,
    ) -> bool {
        self.list_before_frame(index, sender, now, metrics);
        self.members[index]
            .outbox
            .as_ref()
            .is_some_and(|outbox| outbox.push(frame))
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
    /// The room does not exist and the server has as many as it may.
    TooManyRooms,
    /// In a cluster: Redis, which decides joins, cannot be reached.
    Unavailable,
}

impl JoinRefusal {
    /// The rejection the client is told, if the protocol has one for it.
    pub(crate) fn rejection(self) -> Option<JoinRejection> {
        match self {
            JoinRefusal::Taken | JoinRefusal::Reserved => Some(JoinRejection::DuplicatePeerId),
            JoinRefusal::Full => Some(JoinRejection::RoomFull),
            JoinRefusal::TooManyRooms | JoinRefusal::Unavailable => None,
        }
    }
}

/// Every room of one server.
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<RoomName, Room>>,
    max_peers_per_room: usize,
    /// Most rooms at once; zero for no limit.
    max_rooms: usize,
    /// How long a departed Parlor member's id stays reserved for it.
    id_reservation: Duration,
    /// Shortest time between two peer lists to one member.
    peer_list_interval: Duration,
    /// Bytes per second one room may make this node send; `None` for no
    /// limit.
    fanout: Option<ByteRateLimit>,
    next_connection: AtomicU64,
    metrics: Arc<Metrics>,
    /// Itself, for the tasks that send held-back peer lists.
    this: Weak<Rooms>,
    /// In a cluster: the way to members on other nodes, and to Redis.
    cluster: Option<Link>,
    /// The server's runtime, for work that starts outside its tasks.
    runtime: Option<tokio::runtime::Handle>,
}

/// What [`Rooms::new`] needs to know.
pub(crate) struct RoomLimits {
    pub(crate) max_peers_per_room: usize,
    pub(crate) max_rooms: usize,
    pub(crate) id_reservation: Duration,
    pub(crate) peer_list_interval: Duration,
    /// [`Config::room_fanout_limit`](crate::Config::room_fanout_limit).
    pub(crate) fanout: ByteRateLimit,
}

/// How many rooms and members there are, for `/metrics`.
pub(crate) struct Occupancy {
    pub(crate) rooms: usize,
    pub(crate) members: usize,
}

/// Why a frame was not relayed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RelayRefusal {
    /// `to` named no other member of the room.
    UnknownPeer,
    /// The room has sent all the bytes its fan-out budget allows for now.
    RoomFanout,
}

impl Rooms {
    pub(crate) fn new(
        limits: RoomLimits,
        metrics: Arc<Metrics>,
        cluster: Option<Link>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            rooms: Mutex::new(HashMap::new()),
            max_peers_per_room: limits.max_peers_per_room,
            max_rooms: limits.max_rooms,
            id_reservation: limits.id_reservation,
            peer_list_interval: limits.peer_list_interval,
            fanout: (limits.fanout.bytes_per_second > 0).then_some(limits.fanout),
            next_connection: AtomicU64::new(0),
            metrics,
            this: this.clone(),
            cluster,
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// Makes sure a task sends `room`'s held-back peer lists at `due`.
    fn schedule_lists(&self, name: &RoomName, room: &mut Room, due: Option<Instant>) {
        let Some(due) = due else {
            return;
        };
        if room.flush_scheduled {
            return;
        }
        // Snapshots from Redis arrive outside the server's tasks; without
        // a runtime at all (it is shutting down) nobody is left to tell.
        let Some(runtime) = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
        else {
            return;
        };
        room.flush_scheduled = true;
        let rooms = self.this.clone();
        let name = name.clone();
        let epoch = room.epoch;
        runtime.spawn(async move {
            let mut due = due;
            loop {
                tokio::time::sleep_until(due.into()).await;
                let Some(rooms) = rooms.upgrade() else {
                    return;
                };
                match rooms.send_due_lists(&name, epoch) {
                    Some(next) => due = next,
                    None => return,
                }
            }
        });
    }

    /// Sends the room's held-back lists that are due; returns when the next
    /// one is, or `None` (and unschedules) when none is left.
    fn send_due_lists(&self, name: &RoomName, epoch: u64) -> Option<Instant> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(name).filter(|room| room.epoch == epoch)?;
        let next = room.send_due_lists(Instant::now(), self.peer_list_interval, &self.metrics);
        if next.is_none() {
            room.flush_scheduled = false;
        }
        next
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
    /// `first`, if given, is queued for the newcomer ahead of its first
    /// peer list, and only if the join succeeds: what it must know before
    /// it builds connections to the members listed (its ICE servers), and
    /// what a refused client must never get.
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
        first: Option<Utf8Bytes>,
    ) -> Result<Membership, JoinRefusal> {
        let mut rooms = self.lock();
        let now = Instant::now();
        if self.max_rooms != 0 && !rooms.contains_key(&room) && rooms.len() >= self.max_rooms {
            // Rooms that only held reservations may have run out.
            rooms.retain(|_, room| {
                room.reserved.retain(|r| r.until > now);
                !room.members.is_empty() || !room.reserved.is_empty()
            });
            if rooms.len() >= self.max_rooms {
                return Err(JoinRefusal::TooManyRooms);
            }
        }
        let epoch = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let entry = rooms
            .entry(room.clone())
            .or_insert_with(|| Room::new(epoch));
        entry.reserved.retain(|r| r.until > now);
        let owns = |owner: Option<&IdKey>| owner.is_some() && owner == key.as_ref();
        let verdict = if let Some(index) = entry.members.iter().position(|m| m.id == id) {
            if owns(entry.members[index].key.as_ref()) {
                let stale = entry.members.remove(index);
                if let Some(outbox) = &stale.outbox {
                    outbox.replace();
                }
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
        if let Some(first) = first {
            outbox.push(first);
        }
        entry
            .members
            .push(Member::local(id.clone(), parlor, key, connection, outbox));
        let due = entry.members_changed(
            Some(connection),
            now,
            self.peer_list_interval,
            &self.metrics,
        );
        self.schedule_lists(&room, entry, due);
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
            !room.members.is_empty() || !room.reserved.is_empty() || room.interest > 0
        });
        // Members on other nodes of a cluster are theirs to count.
        let local = |room: &Room| room.members.iter().filter(|m| m.outbox.is_some()).count();
        Occupancy {
            rooms: rooms.values().filter(|room| local(room) > 0).count(),
            members: rooms.values().map(local).sum(),
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
    /// how many members it was queued for. `now` is the caller's, read once
    /// per frame.
    pub(crate) fn relay(
        &self,
        to: Option<&str>,
        frame: Utf8Bytes,
        now: Instant,
    ) -> Result<usize, RelayRefusal> {
        let mut rooms = self.rooms.lock();
        let Some(room) = rooms.get_mut(&self.room) else {
            return Err(RelayRefusal::UnknownPeer);
        };
        if !room.members.iter().any(|m| m.connection == self.connection) {
            // A stale connection its owner's newer one replaced.
            return Err(RelayRefusal::UnknownPeer);
        }
        // One recipient, or every member but the sender, chosen without
        // collecting them into a list: this runs for every frame.
        let target = match to {
            Some(to) => Some(
                room.members
                    .iter()
                    .position(|m| m.id.as_str() == to && m.id != self.id)
                    .ok_or(RelayRefusal::UnknownPeer)?,
            ),
            None => None,
        };
        let is_recipient = |index: usize, member: &Member| match target {
            Some(target) => index == target,
            None => member.id != self.id,
        };
        if let Some(limit) = self.rooms.fanout {
            let recipients = match target {
                Some(_) => 1,
                None => room.members.iter().filter(|m| m.id != self.id).count(),
            };
            let budget = room
                .fanout
                .get_or_insert_with(|| TokenBucket::bytes(limit, now));
            let cost = frame.len().saturating_mul(recipients);
            if !budget.try_take_n(cost as f64, now) {
                return Err(RelayRefusal::RoomFanout);
            }
        }
        let metrics = &self.rooms.metrics;
        let size = frame.len();
        let mut delivered = 0;
        let mut remote = false;
        // Each local recipient but the last gets a copy, the last the frame
        // itself: the first copy of a frame allocates its shared header, so
        // a frame `to` one member is queued without an allocation.
        let mut previous: Option<usize> = None;
        for index in 0..room.members.len() {
            if !is_recipient(index, &room.members[index]) {
                continue;
            }
            if room.members[index].outbox.is_none() {
                remote = true;
                continue;
            }
            if let Some(earlier) = previous.replace(index) {
                delivered += usize::from(room.deliver(
                    earlier,
                    self.connection,
                    frame.clone(),
                    now,
                    metrics,
                ));
            }
        }
        if remote {
            if let Some(link) = &self.rooms.cluster {
                // Published under the lock: frames from one sender reach
                // Redis in the order they were relayed here.
                link.publish(&self.room, self.connection, to, &frame);
                delivered += 1;
            }
        }
        if let Some(last) = previous {
            delivered += usize::from(room.deliver(last, self.connection, frame, now, metrics));
        }
        metrics.relayed(delivered, size);
        Ok(delivered)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(link) = &self.rooms.cluster {
            return self.leave_cluster(link);
        }
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
            let rooms_state = &self.rooms;
            let due = room.members_changed(
                None,
                now,
                rooms_state.peer_list_interval,
                &rooms_state.metrics,
            );
            rooms_state.schedule_lists(&self.room, room, due);
        }
    }
}

impl Membership {
    /// Leaves this node's mirror of the room at once, and Redis through the
    /// node's writer (after the frames this member relayed).
    fn leave_cluster(&self, link: &Link) {
        let mut rooms = self.rooms.lock();
        let mut key = None;
        if let Some(room) = rooms.get_mut(&self.room) {
            room.interest = room.interest.saturating_sub(1);
            let index = room
                .members
                .iter()
                .position(|m| m.connection == self.connection);
            if let Some(index) = index {
                key = room.members.remove(index).key;
                room.departed.push(self.connection);
            }
            if room.interest == 0 {
                rooms.remove(&self.room);
            } else if index.is_some() {
                let due = room.members_changed(
                    None,
                    Instant::now(),
                    self.rooms.peer_list_interval,
                    &self.rooms.metrics,
                );
                self.rooms.schedule_lists(&self.room, room, due);
            }
        }
        drop(rooms);
        link.leave(&self.room, self.id.clone(), self.connection, key);
    }
}

/// A member connected to this node, as [`Rooms::local_members`] lists it
/// for Redis.
pub(crate) struct LocalMember {
    pub(crate) room: RoomName,
    /// The room's snapshot version here.
    pub(crate) version: u64,
    pub(crate) id: PeerId,
    pub(crate) connection: u64,
    pub(crate) parlor: bool,
    pub(crate) key: Option<IdKey>,
}

/// What applying a snapshot changed.
#[derive(Default)]
struct Applied {
    /// The members (or their order) changed: new peer lists are due.
    changed: bool,
    /// A member here is missing from Redis: register them all again.
    resync: bool,
}

impl Room {
    /// Takes Redis's view of the room, if it is newer than the last one:
    /// members on other nodes come and go; members here stay (those Redis
    /// lost are kept and registered again), except one whose id a newer
    /// connection of its owner took, which is told so.
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Applied {
        if snapshot.version <= self.version {
            return Applied::default();
        }
        self.version = snapshot.version;
        let before: Vec<u64> = self.members.iter().map(|m| m.connection).collect();
        let listed: Vec<u64> = snapshot.entries.iter().map(|e| e.connection).collect();
        let mut old = std::mem::take(&mut self.members);
        let mut members = Vec::with_capacity(snapshot.entries.len());
        for entry in snapshot.entries {
            if self.departed.contains(&entry.connection) {
                continue;
            }
            match old.iter().position(|m| m.connection == entry.connection) {
                Some(index) => members.push(old.swap_remove(index)),
                None => members.push(Member::remote(entry.id, entry.parlor, entry.connection)),
            }
        }
        let mut resync = false;
        for member in old {
            let Some(outbox) = &member.outbox else {
                continue;
            };
            if members.iter().any(|m| m.id == member.id) {
                outbox.replace();
            } else {
                resync = true;
                members.push(member);
            }
        }
        self.departed
            .retain(|connection| listed.contains(connection));
        self.members = members;
        let changed = !self
            .members
            .iter()
            .map(|m| m.connection)
            .eq(before.iter().copied());
        Applied { changed, resync }
    }
}

/// The cluster's side of the rooms: joins Redis accepted, snapshots and
/// frames from other nodes.
impl Rooms {
    /// Mirrors `room` for a join in progress; false when this node holds as
    /// many rooms as it may.
    pub(crate) fn hold(&self, room: &RoomName) -> bool {
        let mut rooms = self.lock();
        if !rooms.contains_key(room) {
            if self.max_rooms != 0 && rooms.len() >= self.max_rooms {
                return false;
            }
            let epoch = self.next_connection.fetch_add(1, Ordering::Relaxed);
            rooms.insert(room.clone(), Room::new(epoch));
        }
        if let Some(entry) = rooms.get_mut(room) {
            entry.interest += 1;
        }
        true
    }

    /// A join in progress ended without a member.
    pub(crate) fn unhold(&self, room: &RoomName) {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get_mut(room) {
            entry.interest = entry.interest.saturating_sub(1);
            if entry.interest == 0 {
                rooms.remove(room);
            }
        }
    }

    /// Adds the member Redis accepted as `connection`, with the snapshot
    /// its join produced, and sends the room its new peer lists.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join_cluster(
        self: &Arc<Self>,
        room: RoomName,
        id: PeerId,
        parlor: bool,
        key: Option<IdKey>,
        connection: u64,
        snapshot: Snapshot,
        outbox: Outbox,
        first: Option<Utf8Bytes>,
    ) -> Membership {
        let mut rooms = self.lock();
        let now = Instant::now();
        let epoch = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let entry = rooms.entry(room.clone()).or_insert_with(|| {
            let mut room = Room::new(epoch);
            room.interest = 1;
            room
        });
        if let Some(first) = first {
            outbox.push(first);
        }
        let member = Member::local(id.clone(), parlor, key, connection, outbox);
        // A newer snapshot may have named it already, as if it were remote.
        match entry
            .members
            .iter_mut()
            .find(|m| m.connection == connection)
        {
            Some(existing) => *existing = member,
            None => entry.members.push(member),
        }
        let applied = entry.apply_snapshot(snapshot);
        let due = entry.members_changed(
            Some(connection),
            now,
            self.peer_list_interval,
            &self.metrics,
        );
        self.schedule_lists(&room, entry, due);
        if applied.resync {
            self.request_resync();
        }
        Membership {
            rooms: Arc::clone(self),
            room,
            id,
            connection,
        }
    }

    fn request_resync(&self) {
        if let Some(link) = &self.cluster {
            link.request_resync();
        }
    }

    /// A room's membership as Redis has it now.
    pub(crate) fn apply_snapshot(&self, name: &RoomName, snapshot: Snapshot) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(name) else {
            return;
        };
        let version = snapshot.version;
        let applied = room.apply_snapshot(snapshot);
        tracing::trace!(room = %name, version, changed = applied.changed, members = room.members.len(), "snapshot");
        if applied.changed {
            let due =
                room.members_changed(None, Instant::now(), self.peer_list_interval, &self.metrics);
            self.schedule_lists(name, room, due);
        }
        if applied.resync {
            self.request_resync();
        }
    }

    /// A frame a member on another node relayed: to this node's members of
    /// the room (all but the sender, or only `to`).
    pub(crate) fn deliver_remote(
        &self,
        name: &RoomName,
        sender: u64,
        to: Option<&str>,
        frame: Utf8Bytes,
    ) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(name) else {
            return;
        };
        let now = Instant::now();
        let mut delivered = 0;
        for index in 0..room.members.len() {
            let member = &room.members[index];
            let wanted = to.is_none_or(|to| member.id.as_str() == to);
            if member.outbox.is_none() || member.connection == sender || !wanted {
                continue;
            }
            room.list_before_frame(index, sender, now, &self.metrics);
            if room.members[index]
                .outbox
                .as_ref()
                .is_some_and(|outbox| outbox.push(frame.clone()))
            {
                delivered += 1;
            }
        }
        self.metrics.relayed(delivered, frame.len());
    }

    /// Every member connected to this node, for Redis to hold again.
    pub(crate) fn local_members(&self) -> Vec<LocalMember> {
        let rooms = self.lock();
        rooms
            .iter()
            .flat_map(|(name, room)| {
                room.members
                    .iter()
                    .filter(|m| m.outbox.is_some())
                    .map(move |m| LocalMember {
                        room: name.clone(),
                        version: room.version,
                        id: m.id.clone(),
                        connection: m.connection,
                        parlor: m.parlor,
                        key: m.key.clone(),
                    })
            })
            .collect()
    }

    /// Closes (as replaced) the members here whose ids Redis gave to
    /// someone else while it could not hear from this node.
    pub(crate) fn evict(&self, connections: &[u64]) {
        if connections.is_empty() {
            return;
        }
        let rooms = self.lock();
        for member in rooms.values().flat_map(|room| room.members.iter()) {
            if let Some(outbox) = &member.outbox {
                if connections.contains(&member.connection) {
                    outbox.replace();
                }
            }
        }
    }
}
