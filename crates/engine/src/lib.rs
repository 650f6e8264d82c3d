//! Parlor's peer engine: joins a room on a signaling server, connects to every
//! other member over a WebRTC data channel with the perfect-negotiation
//! pattern, keeps those connections alive, and reports every step as one
//! stream of typed [`Event`]s.
//!
//! The desktop app is a window onto this engine and `parlor-peer` is the same
//! engine in a terminal, so both show exactly what happens here.
//!
//! Layers, one module each:
//! - `signaling`: the WebSocket to the room, with reconnection;
//! - `peer`: one task per remote member, the I/O around its sans-IO
//!   `PeerSession` (`parlor-session`: negotiation, chat, channel policy,
//!   timers) on a webrtc-rs peer connection, with `stack` holding the
//!   webrtc-rs plumbing (callbacks forwarded, one operation run);
//! - `room`: the room actor tying them together.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let link = "parlor://join/abc?server=ws%3A%2F%2F127.0.0.1%3A1999".parse()?;
//! let (room, mut events) = parlor_engine::Room::join(parlor_engine::RoomConfig::new(link)).await?;
//! let id = room.send("hello").await?;
//! while let Some(event) = events.recv().await {
//!     println!("{}", serde_json::to_string(&event).unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

mod config;
mod events;
mod ice_servers;
mod ledger;
mod link;
mod log_limit;
mod network;
mod peer;
mod random;
mod room;
mod signaling;
mod stack;
mod transfers;

pub use config::{DEFAULT_MAX_MEMBERS, RoomConfig};
pub use events::{Event, EventKind, PathKind, TransferDirection};
pub use ledger::REMEMBER_MEMBERS_FOR;
pub use link::{LinkError, RoomLink};
pub use log_limit::LogRateLimit;
pub use parlor_files::FileError;
pub use parlor_protocol::{
    IceServer, JoinRejection, MessageId, PeerId, RoomName, SafetyCode, ServerUrl, fingerprint_hex,
    sanitize_name,
};
pub use parlor_session::{IceConnectionState, Step};
pub use parlor_store::{
    DeliveryState, RecipientState, Recovered, RoomRecord, Store, StoreError, StoredMessage,
};
pub use parlor_transport::{Identity, IdentityError, Tuning};
pub use room::Room;

/// Why a room could not be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The room has as many members as its server allows.
    #[error("the room is full ({reason})")]
    RoomFull {
        /// The server's words.
        reason: String,
    },
    /// Another member of the room has our peer id.
    #[error("someone in the room already uses this peer id ({reason})")]
    DuplicateId {
        /// The server's words.
        reason: String,
    },
    /// The server refused the link's room name or our peer id.
    #[error("the server refused the room name or peer id ({reason})")]
    InvalidLink {
        /// The server's words.
        reason: String,
    },
    /// No certificate could be made for this room.
    #[error("cannot make an identity for this room: {0}")]
    Identity(String),
    /// No message store could be made for this room.
    #[error("cannot keep this room's messages: {0}")]
    Store(String),
    /// The signaling server could not be reached or dropped the connection
    /// before letting us in.
    #[error("cannot reach the signaling server {server}: {reason}")]
    ServerUnreachable {
        /// The server the link names.
        server: String,
        /// What went wrong.
        reason: String,
    },
}

impl JoinError {
    fn refused(rejection: JoinRejection, reason: String) -> Self {
        match rejection {
            JoinRejection::RoomFull => JoinError::RoomFull { reason },
            JoinRejection::DuplicatePeerId => JoinError::DuplicateId { reason },
            JoinRejection::InvalidRoom | JoinRejection::InvalidPeerId => {
                JoinError::InvalidLink { reason }
            }
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The room was left.
    #[error("the room was left")]
    Left,
    /// A peer has not acknowledged the messages already sent to it (its
    /// line is too slow, or it is stuck); wait before sending more. Nothing
    /// was sent, to anyone.
    #[error(
        "{peer} has not acknowledged {} KiB of your messages yet; wait before sending more",
        unacked_bytes / 1024
    )]
    Backlogged {
        /// The peer that is behind.
        peer: String,
        /// Bytes of our messages it has not acknowledged.
        unacked_bytes: usize,
    },
}
