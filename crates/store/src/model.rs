//! The values that go in and come out of the store.

/// Where one of our messages stands with one recipient. Stored as the text
/// of [`DeliveryState::as_str`], so the file reads plainly in any SQLite
/// shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Owed: not yet handed to the recipient's data channel.
    Queued,
    /// Handed to the data channel; a client that acknowledges still owes
    /// us an acknowledgement, an old one never sends one.
    Sent,
    /// The recipient acknowledged it. Final.
    Delivered,
    /// Giving up for now; a retry puts it back to [`DeliveryState::Queued`].
    Failed,
}

impl DeliveryState {
    /// The text the state is stored as: `queued`, `sent`, `delivered` or
    /// `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state stored as `text`, if it is one.
    pub(crate) fn parse(text: &str) -> Option<DeliveryState> {
        match text {
            "queued" => Some(DeliveryState::Queued),
            "sent" => Some(DeliveryState::Sent),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// A room we have been in, for the "recent rooms" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// The room's link, which is its key.
    pub link: String,
    /// The signaling server the room lives on.
    pub server: String,
    /// The name shown for the room.
    pub name: String,
    /// When we were last in it (ms since the Unix epoch).
    pub last_active_ms: u64,
}

/// A message to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewMessage<'a> {
    /// The room's link.
    pub room: &'a str,
    /// The message id; `None` for messages from old clients, which send none.
    pub id: Option<&'a str>,
    /// The sender's certificate fingerprint.
    pub sender: &'a str,
    /// The name the sender goes by, if known.
    pub sender_name: Option<&'a str>,
    /// The message text.
    pub text: &'a str,
    /// When it was sent (ours) or received (theirs), ms since the Unix epoch.
    pub at_ms: u64,
}

/// One of our messages still owed to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// The message id, to send again with.
    pub id: String,
    /// The message text.
    pub text: String,
}

/// Where one of our messages stands with one recipient, for the message's
/// delivery marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    /// The recipient's certificate fingerprint.
    pub fingerprint: String,
    /// The name the recipient went by, if known.
    pub name: Option<String>,
    /// How far delivery got.
    pub state: DeliveryState,
    /// When the state last changed (ms since the Unix epoch).
    pub updated_ms: u64,
}

/// A message as stored, for drawing the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Insertion order across the whole store; page with it.
    pub seq: i64,
    /// The message id; `None` for messages from old clients.
    pub id: Option<String>,
    /// Ours (`true`) or a peer's.
    pub outgoing: bool,
    /// The sender's certificate fingerprint.
    pub sender: String,
    /// The name the sender went by, if known.
    pub sender_name: Option<String>,
    /// The message text.
    pub text: String,
    /// When it was sent (ours) or received (theirs), ms since the Unix epoch.
    pub at_ms: u64,
    /// Ours only: who it is owed to and how far each got. Empty on one of
    /// ours means it is waiting for someone to join.
    pub recipients: Vec<RecipientState>,
}
