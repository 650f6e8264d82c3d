//! One remote peer, without I/O.
//!
//! [`PeerSession`] holds everything Parlor decides about one peer in a room:
//! perfect negotiation (the `parlor-negotiation` core), the chat
//! conversation on the data channels (the `info` handshake, ids,
//! acknowledgements, re-sending, de-duplication), which channel messages go
//! out on, and every timer. Nothing here touches sockets, tasks or clocks,
//! so the engine's driver (`parlor-engine`'s `peer` module) and the
//! simulation in `tests/` run exactly the same decisions: the simulation on
//! simulated time over fake stacks, the engine over webrtc-rs.
//!
//! The shape follows str0m's `Rtc`: inputs go in through `handle_*(…, now)`
//! and everything that comes out — negotiation messages, stack operations,
//! channel sends, events and the next timeout — comes out of one call,
//! [`PeerSession::poll_output`], in order.

mod bounds;
mod conversation;
mod output;
mod reach;
mod session;
mod step;

pub use bounds::{
    BURST, DropReason, MAX_FRAME_BYTES, MAX_UNACKED_BYTES, MESSAGES_PER_SECOND, SEEN_WINDOW,
};
pub use output::{ChannelId, OperationOutcome, Output, SessionEvent};
pub use reach::NoPath;
pub use session::{PeerSession, SessionConfig};
pub use step::Step;

/// How long the session waits for a peer's `info` before taking it for an
/// old client.
pub use conversation::INFO_TIMEOUT;
/// The negotiation types a driver needs, so it depends on one crate.
pub use parlor_negotiation::{
    ConnectionState, Event as NegotiationEvent, IceCandidate, IceConnectionState, SdpType,
    SessionDescription, SignalMessage, StackOp,
};
