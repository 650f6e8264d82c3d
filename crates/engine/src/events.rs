//! The one stream of typed events the engine emits.
//!
//! Every step of each peer's progress is an event, so the desktop app's
//! progress view and `parlor-peer`'s JSON lines show exactly the same thing.
//! Serialized, an event is one flat JSON object with an `"event"` field in
//! kebab-case and the time it happened in `at_ms` (milliseconds since the Unix
//! epoch).

use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Both ends are host candidates: same machine or same network.
    Lan,
    /// A server-reflexive or peer-reflexive address: through NAT, still direct.
    Nat,
    /// Through a TURN relay.
    Relay,
}

/// What happened. Variants name each step in the order a connection goes
/// through them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
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
    /// A negotiation step with one peer (offer sent, answer received, glare
    /// resolved, ICE restart...).
    Negotiation {
        /// The remote peer.
        peer: String,
        /// The step, as a short kebab-case word (`offer-sent`, `answer-received`...).
        step: String,
    },
    /// ICE connectivity changed (`checking`, `connected`, `disconnected`, `failed`...).
    Ice {
        /// The remote peer.
        peer: String,
        /// The new ICE connection state.
        state: String,
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
        id: Option<String>,
    },
    /// A message we sent was queued for a peer.
    Sent {
        /// Our message id.
        id: String,
        /// The peer it went to.
        to: String,
    },
    /// A peer acknowledged one of our messages.
    Delivered {
        /// Our message id.
        id: String,
        /// The peer that acknowledged it.
        to: String,
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
    /// The signaling server refused to let us into the room (full, or an
    /// invalid name); the room is left.
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
