//! What travels on the `chat` data channel (protocol.md §5).
//!
//! Only between peers: the signaling server never sees these.
//!
//! Both sides first send an `info` message. Old clients send
//! `{"type":"info","peerId":"..."}` and then plain UTF-8 text; a Parlor peer adds
//! `app`, `version`, `name` and `caps` to its `info`. Richer messages (ids and
//! delivery acknowledgements) are used only when the other side announced them,
//! so an old client only ever sees plain text from us.

use serde::{Deserialize, Serialize};

use crate::envelope::APP_PARLOR;
use crate::files::{CAP_FILES, FileOffer};

/// The label both the old library and Parlor give the chat channel.
pub const CHANNEL_LABEL: &str = "chat";

/// Capability: chat messages carry ids and are acknowledged on arrival.
const CAP_ACKED_MESSAGES: &str = "acked-messages";

/// The first message each side sends when the channel opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// The sender's signaling id (the seed's only field).
    pub peer_id: String,
    /// `"parlor"` for Parlor peers; absent for old clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The sender's Parlor version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A display name the sender chose, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Capabilities the sender supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
}

impl Info {
    /// The `info` a Parlor peer sends: everything an old client ignores is optional.
    pub fn parlor(peer_id: &str, name: Option<&str>) -> Self {
        Self {
            peer_id: peer_id.to_owned(),
            app: Some(APP_PARLOR.to_owned()),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            name: name.map(str::to_owned),
            caps: vec![CAP_ACKED_MESSAGES.to_owned(), CAP_FILES.to_owned()],
        }
    }

    /// The `info` an old client sends: its id and nothing else. Also what a
    /// peer that never sent `info` is taken to be.
    pub fn old_client(peer_id: &str) -> Self {
        Self {
            peer_id: peer_id.to_owned(),
            app: None,
            version: None,
            name: None,
            caps: Vec::new(),
        }
    }

    /// Whether the sender is a Parlor peer.
    pub fn is_parlor(&self) -> bool {
        self.app.as_deref() == Some(APP_PARLOR)
    }

    /// Whether the sender takes file offers.
    pub fn supports_files(&self) -> bool {
        self.is_parlor() && self.caps.iter().any(|c| c == CAP_FILES)
    }

    /// Whether the sender can take messages with ids and will acknowledge them.
    pub fn supports_acked_messages(&self) -> bool {
        self.is_parlor() && self.caps.iter().any(|c| c == CAP_ACKED_MESSAGES)
    }
}

/// Longest display name shown, in characters; longer ones are cut.
pub const MAX_NAME_CHARS: usize = 64;

/// A display name a peer claimed, made safe to show: control characters
/// and the invisible characters that reorder text (bidi overrides and
/// isolates, which can make one name read as another) removed, white space
/// trimmed, cut to [`MAX_NAME_CHARS`]. `None` when nothing is left.
pub fn sanitize_name(name: &str) -> Option<String> {
    let reorders = |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control() && !reorders(*c))
        .collect();
    let clean: String = clean.trim().chars().take(MAX_NAME_CHARS).collect();
    let clean = clean.trim_end().to_owned();
    (!clean.is_empty()).then_some(clean)
}

/// Names one chat message: unique per sender, chosen by the sender.
///
/// It travels in [`Frame::Chat`] and [`Frame::Ack`], and the engine hands it
/// to whoever sent the message so that its delivery can be followed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// Wraps an id; any string is accepted, since ids from other peers are
    /// only ever compared.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every structured message on the channel. Text that does not parse as one of
/// these is a plain chat message (what old clients send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Frame {
    /// The opening handshake.
    Info(Info),
    /// A chat message with an id, between Parlor peers.
    Chat {
        /// Unique per sender; the receiver uses it to drop duplicates after a
        /// reconnection re-sends what was not yet acknowledged.
        id: MessageId,
        /// The message text, shown as text (never as HTML).
        text: String,
    },
    /// "I received message `id`": lets the sender show it as delivered.
    Ack {
        /// The id of the acknowledged chat message.
        id: MessageId,
    },
    /// Files offered (protocol.md §5c).
    FileOffer(FileOffer),
    /// The offer is taken: send each file from the byte `have` names (what
    /// the receiver already verified, from an interrupted transfer).
    FileAccept {
        /// The transfer.
        transfer: String,
        /// Verified bytes per file, a multiple of the block size or the
        /// file's size.
        have: Vec<u64>,
    },
    /// The offer is not taken.
    FileDecline {
        /// The transfer.
        transfer: String,
        /// Why, for the sender to read.
        reason: String,
    },
    /// Either side stops the transfer.
    FileCancel {
        /// The transfer.
        transfer: String,
        /// Why, for the other side to read.
        reason: String,
    },
    /// A block did not match its hash: send file `file` again from `offset`.
    FileResend {
        /// The transfer.
        transfer: String,
        /// Index of the file in the offer.
        file: u32,
        /// Where to go on from (the start of the damaged block).
        offset: u64,
    },
    /// File `file` arrived whole and matched its hash.
    FileDone {
        /// The transfer.
        transfer: String,
        /// Index of the file in the offer.
        file: u32,
    },
}

impl Frame {
    /// Whether this is a file transfer control message.
    pub fn is_file_control(&self) -> bool {
        matches!(
            self,
            Frame::FileOffer(_)
                | Frame::FileAccept { .. }
                | Frame::FileDecline { .. }
                | Frame::FileCancel { .. }
                | Frame::FileResend { .. }
                | Frame::FileDone { .. }
        )
    }
}

impl Frame {
    /// Reads one channel message. `None` means plain text: an old client's chat
    /// message, or something we do not understand, which is shown as text too.
    pub fn parse(text: &str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// The JSON text sent on the channel.
    pub fn to_text(&self) -> String {
        // A Frame holds only strings and string lists, which always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_client_info_parses_without_parlor_fields() {
        let frame = Frame::parse(r#"{"type":"info","peerId":"abc"}"#);
        let Some(Frame::Info(info)) = frame else {
            panic!("expected info, got {frame:?}");
        };
        assert_eq!(info.peer_id, "abc");
        assert!(!info.supports_acked_messages());
    }

    #[test]
    fn parlor_info_announces_acked_messages() {
        let text = Frame::Info(Info::parlor("me", Some("Ada"))).to_text();
        let Some(Frame::Info(info)) = Frame::parse(&text) else {
            panic!("round trip failed: {text}");
        };
        assert!(info.supports_acked_messages());
        assert_eq!(info.name.as_deref(), Some("Ada"));
    }

    #[test]
    fn a_name_loses_what_could_disguise_it_and_is_cut() {
        assert_eq!(
            sanitize_name("  Ada\u{202E}nimda \n"),
            Some("Adanimda".into())
        );
        assert_eq!(sanitize_name("\u{2066}\u{0007}"), None);
        let long = "x".repeat(10_000);
        assert_eq!(
            sanitize_name(&long).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn plain_text_is_not_a_frame() {
        assert_eq!(Frame::parse("hello {there}"), None);
        assert_eq!(Frame::parse(r#"{"type":"unknown"}"#), None);
    }

    #[test]
    fn chat_and_ack_round_trip() {
        for frame in [
            Frame::Chat {
                id: MessageId::new("1"),
                text: "<b>hi</b>".into(),
            },
            Frame::Ack {
                id: MessageId::new("1"),
            },
        ] {
            assert_eq!(Frame::parse(&frame.to_text()), Some(frame));
        }
    }
}
