//! The commands the UI invokes. Each is a thin call into [`AppState`] or the
//! engine; errors come back as [`AppError`] with a readable message.

use parlor_engine::{MessageId, RoomLink};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::contacts::{Contacts, PeerTrust, VerifiedContact};
use crate::error::AppError;
use crate::files::SentOffer;
use crate::links::LinkInfo;
use crate::messages::{HistoryMessage, RecentRoom};
use crate::settings::Settings;
use crate::state::{AppSnapshot, AppState, IdentityInfo, RoomInfo};

/// Makes a new room with an unguessable name (on the configured signaling
/// server, or the embedded one) and joins it.
#[tauri::command]
pub async fn create_room<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<RoomInfo, AppError> {
    let server = state.server_for_new_room().await?;
    state.join(&app, RoomLink::new_room(server)).await
}

/// Joins the room of a pasted or clicked link, keeping the rooms we are
/// in; a room already open is returned as it is (the window shows it).
#[tauri::command]
pub async fn join_room<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    link: String,
) -> Result<RoomInfo, AppError> {
    let link = crate::links::parse_link(&link)?;
    state.join(&app, link).await
}

/// Sends a chat message to everyone in the room `session` and returns its
/// id, which the `waiting`, `queued`, `delivered` and `send-failed` engine
/// events name. With nobody there it is kept and goes out when someone comes.
#[tauri::command]
pub async fn send_message(
    state: State<'_, AppState>,
    session: u64,
    text: String,
) -> Result<MessageId, AppError> {
    state.send(session, &text).await
}

/// Leaves the room `session`; the other rooms stay connected.
#[tauri::command]
pub async fn leave_room(state: State<'_, AppState>, session: u64) -> Result<(), AppError> {
    state.leave(session).await
}

/// The window shows the room `session` (`None`: the start view). Its
/// messages then raise no notification while the window is focused, and
/// it is the room on screen at the next start.
#[tauri::command]
pub async fn show_room(state: State<'_, AppState>, session: Option<u64>) -> Result<(), AppError> {
    state.show_room(session).await;
    Ok(())
}

/// Names the room `session` on this computer (an empty name: the link's).
#[tauri::command]
pub async fn rename_room(
    state: State<'_, AppState>,
    session: u64,
    name: String,
) -> Result<RoomInfo, AppError> {
    state.rename_room(session, &name).await
}

/// Turns the room `session`'s notifications off (`muted`) or on.
#[tauri::command]
pub async fn mute_room(
    state: State<'_, AppState>,
    session: u64,
    muted: bool,
) -> Result<RoomInfo, AppError> {
    state.mute_room(session, muted).await
}

/// The unread messages in every room, counted by the window: shown in the
/// window's title and, where the desktop has one, as a badge on the app.
#[tauri::command]
pub fn set_unread<R: Runtime>(app: AppHandle<R>, total: u32) -> Result<(), AppError> {
    let Some(window) = app.get_webview_window(crate::links::MAIN_WINDOW) else {
        return Ok(());
    };
    let title = if total == 0 {
        "Parlor".to_owned()
    } else {
        format!("Parlor ({total})")
    };
    window
        .set_title(&title)
        .map_err(|e| AppError::Window(e.to_string()))?;
    // Not every desktop has badges (Windows, most Linux docks): the title
    // says it there.
    if let Err(error) = window.set_badge_count((total > 0).then_some(i64::from(total))) {
        tracing::debug!(%error, "no badge for the unread count");
    }
    Ok(())
}

/// The page has drawn its start view and answers the keyboard: logged, so
/// the startup benchmark can time it.
#[tauri::command]
pub fn ui_ready() {
    tracing::info!(target: "parlor_app::startup", "start view interactive");
}

/// The saved settings.
#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Result<Settings, AppError> {
    state.settings.load()
}

/// Checks and saves settings; returns them as stored (trimmed). They apply
/// to the next room created or joined.
#[tauri::command]
pub fn save_settings(state: State<'_, AppState>, settings: Settings) -> Result<Settings, AppError> {
    let settings = settings.validated()?;
    state.settings.save(&settings)?;
    state.notifier.set_enabled(settings.notifications);
    Ok(settings)
}

/// The rooms we are in, the one on screen, any link waiting to be joined
/// and the rooms of the last run to rejoin, for a UI that (re)loads.
#[tauri::command]
pub async fn get_state(state: State<'_, AppState>) -> Result<AppSnapshot, AppError> {
    Ok(state.snapshot().await)
}

/// What a room link leads to (server host, whether the connection to it is
/// encrypted, whether it is this app's built-in server), for the window to
/// show before joining. Joins nothing.
#[tauri::command]
pub async fn inspect_link(state: State<'_, AppState>, link: String) -> Result<LinkInfo, AppError> {
    state.inspect_link(&link).await
}

/// This profile's identity (its certificate fingerprint), for people to
/// compare.
#[tauri::command]
pub fn get_identity(state: State<'_, AppState>) -> Result<IdentityInfo, AppError> {
    state.identity_info()
}

/// Every verified contact, by fingerprint.
#[tauri::command]
pub fn get_contacts(state: State<'_, AppState>) -> Result<Contacts, AppError> {
    state.contacts.load()
}

/// Remembers the identity `fingerprint` as verified, under the display name
/// `name` it uses (the person compared the safety code with it).
#[tauri::command]
pub fn mark_verified(
    state: State<'_, AppState>,
    fingerprint: String,
    name: String,
) -> Result<VerifiedContact, AppError> {
    state.contacts.mark_verified(&fingerprint, &name)
}

/// Forgets that `fingerprint` was verified; returns whether it was.
#[tauri::command]
pub fn unmark_verified(state: State<'_, AppState>, fingerprint: String) -> Result<bool, AppError> {
    state.contacts.unverify(&fingerprint)
}

/// What the verified contacts say about a connected peer: verified (as
/// whom), and whether it uses a verified contact's name without being that
/// contact.
#[tauri::command]
pub fn check_peer(
    state: State<'_, AppState>,
    fingerprint: String,
    name: Option<String>,
) -> Result<PeerTrust, AppError> {
    state.contacts.check(&fingerprint, name.as_deref())
}

/// The rooms this profile was in, newest first (at most 20), for the start
/// view: each is the person's own room, rejoined with one click.
#[tauri::command]
pub async fn recent_rooms(state: State<'_, AppState>) -> Result<Vec<RecentRoom>, AppError> {
    state.recent_rooms().await
}

/// One page (200) of the room `link`'s kept messages, oldest first: the
/// latest, or those before `before_seq` when scrolling back. A room's log
/// starts with them, so a restart loses nothing from view.
#[tauri::command]
pub fn room_history(
    state: State<'_, AppState>,
    link: String,
    before_seq: Option<i64>,
) -> Result<Vec<HistoryMessage>, AppError> {
    state.history(&link, before_seq)
}

/// How many of our messages have not reached everyone yet, in any room:
/// what closing the app would leave waiting.
#[tauri::command]
pub fn undelivered_count(state: State<'_, AppState>) -> Result<usize, AppError> {
    state.undelivered()
}

/// Sends a message that failed again (the Retry button) to the connected
/// people it did not reach; returns how many. The others get it when they
/// come back.
#[tauri::command]
pub async fn retry_message(
    state: State<'_, AppState>,
    session: u64,
    id: String,
) -> Result<usize, AppError> {
    state.retry(session, MessageId::new(id)).await
}

/// Closes the window as its close button does (Ctrl+Q in the window), so
/// the keyboard takes the same path: asked first when messages are
/// undelivered.
#[tauri::command]
pub fn close_window<R: Runtime>(app: AppHandle<R>) -> Result<(), AppError> {
    if let Some(window) = app.get_webview_window(crate::links::MAIN_WINDOW) {
        window
            .close()
            .map_err(|e| AppError::Window(e.to_string()))?;
    }
    Ok(())
}

/// The person saw how many messages are undelivered and chose Close: the
/// app exits (they are kept, and delivered on a later run).
#[tauri::command]
pub fn confirm_close<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) {
    state.allow_close();
    app.exit(0);
}

/// Opens the desktop's file picker (several files at once) over the window
/// and returns the chosen paths, or `None` if the person cancelled. The
/// window then offers them with `send_files`. The picker runs in Rust, so
/// the page needs no permission of the dialog plugin's own.
#[tauri::command]
pub async fn pick_files<R: Runtime>(app: AppHandle<R>) -> Result<Option<Vec<String>>, AppError> {
    use tauri_plugin_dialog::DialogExt;
    if app.try_state::<tauri_plugin_dialog::Dialog<R>>().is_none() {
        return Err(AppError::Files("This window has no file picker".into()));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut picker = app.dialog().file().set_title("Send files");
    if let Some(window) = app.get_webview_window(crate::links::MAIN_WINDOW) {
        picker = picker.set_parent(&window);
    }
    picker.pick_files(move |chosen| {
        let _ = tx.send(chosen);
    });
    let chosen = rx
        .await
        .map_err(|_| AppError::Files("The file picker closed without an answer".into()))?;
    Ok(chosen.map(|paths| {
        paths
            .into_iter()
            .filter_map(|path| path.into_path().ok())
            .map(|path| path.display().to_string())
            .collect()
    }))
}

/// Offers the files (and folders) at `paths` to everyone in the room
/// `session`: those connected now, and members once they connect. Returns
/// the offer as its card shows it; its transfer id is what the `file-*`
/// events name.
#[tauri::command]
pub async fn send_files(
    state: State<'_, AppState>,
    session: u64,
    paths: Vec<String>,
) -> Result<SentOffer, AppError> {
    state.send_files(session, paths).await
}

/// Takes `peer`'s offer `transfer`: its files are received into the
/// downloads folder, whose path is returned.
#[tauri::command]
pub async fn accept_files(
    state: State<'_, AppState>,
    session: u64,
    peer: String,
    transfer: String,
) -> Result<String, AppError> {
    state.accept_files(session, &peer, transfer).await
}

/// Turns `peer`'s offer `transfer` down; the sender is told.
#[tauri::command]
pub async fn decline_files(
    state: State<'_, AppState>,
    session: u64,
    peer: String,
    transfer: String,
) -> Result<(), AppError> {
    state.decline_files(session, &peer, transfer).await
}

/// Stops the transfer `transfer` with `peer`, sending or receiving; the
/// other side is told, and a half-received file is removed.
#[tauri::command]
pub async fn cancel_transfer(
    state: State<'_, AppState>,
    session: u64,
    peer: String,
    transfer: String,
) -> Result<(), AppError> {
    state.cancel_transfer(session, &peer, transfer).await
}

/// Opens a received file with the desktop's app for it. Only paths that a
/// `file-received` event named in this run are opened.
#[tauri::command]
pub async fn open_file(state: State<'_, AppState>, path: String) -> Result<(), AppError> {
    let path = state.received_file(&path)?;
    desktop(move || tauri_plugin_opener::open_path(&path, None::<&str>)).await
}

/// Shows a received file in its folder (the file manager, file selected).
/// Only paths that a `file-received` event named in this run are shown.
#[tauri::command]
pub async fn show_in_folder(state: State<'_, AppState>, path: String) -> Result<(), AppError> {
    let path = state.received_file(&path)?;
    desktop(move || tauri_plugin_opener::reveal_item_in_dir(&path)).await
}

/// Runs a call to the desktop off the async threads and the window's: on
/// Linux, showing a folder is a D-Bus call that may wait for a file manager
/// that never answers, and the window must not freeze meanwhile.
async fn desktop(
    call: impl FnOnce() -> Result<(), tauri_plugin_opener::Error> + Send + 'static,
) -> Result<(), AppError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| AppError::Open(e.to_string()))?
        .map_err(|e| AppError::Open(e.to_string()))
}
