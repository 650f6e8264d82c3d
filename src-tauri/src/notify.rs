//! Desktop notifications for messages the person is not looking at: a
//! message in a room that is not on screen, or any message while the
//! window is not focused. Each names the sender and the room; a click on it
//! brings the window up with that room on screen.
//!
//! Whether to notify is decided here, in Rust, from what the window reports
//! (the room on screen, `show_room`) and the window's focus, so a page that
//! is busy or reloading never decides it. Notifications are limited per
//! room (a flood raises one every few seconds, the rest are counted in the
//! next), and the text a peer wrote is shown as plain text, cut short.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, Window, WindowEvent};
use tauri_plugin_notification::NotificationExt;
use tracing::{debug, info};

use crate::links::MAIN_WINDOW;
use crate::state::AppState;

/// The Tauri event asking the window to show a room (a notification was
/// clicked); carries an [`OpenRoom`].
pub const OPEN_ROOM_EVENT: &str = "open-room";

/// At most one notification per room in this time; the messages in
/// between are counted in the next one (and in the room's unread count).
const ROOM_GAP: Duration = Duration::from_secs(3);

/// Longest message text shown in a notification, in characters.
const BODY_CHARS: usize = 160;

/// Longest sender or room name shown in a notification's title.
const NAME_CHARS: usize = 40;

/// What the window is told when a notification is clicked.
#[derive(Debug, Clone, Serialize)]
pub struct OpenRoom {
    /// The room to show, as `RoomInfo::session` names it.
    pub session: u64,
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The room it is about.
    pub session: u64,
    /// "Ada in Team chat".
    pub title: String,
    /// The message, as plain text.
    pub body: String,
}

/// What decides whether a message raises a notification.
#[derive(Debug)]
pub struct Notifier {
    inner: Mutex<Attention>,
}

#[derive(Debug)]
struct Attention {
    enabled: bool,
    focused: bool,
    shown: Option<u64>,
    rooms: HashMap<u64, RoomNote>,
}

#[derive(Debug, Default)]
struct RoomNote {
    label: String,
    muted: bool,
    last: Option<Instant>,
    skipped: usize,
}

impl Notifier {
    /// Notifications on (`enabled`) or off for every room; the window is
    /// taken to be focused until it says otherwise (it opens in front).
    pub fn new(enabled: bool) -> Self {
        Self {
            inner: Mutex::new(Attention {
                enabled,
                focused: true,
                shown: None,
                rooms: HashMap::new(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Attention) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut inner| f(&mut inner))
    }

    /// The setting for every room changed.
    pub fn set_enabled(&self, enabled: bool) {
        self.with(|a| a.enabled = enabled);
    }

    /// The window gained or lost the keyboard focus.
    pub fn set_focused(&self, focused: bool) {
        self.with(|a| a.focused = focused);
    }

    /// The room on screen, `None` on the start view.
    pub fn set_shown(&self, session: Option<u64>) {
        self.with(|a| a.shown = session);
    }

    /// A room was joined (or renamed, or muted): its name for titles, and
    /// whether it notifies.
    pub fn set_room(&self, session: u64, label: &str, muted: bool) {
        self.with(|a| {
            let room = a.rooms.entry(session).or_default();
            room.label = label.to_owned();
            room.muted = muted;
        });
    }

    /// A room was left: nothing more about it.
    pub fn forget_room(&self, session: u64) {
        self.with(|a| a.rooms.remove(&session));
    }

    /// The notification for a message from `sender` in room `session` at
    /// `now`, or `None` when the person sees it already, asked for none, or
    /// was notified about this room a moment ago.
    pub fn message(&self, session: u64, sender: &str, text: &str, now: Instant) -> Option<Note> {
        self.with(|a| {
            let seen = a.focused && a.shown == Some(session);
            let enabled = a.enabled;
            let room = a.rooms.get_mut(&session)?;
            if seen || !enabled || room.muted {
                return None;
            }
            if room
                .last
                .is_some_and(|last| now.duration_since(last) < ROOM_GAP)
            {
                room.skipped += 1;
                return None;
            }
            room.last = Some(now);
            let more = std::mem::take(&mut room.skipped);
            let mut title = format!(
                "{} in {}",
                cut(sender, NAME_CHARS),
                cut(&room.label, NAME_CHARS)
            );
            if more > 0 {
                title.push_str(&format!(" (+{more} more)"));
            }
            Some(Note {
                session,
                title,
                body: plain_text(&cut(text, BODY_CHARS)),
            })
        })
        .flatten()
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut; control
/// characters other than line breaks become spaces.
fn cut(text: &str, max: usize) -> String {
    let clean = |c: char| if c.is_control() && c != '\n' { ' ' } else { c };
    let mut out: String = text.trim().chars().take(max).map(clean).collect();
    if text.trim().chars().count() > max {
        out.push('…');
    }
    out
}

/// The text as the notification server shows it: on Linux and the BSDs
/// servers read the body as a small markup language, so `<`, `>` and `&`
/// are escaped and a peer's text is never read as markup.
fn plain_text(text: &str) -> String {
    if cfg!(all(unix, not(target_os = "macos"))) {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        text.to_owned()
    }
}

/// Shows `note` on the desktop. A desktop without a notification server
/// only loses the notification (the unread count still shows).
pub fn show<R: Runtime>(app: &AppHandle<R>, note: Note) {
    let Ok(id) = i32::try_from(note.session) else {
        return;
    };
    info!(room = note.session, "notification: {}", note.title);
    if app
        .try_state::<tauri_plugin_notification::Notification<R>>()
        .is_none()
    {
        return;
    }
    if let Err(error) = app
        .notification()
        .builder()
        .id(id)
        .title(note.title)
        .body(note.body)
        .show()
    {
        debug!(%error, "a notification could not be shown");
    }
}

/// Makes a click on one of our notifications bring the window up with its
/// room on screen.
pub fn open_rooms_on_click<R: Runtime>(app: &AppHandle<R>) {
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else {
        return;
    };
    let handle = app.clone();
    let registered = notifications.on_action(move |action| {
        let Some(session) = action
            .notification()
            .and_then(|n| u64::try_from(n.id()).ok())
        else {
            return;
        };
        if let Some(window) = handle.get_webview_window(MAIN_WINDOW) {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
        if let Err(error) = handle.emit(OPEN_ROOM_EVENT, OpenRoom { session }) {
            debug!(%error, "cannot ask the window to show a room");
        }
    });
    if let Err(error) = registered {
        debug!(%error, "clicks on notifications will not open their room");
    }
}

/// The app's window event handler for focus: a message in the room on
/// screen notifies only while the window is not focused.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::Focused(focused) = event
        && window.label() == MAIN_WINDOW
        && let Some(state) = window.try_state::<AppState>()
    {
        state.notifier.set_focused(*focused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier() -> Notifier {
        let notifier = Notifier::new(true);
        notifier.set_room(1, "Team", false);
        notifier.set_room(2, "Family", false);
        notifier
    }

    #[test]
    fn a_message_in_the_room_on_screen_of_a_focused_window_does_not_notify() {
        let n = notifier();
        n.set_shown(Some(1));
        assert_eq!(n.message(1, "Ada", "hi", Instant::now()), None);
    }

    #[test]
    fn a_message_in_another_room_notifies_naming_sender_and_room() {
        let n = notifier();
        n.set_shown(Some(1));
        let note = n.message(2, "Ada", "dinner?", Instant::now());
        assert_eq!(
            note,
            Some(Note {
                session: 2,
                title: "Ada in Family".into(),
                body: "dinner?".into()
            })
        );
    }

    #[test]
    fn any_message_notifies_while_the_window_is_not_focused() {
        let n = notifier();
        n.set_shown(Some(1));
        n.set_focused(false);
        assert!(n.message(1, "Ada", "hi", Instant::now()).is_some());
    }

    #[test]
    fn a_muted_room_or_notifications_turned_off_do_not_notify() {
        let n = notifier();
        n.set_room(2, "Family", true);
        assert_eq!(n.message(2, "Ada", "hi", Instant::now()), None);
        n.set_enabled(false);
        assert_eq!(n.message(1, "Ada", "hi", Instant::now()), None);
    }

    #[test]
    fn a_flood_notifies_once_and_counts_the_rest_in_the_next() {
        let n = notifier();
        let start = Instant::now();
        assert!(n.message(2, "Ada", "1", start).is_some());
        for i in 0..5 {
            assert_eq!(n.message(2, "Ada", &i.to_string(), start), None);
        }
        let next = n.message(2, "Ada", "last", start + ROOM_GAP);
        assert_eq!(
            next.map(|note| note.title),
            Some("Ada in Family (+5 more)".into())
        );
    }

    #[test]
    fn a_peers_text_is_cut_short_and_never_read_as_markup() {
        let n = notifier();
        let long = format!("<b>{}</b>", "x".repeat(500));
        let body = n
            .message(2, "Ada", &long, Instant::now())
            .map(|note| note.body)
            .unwrap_or_default();
        assert!(!body.contains("<b>"));
        assert!(body.chars().count() < BODY_CHARS + 20);
        assert!(body.ends_with('…'));
    }
}
