//! The commands the UI invokes. Each is a thin call into [`AppState`] or the
//! engine; errors come back as [`AppError`] with a readable message.

use std::str::FromStr;

use parlor_engine::{MessageId, RoomLink};
use tauri::{AppHandle, Runtime, State};

use crate::error::AppError;
use crate::settings::Settings;
use crate::state::{AppSnapshot, AppState, RoomInfo};

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
