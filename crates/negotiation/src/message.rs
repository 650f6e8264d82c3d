//! The negotiation messages exchanged with the remote peer, already parsed.
//!
//! Parsing the wire JSON (with or without a top-level `type`) is the engine's
//! job; the core only sees these typed values.

/// Whether a description is an offer or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpType {
    /// A description that starts an offer/answer exchange.
    Offer,
    /// A description that completes an offer/answer exchange.
    Answer,
}

/// A session description as created by the stack or received from the remote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    /// Offer or answer.
    pub kind: SdpType,
    /// The SDP text, passed through untouched.
    pub sdp: String,
}

impl SessionDescription {
    /// An offer with the given SDP.
    pub fn offer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Offer,
            sdp: sdp.into(),
        }
    }

    /// An answer with the given SDP.
    pub fn answer(sdp: impl Into<String>) -> Self {
        Self {
            kind: SdpType::Answer,
            sdp: sdp.into(),
        }
    }
}

/// An ICE candidate, local or remote, in the shape of `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceCandidate {
    /// The `candidate:...` attribute text.
    pub candidate: String,
    /// The media section id the candidate belongs to.
    pub sdp_mid: Option<String>,
    /// The media section index the candidate belongs to.
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment of the description the candidate belongs to.
    pub username_fragment: Option<String>,
}

impl IceCandidate {
    /// The ufrag this candidate belongs to: the explicit field, or else the
    /// `ufrag` extension that browsers append to the candidate line.
    ///
    /// The ufrag ties a candidate to one ICE generation of one remote
    /// description, which is how candidates of an ignored or superseded
    /// description are told apart from current ones.
    pub fn ufrag(&self) -> Option<&str> {
        if let Some(ufrag) = self.username_fragment.as_deref() {
            return Some(ufrag);
        }
        let mut words = self.candidate.split_ascii_whitespace();
        while let Some(word) = words.next() {
            if word == "ufrag" {
                return words.next();
            }
        }
        None
    }
}

/// A negotiation message to or from the remote peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalMessage {
    /// An offer or an answer (`{"description":{...}}`).
    Description(SessionDescription),
    /// A trickled ICE candidate (`{"candidate":{...}}`).
    Candidate(IceCandidate),
    /// The end of trickled candidates (`{"candidate":null}`).
    EndOfCandidates,
}
