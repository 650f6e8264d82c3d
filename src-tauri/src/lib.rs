//! Parlor's desktop app: thin glue between the window (`ui/`) and the peer
//! engine. Commands call the engine ([`commands`]); the engine's event stream
//! is forwarded to the window unchanged ([`events`]); everything about
//! negotiation stays in `parlor-engine`.

pub mod cli;
pub mod closing;
pub mod commands;
pub mod contacts;
pub mod embedded;
pub mod error;
pub mod events;
pub mod files;
pub mod hand_over;
pub mod json_file;
pub mod links;
pub mod messages;
pub mod notify;
pub mod qr;
pub mod room_prefs;
pub mod settings;
pub mod state;
pub mod window_state;

use tauri::{
    App, Builder, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent,
};

use crate::cli::Launch;
use crate::state::AppState;

/// Builds the app: its commands, the close of its window (held while
/// messages are undelivered, see [`closing`]), and its state (settings and
/// messages in the profile directory or the platform's app config
/// directory; received files in the Downloads folder). Shared by the real
/// app and the mock-runtime tests. The state is managed here rather than in
/// a setup hook, which would only run once the event loop starts.
pub fn build<R: Runtime>(
    builder: Builder<R>,
    context: tauri::Context<R>,
    launch: Launch,
) -> tauri::Result<App<R>> {
    let app = builder
        .invoke_handler(tauri::generate_handler![
            commands::create_room,
            commands::join_room,
            commands::send_message,
            commands::leave_room,
            commands::get_settings,
            commands::save_settings,
            commands::get_state,
            commands::inspect_link,
            commands::get_identity,
            commands::get_contacts,
            commands::mark_verified,
            commands::unmark_verified,
            commands::check_peer,
            commands::recent_rooms,
            commands::room_history,
            commands::undelivered_count,
            commands::retry_message,
            commands::close_window,
            commands::confirm_close,
            commands::pick_files,
            commands::send_files,
            commands::accept_files,
            commands::decline_files,
            commands::cancel_transfer,
            commands::open_file,
            commands::show_in_folder,
            commands::show_room,
            commands::rename_room,
            commands::mute_room,
            commands::set_unread,
            commands::ui_ready,
        ])
        .on_window_event(on_window_event)
        .build(context)?;
    let config_dir = match &launch.profile {
        Some(dir) => dir.clone(),
        None => app.path().app_config_dir()?,
    };
    // None when the platform has no Downloads folder (or none is
    // configured): the profile's own folder takes the files then.
    let downloads = app.path().download_dir().ok();
    app.manage(AppState::new(launch, &config_dir, downloads));
    Ok(app)
}

/// What the main window's events change: its close may be held
/// ([`closing`]), its place is kept ([`window_state`]), its focus decides
/// notifications ([`notify`]).
fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    closing::on_window_event(window, event);
    window_state::on_window_event(window, event);
    notify::on_window_event(window, event);
}

/// Runs the app until its window closes.
pub fn run(launch: Launch) -> tauri::Result<()> {
    let context = tauri::generate_context!("../tauri.conf.json");
    if launch.single_instance() && hand_over::to_running_instance(&context.config().identifier) {
        return Ok(());
    }
    let mut app = tauri::Builder::default();
    // Must be the first plugin: a second instance exits before anything else starts.
    if launch.single_instance() {
        app = app.plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            links::focus(app)
        }));
    }
    app = app.plugin(tauri_plugin_deep_link::init());
    // The native picker behind "Send files"; the page is granted none of its
    // commands, only the app's own `pick_files` uses it.
    app = app.plugin(tauri_plugin_dialog::init());
    // Desktop notifications, shown from Rust only (the page is granted none
    // of the plugin's commands).
    app = app.plugin(tauri_plugin_notification::init());
    let app = build(app, context, launch.clone())?;

    links::listen(app.handle(), launch.single_instance());
    notify::open_rooms_on_click(app.handle());
    let place = app.state::<AppState>().window.saved().place;
    let (width, height) = place.map_or(window_state::DEFAULT_SIZE, |p| p.size());
    let mut window = WebviewWindowBuilder::new(&app, links::MAIN_WINDOW, WebviewUrl::default())
        .title("Parlor")
        .inner_size(width, height)
        .min_inner_size(window_state::MIN_SIZE.0, window_state::MIN_SIZE.1);
    let monitors = app.available_monitors().unwrap_or_default();
    if let Some((x, y)) = place.and_then(|p| p.position_on(&monitors)) {
        window = window.position(x, y);
    }
    if place.is_some_and(|p| p.maximized) {
        window = window.maximized(true);
    }
    if let Some(profile) = &launch.profile {
        // A separate browser data directory, so two instances never share
        // WebKit's storage.
        window = window.data_directory(profile.join("webview"));
    }
    window.build()?;
    app.run(|_, _| {});
    Ok(())
}
