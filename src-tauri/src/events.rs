//! Forwards the engine's event stream to the UI, unchanged, as one Tauri
//! event; the UI builds the peer list, progress timelines and message log
//! from it. Decisive events (connected, refused, unreachable) also go to the
//! join command, so the UI gets a typed error instead of an endless
//! "connecting".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parlor_engine::{Event, EventKind};
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::mpsc;
use tracing::warn;

/// The Tauri event carrying one serialized engine [`Event`].
pub const ENGINE_EVENT: &str = "engine-event";

/// The Tauri event telling the UI a room link arrived (deep link, second
/// launch); the UI then asks for it with `get_state`.
pub const OPEN_LINK_EVENT: &str = "open-link";

/// A step that decides how a join attempt ends.
#[derive(Debug)]
pub enum JoinOutcome {
    /// The server let us into the room.
    Joined,
    /// The server said no (room full, invalid room).
    Refused { reason: String, room_full: bool },
    /// The signaling server could not be reached.
    Unreachable(String),
}

impl JoinOutcome {
    fn of(kind: &EventKind) -> Option<Self> {
        match kind {
            EventKind::SignalingConnected { .. } => Some(Self::Joined),
            EventKind::JoinRefused { reason, room_full } => Some(Self::Refused {
                reason: reason.clone(),
                room_full: *room_full,
            }),
            EventKind::SignalingDisconnected { reason, .. } => {
                Some(Self::Unreachable(reason.clone()))
            }
            EventKind::Left => Some(Self::Unreachable("the room closed".into())),
            _ => None,
        }
    }
}

/// Emits every event of one room to the UI while that room is the current
/// one (`session == current`); stops once a newer room replaced it, so stale
/// events never mix into the new room's view. The returned receiver gets
/// every decisive step, for the join command to judge.
pub fn forward<R: Runtime>(
    app: AppHandle<R>,
    mut events: mpsc::UnboundedReceiver<Event>,
    session: u64,
    current: Arc<AtomicU64>,
) -> mpsc::UnboundedReceiver<JoinOutcome> {
    let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            if current.load(Ordering::SeqCst) != session {
                break;
            }
            if let Err(error) = app.emit(ENGINE_EVENT, &event) {
                warn!(%error, "cannot forward an engine event to the window");
            }
            if let Some(outcome) = JoinOutcome::of(&event.kind) {
                let _ = outcome_tx.send(outcome);
            }
        }
    });
    outcome_rx
}
