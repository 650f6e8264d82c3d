//! Parlor's peer engine: joins a room on a signaling server, connects to every
//! other member over a WebRTC data channel with the perfect-negotiation
//! pattern, keeps those connections alive, and reports every step as one
//! stream of typed [`Event`]s.
//!
//! The desktop app is a window onto this engine and `parlor-peer` is the same
//! engine in a terminal, so both show exactly what happens here.
//!
//! Layers, one module each:
//! - [`signaling`]: the WebSocket to the room, with reconnection;
//! - `peer`: one task per remote member, driving a webrtc peer connection
//!   with the sans-IO negotiation core (`parlor-negotiation`);
//! - [`conversation`]: the chat protocol on the data channel;
//! - `room`: the room actor tying them together.
//!
//! ```no_run
//! # async fn demo() -> Result<(), parlor_engine::EngineError> {
//! let link = "parlor://join/abc?server=ws%3A%2F%2F127.0.0.1%3A1999".parse()?;
//! let (room, mut events) = parlor_engine::Room::join(parlor_engine::RoomConfig::new(link))?;
//! room.send("hello");
//! while let Some(event) = events.recv().await {
//!     println!("{}", serde_json::to_string(&event).unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

mod chat;
mod config;
mod conversation;
mod events;
mod ice_servers;
mod link;
mod peer;
mod random;
mod room;
mod signaling;
mod wire;

pub use config::RoomConfig;
pub use events::{Event, EventKind, PathKind};
pub use link::{LinkError, RoomLink};
pub use parlor_protocol::{PeerId, RoomName, ServerUrl};
pub use parlor_transport::{IceServer, Tuning};
pub use room::Room;

/// Why a room could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The room link is malformed.
    #[error(transparent)]
    Link(#[from] LinkError),
}
