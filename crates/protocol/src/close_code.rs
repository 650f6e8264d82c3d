//! WebSocket close codes the server uses, and the join rejections behind the
//! 44xx ones.
//!
//! Browsers do not expose the HTTP status of a failed WebSocket upgrade, so a
//! server that refused a join with `400`/`409` would leave a browser client
//! with an anonymous "connection failed". Instead the server accepts the
//! upgrade, sends an [`ErrorFrame`](crate::ErrorFrame), and closes with one of
//! the application codes below, whose numbers echo the HTTP status they stand
//! for (4000–4999 is the range RFC 6455 leaves to applications).

use crate::server_message::ErrorCode;

/// The server is shutting down (RFC 6455 "going away").
pub const GOING_AWAY: u16 = 1001;

/// The client kept misbehaving (errors or rate limit) and was disconnected.
pub const POLICY_VIOLATION: u16 = 1008;

/// A frame exceeded the server's hard frame limit, far above the configured
/// message size, so it could not even be read to answer `too-large`.
pub const MESSAGE_TOO_BIG: u16 = 1009;

/// Join refused: invalid room name or peer id (like HTTP 400).
pub const INVALID_JOIN: u16 = 4400;

/// Join refused: the peer id is taken in this room; the connection that had
/// it first keeps it (like HTTP 409).
pub const DUPLICATE_PEER_ID: u16 = 4409;

/// Join refused: the room is full (like HTTP 429).
pub const ROOM_FULL: u16 = 4429;

/// Why the server refused to let a connection join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinRejection {
    /// The room name in the path is not a valid [`RoomName`](crate::RoomName).
    InvalidRoom,
    /// The `_pk` query parameter is not a valid [`PeerId`](crate::PeerId).
    InvalidPeerId,
    /// Another member of the room already has this id.
    DuplicatePeerId,
    /// The room has as many members as the server allows.
    RoomFull,
}

impl JoinRejection {
    /// The close code the server closes the connection with.
    pub const fn close_code(self) -> u16 {
        match self {
            JoinRejection::InvalidRoom | JoinRejection::InvalidPeerId => INVALID_JOIN,
            JoinRejection::DuplicatePeerId => DUPLICATE_PEER_ID,
            JoinRejection::RoomFull => ROOM_FULL,
        }
    }

    /// The rejection an error frame's code stands for, if it is one.
    pub const fn from_error_code(code: ErrorCode) -> Option<Self> {
        Some(match code {
            ErrorCode::InvalidRoom => JoinRejection::InvalidRoom,
            ErrorCode::InvalidPeerId => JoinRejection::InvalidPeerId,
            ErrorCode::DuplicatePeerId => JoinRejection::DuplicatePeerId,
            ErrorCode::RoomFull => JoinRejection::RoomFull,
            _ => return None,
        })
    }

    /// The rejection a close code stands for, if it is one; 4400 does not
    /// say whether the room or the peer id was invalid (the error frame
    /// before it does), and is read as an invalid room.
    pub const fn from_close_code(code: u16) -> Option<Self> {
        Some(match code {
            INVALID_JOIN => JoinRejection::InvalidRoom,
            DUPLICATE_PEER_ID => JoinRejection::DuplicatePeerId,
            ROOM_FULL => JoinRejection::RoomFull,
            _ => return None,
        })
    }

    /// The code of the error frame sent just before closing.
    pub const fn error_code(self) -> ErrorCode {
        match self {
            JoinRejection::InvalidRoom => ErrorCode::InvalidRoom,
            JoinRejection::InvalidPeerId => ErrorCode::InvalidPeerId,
            JoinRejection::DuplicatePeerId => ErrorCode::DuplicatePeerId,
            JoinRejection::RoomFull => ErrorCode::RoomFull,
        }
    }
}
