//! What the app holds between commands: settings, the room it is in, the
//! embedded signaling server once started, and a link waiting for the UI.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parlor_engine::{Room, RoomConfig, RoomLink, ServerUrl};
use serde::Serialize;
use tauri::{AppHandle, Runtime};

use crate::cli::Launch;
use crate::embedded::Embedded;
use crate::error::AppError;
use crate::events::{self, JoinOutcome};
use crate::qr;
use crate::settings::SettingsStore;

/// How long a join may take to reach the signaling server: the engine's
/// ICE-server fetch (3 s) and WebSocket connect (5 s) timeouts, plus slack.
const JOIN_TIMEOUT: Duration = Duration::from_secs(12);

/// The app's shared state, managed by Tauri.
pub struct AppState {
    launch: Launch,
    /// Where settings are kept.
    pub settings: SettingsStore,
    room: tokio::sync::Mutex<Option<Joined>>,
    /// Which room's events reach the UI; bumped on every join and leave.
    session: Arc<AtomicU64>,
    embedded: tokio::sync::Mutex<Option<Embedded>>,
    pending_link: Mutex<Option<String>>,
}

/// The room we are in.
struct Joined {
    room: Room,
    info: RoomInfo,
}

/// What the room view needs to show about our side of the room.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// The link to share.
    pub link: String,
    /// Our peer id in the room.
    pub peer_id: String,
    /// The link as a QR code (SVG), if it fits in one.
    pub qr_svg: Option<String>,
}

/// A snapshot for the UI when it (re)loads.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSnapshot {
    /// The room we are in, if any.
    pub room: Option<RoomInfo>,
    /// A link that arrived (command line, deep link) and should be joined.
    pub pending_link: Option<String>,
    /// The app's version, for the settings view.
    pub version: String,
}

impl AppState {
    /// State for an app started with `launch`, keeping settings in `config_dir`.
    pub fn new(launch: Launch, config_dir: &Path) -> Self {
        let pending_link = launch.link.clone();
        Self {
            launch,
            settings: SettingsStore::new(config_dir),
            room: tokio::sync::Mutex::new(None),
            session: Arc::new(AtomicU64::new(0)),
            embedded: tokio::sync::Mutex::new(None),
            pending_link: Mutex::new(pending_link),
        }
    }

    /// Remembers a link for the UI to join; a newer link replaces an older one.
    pub fn set_pending_link(&self, link: String) {
        if let Ok(mut pending) = self.pending_link.lock() {
            *pending = Some(link);
        }
    }

    /// The room, and the pending link (which is handed out once).
    pub async fn snapshot(&self) -> AppSnapshot {
        let room = self.room.lock().await.as_ref().map(|j| j.info.clone());
        let pending_link = self.pending_link.lock().ok().and_then(|mut p| p.take());
        AppSnapshot {
            room,
            pending_link,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The server new rooms go on: the configured one, or the embedded
    /// server, started on first use and kept for the app's lifetime so rooms
    /// made earlier stay reachable.
    pub async fn server_for_new_room(&self) -> Result<ServerUrl, AppError> {
        if let Some(configured) = self.settings.load()?.server() {
            return configured;
        }
        let mut embedded = self.embedded.lock().await;
        if let Some(running) = embedded.as_ref() {
            return Ok(running.url().clone());
        }
        let started = Embedded::start(self.launch.embedded_host).await?;
        let url = started.url().clone();
        *embedded = Some(started);
        Ok(url)
    }

    /// Leaves the current room, if any, and joins `link`. Returns once the
    /// signaling server let us in, or with why it did not.
    pub async fn join<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        link: RoomLink,
    ) -> Result<RoomInfo, AppError> {
        let settings = self.settings.load()?;
        let mut current = self.room.lock().await;
        if let Some(previous) = current.take() {
            previous.room.leave();
        }
        let session = self.session.fetch_add(1, Ordering::SeqCst) + 1;

        let mut config = RoomConfig::new(link.clone());
        config.display_name = settings.name();
        config.extra_ice_servers = settings.engine_ice_servers();
        if !self.launch.bind.is_empty() {
            config.bind_addrs = self.launch.bind.clone();
        }
        let (room, events) = Room::join(config)?;
        let mut outcomes = events::forward(app.clone(), events, session, self.session.clone());

        let server = link.server.to_string();
        let outcome = match tokio::time::timeout(JOIN_TIMEOUT, outcomes.recv()).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => JoinOutcome::Unreachable("the room stopped before it connected".into()),
            Err(_) => {
                JoinOutcome::Unreachable(format!("no answer within {} s", JOIN_TIMEOUT.as_secs()))
            }
        };
        let error = match outcome {
            JoinOutcome::Joined => None,
            JoinOutcome::Refused {
                reason,
                room_full: true,
            } => Some(AppError::RoomFull { reason }),
            JoinOutcome::Refused { reason, .. } => Some(AppError::JoinRefused { reason }),
            JoinOutcome::Unreachable(reason) => {
                Some(AppError::ServerUnreachable { server, reason })
            }
        };
        if let Some(error) = error {
            room.leave();
            self.session.fetch_add(1, Ordering::SeqCst);
            return Err(error);
        }

        let link = room.link().to_owned();
        let info = RoomInfo {
            qr_svg: qr::svg(&link),
            peer_id: room.peer_id().to_string(),
            link,
        };
        *current = Some(Joined {
            room,
            info: info.clone(),
        });
        Ok(info)
    }

    /// Sends `text` to everyone in the room.
    pub async fn send(&self, text: &str) -> Result<(), AppError> {
        if text.trim().is_empty() {
            return Err(AppError::EmptyMessage);
        }
        match self.room.lock().await.as_ref() {
            Some(joined) => {
                joined.room.send(text);
                Ok(())
            }
            None => Err(AppError::NotInRoom),
        }
    }

    /// Leaves the room. Its last events (peers closing, `left`) still reach
    /// the UI; nothing after.
    pub async fn leave(&self) -> Result<(), AppError> {
        match self.room.lock().await.take() {
            Some(joined) => {
                joined.room.leave();
                Ok(())
            }
            None => Err(AppError::NotInRoom),
        }
    }
}
