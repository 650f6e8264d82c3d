//! Room links arriving from outside the window: a `parlor://` link clicked in
//! another app (deep-link plugin), or a second `parlor LINK` launch handed
//! over by the single-instance plugin (which passes its arguments to the
//! deep-link plugin). Either way the link waits in [`AppState`] and the UI is
//! told to fetch it, so a link that arrives before the page loaded is not lost.

use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use tracing::{info, warn};

use crate::events::OPEN_LINK_EVENT;
use crate::state::AppState;

/// The label of the one window.
pub const MAIN_WINDOW: &str = "main";

/// Starts listening for deep links. On Linux and Windows it also registers
/// the `parlor` scheme for this executable (needed for AppImages and
/// development builds; installers register it too) unless running under a
/// separate profile, which must not change the desktop's settings.
pub fn listen<R: Runtime>(app: &AppHandle<R>, register_scheme: bool) {
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        if let Some(url) = event.urls().into_iter().next() {
            open(&handle, url.to_string());
        }
    });
    if register_scheme && cfg!(any(target_os = "linux", windows)) {
        if let Err(error) = app.deep_link().register_all() {
            warn!(%error, "could not register the parlor:// scheme");
        }
    }
}

/// Hands `link` to the UI and brings the window to the front.
pub fn open<R: Runtime>(app: &AppHandle<R>, link: String) {
    info!(%link, "room link received");
    app.state::<AppState>().set_pending_link(link);
    if let Err(error) = app.emit(OPEN_LINK_EVENT, ()) {
        warn!(%error, "cannot tell the window about a room link");
    }
    focus(app);
}

/// Brings the window to the front (a second launch without a link does this).
pub fn focus<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
