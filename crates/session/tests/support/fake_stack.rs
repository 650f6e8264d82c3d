//! A fake JSEP stack that enforces webrtc-rs 0.21's rules, so the simulation
//! fails whenever the core asks for something the real stack would refuse.

use std::collections::VecDeque;

use parlor_negotiation::{IceCandidate, SdpType, SessionDescription, SignalingState};

/// Something the stack reports on its own, as webrtc-rs's event handlers do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackEvent {
    NegotiationNeeded,
    LocalCandidate(Option<IceCandidate>),
}

/// The SDP lines the core reads, plus a data-channel section when wanted.
pub fn fake_sdp(session: u64, version: u64, fingerprint: &str, ufrag: &str, app: bool) -> String {
    let mut sdp = format!(
        "v=0\r\no=- {session} {version} IN IP4 0.0.0.0\r\ns=-\r\n\
         a=fingerprint:sha-256 {fingerprint}\r\n"
    );
    if app {
        sdp.push_str("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n");
    }
    sdp.push_str(&format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:pwd\r\n"));
    sdp
}

fn line_value<'a>(sdp: &'a str, prefix: &str) -> Option<&'a str> {
    sdp.lines().find_map(|line| line.strip_prefix(prefix))
}

pub fn ufrag_of(sdp: &str) -> Option<&str> {
    line_value(sdp, "a=ice-ufrag:")
}

fn fingerprint_of(sdp: &str) -> Option<&str> {
    line_value(sdp, "a=fingerprint:")
}

fn has_app(sdp: &str) -> bool {
    sdp.contains("m=application")
}

/// One fake peer connection.
#[derive(Debug)]
pub struct FakeStack {
    name: String,
    session: u64,
    version: u64,
    fingerprint: String,
    ufrags_made: u32,
    local_ufrag: String,
    staged_ufrag: Option<String>,
    gathered_ufrag: Option<String>,
    signaling: SignalingState,
    pub current_local: Option<SessionDescription>,
    pub current_remote: Option<SessionDescription>,
    pending_local: Option<SessionDescription>,
    pending_remote: Option<SessionDescription>,
    last_created: Option<String>,
    wants_channel: bool,
    negotiation_ongoing: bool,
    remote_candidate_ufrags: Vec<String>,
    pub events: VecDeque<StackEvent>,
}

impl FakeStack {
    /// A fresh connection; `name` makes its session, certificate and ufrags unique.
    pub fn new(name: String, session: u64) -> Self {
        let local_ufrag = format!("{name}u0");
        Self {
            fingerprint: format!("FP:{name}"),
            name,
            session,
            version: 0,
            ufrags_made: 0,
            local_ufrag,
            staged_ufrag: None,
            gathered_ufrag: None,
            signaling: SignalingState::Stable,
            current_local: None,
            current_remote: None,
            pending_local: None,
            pending_remote: None,
            last_created: None,
            wants_channel: false,
            negotiation_ongoing: false,
            remote_candidate_ufrags: Vec::new(),
            events: VecDeque::new(),
        }
    }

    pub fn signaling(&self) -> SignalingState {
        self.signaling
    }

    pub fn local_ufrag(&self) -> Option<&str> {
        self.current_local.as_ref().and_then(|d| ufrag_of(&d.sdp))
    }

    pub fn remote_ufrag(&self) -> Option<&str> {
        self.current_remote.as_ref().and_then(|d| ufrag_of(&d.sdp))
    }

    pub fn has_remote_candidate_for(&self, ufrag: &str) -> bool {
        self.remote_candidate_ufrags.iter().any(|u| u == ufrag)
    }

    /// Whether both committed descriptions carry the data channel.
    pub fn channel_negotiated(&self) -> bool {
        matches!((&self.current_local, &self.current_remote),
            (Some(l), Some(r)) if has_app(&l.sdp) && has_app(&r.sdp))
    }

    pub fn create_data_channel(&mut self) {
        self.wants_channel = true;
        self.update_negotiation_needed();
    }

    fn new_ufrag(&mut self) -> String {
        self.ufrags_made += 1;
        format!("{}u{}", self.name, self.ufrags_made)
    }

    fn describe(&mut self, ufrag: &str, app: bool) -> String {
        self.version += 1;
        let sdp = fake_sdp(self.session, self.version, &self.fingerprint, ufrag, app);
        self.last_created = Some(sdp.clone());
        sdp
    }

    pub fn create_offer(&mut self, ice_restart: bool) -> Result<String, String> {
        if self.signaling == SignalingState::HaveRemoteOffer {
            return Err("create_offer in have-remote-offer".into());
        }
        if ice_restart {
            let ufrag = self.new_ufrag();
            self.staged_ufrag = Some(ufrag);
        }
        let ufrag = self
            .staged_ufrag
            .clone()
            .unwrap_or_else(|| self.local_ufrag.clone());
        let app = self.wants_channel || self.channel_negotiated();
        Ok(self.describe(&ufrag, app))
    }

    pub fn create_answer(&mut self) -> Result<String, String> {
        let Some(offer) = self.pending_remote.clone() else {
            return Err("create_answer without a remote offer".into());
        };
        let previous = self.current_remote.as_ref().and_then(|d| ufrag_of(&d.sdp));
        if previous.is_some() && previous != ufrag_of(&offer.sdp) {
            // Like webrtc-rs: a remote ICE restart restarts ours too.
            self.local_ufrag = self.new_ufrag();
        }
        let ufrag = self.local_ufrag.clone();
        Ok(self.describe(&ufrag, has_app(&offer.sdp)))
    }

    pub fn set_local(&mut self, description: SessionDescription) -> Result<(), String> {
        if self.last_created.as_deref() != Some(description.sdp.as_str()) {
            return Err("new sdp does not match previous offer".into());
        }
        match description.kind {
            SdpType::Offer => {
                if self.signaling == SignalingState::HaveRemoteOffer {
                    return Err("invalid proposed signaling state transition".into());
                }
                if let Some(ufrag) = self.staged_ufrag.take() {
                    self.local_ufrag = ufrag;
                }
                self.pending_local = Some(description);
                self.signaling = SignalingState::HaveLocalOffer;
            }
            SdpType::Answer => {
                if self.signaling != SignalingState::HaveRemoteOffer {
                    return Err("invalid proposed signaling state transition".into());
                }
                self.current_local = Some(description);
                self.current_remote = self.pending_remote.take();
                self.signaling = SignalingState::Stable;
                self.update_negotiation_needed();
            }
        }
        self.gather();
        Ok(())
    }

    pub fn rollback(&mut self) -> Result<(), String> {
        if self.signaling != SignalingState::HaveLocalOffer {
            return Err("rollback outside have-local-offer".into());
        }
        self.pending_local = None;
        self.signaling = SignalingState::Stable;
        // Like webrtc-rs: returning to stable ends the negotiation in
        // progress, so an unmet need fires the event again.
        self.negotiation_ongoing = false;
        self.update_negotiation_needed();
        Ok(())
    }

    pub fn set_remote(&mut self, description: SessionDescription) -> Result<(), String> {
        let current_fingerprint = self
            .current_remote
            .as_ref()
            .and_then(|current| fingerprint_of(&current.sdp));
        if current_fingerprint.is_some_and(|fp| Some(fp) != fingerprint_of(&description.sdp)) {
            return Err("cannot renegotiate into a new DTLS session".into());
        }
        match description.kind {
            SdpType::Offer => {
                if self.signaling != SignalingState::Stable {
                    return Err("invalid proposed signaling state transition".into());
                }
                self.pending_remote = Some(description);
                self.signaling = SignalingState::HaveRemoteOffer;
            }
            SdpType::Answer => {
                if self.signaling != SignalingState::HaveLocalOffer {
                    return Err("invalid proposed signaling state transition".into());
                }
                self.current_local = self.pending_local.take();
                self.current_remote = Some(description);
                self.signaling = SignalingState::Stable;
                self.update_negotiation_needed();
            }
        }
        Ok(())
    }

    pub fn add_candidate(&mut self, candidate: &IceCandidate) -> Result<(), String> {
        let Some(remote) = self
            .pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
        else {
            return Err("remote description is not set".into());
        };
        let expected = ufrag_of(&remote.sdp).map(str::to_owned);
        match candidate.ufrag() {
            Some(ufrag) if Some(ufrag) == expected.as_deref() => {
                self.remote_candidate_ufrags.push(ufrag.to_owned());
                Ok(())
            }
            _ => Err("candidate for an unknown ufrag".into()),
        }
    }

    /// Candidates for a new set of local ICE credentials, as webrtc-rs
    /// gathers after `set_local_description`; one names its ufrag only in the
    /// candidate line, as browsers do.
    fn gather(&mut self) {
        if self.gathered_ufrag.as_deref() == Some(self.local_ufrag.as_str()) {
            return;
        }
        let ufrag = self.local_ufrag.clone();
        for (n, explicit) in [(1, true), (2, false)] {
            self.events
                .push_back(StackEvent::LocalCandidate(Some(IceCandidate {
                    candidate: format!(
                        "candidate:{n} 1 udp 1 {ufrag}.{n} 9 typ host ufrag {ufrag}"
                    ),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: explicit.then(|| ufrag.clone()),
                })));
        }
        self.events.push_back(StackEvent::LocalCandidate(None));
        self.gathered_ufrag = Some(ufrag);
    }

    /// webrtc-rs fires negotiation-needed once per unmet need, only when
    /// stable, and again when a rollback returns it to stable unmet.
    fn update_negotiation_needed(&mut self) {
        if self.channel_negotiated() {
            self.negotiation_ongoing = false;
            return;
        }
        if self.signaling == SignalingState::Stable
            && self.wants_channel
            && !self.negotiation_ongoing
        {
            self.negotiation_ongoing = true;
            self.events.push_back(StackEvent::NegotiationNeeded);
        }
    }
}
