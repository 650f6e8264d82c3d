//! [`PeerSession`]: everything Parlor decides about one remote peer.

use std::collections::VecDeque;
use std::time::Duration;

use parlor_negotiation::{
    Action, Config, ConnectionState, Event as NegotiationEvent, IceCandidate, IceConnectionState,
    Negotiator, SignalMessage, StackOp, role_toward,
};
use parlor_protocol::{Frame, Info, MessageId, PeerId, fingerprint_hex};

use crate::bounds::{DropReason, MAX_FRAME_BYTES};
use crate::conversation::Conversation;
use crate::output::{ChannelId, OperationOutcome, Output, SessionEvent};
use crate::reach::Candidates;
use crate::step::Step;

/// First re-send of an unanswered offer to an old client, which drops
/// offers that arrive while it rebuilds its connection (after every peer
/// list, a `/turn` fetch and a new RTCPeerConnection: tens of milliseconds on
/// a LAN). A Parlor peer drops nothing and keeps the core's patient default.
const OLD_CLIENT_FIRST_RESEND: Duration = Duration::from_millis(300);

/// Why a connection is rebuilt, as the person reads it.
const REMOTE_RESTARTED: &str = "the peer started a new session";
const HANDSHAKE_TIMED_OUT: &str = "the encrypted handshake did not complete";
const NO_PATH_YET: &str = "no network path works yet; trying again from scratch";
const NETWORK_CHANGED: &str = "this machine's network changed";

/// Who the session is between.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our id in the room.
    pub local: PeerId,
    /// The peer's id.
    pub remote: PeerId,
    /// Whether the peer is known to be a Parlor peer (the server's peer
    /// list said so). If not, it may still turn out to be one:
    /// [`PeerSession::handle_remote_is_parlor`].
    pub remote_is_parlor: bool,
    /// The `info` we send on the chat channel.
    pub local_info: Info,
    /// The certificate fingerprint the peer must present (any form:
    /// `sha-256 AB:…` or `ab:…`); `None` accepts any.
    pub expected_fingerprint: Option<String>,
    /// Whether a TURN server is configured: tells "no relay configured"
    /// from "the relay gave no address" when no path works.
    pub relay_configured: bool,
}

/// The session with one remote peer, without I/O: perfect negotiation
/// ([`Negotiator`]), the chat conversation on the data channels, which
/// channel messages go out on, and every timer.
///
/// The driver feeds it inputs with `handle_*(…, now)`, where `now` is a
/// [`Duration`] on one monotonic time line of the driver's choice (the time
/// an input *happened*: for an operation, when it completed). After every
/// input, the driver drains [`PeerSession::poll_output`] until it returns
/// [`Output::Wait`], carrying out each output in order, and then waits for
/// the next input or the time `Wait` names.
pub struct PeerSession {
    local: PeerId,
    remote: PeerId,
    remote_is_parlor: bool,
    negotiator: Negotiator,
    conversation: Conversation,
    outputs: VecDeque<Output>,
    /// Normalised [`SessionConfig::expected_fingerprint`].
    expected_fingerprint: Option<String>,
    /// The peer was dropped (another identity than expected, or over a
    /// bound): the session is over and ignores everything.
    refused: bool,
    /// Candidates of the current connection, to say why none worked.
    candidates: Candidates,
    relay_configured: bool,
    /// Why the next connection the negotiator recreates is recreated.
    recreate_reason: &'static str,
}

impl PeerSession {
    /// A session for a fresh peer connection: the driver builds the
    /// connection with its `chat` channel, which makes the stack ask for
    /// negotiation.
    pub fn new(config: SessionConfig) -> Self {
        let role = role_toward(
            config.local.as_str(),
            config.remote.as_str(),
            config.remote_is_parlor,
        );
        let negotiation = if config.remote_is_parlor {
            Config::default()
        } else {
            Config {
                resend_initial: OLD_CLIENT_FIRST_RESEND,
                ..Config::default()
            }
        };
        Self {
            conversation: Conversation::new(
                config.remote.as_str(),
                config.local_info,
                config.remote_is_parlor,
            ),
            negotiator: Negotiator::new(role, negotiation),
            local: config.local,
            remote: config.remote,
            remote_is_parlor: config.remote_is_parlor,
            outputs: VecDeque::new(),
            expected_fingerprint: config.expected_fingerprint.as_deref().map(fingerprint_hex),
            refused: false,
            candidates: Candidates::default(),
            relay_configured: config.relay_configured,
            recreate_reason: REMOTE_RESTARTED,
        }
    }

    /// The fingerprint (`ab:cd:…`) of the certificate the peer's current
    /// description names, which DTLS holds it to: who the peer is.
    pub fn remote_fingerprint(&self) -> Option<String> {
        self.negotiator.remote_fingerprint().map(fingerprint_hex)
    }

    /// The peer's id.
    pub fn remote(&self) -> &PeerId {
        &self.remote
    }

    /// Whether the connection is up and negotiation has nothing left to do.
    pub fn is_settled(&self) -> bool {
        self.negotiator.is_idle() && self.negotiator.is_connected()
    }

    /// The next thing to do; [`Output::Wait`] once there is nothing.
    pub fn poll_output(&mut self) -> Output {
        if self.refused {
            return self.outputs.pop_front().unwrap_or(Output::Wait(None));
        }
        self.outputs.pop_front().unwrap_or_else(|| {
            let deadline = match (self.negotiator.poll_timeout(), self.conversation.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Output::Wait(deadline)
        })
    }

    /// Time passed; harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.negotiator.handle_timeout(now);
        self.conversation.handle_timeout(now, &mut self.outputs);
        self.collect();
    }

    // Negotiation inputs.

    /// A negotiation message from the peer.
    pub fn handle_signal(&mut self, message: SignalMessage, now: Duration) {
        if let SignalMessage::Candidate(candidate) = &message {
            self.candidates.remote(&candidate.candidate);
        }
        self.negotiator.handle_remote_message(message, now);
        self.collect();
    }

    /// The signaling server says the peer left and came back: whatever it
    /// had is gone.
    pub fn handle_remote_reset(&mut self, now: Duration) {
        self.negotiator.remote_reset(now);
        self.collect();
    }

    /// The peer turned out to be a Parlor peer (its messages carry the
    /// Parlor marker, or the server's peer list says so): from now on the
    /// roles follow from the ids, as they do on the peer's side.
    pub fn handle_remote_is_parlor(&mut self) {
        if !self.remote_is_parlor {
            self.remote_is_parlor = true;
            self.conversation.mark_parlor();
            self.negotiator
                .set_role(role_toward(self.local.as_str(), self.remote.as_str(), true));
        }
    }

    /// The stack fired `negotiationneeded`.
    pub fn handle_negotiation_needed(&mut self, now: Duration) {
        self.negotiator.handle_negotiation_needed(now);
        self.collect();
    }

    /// The stack gathered a local candidate (`None`: gathering is complete).
    pub fn handle_local_candidate(&mut self, candidate: Option<IceCandidate>, now: Duration) {
        if let Some(candidate) = &candidate {
            self.candidates.local(&candidate.candidate);
        }
        self.negotiator.handle_local_candidate(candidate, now);
        self.collect();
    }

    /// This machine's addresses changed; `path_lost` says the connection's
    /// own address is among those gone. A connection on a lost address, or
    /// one still without a path, starts over from the addresses there are
    /// now; a working one on an address that stayed is left alone.
    pub fn handle_network_change(&mut self, path_lost: bool, now: Duration) {
        self.negotiator.network_changed(path_lost, now);
        self.collect();
    }

    /// The ICE connection state changed.
    pub fn handle_ice_state(&mut self, state: IceConnectionState, now: Duration) {
        self.outputs
            .push_back(Output::Event(SessionEvent::Ice(state)));
        self.negotiator.handle_ice_state(state, now);
        self.collect();
    }

    /// The peer connection state changed.
    pub fn handle_connection_state(&mut self, state: ConnectionState, now: Duration) {
        self.negotiator.handle_connection_state(state, now);
        self.collect();
    }

    /// The outstanding [`Output::Stack`] operation ended.
    ///
    /// # Errors
    /// When no operation was outstanding or the outcome does not fit it: the
    /// driver broke its contract (a bug, never a network condition).
    pub fn handle_operation(
        &mut self,
        outcome: OperationOutcome,
        now: Duration,
    ) -> Result<(), parlor_negotiation::Error> {
        let result = match outcome {
            OperationOutcome::Created(sdp) => self.negotiator.handle_description_created(sdp, now),
            OperationOutcome::Done => self.negotiator.handle_operation_done(now),
            OperationOutcome::Failed(error) => self.negotiator.handle_operation_failed(error, now),
        };
        self.collect();
        result
    }

    // Data-channel inputs.

    /// A `chat` channel of the current connection opened (ours or the
    /// peer's; reporting one twice is harmless).
    pub fn handle_channel_open(&mut self, channel: ChannelId, now: Duration) {
        if self.refused {
            return;
        }
        self.conversation
            .channel_open(channel, now, &mut self.outputs);
    }

    /// A text arrived on a `chat` channel. A peer that sends one over
    /// [`MAX_FRAME_BYTES`], or floods, is dropped.
    pub fn handle_channel_text(&mut self, channel: ChannelId, text: &str, now: Duration) {
        if self.refused {
            return;
        }
        if text.len() > MAX_FRAME_BYTES {
            return self.drop_peer(DropReason::FrameTooLarge { bytes: text.len() });
        }
        if let Err(reason) = self
            .conversation
            .received(channel, text, now, &mut self.outputs)
        {
            return self.drop_peer(reason);
        }
        if self.conversation.remote_is_parlor() {
            self.handle_remote_is_parlor();
        }
    }

    /// A `chat` channel closed.
    pub fn handle_channel_closed(&mut self, channel: ChannelId) {
        self.conversation.channel_closed(channel, &mut self.outputs);
    }

    /// An [`Output::Transmit`] failed.
    pub fn handle_send_failed(
        &mut self,
        channel: ChannelId,
        message: Option<MessageId>,
        error: String,
    ) {
        self.conversation
            .send_failed(channel, message, error, &mut self.outputs);
    }

    // Local intent.

    /// Bytes of our messages the peer has not acknowledged yet: the driver
    /// refuses new messages while it is at [`MAX_UNACKED_BYTES`](crate::MAX_UNACKED_BYTES).
    pub fn unacked_bytes(&self) -> usize {
        self.conversation.unacked_bytes()
    }

    /// Bytes of our messages let go of so far, ever (acknowledged, or sent to
    /// an old client, which never acknowledges): a driver that counts what
    /// it hands over subtracts this, without racing the session.
    pub fn released_bytes(&self) -> usize {
        self.conversation.released_bytes()
    }

    /// Sends a chat message: now if the peer is connected, else once it is.
    /// `false` when a message with this id is already queued (nothing
    /// added).
    pub fn send_chat(&mut self, id: MessageId, text: String) -> bool {
        self.conversation.send(id, text, &mut self.outputs)
    }

    /// Hands over messages owed to this peer from before this session (a
    /// driver's store: our restart, the peer's, a room rejoin), oldest
    /// first. They go out ahead of anything queued since that is not among
    /// them, and none goes out twice. Returns the bytes added to the
    /// outbox, for a driver that counts what is unacknowledged.
    ///
    /// Call it when the peer's identity is known and before its chat
    /// channel opens ([`SessionEvent::TransportUp`]), so that order holds.
    pub fn restore_outbox(&mut self, owed: Vec<(MessageId, String)>) -> usize {
        self.conversation.restore(owed, &mut self.outputs)
    }

    /// Sends a file transfer control frame (an offer, an answer) on the
    /// chat channel; `false` when the peer is not connected or does not
    /// take files.
    pub fn send_file_control(&mut self, frame: &Frame) -> bool {
        self.conversation.send_control(frame, &mut self.outputs)
    }

    /// Whether the connected peer said it takes files.
    pub fn remote_supports_files(&self) -> bool {
        self.conversation.remote_supports_files()
    }

    /// Ids of our messages queued for the peer (not yet acknowledged, or not
    /// yet sent to an old client), oldest first.
    pub fn queued_ids(&self) -> Vec<MessageId> {
        self.conversation.queued_ids()
    }

    /// Whether the peer is known to be a Parlor peer (from the server's
    /// peer list, the Parlor marker, or its `info`), which acknowledges what
    /// it receives.
    pub fn remote_known_parlor(&self) -> bool {
        self.remote_is_parlor || self.conversation.known_parlor()
    }

    /// Ends the session: nothing more is done for this peer, and the driver
    /// is told why, to close the connection and tell the person.
    fn drop_peer(&mut self, reason: DropReason) {
        self.refused = true;
        self.outputs.clear();
        self.outputs
            .push_back(Output::Event(SessionEvent::Dropped { reason }));
        self.collect();
    }

    /// Moves what the negotiator produced into the output queue, in order:
    /// its events first (they describe what led to the actions). A peer
    /// whose description names another certificate than the expected one
    /// is refused before DTLS even starts.
    fn collect(&mut self) {
        if self.refused {
            while self.negotiator.poll_event().is_some() || self.negotiator.poll_action().is_some()
            {
            }
            return;
        }
        if let (Some(expected), Some(presented)) =
            (&self.expected_fingerprint, self.remote_fingerprint())
        {
            if *expected != presented {
                return self.drop_peer(DropReason::OtherIdentity { presented });
            }
        }
        while let Some(event) = self.negotiator.poll_event() {
            match &event {
                NegotiationEvent::ConnectTimedOut { next_wait, .. } => {
                    self.recreate_reason = NO_PATH_YET;
                    self.outputs
                        .push_back(Output::Event(SessionEvent::Unreachable {
                            reason: self.candidates.no_path(self.relay_configured),
                            retry_in: *next_wait,
                        }));
                }
                NegotiationEvent::HandshakeTimedOut => self.recreate_reason = HANDSHAKE_TIMED_OUT,
                NegotiationEvent::NetworkChanged => self.recreate_reason = NETWORK_CHANGED,
                NegotiationEvent::RemoteRestarted => self.recreate_reason = REMOTE_RESTARTED,
                _ => {}
            }
            let event = match event {
                NegotiationEvent::Connected => SessionEvent::TransportUp,
                NegotiationEvent::Disconnected => SessionEvent::TransportDown,
                other => match Step::of(&other) {
                    Some((step, detail)) => SessionEvent::Negotiation { step, detail },
                    None => SessionEvent::Trace(other),
                },
            };
            self.outputs.push_back(Output::Event(event));
        }
        while let Some(action) = self.negotiator.poll_action() {
            match action {
                Action::Send(message) => self.outputs.push_back(Output::Signal(message)),
                Action::Stack(StackOp::RecreateConnection) => {
                    self.conversation.connection_lost();
                    self.candidates.reset();
                    let reason = std::mem::replace(&mut self.recreate_reason, REMOTE_RESTARTED);
                    self.outputs
                        .push_back(Output::Event(SessionEvent::Reconnecting {
                            reason: reason.into(),
                        }));
                    self.outputs
                        .push_back(Output::Stack(StackOp::RecreateConnection));
                }
                Action::Stack(op) => self.outputs.push_back(Output::Stack(op)),
            }
        }
    }
}
