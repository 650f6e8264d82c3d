//! The perfect-negotiation state machine for one pair of peers.

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::Error;
use crate::event::{
    Action, ConnectionState, DroppedCandidateReason, Event, IceConnectionState,
    IgnoredAnswerReason, RestartReason, SignalingState, StackOp,
};
use crate::role::Role;
use crate::sdp::SdpInfo;
use crate::timers::{Config, Resend};
use crate::{IceCandidate, SdpType, SessionDescription, SignalMessage};

/// Remote input waiting for the stack to be free.
///
/// Remote messages are handled one at a time, in arrival order, each one
/// when no stack operation is outstanding: the decisions (collision or not,
/// candidate current or not) are then taken on a settled signaling state,
/// which is what MDN's `makingOffer` and `isSettingRemoteAnswerPending`
/// flags approximate in JavaScript.
#[derive(Debug)]
enum Work {
    Description(SessionDescription),
    Candidate(IceCandidate),
    Reset,
}

/// A need for a new offer, counted so that a need raised while an offer is
/// in flight survives the answer to that offer.
#[derive(Debug, Default, Clone, Copy)]
struct Need {
    requested: u64,
    satisfied: u64,
}

impl Need {
    fn raise(&mut self) {
        self.requested += 1;
    }

    fn pending(&self) -> bool {
        self.requested > self.satisfied
    }

    fn satisfy_up_to(&mut self, mark: u64) {
        self.satisfied = self.satisfied.max(mark);
    }

    fn satisfy_all(&mut self) {
        self.satisfied = self.requested;
    }
}

/// Our offer from creation until it is answered or rolled back.
#[derive(Debug)]
struct LocalOffer {
    ice_restart: bool,
    /// The needs this offer covers once answered.
    negotiation_mark: u64,
    restart_mark: u64,
    /// Set once the offer is applied locally and sent, for re-sending.
    sent: Option<SessionDescription>,
}

/// The remote description currently applied to the stack.
#[derive(Debug)]
struct Remote {
    info: SdpInfo,
    sdp: String,
}

/// Perfect negotiation for one pair of peers, without I/O.
///
/// See the crate documentation for the driver contract.
#[derive(Debug)]
pub struct Negotiator {
    role: Role,
    config: Config,
    now: Duration,
    signaling: SignalingState,
    outstanding: Option<StackOp>,
    /// The outstanding operation belongs to a connection that
    /// [`Negotiator::remote_reset`] abandoned: its outcome is irrelevant.
    discard_outstanding: bool,
    /// Remaining stack operations of the task in progress.
    plan: VecDeque<StackOp>,
    inbox: VecDeque<Work>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    negotiation: Need,
    restart: Need,
    offer: Option<LocalOffer>,
    /// Our answer to the current remote offer, to repeat it if that offer
    /// is sent again.
    answer: Option<SessionDescription>,
    resend: Option<Resend>,
    remote: Option<Remote>,
    /// MDN's `ignoreOffer`: the last remote offer was ignored, so candidates
    /// cannot be matched to an applied description until the next one.
    ignoring_offer: bool,
    queued_candidates: VecDeque<IceCandidate>,
    /// Local candidates of the current ICE generation, re-sent with the offer.
    sent_candidates: Vec<SignalMessage>,
    ice: IceConnectionState,
    disconnected_deadline: Option<Duration>,
    /// ICE is up but DTLS is not: when to give up on this connection.
    handshake_deadline: Option<Duration>,
    /// ICE is trying: when to say no path works and start over.
    connect_deadline: Option<Duration>,
    /// Attempts that timed out in a row since the last connection.
    connect_failures: u32,
    connected: bool,
}

impl Negotiator {
    /// A negotiator for a fresh peer connection.
    pub fn new(role: Role, config: Config) -> Self {
        Self {
            role,
            config,
            now: Duration::ZERO,
            signaling: SignalingState::Stable,
            outstanding: None,
            discard_outstanding: false,
            plan: VecDeque::new(),
            inbox: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            negotiation: Need::default(),
            restart: Need::default(),
            offer: None,
            answer: None,
            resend: None,
            remote: None,
            ignoring_offer: false,
            queued_candidates: VecDeque::new(),
            sent_candidates: Vec::new(),
            ice: IceConnectionState::New,
            disconnected_deadline: None,
            handshake_deadline: None,
            connect_deadline: None,
            connect_failures: 0,
            connected: false,
        }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Changes this side's role. A peer first taken for an old client (we
    /// are polite toward those) may turn out to be a Parlor peer, toward
    /// which the role follows from the ids: the role only matters at the
    /// next collision, so it can change at any time.
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    /// The signaling state, as implied by the operations completed so far.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    /// The certificate fingerprint of the remote description applied last
    /// (`sha-256 ab:cd:…`): the certificate DTLS holds the remote to.
    pub fn remote_fingerprint(&self) -> Option<&str> {
        self.remote
            .as_ref()
            .and_then(|remote| remote.info.fingerprint.as_deref())
    }

    /// Whether the stack last reported the peer connection as connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether nothing is in progress or wanted: stable, no operation
    /// outstanding, no input waiting and no offer needed.
    pub fn is_idle(&self) -> bool {
        self.signaling == SignalingState::Stable
            && self.outstanding.is_none()
            && self.plan.is_empty()
            && self.inbox.is_empty()
            && !self.negotiation.pending()
            && !self.restart_wanted()
    }

    /// The stack fired `negotiationneeded`. The core remembers the need until
    /// an offer made after it is answered, or until a data channel is
    /// negotiated (by the remote's offer: see `pump`), whichever comes
    /// first; the event itself may arrive late, after the stack's state
    /// moved on.
    pub fn handle_negotiation_needed(&mut self, now: Duration) {
        self.now = now;
        self.negotiation.raise();
        self.pump();
    }

    /// The outstanding `create_offer`/`create_answer` produced this SDP.
    pub fn handle_description_created(&mut self, sdp: String, now: Duration) -> Result<(), Error> {
        self.now = now;
        let Some(op) = self.take_outstanding()? else {
            return Ok(());
        };
        let description = match op {
            StackOp::CreateOffer { .. } => SessionDescription::offer(sdp),
            StackOp::CreateAnswer => SessionDescription::answer(sdp),
            other => {
                let kind = other.kind();
                self.outstanding = Some(other);
                return Err(Error::UnexpectedDescription(kind));
            }
        };
        if description.kind == SdpType::Offer
            && self.offer.as_ref().is_some_and(|offer| offer.ice_restart)
        {
            // Candidates of the old ICE generation must not be re-sent with
            // the new offer; gathering for the new one starts with the next
            // operation, set_local_description.
            self.sent_candidates.clear();
        }
        self.plan
            .push_front(StackOp::SetLocalDescription(description));
        self.pump();
        Ok(())
    }

    /// The outstanding operation (other than a create) succeeded.
    pub fn handle_operation_done(&mut self, now: Duration) -> Result<(), Error> {
        self.now = now;
        let Some(op) = self.take_outstanding()? else {
            return Ok(());
        };
        match op {
            StackOp::CreateOffer { .. } | StackOp::CreateAnswer => {
                let kind = op.kind();
                self.outstanding = Some(op);
                return Err(Error::MissingDescription(kind));
            }
            StackOp::SetLocalDescription(description) => match description.kind {
                SdpType::Offer => self.local_offer_applied(description),
                SdpType::Answer => self.local_answer_applied(description),
            },
            StackOp::SetRemoteDescription(description) => match description.kind {
                SdpType::Offer => self.remote_offer_applied(description),
                SdpType::Answer => self.remote_answer_applied(description),
            },
            StackOp::RollbackLocalDescription => {
                self.signaling = SignalingState::Stable;
                self.offer = None;
                self.resend = None;
            }
            StackOp::AddRemoteCandidate(_) => {}
            StackOp::RecreateConnection => self.connection_recreated(),
        }
        self.pump();
        Ok(())
    }

    /// The outstanding operation failed with the stack's `error` text.
    ///
    /// The core never stays stuck on a failure:
    /// - `create_offer` or `set_local_description(offer)`: the stack is
    ///   still stable; the offer is abandoned, and so is the need for it
    ///   (retrying at once would fail the same way; the next
    ///   `negotiationneeded` or ICE failure asks again).
    /// - `create_answer` or `set_local_description(answer)`: we hold a
    ///   remote offer we cannot answer and webrtc-rs cannot roll back a
    ///   remote description, so the connection is recreated; the remote
    ///   re-sends its unanswered offer, which the fresh connection answers.
    /// - `set_remote_description(offer)`: stay stable, drop the offer and
    ///   its queued candidates.
    /// - `set_remote_description(answer)`: stay in have-local-offer; the
    ///   offer is re-sent, which invites a new answer.
    /// - rollback: the connection is recreated and the remote offer that
    ///   caused the rollback is applied to the fresh one.
    /// - `add_ice_candidate`: the candidate is dropped.
    /// - recreating the connection: the core forgets the old connection
    ///   anyway; the driver has none left and should give up on this peer.
    pub fn handle_operation_failed(&mut self, error: String, now: Duration) -> Result<(), Error> {
        self.now = now;
        let Some(op) = self.take_outstanding()? else {
            return Ok(());
        };
        self.events.push_back(Event::OperationFailed {
            operation: op.kind(),
            error,
        });
        match op {
            StackOp::CreateOffer { .. }
            | StackOp::SetLocalDescription(SessionDescription {
                kind: SdpType::Offer,
                ..
            }) => {
                self.offer = None;
                self.negotiation.satisfy_all();
                self.restart.satisfy_all();
            }
            StackOp::CreateAnswer
            | StackOp::SetLocalDescription(SessionDescription {
                kind: SdpType::Answer,
                ..
            }) => {
                self.plan.clear();
                self.plan.push_back(StackOp::RecreateConnection);
            }
            StackOp::SetRemoteDescription(SessionDescription {
                kind: SdpType::Offer,
                ..
            }) => {
                self.plan.clear();
                self.queued_candidates.clear();
            }
            StackOp::SetRemoteDescription(SessionDescription {
                kind: SdpType::Answer,
                ..
            }) => {
                if self.resend.is_none() {
                    self.resend = Some(Resend {
                        at: now,
                        attempt: 0,
                    });
                }
            }
            StackOp::RollbackLocalDescription => {
                self.plan.push_front(StackOp::RecreateConnection);
            }
            StackOp::AddRemoteCandidate(_) => {}
            StackOp::RecreateConnection => self.connection_recreated(),
        }
        self.pump();
        Ok(())
    }

    /// A negotiation message arrived from the remote peer.
    pub fn handle_remote_message(&mut self, message: SignalMessage, now: Duration) {
        self.now = now;
        match message {
            SignalMessage::Description(description) => {
                self.inbox.push_back(Work::Description(description));
            }
            SignalMessage::Candidate(candidate) => {
                let waiting = self.queued_candidates.len()
                    + self
                        .inbox
                        .iter()
                        .filter(|work| matches!(work, Work::Candidate(_)))
                        .count();
                if waiting >= self.config.max_queued_candidates {
                    self.events
                        .push_back(Event::CandidateDropped(DroppedCandidateReason::QueueFull));
                } else {
                    self.inbox.push_back(Work::Candidate(candidate));
                }
            }
            SignalMessage::EndOfCandidates => {
                self.events.push_back(Event::RemoteEndOfCandidates);
            }
        }
        self.pump();
    }

    /// The stack gathered a local candidate (`None`: gathering is complete).
    /// It is sent at once and kept, so that a re-sent offer carries it too.
    pub fn handle_local_candidate(&mut self, candidate: Option<IceCandidate>, now: Duration) {
        self.now = now;
        let message = match candidate {
            Some(candidate) => SignalMessage::Candidate(candidate),
            None => SignalMessage::EndOfCandidates,
        };
        self.sent_candidates.push(message.clone());
        self.actions.push_back(Action::Send(message));
    }

    /// The stack reported a new ICE connection state.
    pub fn handle_ice_state(&mut self, state: IceConnectionState, now: Duration) {
        self.now = now;
        self.ice = state;
        match state {
            IceConnectionState::Connected | IceConnectionState::Completed => {
                self.disconnected_deadline = None;
                // A path works; the handshake deadline watches what follows.
                self.connect_deadline = None;
                self.restart.satisfy_all();
                if !self.connected && self.handshake_deadline.is_none() {
                    self.handshake_deadline = Some(now + self.config.handshake_timeout);
                }
            }
            IceConnectionState::Disconnected => {
                if self.disconnected_deadline.is_none() {
                    self.disconnected_deadline = Some(now + self.config.disconnected_grace);
                }
                self.arm_connect_deadline(now);
            }
            IceConnectionState::Failed => {
                self.disconnected_deadline = None;
                self.request_restart(RestartReason::Failed);
            }
            IceConnectionState::Checking => {
                self.disconnected_deadline = None;
                self.arm_connect_deadline(now);
            }
            IceConnectionState::New | IceConnectionState::Closed => {
                self.disconnected_deadline = None
            }
        }
        self.pump();
    }

    /// The stack reported a new peer connection state.
    pub fn handle_connection_state(&mut self, state: ConnectionState, now: Duration) {
        self.now = now;
        let connected = state == ConnectionState::Connected;
        if connected {
            self.handshake_deadline = None;
            self.connect_deadline = None;
            self.connect_failures = 0;
        }
        if connected != self.connected {
            self.connected = connected;
            self.events.push_back(if connected {
                Event::Connected
            } else {
                Event::Disconnected
            });
        }
        if state == ConnectionState::Failed {
            self.request_restart(RestartReason::Failed);
        }
        self.pump();
    }

    /// The signaling server says the remote left and came back: whatever it
    /// had is gone, so everything in flight for the old remote is dropped
    /// and the connection is recreated. The driver sets up the fresh
    /// connection like the first one, so the stack asks for negotiation.
    pub fn remote_reset(&mut self, now: Duration) {
        self.now = now;
        self.inbox.clear();
        self.plan.clear();
        self.queued_candidates.clear();
        self.resend = None;
        self.disconnected_deadline = None;
        if self.outstanding.is_some() {
            self.discard_outstanding = true;
        }
        self.events.push_back(Event::RemoteRestarted);
        self.inbox.push_back(Work::Reset);
        self.pump();
    }

    /// Time passed: fires the deadline returned by [`Self::poll_timeout`]
    /// if it is due (calling early or late is harmless).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = now;
        if self
            .disconnected_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            self.disconnected_deadline = None;
            if self.ice == IceConnectionState::Disconnected {
                self.request_restart(RestartReason::DisconnectedTooLong);
            }
        }
        if let Some(resend) = self.resend.filter(|resend| now >= resend.at) {
            self.resend_offer(resend);
        }
        if self
            .handshake_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            self.handshake_deadline = None;
            let ice_up = matches!(
                self.ice,
                IceConnectionState::Connected | IceConnectionState::Completed
            );
            if ice_up && !self.connected {
                // webrtc-rs neither fails nor retries a DTLS handshake that
                // cannot complete (a certificate that does not match the
                // fingerprint its description named, as when a server in the
                // middle swapped them; two sides that both took the client
                // role): it retransmits forever. A fresh connection with a
                // fresh offer is the only way out.
                self.events.push_back(Event::HandshakeTimedOut);
                self.plan.push_back(StackOp::RecreateConnection);
            }
        }
        if self
            .connect_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            self.connect_deadline = None;
            if !self.connected {
                // ICE neither connects nor (in webrtc-rs, for 30 s) fails, and
                // a restart on the same connection would keep its sockets and
                // relay allocations: an address that went away, an allocation
                // the TURN server dropped. Start over from scratch instead.
                self.connect_failures = self.connect_failures.saturating_add(1);
                self.events.push_back(Event::ConnectTimedOut {
                    attempt: self.connect_failures,
                    next_wait: self.config.connect_wait(self.connect_failures),
                });
                self.plan.push_back(StackOp::RecreateConnection);
            }
        }
        self.pump();
    }

    /// This machine's addresses changed, and `path_lost` says whether the
    /// connection's own address is gone. Such a connection, or one without
    /// a path yet, is recreated at once: its sockets
    /// are bound to the old addresses, which an ICE restart would keep.
    /// A working connection on an address that stayed is left alone.
    pub fn network_changed(&mut self, path_lost: bool, now: Duration) {
        self.now = now;
        let recreating = matches!(self.outstanding, Some(StackOp::RecreateConnection))
            || self.plan.contains(&StackOp::RecreateConnection);
        let started = self.remote.is_some() || self.offer.is_some();
        if (path_lost || !self.connected) && started && !recreating {
            self.connect_failures = 0;
            self.events.push_back(Event::NetworkChanged);
            self.plan.push_back(StackOp::RecreateConnection);
        }
        self.pump();
    }

    /// ICE is trying (again): from now on it has the attempt's wait to
    /// connect. An attempt already timed is not extended.
    fn arm_connect_deadline(&mut self, now: Duration) {
        if self.connect_deadline.is_none() {
            self.connect_deadline = Some(now + self.config.connect_wait(self.connect_failures));
        }
    }

    /// The next thing for the driver to do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next progress event, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] should next be called, on the driver's
    /// time line; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Duration> {
        [
            self.resend.map(|resend| resend.at),
            self.disconnected_deadline,
            self.handshake_deadline,
            self.connect_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Takes the outstanding operation for a reported outcome; `None` when
    /// the outcome belongs to an abandoned connection and is to be ignored.
    fn take_outstanding(&mut self) -> Result<Option<StackOp>, Error> {
        let op = self
            .outstanding
            .take()
            .ok_or(Error::NoOperationOutstanding)?;
        if std::mem::take(&mut self.discard_outstanding) {
            self.pump();
            return Ok(None);
        }
        Ok(Some(op))
    }

    /// Starts whatever can start: the next operation of the current task,
    /// else the next remote input, else an offer the core owes.
    fn pump(&mut self) {
        while self.outstanding.is_none() {
            if let Some(op) = self.plan.pop_front() {
                self.outstanding = Some(op.clone());
                self.actions.push_back(Action::Stack(op));
            } else if let Some(work) = self.inbox.pop_front() {
                match work {
                    Work::Description(description) => self.start_description(description),
                    Work::Candidate(candidate) => self.start_candidate(candidate),
                    Work::Reset => self.plan.push_back(StackOp::RecreateConnection),
                }
            } else if self.signaling == SignalingState::Stable
                && self.negotiation.pending()
                && !self.restart_wanted()
                && self.data_channel_negotiated()
            {
                // Parlor negotiates nothing but data channels, and once a
                // data-channel section is negotiated every channel rides on
                // it. A need raised before that (our own channel, whose offer
                // lost a collision) or reported late (webrtc-rs fires
                // negotiationneeded again when a rollback returns it to
                // stable, and the event arrives after the answer) is met:
                // offering again would only cost a round trip.
                self.negotiation.satisfy_all();
            } else if self.signaling == SignalingState::Stable
                && (self.negotiation.pending() || self.restart_wanted())
            {
                self.start_offer();
            } else {
                break;
            }
        }
    }

    /// Whether the descriptions applied on both sides carry a data channel.
    fn data_channel_negotiated(&self) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|remote| remote.info.data_channel)
    }

    /// An ICE restart only means something once a remote description has
    /// been applied; before that there is no ICE session to restart.
    fn restart_wanted(&self) -> bool {
        self.restart.pending() && self.remote.is_some()
    }

    fn request_restart(&mut self, reason: RestartReason) {
        if self.remote.is_none() || self.restart.pending() {
            return;
        }
        self.restart.raise();
        self.events.push_back(Event::IceRestart(reason));
    }

    fn start_offer(&mut self) {
        let ice_restart = self.restart_wanted();
        self.offer = Some(LocalOffer {
            ice_restart,
            negotiation_mark: self.negotiation.requested,
            restart_mark: self.restart.requested,
            sent: None,
        });
        self.plan.push_back(StackOp::CreateOffer { ice_restart });
    }

    fn start_description(&mut self, description: SessionDescription) {
        match description.kind {
            SdpType::Offer => self.start_remote_offer(description),
            SdpType::Answer => self.start_remote_answer(description),
        }
    }

    fn start_remote_offer(&mut self, description: SessionDescription) {
        self.events.push_back(Event::OfferReceived);
        let info = SdpInfo::parse(&description.sdp);
        if let Some(remote) = &self.remote {
            if remote.info.is_other_session(&info) {
                self.events.push_back(Event::RemoteRestarted);
                self.ignoring_offer = false;
                self.plan.push_back(StackOp::RecreateConnection);
                self.plan
                    .push_back(StackOp::SetRemoteDescription(description));
                return;
            }
            if remote.info.is_outdated_by_version(&info) {
                self.events.push_back(Event::IgnoredOutdatedOffer);
                return;
            }
            let repeated =
                self.signaling == SignalingState::Stable && remote.sdp == description.sdp;
            if let Some(answer) = self.answer.clone().filter(|_| repeated) {
                self.ignoring_offer = false;
                self.events.push_back(Event::AnswerResent);
                self.actions
                    .push_back(Action::Send(SignalMessage::Description(answer)));
                self.resend_candidates();
                return;
            }
        }
        let collision = self.signaling != SignalingState::Stable;
        if collision && self.role == Role::Impolite {
            self.ignoring_offer = true;
            self.events.push_back(Event::IgnoredCollidingOffer);
            return;
        }
        self.ignoring_offer = false;
        if collision {
            self.events.push_back(Event::RolledBackForGlare);
            self.plan.push_back(StackOp::RollbackLocalDescription);
        }
        self.plan
            .push_back(StackOp::SetRemoteDescription(description));
    }

    fn start_remote_answer(&mut self, description: SessionDescription) {
        self.events.push_back(Event::AnswerReceived);
        if self.signaling != SignalingState::HaveLocalOffer {
            self.events
                .push_back(Event::IgnoredAnswer(IgnoredAnswerReason::NoOfferPending));
            return;
        }
        let info = SdpInfo::parse(&description.sdp);
        if let Some(remote) = &self.remote {
            if remote.info.is_other_session(&info) {
                // The remote started over and answered our renegotiation
                // from a new connection, whose DTLS session ours cannot
                // join: start over too, with a fresh offer.
                self.events.push_back(Event::RemoteRestarted);
                self.negotiation.raise();
                self.plan.push_back(StackOp::RecreateConnection);
                return;
            }
            let restart_kept_ufrag = self.offer.as_ref().is_some_and(|offer| offer.ice_restart)
                && remote.info.ufrag.is_some()
                && remote.info.ufrag == info.ufrag;
            if remote.info.is_outdated_by_version(&info)
                || remote.sdp == description.sdp
                || restart_kept_ufrag
            {
                self.events
                    .push_back(Event::IgnoredAnswer(IgnoredAnswerReason::Outdated));
                return;
            }
        }
        self.ignoring_offer = false;
        self.plan
            .push_back(StackOp::SetRemoteDescription(description));
    }

    fn start_candidate(&mut self, candidate: IceCandidate) {
        match &self.remote {
            Some(remote) if !self.ignoring_offer => {
                if belongs_to(&remote.info, &candidate) {
                    self.plan.push_back(StackOp::AddRemoteCandidate(candidate));
                } else {
                    self.events
                        .push_back(Event::CandidateDropped(DroppedCandidateReason::NotCurrent));
                }
            }
            _ => {
                // No description to add it to yet (none applied, or the
                // offer it came with was ignored): keep it until one is
                // applied, then keep it only if its ufrag matches.
                if self.queued_candidates.len() >= self.config.max_queued_candidates {
                    self.events
                        .push_back(Event::CandidateDropped(DroppedCandidateReason::QueueFull));
                } else {
                    self.queued_candidates.push_back(candidate);
                    self.events.push_back(Event::CandidateQueued);
                }
            }
        }
    }

    /// Adds the queued candidates that belong to the remote description just
    /// applied and drops the others.
    fn flush_candidates(&mut self) {
        let Some(remote) = &self.remote else {
            return;
        };
        for candidate in std::mem::take(&mut self.queued_candidates) {
            if belongs_to(&remote.info, &candidate) {
                self.plan.push_back(StackOp::AddRemoteCandidate(candidate));
            } else {
                self.events
                    .push_back(Event::CandidateDropped(DroppedCandidateReason::NotCurrent));
            }
        }
    }

    fn local_offer_applied(&mut self, description: SessionDescription) {
        self.signaling = SignalingState::HaveLocalOffer;
        self.answer = None;
        let ice_restart = match &mut self.offer {
            Some(offer) => {
                offer.sent = Some(description.clone());
                offer.ice_restart
            }
            None => false,
        };
        self.actions
            .push_back(Action::Send(SignalMessage::Description(description)));
        self.events.push_back(Event::OfferSent { ice_restart });
        self.resend = Some(Resend {
            at: self.now + self.config.resend_delay(0),
            attempt: 0,
        });
    }

    fn local_answer_applied(&mut self, description: SessionDescription) {
        self.signaling = SignalingState::Stable;
        self.answer = Some(description.clone());
        self.actions
            .push_back(Action::Send(SignalMessage::Description(description)));
        self.events.push_back(Event::AnswerSent);
        self.flush_candidates();
    }

    fn remote_offer_applied(&mut self, description: SessionDescription) {
        let info = SdpInfo::parse(&description.sdp);
        let remote_restarted_ice = self
            .remote
            .as_ref()
            .is_some_and(|remote| remote.info.ufrag != info.ufrag);
        if remote_restarted_ice {
            // The remote's ICE restart restarts ours too (the answer carries
            // fresh credentials), so a restart we wanted is done.
            self.restart.satisfy_all();
        }
        self.remote = Some(Remote {
            info,
            sdp: description.sdp,
        });
        self.signaling = SignalingState::HaveRemoteOffer;
        self.plan.push_front(StackOp::CreateAnswer);
    }

    fn remote_answer_applied(&mut self, description: SessionDescription) {
        self.remote = Some(Remote {
            info: SdpInfo::parse(&description.sdp),
            sdp: description.sdp,
        });
        self.signaling = SignalingState::Stable;
        self.resend = None;
        if let Some(offer) = self.offer.take() {
            self.negotiation.satisfy_up_to(offer.negotiation_mark);
            if offer.ice_restart {
                self.restart.satisfy_up_to(offer.restart_mark);
            }
        }
        self.events.push_back(Event::AnswerApplied);
        self.flush_candidates();
    }

    fn connection_recreated(&mut self) {
        self.signaling = SignalingState::Stable;
        self.offer = None;
        self.answer = None;
        self.resend = None;
        self.remote = None;
        self.ignoring_offer = false;
        self.sent_candidates.clear();
        self.ice = IceConnectionState::New;
        self.disconnected_deadline = None;
        self.handshake_deadline = None;
        self.connect_deadline = None;
        self.restart.satisfy_all();
        if self.connected {
            self.connected = false;
            self.events.push_back(Event::Disconnected);
        }
    }

    fn resend_offer(&mut self, resend: Resend) {
        let sent = self.offer.as_ref().and_then(|offer| offer.sent.clone());
        let Some(description) = sent.filter(|_| self.signaling == SignalingState::HaveLocalOffer)
        else {
            self.resend = None;
            return;
        };
        if resend.attempt >= self.config.resend_max_attempts {
            self.resend = None;
            self.events.push_back(Event::OfferUnanswered);
            return;
        }
        let busy = self.outstanding.is_some() || !self.plan.is_empty() || !self.inbox.is_empty();
        if busy {
            // Whatever is in progress may well be the answer; look again later.
            self.resend = Some(Resend {
                at: self.now + self.config.resend_delay(resend.attempt),
                ..resend
            });
            return;
        }
        let attempt = resend.attempt + 1;
        self.actions
            .push_back(Action::Send(SignalMessage::Description(description)));
        self.resend_candidates();
        self.events.push_back(Event::OfferResent { attempt });
        self.resend = Some(Resend {
            at: self.now + self.config.resend_delay(attempt),
            attempt,
        });
    }

    fn resend_candidates(&mut self) {
        for message in &self.sent_candidates {
            self.actions.push_back(Action::Send(message.clone()));
        }
    }
}

/// Whether a candidate belongs to a remote description: same ufrag, or no
/// way to tell (then the stack decides, and a rejection is harmless).
fn belongs_to(remote: &SdpInfo, candidate: &IceCandidate) -> bool {
    match (remote.ufrag.as_deref(), candidate.ufrag()) {
        (Some(current), Some(ufrag)) => current == ufrag,
        _ => true,
    }
}
