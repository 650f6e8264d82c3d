//! What the core asks the driver to do, and what it reports for the UI.

use crate::{IceCandidate, SessionDescription, SignalMessage};

/// Something the driver must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run this operation on the peer connection, then report its outcome
    /// with [`Negotiator::handle_description_created`](crate::Negotiator::handle_description_created),
    /// [`Negotiator::handle_operation_done`](crate::Negotiator::handle_operation_done) or
    /// [`Negotiator::handle_operation_failed`](crate::Negotiator::handle_operation_failed).
    /// At most one is outstanding at a time.
    Stack(StackOp),
    /// Send this message to the remote peer through the signaling relay.
    /// Fire and forget: nothing is reported back.
    Send(SignalMessage),
}

/// An operation on the peer connection (the JS "operations chain", made explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackOp {
    /// `create_offer`, with `ice_restart` in the offer options.
    CreateOffer {
        /// Ask for fresh ICE credentials.
        ice_restart: bool,
    },
    /// `create_answer`.
    CreateAnswer,
    /// `set_local_description` with exactly this description, which is the
    /// one the stack just created (webrtc-rs rejects anything else).
    SetLocalDescription(SessionDescription),
    /// `set_remote_description`.
    SetRemoteDescription(SessionDescription),
    /// `set_local_description(RTCSessionDescription::rollback(None))`:
    /// webrtc-rs never rolls back implicitly.
    RollbackLocalDescription,
    /// `add_ice_candidate`.
    AddRemoteCandidate(IceCandidate),
    /// Close the peer connection and build a fresh one, set up like the
    /// first (same configuration, same data channel). webrtc-rs cannot
    /// renegotiate into a new DTLS session, so a remote that started over
    /// needs a new connection on our side too.
    RecreateConnection,
}

/// The kind of a [`StackOp`], without its payload (for events and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// [`StackOp::CreateOffer`].
    CreateOffer,
    /// [`StackOp::CreateAnswer`].
    CreateAnswer,
    /// [`StackOp::SetLocalDescription`].
    SetLocalDescription,
    /// [`StackOp::SetRemoteDescription`].
    SetRemoteDescription,
    /// [`StackOp::RollbackLocalDescription`].
    RollbackLocalDescription,
    /// [`StackOp::AddRemoteCandidate`].
    AddRemoteCandidate,
    /// [`StackOp::RecreateConnection`].
    RecreateConnection,
}

impl StackOp {
    /// The kind of this operation.
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::CreateOffer { .. } => OperationKind::CreateOffer,
            Self::CreateAnswer => OperationKind::CreateAnswer,
            Self::SetLocalDescription(_) => OperationKind::SetLocalDescription,
            Self::SetRemoteDescription(_) => OperationKind::SetRemoteDescription,
            Self::RollbackLocalDescription => OperationKind::RollbackLocalDescription,
            Self::AddRemoteCandidate(_) => OperationKind::AddRemoteCandidate,
            Self::RecreateConnection => OperationKind::RecreateConnection,
        }
    }
}

/// The signaling state as the core tracks it from completed operations
/// (webrtc-rs has no getter for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalingState {
    /// No offer/answer exchange in progress.
    Stable,
    /// Our offer is set locally and waits for an answer.
    HaveLocalOffer,
    /// The remote offer is set and we owe an answer.
    HaveRemoteOffer,
}

/// ICE connection state, as reported by the stack. Serialized as the
/// lower-case names WebRTC gives them (`checking`, `connected`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IceConnectionState {
    /// Not started.
    New,
    /// Checking candidate pairs.
    Checking,
    /// A pair works.
    Connected,
    /// Checking finished and a pair works.
    Completed,
    /// Connectivity was lost; it may come back.
    Disconnected,
    /// Connectivity is lost for good until ICE restarts.
    Failed,
    /// The connection was closed.
    Closed,
}

impl IceConnectionState {
    /// Every state, for checking a table of labels against.
    pub const ALL: [IceConnectionState; 7] = [
        IceConnectionState::New,
        IceConnectionState::Checking,
        IceConnectionState::Connected,
        IceConnectionState::Completed,
        IceConnectionState::Disconnected,
        IceConnectionState::Failed,
        IceConnectionState::Closed,
    ];
}

/// Peer connection state, as reported by the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not started.
    New,
    /// ICE or DTLS in progress.
    Connecting,
    /// ICE and DTLS are up.
    Connected,
    /// Transport lost; it may come back.
    Disconnected,
    /// Transport failed.
    Failed,
    /// The connection was closed.
    Closed,
}

/// Why an ICE restart was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartReason {
    /// ICE (or the peer connection) reported `failed`.
    Failed,
    /// ICE stayed `disconnected` longer than the grace period.
    DisconnectedTooLong,
}

/// Why a received answer was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoredAnswerReason {
    /// No local offer is waiting (stable, or our offer was rolled back).
    NoOfferPending,
    /// It answers an earlier offer: an older or identical description of
    /// the same remote connection, or it keeps the old ICE credentials in
    /// reply to an ICE restart.
    Outdated,
}

/// Why a remote candidate was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DroppedCandidateReason {
    /// Its ufrag is not that of the current remote description: it belongs
    /// to an ignored offer, an earlier ICE generation or an earlier session.
    NotCurrent,
    /// Too many candidates were waiting for a remote description.
    QueueFull,
}

/// A step of the negotiation, for the progress UI and for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Our offer was set locally and sent.
    OfferSent {
        /// Whether it restarts ICE.
        ice_restart: bool,
    },
    /// Our unanswered offer was sent again with its candidates.
    OfferResent {
        /// How many re-sends so far, starting at 1.
        attempt: u32,
    },
    /// Our offer stayed unanswered after every re-send; the core stops
    /// re-sending and waits for the remote to act.
    OfferUnanswered,
    /// A remote offer arrived.
    OfferReceived,
    /// Our answer was set locally and sent.
    AnswerSent,
    /// The remote sent again the offer we already answered (it did not see
    /// our answer in time); our answer and candidates were sent again
    /// without touching the stack, so both sides keep the same descriptions.
    AnswerResent,
    /// A remote offer older than the current remote description was ignored.
    IgnoredOutdatedOffer,
    /// A remote answer arrived.
    AnswerReceived,
    /// The remote answer was applied: the exchange is complete.
    AnswerApplied,
    /// Polite side of a collision: our offer is rolled back to accept theirs.
    RolledBackForGlare,
    /// Impolite side of a collision: their offer is ignored, ours stands.
    IgnoredCollidingOffer,
    /// A remote answer was not applied.
    IgnoredAnswer(IgnoredAnswerReason),
    /// A remote candidate arrived before a description it can be added to.
    CandidateQueued,
    /// A remote candidate was discarded.
    CandidateDropped(DroppedCandidateReason),
    /// The remote finished trickling candidates.
    RemoteEndOfCandidates,
    /// The core starts an ICE restart.
    IceRestart(RestartReason),
    /// The remote started over with a new peer connection (new SDP session)
    /// or the signaling server said it left and came back; the connection
    /// is recreated.
    RemoteRestarted,
    /// ICE connected but DTLS did not complete in time; the connection is
    /// made again from scratch.
    HandshakeTimedOut,
    /// ICE has been trying for [`Config::connect_timeout`](crate::Config::connect_timeout)
    /// (or, for a retry, its backed-off wait) without connecting: no path
    /// works yet. The connection is made again from scratch (fresh sockets,
    /// addresses and relay allocations) and tried again; the driver tells
    /// the person, who would otherwise wait in silence.
    ConnectTimedOut {
        /// How many attempts have timed out in a row, this one included.
        attempt: u32,
        /// How long the next attempt may take before it times out too.
        next_wait: std::time::Duration,
    },
    /// This machine's network changed under a connection that stood on a
    /// lost address or had no path yet; it is made again from scratch.
    NetworkChanged,
    /// The peer connection is up.
    Connected,
    /// The peer connection went down.
    Disconnected,
    /// A stack operation failed; the core recovered as documented on
    /// [`Negotiator::handle_operation_failed`](crate::Negotiator::handle_operation_failed).
    OperationFailed {
        /// What failed.
        operation: OperationKind,
        /// The stack's error text.
        error: String,
    },
}
