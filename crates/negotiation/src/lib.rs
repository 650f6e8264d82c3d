//! Perfect negotiation for one pair of WebRTC peers, without I/O.
//!
//! This crate decides *what* to do with a peer connection during
//! offer/answer negotiation; the driver (`parlor-engine`) does it with
//! webrtc-rs and reports back. Nothing here touches sockets, tasks, threads
//! or clocks, so every decision can be tested step by step
//! (`tests/scenarios.rs`) and in simulation: `parlor-session`'s simulation
//! runs this core inside the real per-peer session, on fake stacks that
//! refuse what webrtc-rs refuses. The shape follows quinn-proto and str0m:
//! `handle_*` methods take inputs, `poll_*` methods give outputs.
//!
//! It implements MDN's perfect negotiation pattern with the changes
//! webrtc-rs 0.21 requires: the polite peer rolls back its offer explicitly
//! before applying a colliding remote offer, every description applied
//! locally is the one the stack just created, and remote candidates wait
//! until a remote description is applied. On top of that it survives old
//! clients that drop early messages (unanswered offers are re-sent with
//! their candidates, with back-off), ICE failures (glare-safe ICE restart)
//! and a remote that starts over with a new peer connection (the local
//! connection is recreated, since webrtc-rs cannot move to a new DTLS
//! session).
//!
//! # Driver contract
//!
//! - Create one [`Negotiator`] per remote peer and per peer connection,
//!   with the [`Role`] from [`role_toward`].
//! - Feed every input with `now`, a [`Duration`](std::time::Duration) on one
//!   monotonic time line of your choice (e.g. time since the driver started).
//! - After every `handle_*` call, drain [`Negotiator::poll_action`] and
//!   execute the actions in order; drain [`Negotiator::poll_event`] for the
//!   UI; and (re)arm one timer for [`Negotiator::poll_timeout`] that calls
//!   [`Negotiator::handle_timeout`].
//! - [`Action::Stack`] operations are outstanding one at a time: run it,
//!   then report exactly one outcome: [`Negotiator::handle_description_created`]
//!   for a create, [`Negotiator::handle_operation_done`] otherwise, or
//!   [`Negotiator::handle_operation_failed`]. No other stack operation comes
//!   out before that report. [`Action::Send`] is fire-and-forget.
//! - Forward the stack's events (they fire on webrtc-rs's internal task, so
//!   go through a channel): `on_negotiation_needed` →
//!   [`Negotiator::handle_negotiation_needed`], `on_ice_candidate` →
//!   [`Negotiator::handle_local_candidate`], ICE and peer connection state
//!   changes → [`Negotiator::handle_ice_state`] and
//!   [`Negotiator::handle_connection_state`].
//! - Parse every negotiation message from the remote (with or without a
//!   top-level `type`) into a [`SignalMessage`] for
//!   [`Negotiator::handle_remote_message`]; call [`Negotiator::remote_reset`]
//!   when the signaling server says the peer left and came back.
//! - On [`StackOp::RecreateConnection`], close the connection, build a fresh
//!   one set up like the first (same configuration, same data channel), and
//!   ignore events still coming from the old one. Creating the data channel
//!   makes the stack fire `negotiationneeded` again: forward it as usual.
//! - An `Err` from a completion means the driver broke this contract; it is
//!   a bug in the driver, not a network condition.

mod error;
mod event;
mod negotiator;
mod role;
mod sdp;
mod timers;

pub use error::Error;
pub use event::{
    Action, ConnectionState, DroppedCandidateReason, Event, IceConnectionState,
    IgnoredAnswerReason, OperationKind, RestartReason, SignalingState, StackOp,
};
pub use negotiator::Negotiator;
/// The negotiation messages live with their wire form in `parlor-protocol`.
pub use parlor_protocol::{IceCandidate, SdpType, SessionDescription, SignalMessage};
pub use role::{Role, role_toward};
pub use timers::Config;
