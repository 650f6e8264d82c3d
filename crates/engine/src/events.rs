//! The one stream of typed events the engine emits.
//!
//! Every step of each peer's progress is an event, so the desktop app's
//! progress view and `parlor-peer`'s JSON lines show exactly the same thing.
//! Serialized, an event is one flat JSON object with an `"event"` field in
//! kebab-case and the time it happened in `at_ms` (milliseconds since the Unix
//! epoch).

use std::time::{SystemTime, UNIX_EPOCH};

use parlor_protocol::{MessageId, SafetyCode};
use parlor_session::{IceConnectionState, Step};
use serde::Serialize;

/// One thing that happened, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Stamps `kind` with the current wall-clock time.
    pub fn now(kind: EventKind) -> Self {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self { at_ms, kind }
    }
}

/// How the selected ICE candidate pair reaches the other peer, for people:
/// direct on the LAN, direct through NAT, or relayed by a TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// No NAT between: same machine or same network.
    Lan,
    /// Across a NAT (a server- or peer-reflexive address), still peer to peer.
    Nat,
    /// Through a TURN relay.
    Relay,
}

/// Which way a transfer's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferDirection {
    /// We send.
    Send,
    /// We receive.
    Receive,
}

/// What happened. Variants name each step in the order a connection goes
/// through them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// Who we are in this room: our certificate's fingerprint, which others
    /// see as ours and verify. The first event of every room.
    Identity {
        /// SHA-256 fingerprint, `ab:cd:…`.
        fingerprint: String,
    },
    /// Connected to the signaling server and joined the room.
    SignalingConnected {
        /// The room's link, to share with others.
        link: String,
        /// Our peer id in the room.
        peer_id: String,
    },
    /// Lost the signaling server; peer connections that are up stay up.
    SignalingDisconnected {
        /// Why, for people.
        reason: String,
        /// When the next attempt to reconnect starts.
        retry_in_ms: u64,
    },
    /// Another member is in the room.
    PeerJoined {
        /// Its peer id.
        peer: String,
        /// Whether it declared itself a Parlor client.
        parlor: bool,
    },
    /// A negotiation step with one peer (offer sent, answer received, a
    /// collision resolved, ICE restart...).
    Negotiation {
        /// The remote peer.
        peer: String,
        /// The step (`offer-sent`, `answer-received`...).
        step: Step,
        /// More about it, for people (why an ICE restart, what failed).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// ICE connectivity changed (`checking`, `connected`, `disconnected`, `failed`...).
    Ice {
        /// The remote peer.
        peer: String,
        /// The new ICE connection state.
        state: IceConnectionState,
    },
    /// The path ICE selected to the peer.
    PathSelected {
        /// The remote peer.
        peer: String,
        /// Direct on the LAN, through NAT, or relayed.
        path: PathKind,
        /// Local candidate type (`host`, `srflx`, `prflx`, `relay`).
        local: String,
        /// Remote candidate type.
        remote: String,
        /// For a relayed path, the relay's address.
        #[serde(skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
    },
    /// No network path to the peer worked in time. The engine keeps trying
    /// (the connection is rebuilt from scratch at once, and this is said
    /// again if the next attempt fails too).
    PeerUnreachable {
        /// The remote peer.
        peer: String,
        /// Why, for people.
        reason: String,
        /// How long the next attempt has before it is reported too.
        retry_in_ms: u64,
    },
    /// The DTLS handshake finished: the connection is encrypted and up.
    DtlsConnected {
        /// The remote peer.
        peer: String,
    },
    /// The chat channel is open and both sides said who they are.
    PeerConnected {
        /// The remote peer.
        peer: String,
        /// Whether the remote is a Parlor peer (or an old client).
        parlor: bool,
        /// Its display name, if it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Its certificate's fingerprint (`ab:cd:…`): who it is.
        fingerprint: String,
        /// The code both sides of this connection see; if the two people
        /// read the same, nobody sits between them.
        safety_code: SafetyCode,
    },
    /// A chat message arrived.
    Message {
        /// The sender's peer id.
        from: String,
        /// The sender's display name, if known.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The text, always to be shown as text.
        text: String,
        /// The sender's message id (Parlor peers only).
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// A message we sent is queued for a peer: it goes out as soon as the
    /// chat channel to that peer is open.
    Queued {
        /// Our message id, as [`Room::send`](crate::Room::send) returned it.
        id: MessageId,
        /// The peer it is for.
        to: String,
    },
    /// A message we sent has nobody connected to take it: it is kept, and
    /// goes out when someone it is owed to connects (`owed_to` people seen
    /// in the room lately; 0: whoever connects next).
    Waiting {
        /// Our message id.
        id: MessageId,
        /// How many identities it is owed to.
        owed_to: usize,
    },
    /// A peer acknowledged one of our messages (Parlor peers only; old
    /// clients cannot acknowledge).
    Delivered {
        /// Our message id.
        id: MessageId,
        /// The peer that acknowledged it.
        to: String,
    },
    /// One of our messages could not be sent to an old client, and will not
    /// be retried.
    SendFailed {
        /// Our message id.
        id: MessageId,
        /// The peer it was for.
        to: String,
        /// What went wrong.
        reason: String,
    },
    /// A peer offers files: take them with
    /// [`Room::accept_files`](crate::Room::accept_files) or turn them down
    /// (taken at once with [`RoomConfig::accept_files`](crate::RoomConfig::accept_files)).
    FileOffered {
        /// The peer.
        peer: String,
        /// The transfer's id.
        transfer: String,
        /// Each file's name (as the peer gave it) and size.
        files: Vec<(String, u64)>,
        /// Bytes in all.
        total_bytes: u64,
    },
    /// How far a transfer got (at most four times a second).
    FileProgress {
        /// The peer.
        peer: String,
        /// The transfer's id.
        transfer: String,
        /// Which way.
        direction: TransferDirection,
        /// Bytes sent (handed to the connection) or received and verified.
        bytes: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A file arrived whole, matched its hash, and has its name.
    FileReceived {
        /// The peer.
        peer: String,
        /// The transfer's id.
        transfer: String,
        /// Index of the file in the offer.
        file: u32,
        /// Where it is.
        path: String,
        /// Its size.
        size: u64,
        /// Its BLAKE3 hash, hex.
        hash: String,
    },
    /// The peer has every file of a transfer of ours.
    FileSent {
        /// The peer.
        peer: String,
        /// The transfer's id.
        transfer: String,
    },
    /// A transfer ended without all its files: declined, cancelled by
    /// either side, a file that changed on disk or arrived damaged.
    FileFailed {
        /// The peer.
        peer: String,
        /// The transfer's id.
        transfer: String,
        /// Why, for people.
        reason: String,
    },
    /// The peer's connection broke and is being set up again.
    PeerReconnecting {
        /// The remote peer.
        peer: String,
        /// Why, for people.
        reason: String,
    },
    /// The peer left the room.
    PeerLeft {
        /// The remote peer.
        peer: String,
    },
    /// Something went wrong; `message` says what in words a person can act on.
    Error {
        /// The peer it concerns, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// What happened.
        message: String,
    },
    /// The signaling server refused to let us back into the room after a
    /// reconnection (it filled up meanwhile); the room is left. A refused
    /// first join is [`Room::join`](crate::Room::join)'s error instead.
    JoinRefused {
        /// The server's reason.
        reason: String,
        /// Whether the room was full (rather than its name or our id invalid).
        room_full: bool,
    },
    /// We left the room; no more events follow.
    Left,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_an_event_field() {
        let event = Event {
            at_ms: 7,
            kind: EventKind::Message {
                from: "a".into(),
                name: None,
                text: "hi".into(),
                id: None,
            },
        };
        let json = serde_json::to_value(&event).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"at_ms":7,"event":"message","from":"a","text":"hi"})
        );
    }
}
