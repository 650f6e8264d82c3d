//! The commands the UI invokes. Each is a thin call into [`AppState`] or the
//! engine; errors come back as [`AppError`] with a readable message.

use std::str::FromStr;

use parlor_engine::{MessageId, RoomLink};
use tauri::{AppHandle, Runtime, State};

use crate::contacts::{Contacts, PeerTrust, VerifiedContact};
use crate::error::AppError;
use crate::links::LinkInfo;
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

/// Joins the room of a pasted or clicked link.
#[tauri::command]
pub async fn join_room<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    link: String,
) -> Result<RoomInfo, AppError> {
    let link = RoomLink::from_str(&link)?;
    state.join(&app, link).await
}

/// Sends a chat message to everyone in the room and returns its id, which
/// the `queued`, `delivered` and `send-failed` engine events name.
#[tauri::command]
pub async fn send_message(state: State<'_, AppState>, text: String) -> Result<MessageId, AppError> {
    state.send(&text).await
}

/// Leaves the room.
#[tauri::command]
pub async fn leave_room(state: State<'_, AppState>) -> Result<(), AppError> {
    state.leave().await
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
    Ok(settings)
}

/// The room we are in and any link waiting to be joined, for a UI that (re)loads.
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
