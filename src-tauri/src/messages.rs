//! The profile's message store (`messages.db`) as the window sees it.
//!
//! The store is opened once, when the app starts, and the app starts
//! whatever state the file is in: a damaged file (or one written by a newer
//! Parlor) is moved aside, never deleted, and a fresh one takes its place; a
//! file that cannot be used at all is replaced by a store in memory. Either
//! way the person is told ([`Opened::notice`]), since both change what they
//! will find: an empty history, or messages that will not outlive the app.
//!
//! The engine writes the store; the app only reads it, for the start view's
//! recent rooms and a room's earlier messages.

use std::path::Path;

use parlor_engine::{RoomRecord, Store, StoreError, StoredMessage};
use serde::Serialize;
use tracing::warn;

use crate::contacts::short_fingerprint;
use crate::links::LinkInfo;

/// The store's file name inside the profile (config) directory.
pub const FILE_NAME: &str = "messages.db";

/// How many rooms the start view lists: enough to find last week's rooms,
/// few enough to take in at a glance.
pub const RECENT_ROOMS: usize = 20;

/// Messages per page of history: a screenful many times over, small enough
/// to read and draw at once when scrolling back.
pub const HISTORY_PAGE: usize = 200;

/// The store the app runs with, and what the person should be told about it.
pub struct Opened {
    /// The store; `None` only if not even a store in memory could be made
    /// (the engine then keeps its own for each room).
    pub store: Option<Store>,
    /// Whether messages outlive the app (a file, not memory).
    pub kept: bool,
    /// Something the person needs to know: the store was damaged and moved
    /// aside, or messages will not be kept.
    pub notice: Option<String>,
}

/// Opens `<dir>/messages.db`, recovering what can be recovered (see the
/// module documentation). Never fails: the app must start.
pub fn open(dir: &Path, now_ms: u64) -> Opened {
    let path = dir.join(FILE_NAME);
    let opened = std::fs::create_dir_all(dir)
        .map_err(|error| {
            format!(
                "cannot create the profile directory {}: {error}",
                dir.display()
            )
        })
        .and_then(|()| Store::open_or_recover(&path, now_ms).map_err(|e| e.to_string()));
    let opened = match opened {
        Ok((store, None)) => Opened {
            store: Some(store),
            kept: true,
            notice: None,
        },
        Ok((store, Some(recovered))) => Opened {
            store: Some(store),
            kept: true,
            notice: Some(recovered_notice(&path, &recovered.moved_to, &recovered.why)),
        },
        Err(why) => {
            let notice = format!("Messages will not be kept: {why}.");
            match Store::in_memory() {
                Ok(store) => Opened {
                    store: Some(store),
                    kept: false,
                    notice: Some(notice),
                },
                Err(error) => Opened {
                    store: None,
                    kept: false,
                    notice: Some(format!("{notice} ({error})")),
                },
            }
        }
    };
    if let Some(notice) = &opened.notice {
        warn!("{notice}");
    }
    opened
}

/// What to tell the person when their store was moved aside: which file,
/// why, where it is now (they may want it back), and that a new one started.
fn recovered_notice(path: &Path, moved_to: &Path, why: &StoreError) -> String {
    let what = match why {
        StoreError::Corrupt { detail, .. } => format!("was damaged ({detail})"),
        StoreError::NewerVersion {
            found, supported, ..
        } => format!(
            "was written by a newer Parlor (its format is version {found}; this Parlor reads up to {supported})"
        ),
        other => format!("could not be read ({other})"),
    };
    format!(
        "Your message store {} {what}; it was moved to {} and a fresh one started.",
        path.display(),
        moved_to.display()
    )
}

/// A room this profile was in, for the start view's "Recent rooms".
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentRoom {
    /// Where the link leads, as the link dialog shows it.
    #[serde(flatten)]
    pub info: LinkInfo,
    /// The room's name as the store keeps it.
    pub name: String,
    /// When we were last in it, in milliseconds since the Unix epoch.
    pub last_active_ms: u64,
}

impl RecentRoom {
    /// The room `record`, whose link leads to `info`.
    pub fn new(record: RoomRecord, info: LinkInfo) -> Self {
        Self {
            info,
            name: record.name,
            last_active_ms: record.last_active_ms,
        }
    }
}

/// One message of a room's history, as the log draws it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryMessage {
    /// Its place in the store; the next page back is the one before the
    /// smallest `seq` shown.
    pub seq: i64,
    /// Its message id (none from old clients): the same message arriving
    /// live is matched by it, so it is not shown twice.
    pub id: Option<String>,
    /// Ours, or someone else's.
    pub outgoing: bool,
    /// The name the sender went by, if known.
    pub sender_name: Option<String>,
    /// The sender's short identity (`ab:cd:ef:01`), shown beside the name.
    pub sender: String,
    /// The sender's whole identity, for the tooltip.
    pub sender_fingerprint: String,
    /// The text, always shown as text.
    pub text: String,
    /// When it was sent (ours) or received, in milliseconds since the epoch.
    pub at_ms: u64,
    /// Ours only: how far it got with each person it is for. Empty: it is
    /// waiting for someone to come.
    pub recipients: Vec<HistoryRecipient>,
}

/// How far one of our messages got with one person.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRecipient {
    /// Their identity: live delivery events are matched to it through the
    /// fingerprint of the peer that sends them.
    pub fingerprint: String,
    /// Who they are to the reader: their name, or their short identity.
    pub label: String,
    /// `queued`, `sent`, `delivered` or `failed`.
    pub state: &'static str,
}

impl From<StoredMessage> for HistoryMessage {
    fn from(message: StoredMessage) -> Self {
        let recipients = message
            .recipients
            .into_iter()
            .map(|recipient| HistoryRecipient {
                label: recipient
                    .name
                    .filter(|name| !name.trim().is_empty())
                    .unwrap_or_else(|| short_fingerprint(&recipient.fingerprint)),
                fingerprint: recipient.fingerprint,
                state: recipient.state.as_str(),
            })
            .collect();
        Self {
            seq: message.seq,
            id: message.id,
            outgoing: message.outgoing,
            sender_name: message.sender_name,
            sender: short_fingerprint(&message.sender),
            sender_fingerprint: message.sender,
            text: message.text,
            at_ms: message.at_ms,
            recipients,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use parlor_engine::{DeliveryState, RecipientState};

    use super::*;

    #[test]
    fn the_notice_names_the_file_why_and_where_it_went() {
        let path = PathBuf::from("/p/messages.db");
        let moved = PathBuf::from("/p/messages.db.damaged-5");
        let damaged = recovered_notice(
            &path,
            &moved,
            &StoreError::Corrupt {
                path: path.clone(),
                detail: "file is not a database".into(),
            },
        );
        assert_eq!(
            damaged,
            "Your message store /p/messages.db was damaged (file is not a database); \
             it was moved to /p/messages.db.damaged-5 and a fresh one started."
        );
        let newer = recovered_notice(
            &path,
            &moved,
            &StoreError::NewerVersion {
                path: path.clone(),
                found: 9,
                supported: 1,
            },
        );
        assert!(newer.contains("written by a newer Parlor"), "{newer}");
        assert!(newer.contains("/p/messages.db.damaged-5"), "{newer}");
    }

    #[test]
    fn a_stored_message_is_shown_with_short_identities_and_named_recipients() {
        let fingerprint = |byte: u8| vec![format!("{byte:02x}"); 32].join(":");
        let message = HistoryMessage::from(StoredMessage {
            seq: 7,
            id: Some("m1".into()),
            outgoing: true,
            sender: fingerprint(0xaa),
            sender_name: Some("Alice".into()),
            text: "hi".into(),
            at_ms: 1_000,
            recipients: vec![
                RecipientState {
                    fingerprint: fingerprint(0xb0),
                    name: Some("Bob".into()),
                    state: DeliveryState::Delivered,
                    updated_ms: 2_000,
                },
                RecipientState {
                    fingerprint: fingerprint(0xc0),
                    name: None,
                    state: DeliveryState::Queued,
                    updated_ms: 2_000,
                },
            ],
        });
        let json = serde_json::to_value(&message).unwrap_or_default();
        assert_eq!(json["sender"], "aa:aa:aa:aa");
        assert_eq!(json["senderName"], "Alice");
        assert_eq!(json["atMs"], 1_000);
        assert_eq!(json["recipients"][0]["label"], "Bob");
        assert_eq!(json["recipients"][0]["state"], "delivered");
        assert_eq!(json["recipients"][1]["label"], "c0:c0:c0:c0");
        assert_eq!(json["recipients"][1]["state"], "queued");
    }
}
