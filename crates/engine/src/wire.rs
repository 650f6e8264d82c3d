//! Negotiation messages on the signaling wire (protocol.md §4), to and from
//! the negotiation core's types.
//!
//! The seed's forms are kept exactly, because old clients parse them:
//! an offer has a top-level `"type":"offer"`, an answer has none, and the end
//! of candidates is `{"candidate":null}`. A receiver accepts a description with
//! or without the top-level `type`, reading the kind from the description.

use parlor_negotiation::{IceCandidate, SdpType, SessionDescription, SignalMessage};
use serde_json::{Map, Value, json};

/// The JSON object that carries `message` to the other peer.
pub(crate) fn encode(message: &SignalMessage) -> Map<String, Value> {
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
pub(crate) enum DecodeError {
    /// Neither `description` nor `candidate`: some other message type, which
    /// the relay passes through and we ignore.
    #[error("not a negotiation message")]
    NotNegotiation,
    /// It claims to be one but a field is missing or of the wrong kind.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Reads a negotiation message from a relayed JSON object.
pub(crate) fn decode(body: &Map<String, Value>) -> Result<SignalMessage, DecodeError> {
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
            Value::Object(encode(&offer)),
            json!({"type":"offer","description":{"type":"offer","sdp":"v=0"}})
        );
    }

    #[test]
    fn answers_have_no_top_level_type_and_decode_either_way() {
        let answer = SignalMessage::Description(SessionDescription::answer("v=0"));
        let wire = encode(&answer);
        assert!(!wire.contains_key("type"));
        assert_eq!(decode(&wire), Ok(answer.clone()));
        let with_type =
            object(json!({"type":"answer","description":{"type":"answer","sdp":"v=0"}}));
        assert_eq!(decode(&with_type), Ok(answer));
    }

    #[test]
    fn candidates_round_trip_and_null_ends_them() {
        let candidate = SignalMessage::Candidate(IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
        });
        assert_eq!(decode(&encode(&candidate)), Ok(candidate));
        assert_eq!(
            decode(&object(json!({"candidate":null}))),
            Ok(SignalMessage::EndOfCandidates)
        );
    }

    #[test]
    fn other_messages_are_not_negotiation_and_broken_ones_are_malformed() {
        assert_eq!(
            decode(&object(json!({"type":"hello"}))),
            Err(DecodeError::NotNegotiation)
        );
        assert!(matches!(
            decode(&object(
                json!({"description":{"type":"pranswer","sdp":"x"}})
            )),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode(&object(json!({"candidate":{"sdpMid":"0"}}))),
            Err(DecodeError::Malformed(_))
        ));
    }
}
