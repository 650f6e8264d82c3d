//! Frames the server itself writes to a client (everything else a client
//! receives is another member's message, relayed with a `from` field).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ice::IceServer;
use crate::token::PeerId;

/// Field the server writes into every relayed message: the sender's id.
///
/// The server overwrites whatever the client put there, so a receiver can
/// trust it.
pub const FROM_FIELD: &str = "from";

/// Field a client sets to deliver a message to one member only; without it
/// the message goes to every other member of the room.
pub const TO_FIELD: &str = "to";

/// A frame written by the server, told apart by its `type` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// `{"type":"info:peerlist","peers":[...],"parlor":[...]}`: the room's
    /// other members, sent to everyone on every join and leave.
    #[serde(rename = "info:peerlist")]
    PeerList(PeerList),
    /// `{"type":"error","code":"...","message":"..."}`: a frame the server
    /// did not relay, or why a join was refused.
    #[serde(rename = "error")]
    Error(ErrorFrame),
    /// `{"type":"ice-servers","iceServers":[...],"expires":<unix secs>}`:
    /// the ICE servers a member should build its peer connections with,
    /// TURN credentials of its own included. Sent only to members that
    /// declared themselves Parlor clients, before their first peer list,
    /// and again before the credentials expire.
    #[serde(rename = "ice-servers")]
    IceServers(IceServersFrame),
}

/// A member's ICE servers, pushed over the signaling socket: credentials
/// only members get, so the open `/turn` endpoint need not hand them out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServersFrame {
    /// The servers, shaped like the `/turn` answer's (STUN and TURN).
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials stop being accepted for new allocations,
    /// in seconds since the Unix epoch; absent when they do not expire
    /// (static credentials). The server sends a fresh frame well before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

/// The other members of the room, as seen by the receiving member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// Every other member, in join order, oldest first, so all members agree
    /// on who came first.
    pub peers: Vec<PeerId>,
    /// The members of `peers` that declared themselves Parlor clients (with
    /// `parlor=1`), in the same order. Absent when the server speaks only the
    /// old protocol, hence the empty default.
    #[serde(default)]
    pub parlor: Vec<PeerId>,
}

/// Why the server refused a frame or a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// Machine-readable reason; stable across versions.
    pub code: ErrorCode,
    /// Human-readable detail, for logs and developers; not stable.
    pub message: String,
}

/// Machine-readable reason in an [`ErrorFrame`].
///
/// The kebab-case strings are part of the wire protocol: clients match on
/// them, and the server's metrics label errors with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text frame is not JSON.
    NotJson,
    /// The frame is JSON but not an object, so it cannot carry `from`/`to`.
    NotObject,
    /// The frame is larger than the server's maximum message size.
    TooLarge,
    /// The frame is binary; the protocol is JSON text only.
    BinaryFrame,
    /// `to` names no other member of the room.
    UnknownPeer,
    /// The client sends faster than the server's rate limit.
    RateLimited,
    /// Join refused: the room name in the URL is not a valid token.
    InvalidRoom,
    /// Join refused: the `_pk` peer id is not a valid token.
    InvalidPeerId,
    /// Join refused: another connection in the room already has this id.
    DuplicatePeerId,
    /// Join refused: the room has as many members as the server allows.
    RoomFull,
}

impl ErrorCode {
    /// Every code, for exhaustive listings such as metrics.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NotJson,
        ErrorCode::NotObject,
        ErrorCode::TooLarge,
        ErrorCode::BinaryFrame,
        ErrorCode::UnknownPeer,
        ErrorCode::RateLimited,
        ErrorCode::InvalidRoom,
        ErrorCode::InvalidPeerId,
        ErrorCode::DuplicatePeerId,
        ErrorCode::RoomFull,
    ];

    /// The code's wire string, e.g. `"not-json"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotJson => "not-json",
            ErrorCode::NotObject => "not-object",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::BinaryFrame => "binary-frame",
            ErrorCode::UnknownPeer => "unknown-peer",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::InvalidRoom => "invalid-room",
            ErrorCode::InvalidPeerId => "invalid-peer-id",
            ErrorCode::DuplicatePeerId => "duplicate-peer-id",
            ErrorCode::RoomFull => "room-full",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ServerMessage {
    /// Shorthand for an error frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error(ErrorFrame {
            code,
            message: message.into(),
        })
    }

    /// The frame as JSON text, ready to send.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every field is a string, a
        // number, a list of them or a unit enum.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_list_wire_form() {
        let list = ServerMessage::PeerList(PeerList {
            peers: vec!["a".parse().unwrap(), "b".parse().unwrap()],
            parlor: vec!["b".parse().unwrap()],
        });
        assert_eq!(
            list.to_json(),
            r#"{"type":"info:peerlist","peers":["a","b"],"parlor":["b"]}"#
        );
    }

    #[test]
    fn old_server_peer_list_without_parlor_field_parses() {
        let parsed: ServerMessage =
            serde_json::from_str(r#"{"type":"info:peerlist","peers":["x"]}"#).unwrap();
        assert_eq!(
            parsed,
            ServerMessage::PeerList(PeerList {
                peers: vec!["x".parse().unwrap()],
                parlor: vec![],
            })
        );
    }

    #[test]
    fn ice_servers_frame_wire_form() {
        let frame = ServerMessage::IceServers(IceServersFrame {
            ice_servers: vec![IceServer {
                urls: vec!["turn:turn.example:3478".into()],
                username: Some("1700000600:alice".into()),
                credential: Some("c2VjcmV0".into()),
            }],
            expires: Some(1_700_000_600),
        });
        assert_eq!(
            frame.to_json(),
            r#"{"type":"ice-servers","iceServers":[{"urls":["turn:turn.example:3478"],"username":"1700000600:alice","credential":"c2VjcmV0"}],"expires":1700000600}"#
        );
    }

    #[test]
    fn ice_servers_frame_without_expiry_parses() {
        let parsed: ServerMessage = serde_json::from_str(
            r#"{"type":"ice-servers","iceServers":[{"urls":"stun:stun.example:3478"}]}"#,
        )
        .unwrap();
        let ServerMessage::IceServers(frame) = parsed else {
            panic!("not an ice-servers frame: {parsed:?}");
        };
        assert_eq!(frame.expires, None);
        assert_eq!(frame.ice_servers[0].urls, vec!["stun:stun.example:3478"]);
    }

    #[test]
    fn error_codes_serialize_as_their_wire_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
        assert_eq!(
            ServerMessage::error(ErrorCode::UnknownPeer, "no such peer").to_json(),
            r#"{"type":"error","code":"unknown-peer","message":"no such peer"}"#
        );
    }
}
