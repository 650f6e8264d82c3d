//! The negotiation steps a person sees on a peer's timeline.

use parlor_negotiation::{Event, RestartReason};
use serde::Serialize;

/// One step of negotiating a connection with a peer.
///
/// Serialized in kebab-case (`offer-sent`, …): these names are a stable
/// contract with the window, whose label table a test checks against
/// [`Step::all`], and with scripts reading
/// `parlor-peer`'s output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::EnumIter, strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Step {
    /// Our offer was sent.
    OfferSent,
    /// Our offer went unanswered for a while and was sent again.
    OfferResent,
    /// Our offer stayed unanswered after every re-send; we wait for the peer.
    OfferUnanswered,
    /// The peer's offer arrived.
    OfferReceived,
    /// Our answer was sent.
    AnswerSent,
    /// The peer sent its offer again and got our answer again.
    AnswerResent,
    /// The peer's answer arrived.
    AnswerReceived,
    /// Both sides offered at once and ours gave way (we are the polite side).
    RolledBackForGlare,
    /// Both sides offered at once and ours stands (we are the impolite side).
    IgnoredCollidingOffer,
    /// The connection broke; a new ICE negotiation starts.
    IceRestart,
    /// The offer of an ICE restart was sent.
    IceRestartOfferSent,
    /// The peer started over with a new connection; ours is rebuilt.
    RemoteRestarted,
    /// The network path works but the encrypted handshake never completed;
    /// the connection is rebuilt.
    HandshakeTimedOut,
    /// This machine's network changed under the connection; it is rebuilt
    /// from the addresses there are now.
    NetworkChanged,
    /// No network path worked in time; the connection is rebuilt and tried
    /// again, for as long as the peer is in the room.
    NoPathYet,
    /// A WebRTC operation failed; negotiation recovers on its own.
    OperationFailed,
}

impl Step {
    /// Every step, for checking a table of labels against.
    pub fn all() -> impl Iterator<Item = Step> {
        <Step as strum::IntoEnumIterator>::iter()
    }

    /// The stable name, as serialized.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The step a negotiation event shows as, with a detail for people,
    /// or `None` for events that are only worth a debug log line.
    pub(crate) fn of(event: &Event) -> Option<(Self, Option<String>)> {
        Some(match event {
            Event::OfferSent { ice_restart: false } => (Step::OfferSent, None),
            Event::OfferSent { ice_restart: true } => (Step::IceRestartOfferSent, None),
            Event::OfferResent { attempt } => {
                (Step::OfferResent, Some(format!("attempt {attempt}")))
            }
            Event::OfferUnanswered => (Step::OfferUnanswered, None),
            Event::OfferReceived => (Step::OfferReceived, None),
            Event::AnswerSent => (Step::AnswerSent, None),
            Event::AnswerResent => (Step::AnswerResent, None),
            Event::AnswerReceived => (Step::AnswerReceived, None),
            Event::RolledBackForGlare => (Step::RolledBackForGlare, None),
            Event::IgnoredCollidingOffer => (Step::IgnoredCollidingOffer, None),
            Event::IceRestart(reason) => (
                Step::IceRestart,
                Some(
                    match reason {
                        RestartReason::Failed => "the connection failed",
                        RestartReason::DisconnectedTooLong => "the connection was lost",
                    }
                    .to_owned(),
                ),
            ),
            Event::RemoteRestarted => (Step::RemoteRestarted, None),
            Event::HandshakeTimedOut => (
                Step::HandshakeTimedOut,
                Some(
                    "the peer's certificate may not be the one the signaling server relayed: someone may be in the middle"
                        .to_owned(),
                ),
            ),
            Event::NetworkChanged => (Step::NetworkChanged, None),
            Event::ConnectTimedOut { attempt, next_wait } => (
                Step::NoPathYet,
                Some(format!(
                    "attempt {attempt}; the next one has {} s",
                    next_wait.as_secs()
                )),
            ),
            Event::OperationFailed { operation, error } => (
                Step::OperationFailed,
                Some(format!("{operation:?}: {error}")),
            ),
            Event::IgnoredOutdatedOffer
            | Event::AnswerApplied
            | Event::IgnoredAnswer(_)
            | Event::CandidateQueued
            | Event::CandidateDropped(_)
            | Event::RemoteEndOfCandidates
            | Event::Connected
            | Event::Disconnected => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_serializes_to_its_stable_name() {
        for step in Step::all() {
            let json = serde_json::to_value(step).unwrap_or_default();
            assert_eq!(json, step.name(), "{step:?}");
        }
    }
}
