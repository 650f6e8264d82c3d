//! Room links arriving from outside the window: a `parlor://` link clicked in
//! another app (deep-link plugin), or a second `parlor LINK` launch handed
//! over by the single-instance plugin (which passes its arguments to the
//! deep-link plugin). Either way the link waits in [`AppState`] and the UI is
//! told to fetch it, so a link that arrives before the page loaded is not lost.
//!
//! Before joining, the UI asks what a link leads to ([`LinkInfo`]) and shows
//! it to the person: a link names the server that sees who joins and relays
//! the connection set-up, so nobody should be sent to one unawares.

use std::str::FromStr;

use parlor_engine::{RoomLink, ServerUrl};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use tracing::{info, warn};

use crate::error::AppError;
use crate::events::OPEN_LINK_EVENT;
use crate::state::AppState;

/// `text` as a room link, or an error that quotes it (cut to 80
/// characters), so the person sees which text was wrong.
pub fn parse_link(text: &str) -> Result<RoomLink, AppError> {
    RoomLink::from_str(text).map_err(|reason| {
        let trimmed = text.trim();
        let mut link: String = trimmed.chars().take(80).collect();
        if trimmed.chars().count() > 80 {
            link.push('…');
        }
        AppError::BadLink { link, reason }
    })
}

/// The label of the one window.
pub const MAIN_WINDOW: &str = "main";

/// Where a room link leads, for the person to see before joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkInfo {
    /// The link, written the way Parlor writes links.
    pub link: String,
    /// The room's name.
    pub room: String,
    /// The signaling server's address (`wss://signal.example.org`).
    pub server: String,
    /// The server's host, with its port and path prefix if any
    /// (`signal.example.org`, `192.168.1.20:1999`).
    pub host: String,
    /// Whether the connection to the server is encrypted (`wss`).
    pub encrypted: bool,
    /// Whether the server is the one built into this app, on this machine
    /// (reachable on the local network only).
    pub embedded: bool,
}

impl LinkInfo {
    /// What `link` leads to; `embedded` says whether its server is this
    /// app's built-in one.
    pub fn new(link: &RoomLink, embedded: bool) -> Self {
        let (host, encrypted) = server_host(&link.server);
        Self {
            link: link.to_string(),
            room: link.room.to_string(),
            server: link.server.to_string(),
            host,
            encrypted,
            embedded,
        }
    }
}

/// A server address without its scheme (host, port, path prefix), and
/// whether it is reached over TLS.
pub fn server_host(server: &ServerUrl) -> (String, bool) {
    let text = server.to_string();
    let host = text
        .split_once("://")
        .map_or(text.as_str(), |(_, rest)| rest)
        .to_owned();
    (host, server.is_secure())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_bad_link_is_quoted_cut_to_80_characters() {
        let pasted = format!("  parlor://join/{}  ", "é".repeat(200));
        match parse_link(&pasted) {
            Err(AppError::BadLink { link, .. }) => {
                assert_eq!(link.chars().count(), 81, "{link}");
                assert!(
                    link.starts_with("parlor://join/é") && link.ends_with('…'),
                    "{link}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    fn info(link: &str, embedded: bool) -> LinkInfo {
        let link: RoomLink = link.parse().unwrap_or_else(|e| panic!("{link}: {e}"));
        LinkInfo::new(&link, embedded)
    }

    #[test]
    fn a_link_says_which_server_it_leads_to() {
        let lan = info(
            "parlor://join/abc?server=ws%3A%2F%2F192.168.1.20%3A1999",
            true,
        );
        assert_eq!(lan.host, "192.168.1.20:1999");
        assert_eq!(lan.server, "ws://192.168.1.20:1999");
        assert_eq!(lan.room, "abc");
        assert!(!lan.encrypted && lan.embedded);
        let remote = info(
            "parlor://join/abc?server=https%3A%2F%2Fsignal.example.org%2Fparlor%2F",
            false,
        );
        assert_eq!(remote.host, "signal.example.org/parlor");
        assert_eq!(remote.server, "wss://signal.example.org/parlor");
        assert!(remote.encrypted && !remote.embedded);
        assert_eq!(
            remote.link,
            "parlor://join/abc?server=wss%3A%2F%2Fsignal.example.org%2Fparlor"
        );
    }
}
