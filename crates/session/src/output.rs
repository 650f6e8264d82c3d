//! What a [`PeerSession`](crate::PeerSession) asks its driver to do and
//! tells it happened.

use std::time::Duration;

use parlor_negotiation::{Event as NegotiationEvent, IceConnectionState, SignalMessage, StackOp};
use parlor_protocol::{Frame, MessageId};

use crate::bounds::DropReason;
use crate::reach::NoPath;
use crate::step::Step;

/// A data channel, as the driver names it: unique for the life of the
/// session, across connections (the driver counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u64);

/// How a stack operation ([`Output::Stack`]) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationOutcome {
    /// A create (offer or answer) made this SDP.
    Created(String),
    /// Any other operation succeeded.
    Done,
    /// The operation failed with the stack's error text.
    Failed(String),
}

/// One thing for the driver to do, or to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this negotiation message to the peer through the signaling server.
    Signal(SignalMessage),
    /// Run this operation on the peer connection and report its outcome with
    /// [`PeerSession::handle_operation`](crate::PeerSession::handle_operation).
    /// At most one is outstanding. For
    /// [`StackOp::RecreateConnection`], close the connection and build a fresh
    /// one with its own `chat` channel; events of the old one are stale.
    Stack(StackOp),
    /// Send `text` on a data channel. If the send fails, report it with
    /// [`PeerSession::handle_send_failed`](crate::PeerSession::handle_send_failed),
    /// passing `message` back.
    Transmit {
        /// The channel to send on.
        channel: ChannelId,
        /// The text.
        text: String,
        /// The chat message it carries, if any (not for `info` or acks).
        message: Option<MessageId>,
    },
    /// Something to report.
    Event(SessionEvent),
    /// Nothing more to do until an input arrives or, if given, until this
    /// time, when [`PeerSession::handle_timeout`](crate::PeerSession::handle_timeout)
    /// is due.
    Wait(Option<Duration>),
}

/// What happened with the peer, for the engine's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A negotiation step, with a detail for people where there is one.
    Negotiation {
        /// The step.
        step: Step,
        /// More about it (why an ICE restart, what failed).
        detail: Option<String>,
    },
    /// A negotiation event not worth showing, for debug logs.
    Trace(NegotiationEvent),
    /// The ICE connection state changed.
    Ice(IceConnectionState),
    /// The peer connection (ICE and DTLS) came up: a path was selected.
    TransportUp,
    /// The peer connection went down.
    TransportDown,
    /// No network path to the peer worked within the attempt's time; the
    /// session keeps trying (it rebuilds the connection at once and gives
    /// the next attempt `retry_in` before it reports again).
    Unreachable {
        /// Why, from the candidates each side offered.
        reason: NoPath,
        /// How long the next attempt has before it is reported too.
        retry_in: Duration,
    },
    /// The connection is being rebuilt from scratch.
    Reconnecting {
        /// Why, for people.
        reason: String,
    },
    /// The chat channel is open and the peer said who it is.
    Connected {
        /// Whether it is a Parlor peer (else an old client: plain text, no
        /// acknowledgements).
        parlor: bool,
        /// The name it gave, if any.
        name: Option<String>,
    },
    /// A chat message from the peer, shown once even if it was re-sent.
    Message {
        /// The text.
        text: String,
        /// The sender's id for it (Parlor peers only).
        id: Option<MessageId>,
        /// The sender's display name, if it gave one.
        name: Option<String>,
    },
    /// A file transfer control frame from the peer (an offer, or an
    /// answer about one), for the driver's transfer layer.
    FileControl(Frame),
    /// The peer acknowledged one of our messages.
    Delivered {
        /// Our message.
        id: MessageId,
    },
    /// The peer is dropped (another identity than expected, or over a
    /// bound); the session does nothing more: the driver closes the
    /// connection and tells the person why.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// One of our messages could not be sent and will not be retried (an
    /// old client cannot acknowledge, so a failed send is final).
    SendFailed {
        /// Our message.
        id: MessageId,
        /// The stack's error text.
        reason: String,
    },
}
