//! Negotiation messages between two peers, relayed by the signaling server
//! (protocol.md §4): the typed values the negotiation core works with, and
//! their JSON form on the wire.
//!
//! The seed's forms are kept exactly, because old clients parse them: an
//! offer has a top-level `"type":"offer"`, an answer has none, and the end of
//! candidates is `{"candidate":null}`. A receiver accepts a description with
//! or without the top-level `type`, reading the kind from the description.

use serde_json::{Map, Value, json};

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

impl SignalMessage {
    /// The JSON object that carries this message to the other peer.
    pub fn to_json(&self) -> Map<String, Value> {
        encode(self)
    }

    /// Reads a negotiation message from a relayed JSON object.
    pub fn from_json(body: &Map<String, Value>) -> Result<Self, DecodeError> {
        decode(body)
    }
}

fn encode(message: &SignalMessage) -> Map<String, Value> {
    let value = match message {
        SignalMessage::Description(description) => match description.kind {
            SdpType::Offer => json!({
                "type": "offer",
                "description": {"type": "offer", "sdp": description.sdp},
            }),
            SdpType::Answer => json!({
                "description": {"type": "answer", "sdp": description.sdp},
            }),
        },
        SignalMessage::Candidate(candidate) => json!({
            "candidate": {
                "candidate": candidate.candidate,
                "sdpMid": candidate.sdp_mid,
                "sdpMLineIndex": candidate.sdp_mline_index,
                "usernameFragment": candidate.username_fragment,
            }
        }),
        SignalMessage::EndOfCandidates => json!({"candidate": null}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Why a relayed message is not a negotiation message we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Neither `description` nor `candidate`: some other message type, which
    /// the relay passes through and we ignore.
    #[error("not a negotiation message")]
    NotNegotiation,
    /// It claims to be one but a field is missing or of the wrong kind.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

fn decode(body: &Map<String, Value>) -> Result<SignalMessage, DecodeError> {
    if let Some(description) = body.get("description") {
        let kind = description
            .get("type")
            .or_else(|| body.get("type"))
            .and_then(Value::as_str);
        let kind = match kind {
            Some("offer") => SdpType::Offer,
            Some("answer") => SdpType::Answer,
            _ => {
                return Err(DecodeError::Malformed(
                    "description: type is not offer or answer",
                ));
            }
        };
        let sdp = description
            .get("sdp")
            .and_then(Value::as_str)
            .ok_or(DecodeError::Malformed("description: no sdp"))?;
        return Ok(SignalMessage::Description(SessionDescription {
            kind,
            sdp: sdp.to_owned(),
        }));
    }
    match body.get("candidate") {
        None => Err(DecodeError::NotNegotiation),
        Some(Value::Null) => Ok(SignalMessage::EndOfCandidates),
        Some(candidate) => {
            let text = candidate
                .get("candidate")
                .and_then(Value::as_str)
                .ok_or(DecodeError::Malformed("candidate: no candidate string"))?;
            // Browsers signal the end of a generation with an empty candidate string.
            if text.is_empty() {
                return Ok(SignalMessage::EndOfCandidates);
            }
            Ok(SignalMessage::Candidate(IceCandidate {
                candidate: text.to_owned(),
                sdp_mid: candidate
                    .get("sdpMid")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                sdp_mline_index: candidate
                    .get("sdpMLineIndex")
                    .and_then(Value::as_u64)
                    .and_then(|i| u16::try_from(i).ok()),
                username_fragment: candidate
                    .get("usernameFragment")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn offers_keep_the_seeds_top_level_type() {
        let offer = SignalMessage::Description(SessionDescription::offer("v=0"));
        assert_eq!(
            Value::Object(offer.to_json()),
            json!({"type":"offer","description":{"type":"offer","sdp":"v=0"}})
        );
    }

    #[test]
    fn answers_have_no_top_level_type_and_decode_either_way() {
        let answer = SignalMessage::Description(SessionDescription::answer("v=0"));
        let wire = answer.to_json();
        assert!(!wire.contains_key("type"));
        assert_eq!(SignalMessage::from_json(&wire), Ok(answer.clone()));
        let with_type =
            object(json!({"type":"answer","description":{"type":"answer","sdp":"v=0"}}));
        assert_eq!(SignalMessage::from_json(&with_type), Ok(answer));
    }

    #[test]
    fn candidates_round_trip_and_null_ends_them() {
        let candidate = SignalMessage::Candidate(IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
        });
        assert_eq!(
            SignalMessage::from_json(&candidate.to_json()),
            Ok(candidate)
        );
        assert_eq!(
            SignalMessage::from_json(&object(json!({"candidate":null}))),
            Ok(SignalMessage::EndOfCandidates)
        );
    }

    #[test]
    fn other_messages_are_not_negotiation_and_broken_ones_are_malformed() {
        assert_eq!(
            SignalMessage::from_json(&object(json!({"type":"hello"}))),
            Err(DecodeError::NotNegotiation)
        );
        assert!(matches!(
            SignalMessage::from_json(&object(
                json!({"description":{"type":"pranswer","sdp":"x"}})
            )),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            SignalMessage::from_json(&object(json!({"candidate":{"sdpMid":"0"}}))),
            Err(DecodeError::Malformed(_))
        ));
    }
}
