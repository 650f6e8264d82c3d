//! One negotiation scenario per test, driven step by step by hand.

use std::time::Duration;

use parlor_negotiation::{
    Action, Config, ConnectionState, DroppedCandidateReason, Error, Event, IceCandidate,
    IceConnectionState, IgnoredAnswerReason, Negotiator, OperationKind, RestartReason, Role,
    SessionDescription, SignalMessage, SignalingState, StackOp, role_toward,
};

/// A minimal SDP with just the lines the core reads.
fn sdp(session: u64, version: u64, ufrag: &str, fingerprint: &str) -> String {
    format!(
        "v=0\r\no=- {session} {version} IN IP4 0.0.0.0\r\ns=-\r\n\
         a=fingerprint:sha-256 {fingerprint}\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
         a=ice-ufrag:{ufrag}\r\na=ice-pwd:pwd\r\n"
    )
}

/// The same without a data-channel section: an offer that does not carry
/// the channel our own offer was for.
fn sdp_without_channel(session: u64, version: u64, ufrag: &str, fingerprint: &str) -> String {
    sdp(session, version, ufrag, fingerprint)
        .replace("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "")
}

fn candidate(ufrag: &str, n: u32) -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:{n} 1 udp 1 10.0.0.{n} 9 typ host"),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: Some(ufrag.into()),
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A negotiator plus the bookkeeping a test needs to check its outputs.
struct Peer {
    core: Negotiator,
    now: Duration,
}

impl Peer {
    fn new(role: Role) -> Self {
        Self {
            core: Negotiator::new(role, Config::default()),
            now: Duration::ZERO,
        }
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.core.poll_action()).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.core.poll_event()).collect()
    }

    /// The single stack operation the core asks for now.
    fn expect_op(&mut self) -> StackOp {
        match self.actions().as_slice() {
            [Action::Stack(op)] => op.clone(),
            other => panic!("expected one stack operation, got {other:?}"),
        }
    }

    fn created(&mut self, sdp: String) {
        self.core
            .handle_description_created(sdp, self.now)
            .unwrap_or_else(|e| panic!("a create was outstanding: {e}"));
    }

    fn done(&mut self) {
        self.core
            .handle_operation_done(self.now)
            .unwrap_or_else(|e| panic!("an operation was outstanding: {e}"));
    }

    fn failed(&mut self) {
        self.core
            .handle_operation_failed("boom".into(), self.now)
            .unwrap_or_else(|e| panic!("an operation was outstanding: {e}"));
    }

    fn receive(&mut self, message: SignalMessage) {
        self.core.handle_remote_message(message, self.now);
    }

    fn receive_offer(&mut self, sdp: String) {
        self.receive(SignalMessage::Description(SessionDescription::offer(sdp)));
    }

    fn receive_answer(&mut self, sdp: String) {
        self.receive(SignalMessage::Description(SessionDescription::answer(sdp)));
    }

    /// Runs negotiation-needed through to an offer set locally and sent.
    fn make_offer(&mut self, offer_sdp: &str) {
        self.core.handle_negotiation_needed(self.now);
        assert_eq!(
            self.expect_op(),
            StackOp::CreateOffer { ice_restart: false }
        );
        self.created(offer_sdp.into());
        assert_eq!(
            self.expect_op(),
            StackOp::SetLocalDescription(SessionDescription::offer(offer_sdp))
        );
        self.done();
        assert_eq!(
            self.actions(),
            vec![Action::Send(SignalMessage::Description(
                SessionDescription::offer(offer_sdp)
            ))]
        );
    }

    /// Runs an incoming offer, applied on a stable connection, to a sent answer.
    fn answer_offer(&mut self, offer_sdp: &str, answer_sdp: &str) {
        self.receive_offer(offer_sdp.into());
        assert_eq!(
            self.expect_op(),
            StackOp::SetRemoteDescription(SessionDescription::offer(offer_sdp))
        );
        self.done();
        assert_eq!(self.expect_op(), StackOp::CreateAnswer);
        self.created(answer_sdp.into());
        assert_eq!(
            self.expect_op(),
            StackOp::SetLocalDescription(SessionDescription::answer(answer_sdp))
        );
        self.done();
    }

    /// A connected pair: we offered and the remote answered.
    fn connected_as_offerer(role: Role) -> Self {
        let mut peer = Self::new(role);
        peer.make_offer(&sdp(1, 1, "local1", "AA"));
        peer.receive_answer(sdp(2, 1, "remote1", "BB"));
        peer.expect_op();
        peer.done();
        peer.core
            .handle_ice_state(IceConnectionState::Connected, peer.now);
        peer.core
            .handle_connection_state(ConnectionState::Connected, peer.now);
        peer.actions();
        peer.events();
        peer
    }
}

#[test]
fn toward_an_old_client_we_are_always_polite() {
    assert_eq!(role_toward("zzz", "aaa", false), Role::Polite);
    assert_eq!(role_toward("aaa", "zzz", false), Role::Polite);
}

#[test]
fn between_parlor_peers_the_lower_id_is_polite_on_both_sides() {
    assert_eq!(role_toward("alice", "bob", true), Role::Polite);
    assert_eq!(role_toward("bob", "alice", true), Role::Impolite);
}

#[test]
fn negotiation_needed_creates_sets_and_sends_an_offer() {
    let mut peer = Peer::new(Role::Polite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    assert_eq!(peer.core.signaling_state(), SignalingState::HaveLocalOffer);
    assert!(
        peer.events()
            .contains(&Event::OfferSent { ice_restart: false })
    );
}

#[test]
fn an_answer_completes_the_exchange() {
    let mut peer = Peer::new(Role::Impolite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_answer(sdp(2, 1, "r", "BB"));
    assert!(matches!(
        peer.expect_op(),
        StackOp::SetRemoteDescription(SessionDescription { .. })
    ));
    peer.done();
    assert_eq!(peer.core.signaling_state(), SignalingState::Stable);
    assert!(peer.core.is_idle());
    assert_eq!(peer.core.poll_timeout(), None, "no re-send once answered");
}

#[test]
fn an_offer_on_a_stable_connection_is_answered() {
    let mut peer = Peer::new(Role::Impolite);
    peer.answer_offer(&sdp(2, 1, "r", "BB"), &sdp(1, 1, "l", "AA"));
    assert_eq!(
        peer.actions(),
        vec![Action::Send(SignalMessage::Description(
            SessionDescription::answer(sdp(1, 1, "l", "AA"))
        ))]
    );
    assert_eq!(peer.core.signaling_state(), SignalingState::Stable);
}

#[test]
fn impolite_ignores_a_colliding_offer() {
    let mut peer = Peer::new(Role::Impolite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_offer(sdp(2, 1, "r", "BB"));
    assert_eq!(peer.actions(), vec![]);
    assert!(peer.events().contains(&Event::IgnoredCollidingOffer));
    assert_eq!(peer.core.signaling_state(), SignalingState::HaveLocalOffer);
}

/// Rolls back our offer for `theirs`, applies it and sends our answer;
/// returns the actions that follow the answer.
fn give_way_to(peer: &mut Peer, theirs: &str) -> Vec<Action> {
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_offer(theirs.to_owned());
    assert_eq!(peer.expect_op(), StackOp::RollbackLocalDescription);
    assert!(peer.events().contains(&Event::RolledBackForGlare));
    peer.done();
    assert_eq!(
        peer.expect_op(),
        StackOp::SetRemoteDescription(SessionDescription::offer(theirs))
    );
    peer.done();
    assert_eq!(peer.expect_op(), StackOp::CreateAnswer);
    peer.created(sdp(1, 2, "l", "AA"));
    peer.expect_op();
    peer.done();
    let actions = peer.actions();
    assert_eq!(
        actions[0],
        Action::Send(SignalMessage::Description(SessionDescription::answer(sdp(
            1, 2, "l", "AA"
        ))))
    );
    actions
}

#[test]
fn polite_rolls_back_and_answers_and_owes_no_offer_once_the_data_channel_is_negotiated() {
    let mut peer = Peer::new(Role::Polite);
    let actions = give_way_to(&mut peer, &sdp(2, 1, "r", "BB"));
    assert_eq!(actions.len(), 1, "only the answer: {actions:?}");
    assert!(peer.core.is_idle());
}

#[test]
fn polite_rolls_back_answers_then_offers_again_when_their_offer_lacks_the_data_channel() {
    let mut peer = Peer::new(Role::Polite);
    let actions = give_way_to(&mut peer, &sdp_without_channel(2, 1, "r", "BB"));
    assert_eq!(
        actions.get(1),
        Some(&Action::Stack(StackOp::CreateOffer { ice_restart: false })),
        "the rolled-back need for an offer is still owed"
    );
}

#[test]
fn candidate_before_the_remote_description_is_queued_then_added() {
    let mut peer = Peer::new(Role::Polite);
    peer.receive(SignalMessage::Candidate(candidate("r", 1)));
    assert_eq!(peer.actions(), vec![]);
    assert_eq!(peer.events(), vec![Event::CandidateQueued]);
    peer.answer_offer(&sdp(2, 1, "r", "BB"), &sdp(1, 1, "l", "AA"));
    assert_eq!(
        peer.actions(),
        vec![
            Action::Send(SignalMessage::Description(SessionDescription::answer(sdp(
                1, 1, "l", "AA"
            )))),
            Action::Stack(StackOp::AddRemoteCandidate(candidate("r", 1))),
        ]
    );
}

#[test]
fn candidate_of_an_ignored_offer_is_dropped() {
    let mut peer = Peer::new(Role::Impolite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_offer(sdp(2, 1, "ignored", "BB"));
    peer.receive(SignalMessage::Candidate(candidate("ignored", 1)));
    assert_eq!(peer.actions(), vec![], "nothing to add it to");
    peer.receive_answer(sdp(2, 2, "fresh", "BB"));
    peer.expect_op();
    peer.events();
    peer.done();
    assert_eq!(peer.actions(), vec![], "its ufrag is not the answer's");
    assert!(
        peer.events()
            .contains(&Event::CandidateDropped(DroppedCandidateReason::NotCurrent))
    );
}

#[test]
fn candidate_of_an_ignored_offer_is_added_when_the_answer_keeps_its_ufrag() {
    let mut peer = Peer::new(Role::Impolite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_offer(sdp(2, 1, "r", "BB"));
    peer.receive(SignalMessage::Candidate(candidate("r", 1)));
    peer.receive_answer(sdp(2, 2, "r", "BB"));
    peer.expect_op();
    peer.done();
    assert_eq!(
        peer.actions(),
        vec![Action::Stack(StackOp::AddRemoteCandidate(candidate(
            "r", 1
        )))]
    );
}

#[test]
fn late_answer_to_a_rolled_back_offer_is_ignored() {
    let mut peer = Peer::new(Role::Polite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    peer.receive_offer(sdp_without_channel(2, 5, "r", "BB"));
    assert_eq!(peer.expect_op(), StackOp::RollbackLocalDescription);
    peer.done();
    peer.expect_op();
    peer.done();
    peer.expect_op();
    peer.created(sdp(1, 2, "l", "AA"));
    peer.expect_op();
    peer.done();
    // The answer goes out and the owed offer starts; the remote's answer to
    // our rolled-back offer, older than its own offer, shows up meanwhile.
    assert!(matches!(
        peer.actions().last(),
        Some(Action::Stack(StackOp::CreateOffer { .. }))
    ));
    peer.receive_answer(sdp(2, 4, "r", "BB"));
    peer.created(sdp(1, 3, "l", "AA"));
    peer.expect_op();
    peer.events();
    peer.done();
    assert!(
        !peer
            .actions()
            .iter()
            .any(|action| matches!(action, Action::Stack(StackOp::SetRemoteDescription(_))))
    );
    assert!(
        peer.events()
            .contains(&Event::IgnoredAnswer(IgnoredAnswerReason::Outdated))
    );
}

#[test]
fn answer_while_stable_is_ignored() {
    let mut peer = Peer::new(Role::Impolite);
    peer.receive_answer(sdp(2, 1, "r", "BB"));
    assert_eq!(peer.actions(), vec![]);
    assert!(
        peer.events()
            .contains(&Event::IgnoredAnswer(IgnoredAnswerReason::NoOfferPending))
    );
}

#[test]
fn unanswered_offer_is_resent_with_its_candidates_and_backs_off() {
    let mut peer = Peer::new(Role::Polite);
    let offer = sdp(1, 1, "l", "AA");
    peer.make_offer(&offer);
    peer.core
        .handle_local_candidate(Some(candidate("l", 1)), peer.now);
    peer.core.handle_local_candidate(None, peer.now);
    peer.actions();
    let first = peer
        .core
        .poll_timeout()
        .unwrap_or_else(|| panic!("a re-send is scheduled"));
    assert_eq!(first, ms(1500));
    peer.now = first;
    peer.core.handle_timeout(peer.now);
    assert_eq!(
        peer.actions(),
        vec![
            Action::Send(SignalMessage::Description(SessionDescription::offer(offer))),
            Action::Send(SignalMessage::Candidate(candidate("l", 1))),
            Action::Send(SignalMessage::EndOfCandidates),
        ]
    );
    assert!(peer.events().contains(&Event::OfferResent { attempt: 1 }));
    assert_eq!(peer.core.poll_timeout(), Some(ms(1500 + 3000)));
}

#[test]
fn resending_stops_after_the_cap() {
    let mut peer = Peer::new(Role::Polite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    let mut resends = 0;
    while let Some(at) = peer.core.poll_timeout() {
        peer.now = at;
        peer.core.handle_timeout(at);
        resends += peer.actions().len();
    }
    assert_eq!(resends, Config::default().resend_max_attempts as usize);
    assert!(peer.events().contains(&Event::OfferUnanswered));
}

#[test]
fn ice_failure_triggers_a_restart_offer() {
    let mut peer = Peer::connected_as_offerer(Role::Polite);
    peer.core
        .handle_ice_state(IceConnectionState::Failed, peer.now);
    assert_eq!(peer.expect_op(), StackOp::CreateOffer { ice_restart: true });
    assert!(
        peer.events()
            .contains(&Event::IceRestart(RestartReason::Failed))
    );
}

#[test]
fn ice_disconnected_restarts_only_after_the_grace_period() {
    let mut peer = Peer::connected_as_offerer(Role::Impolite);
    peer.core
        .handle_ice_state(IceConnectionState::Disconnected, peer.now);
    assert_eq!(peer.actions(), vec![]);
    let deadline = peer
        .core
        .poll_timeout()
        .unwrap_or_else(|| panic!("a grace deadline"));
    assert_eq!(deadline, Config::default().disconnected_grace);
    peer.now = deadline;
    peer.core.handle_timeout(peer.now);
    assert_eq!(peer.expect_op(), StackOp::CreateOffer { ice_restart: true });
    assert!(
        peer.events()
            .contains(&Event::IceRestart(RestartReason::DisconnectedTooLong))
    );
}

#[test]
fn ice_disconnected_that_recovers_does_not_restart() {
    let mut peer = Peer::connected_as_offerer(Role::Impolite);
    peer.core
        .handle_ice_state(IceConnectionState::Disconnected, peer.now);
    peer.now = ms(1000);
    peer.core
        .handle_ice_state(IceConnectionState::Connected, peer.now);
    assert_eq!(peer.core.poll_timeout(), None);
    peer.core.handle_timeout(ms(10_000));
    assert_eq!(peer.actions(), vec![]);
}

#[test]
fn stale_answer_to_a_restart_offer_is_ignored() {
    let mut peer = Peer::connected_as_offerer(Role::Impolite);
    peer.core
        .handle_ice_state(IceConnectionState::Failed, peer.now);
    peer.expect_op();
    peer.created(sdp(1, 2, "local2", "AA"));
    peer.expect_op();
    peer.done();
    peer.actions();
    peer.receive_answer(sdp(2, 2, "remote1", "BB"));
    assert_eq!(peer.actions(), vec![]);
    assert!(
        peer.events()
            .contains(&Event::IgnoredAnswer(IgnoredAnswerReason::Outdated))
    );
}

#[test]
fn remote_restart_with_a_new_session_asks_for_a_new_connection() {
    let mut peer = Peer::connected_as_offerer(Role::Impolite);
    let new_session = sdp(99, 1, "remote9", "CC");
    peer.receive_offer(new_session.clone());
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
    assert!(peer.events().contains(&Event::RemoteRestarted));
    peer.done();
    assert_eq!(
        peer.expect_op(),
        StackOp::SetRemoteDescription(SessionDescription::offer(new_session))
    );
    assert!(!peer.core.is_connected());
}

#[test]
fn remote_reset_recreates_the_connection_and_drops_stale_work() {
    let mut peer = Peer::new(Role::Polite);
    peer.core.handle_negotiation_needed(peer.now);
    assert!(matches!(peer.expect_op(), StackOp::CreateOffer { .. }));
    peer.receive(SignalMessage::Candidate(candidate("old", 1)));
    peer.core.remote_reset(peer.now);
    assert_eq!(peer.actions(), vec![], "the create is still outstanding");
    peer.created(sdp(1, 1, "l", "AA"));
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
    peer.done();
    assert_eq!(
        peer.expect_op(),
        StackOp::CreateOffer { ice_restart: false },
        "the need for an offer survives, the old offer does not"
    );
}

#[test]
fn failed_candidate_is_dropped_and_reported() {
    let mut peer = Peer::new(Role::Polite);
    peer.answer_offer(&sdp(2, 1, "r", "BB"), &sdp(1, 1, "l", "AA"));
    peer.actions();
    peer.receive(SignalMessage::Candidate(candidate("r", 1)));
    peer.receive(SignalMessage::Candidate(candidate("r", 2)));
    assert_eq!(
        peer.expect_op(),
        StackOp::AddRemoteCandidate(candidate("r", 1))
    );
    peer.failed();
    assert_eq!(
        peer.expect_op(),
        StackOp::AddRemoteCandidate(candidate("r", 2))
    );
    assert!(peer.events().iter().any(|event| matches!(
        event,
        Event::OperationFailed {
            operation: OperationKind::AddRemoteCandidate,
            ..
        }
    )));
}

#[test]
fn failed_remote_offer_while_stable_stays_stable() {
    let mut peer = Peer::new(Role::Polite);
    peer.receive_offer(sdp(2, 1, "r", "BB"));
    peer.expect_op();
    peer.failed();
    assert_eq!(peer.actions(), vec![]);
    assert_eq!(peer.core.signaling_state(), SignalingState::Stable);
    assert!(peer.core.is_idle());
}

#[test]
fn failed_rollback_recreates_the_connection_then_answers() {
    let mut peer = Peer::new(Role::Polite);
    peer.make_offer(&sdp(1, 1, "l", "AA"));
    let theirs = sdp(2, 1, "r", "BB");
    peer.receive_offer(theirs.clone());
    assert_eq!(peer.expect_op(), StackOp::RollbackLocalDescription);
    peer.failed();
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
    peer.done();
    assert_eq!(
        peer.expect_op(),
        StackOp::SetRemoteDescription(SessionDescription::offer(theirs))
    );
}

#[test]
fn repeated_offer_is_answered_with_the_same_answer() {
    let mut peer = Peer::new(Role::Polite);
    let offer = sdp(2, 1, "r", "BB");
    let answer = sdp(1, 1, "l", "AA");
    peer.answer_offer(&offer, &answer);
    peer.actions();
    peer.receive_offer(offer);
    assert_eq!(
        peer.actions(),
        vec![Action::Send(SignalMessage::Description(
            SessionDescription::answer(answer)
        ))]
    );
    assert!(peer.events().contains(&Event::AnswerResent));
}

#[test]
fn completion_without_an_outstanding_operation_is_a_driver_error() {
    let mut peer = Peer::new(Role::Polite);
    assert_eq!(
        peer.core.handle_operation_done(peer.now),
        Err(Error::NoOperationOutstanding)
    );
}

/// An offerer whose offer was answered and whose ICE then reported `ice`.
fn offerer_with_ice(ice: IceConnectionState) -> Peer {
    let mut peer = Peer::new(Role::Impolite);
    peer.make_offer(&sdp(1, 1, "local1", "AA"));
    peer.receive_answer(sdp(2, 1, "remote1", "BB"));
    peer.expect_op();
    peer.done();
    peer.core.handle_ice_state(ice, peer.now);
    peer.actions();
    peer.events();
    peer
}

/// An offerer whose ICE connected but whose DTLS never did.
fn ice_up_without_dtls() -> Peer {
    offerer_with_ice(IceConnectionState::Connected)
}

#[test]
fn a_handshake_that_never_completes_rebuilds_the_connection_after_the_timeout() {
    let mut peer = ice_up_without_dtls();
    let deadline = peer
        .core
        .poll_timeout()
        .unwrap_or_else(|| panic!("a handshake deadline"));
    assert_eq!(deadline, Config::default().handshake_timeout);
    peer.now = deadline;
    peer.core.handle_timeout(peer.now);
    assert!(peer.events().contains(&Event::HandshakeTimedOut));
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
}

#[test]
fn a_handshake_that_completes_in_time_cancels_the_timeout() {
    let mut peer = ice_up_without_dtls();
    peer.now = ms(50);
    peer.core
        .handle_connection_state(ConnectionState::Connected, peer.now);
    assert_eq!(peer.core.poll_timeout(), None);
}

/// An offerer whose ICE is checking paths, none of which works (yet).
fn ice_checking() -> Peer {
    offerer_with_ice(IceConnectionState::Checking)
}

#[test]
fn no_path_within_the_connect_timeout_is_reported_and_the_connection_rebuilt() {
    let mut peer = ice_checking();
    let start = peer.now;
    let deadline = peer
        .core
        .poll_timeout()
        .unwrap_or_else(|| panic!("a connect deadline"));
    assert_eq!(deadline, start + Config::default().connect_timeout);
    peer.now = deadline;
    peer.core.handle_timeout(peer.now);
    assert!(peer.events().contains(&Event::ConnectTimedOut {
        attempt: 1,
        next_wait: Config::default().connect_timeout * 2,
    }));
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
}

#[test]
fn each_attempt_that_finds_no_path_waits_longer_before_the_next_report() {
    let mut peer = ice_checking();
    peer.now += Config::default().connect_timeout;
    peer.core.handle_timeout(peer.now);
    peer.events();
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
    peer.done();
    peer.actions();
    peer.core
        .handle_ice_state(IceConnectionState::Checking, peer.now);
    let retried = peer.now;
    let deadline = peer
        .core
        .poll_timeout()
        .unwrap_or_else(|| panic!("a connect deadline for the retry"));
    assert_eq!(deadline, retried + Config::default().connect_timeout * 2);
}

#[test]
fn a_connection_made_in_time_cancels_the_connect_timeout() {
    let mut peer = ice_checking();
    peer.now += ms(800);
    peer.core
        .handle_ice_state(IceConnectionState::Connected, peer.now);
    peer.core
        .handle_connection_state(ConnectionState::Connected, peer.now);
    assert_eq!(peer.core.poll_timeout(), None);
}

/// An offerer whose connection is up.
fn connected() -> Peer {
    let mut peer = ice_up_without_dtls();
    peer.core
        .handle_connection_state(ConnectionState::Connected, peer.now);
    peer.actions();
    peer.events();
    peer
}

#[test]
fn a_working_connection_whose_address_stayed_is_left_alone_when_the_network_changes() {
    let mut peer = connected();
    peer.core.network_changed(false, peer.now);
    assert!(peer.events().is_empty());
    assert!(peer.actions().is_empty());
}

#[test]
fn a_connection_whose_address_is_gone_is_rebuilt_at_once() {
    let mut peer = connected();
    peer.core.network_changed(true, peer.now);
    assert!(peer.events().contains(&Event::NetworkChanged));
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
}

#[test]
fn a_connection_still_without_a_path_tries_the_new_addresses_at_once() {
    let mut peer = ice_checking();
    peer.core.network_changed(false, peer.now);
    assert!(peer.events().contains(&Event::NetworkChanged));
    assert_eq!(peer.expect_op(), StackOp::RecreateConnection);
}
