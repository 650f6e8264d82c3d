//! Forwards each room's engine event stream to the UI as one Tauri event,
//! each event unchanged but for one added field, `room_session`, naming the
//! room it belongs to; the UI builds every room's peer list, progress
//! timelines, message log and unread count from it. A message may also
//! raise a desktop notification ([`notify`](crate::notify)).

use std::sync::Arc;
use std::time::Instant;

use parlor_engine::{Event, EventKind};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::mpsc;
use tracing::warn;

use crate::files::ReceivedFiles;
use crate::notify::{self, Notifier};

/// The Tauri event carrying one serialized engine [`Event`].
pub const ENGINE_EVENT: &str = "engine-event";

/// The Tauri event telling the UI a room link arrived (deep link, second
/// launch); the UI then asks for it with `get_state`.
pub const OPEN_LINK_EVENT: &str = "open-link";

/// The field added to every engine event: which room (join) it belongs to,
/// as [`RoomInfo::session`](crate::state::RoomInfo::session) names it.
pub const SESSION_FIELD: &str = "room_session";

/// An engine event as the window receives it.
#[derive(Debug, Serialize)]
pub struct Tagged<'a> {
    /// The room it belongs to.
    pub room_session: u64,
    /// The event, flattened beside it.
    #[serde(flatten)]
    pub event: &'a Event,
}

/// Emits every event of the room `session` to the UI until the room's
/// stream ends (it was left). Each file received is noted in `received`
/// first, so the window's Open button for it works as soon as it shows; a
/// message is offered to `notifier`.
pub fn forward<R: Runtime>(
    app: AppHandle<R>,
    mut events: mpsc::UnboundedReceiver<Event>,
    session: u64,
    notifier: Arc<Notifier>,
    received: ReceivedFiles,
) {
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            match &event.kind {
                EventKind::FileReceived { path, .. } => received.remember(path),
                EventKind::Message {
                    from, name, text, ..
                } => {
                    let sender = match name {
                        Some(name) if !name.trim().is_empty() => name.clone(),
                        _ => format!("Peer {}", from.chars().take(8).collect::<String>()),
                    };
                    if let Some(note) = notifier.message(session, &sender, text, Instant::now()) {
                        notify::show(&app, note);
                    }
                }
                _ => {}
            }
            let tagged = Tagged {
                room_session: session,
                event: &event,
            };
            if let Err(error) = app.emit(ENGINE_EVENT, &tagged) {
                warn!(%error, "cannot forward an engine event to the window");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use parlor_engine::{Event, EventKind, IceConnectionState, Step};

    use super::{SESSION_FIELD, Tagged};

    #[test]
    fn events_reach_the_window_unchanged_but_for_their_room() {
        let event = Event {
            at_ms: 5,
            kind: EventKind::PeerLeft { peer: "p".into() },
        };
        let tagged = serde_json::to_value(Tagged {
            room_session: 3,
            event: &event,
        })
        .unwrap_or_default();
        let mut expected = serde_json::to_value(&event).unwrap_or_default();
        expected[SESSION_FIELD] = 3.into();
        assert_eq!(tagged, expected);
        assert_eq!(tagged["event"], "peer-left");
    }

    /// The keys of the object literal `const NAME = { … };` in `ui/labels.js`.
    fn label_keys(name: &str) -> BTreeSet<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/labels.js");
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let start = source
            .find(&format!("const {name} = {{"))
            .unwrap_or_else(|| panic!("no {name} in {path}"));
        let body = &source[start..];
        let end = body
            .find("};")
            .unwrap_or_else(|| panic!("{name} is not closed"));
        body[..end]
            .lines()
            .skip(1)
            .filter_map(|line| line.trim().split_once(':'))
            .map(|(key, _)| key.trim().trim_matches('"').to_owned())
            .collect()
    }

    fn names<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> BTreeSet<String> {
        values
            .into_iter()
            .map(|value| match serde_json::to_value(value) {
                Ok(serde_json::Value::String(name)) => name,
                other => panic!("not serialized as a name: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_window_has_a_label_for_every_negotiation_step_and_no_other() {
        assert_eq!(label_keys("STEP_LABELS"), names(Step::all()));
    }

    #[test]
    fn the_window_has_a_label_for_every_ice_state_and_no_other() {
        assert_eq!(label_keys("ICE_LABELS"), names(IceConnectionState::ALL));
    }
}
