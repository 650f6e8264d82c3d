//! `minimal-window`: the smallest Tauri 2 app, one window with a trivial page.
//!
//! It exists as the reference of the startup bench (`tests/benches/startup.rs`):
//! built in the same `cargo build` as Parlor, with the same Tauri, it shows
//! what any Tauri 2 window costs on the machine (time to a mapped window, to
//! a page that can call the app, and the memory of the app and its WebKit
//! processes), so Parlor's figures can be read as "the platform" plus
//! "Parlor's own". Keep it minimal: anything added here hides Parlor's cost.
//!
//! The window has Parlor's size. When its page has loaded it calls
//! [`page_loaded`], which prints [`INTERACTIVE`] on stderr: the bench times
//! "interactive" from spawn to that line, as it does for Parlor's
//! `start view interactive` log line.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri::{WebviewUrl, WebviewWindowBuilder};

/// The line printed on stderr once the page has loaded and called the app.
const INTERACTIVE: &str = "minimal-window: page interactive";

/// Called by the page once its DOM is ready: from here a person could use it.
#[tauri::command]
fn page_loaded() {
    eprintln!("{INTERACTIVE}");
}

fn main() -> tauri::Result<()> {
    let app = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![page_loaded])
        .build(tauri::generate_context!())?;
    // Made in code with Parlor's size, as Parlor makes its window.
    WebviewWindowBuilder::new(&app, "main", WebviewUrl::default())
        .title("minimal-window")
        .inner_size(1080.0, 740.0)
        .build()?;
    app.run(|_, _| {});
    Ok(())
}
