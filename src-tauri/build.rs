//! Compiles tauri.conf.json (kept at the repository top level, beside ui/)
//! and the capability files into the app, and declares the app's own commands
//! so capabilities can allow exactly the ones the UI calls.

fn main() {
    let commands = &[
        "create_room",
        "join_room",
        "send_message",
        "leave_room",
        "get_settings",
        "save_settings",
        "get_state",
        "inspect_link",
        "get_identity",
        "get_contacts",
        "mark_verified",
        "unmark_verified",
        "check_peer",
        "recent_rooms",
        "room_history",
        "undelivered_count",
        "retry_message",
        "close_window",
        "confirm_close",
        "pick_files",
        "send_files",
        "accept_files",
        "decline_files",
        "cancel_transfer",
        "open_file",
        "show_in_folder",
        "show_room",
        "rename_room",
        "mute_room",
        "set_unread",
        "ui_ready",
    ];
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {error:#}");
    }
}
