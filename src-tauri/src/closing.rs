//! Closing the window with messages not yet delivered asks first.
//!
//! Parlor delivers a message once both sides are online; closing the app is
//! the one way a person can unknowingly hold a message back (or, with a
//! store in memory, lose it). So the main window's close request is held
//! while the store counts undelivered messages, and the window is told
//! ([`CLOSE_REQUESTED_EVENT`]) to ask; its Close button ends the app through
//! the `confirm_close` command. With nothing undelivered, closing is as
//! before.

use serde::Serialize;
use tauri::{Emitter, Manager, Runtime, Window, WindowEvent};
use tracing::warn;

use crate::links::MAIN_WINDOW;
use crate::state::AppState;

/// The Tauri event asking the window to confirm closing; carries a
/// [`CloseRequest`].
pub const CLOSE_REQUESTED_EVENT: &str = "close-requested";

/// What the window needs to word its question.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseRequest {
    /// Our messages that have not reached everyone they are for.
    pub undelivered: usize,
    /// Whether they outlive the app (a store on disk) or are lost on close.
    pub kept: bool,
}

/// The app's window event handler: holds a close of the main window while
/// messages are undelivered and the person has not confirmed.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    if window.label() != MAIN_WINDOW {
        return;
    }
    let Some(state) = window.try_state::<AppState>() else {
        return;
    };
    let Some(request) = must_ask(&state) else {
        return;
    };
    api.prevent_close();
    if let Err(error) = window.emit(CLOSE_REQUESTED_EVENT, &request) {
        // A window that cannot be asked must still be closable.
        warn!(%error, "cannot ask the window to confirm closing; closing");
        state.allow_close();
        let _ = window.close();
    }
}

/// What to ask about before closing, or `None` to close at once: closing
/// was confirmed, everything was delivered, or the store cannot tell (a
/// broken store must not keep the window open).
fn must_ask(state: &AppState) -> Option<CloseRequest> {
    if state.close_allowed() {
        return None;
    }
    match state.undelivered() {
        Ok(0) => None,
        Ok(undelivered) => Some(CloseRequest {
            undelivered,
            kept: state.messages_kept(),
        }),
        Err(error) => {
            warn!(%error, "cannot count undelivered messages; closing without asking");
            None
        }
    }
}
