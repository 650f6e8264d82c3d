//! What the app holds between commands: settings, verified contacts, the
//! room it is in, the embedded signaling server once started, and a link
//! waiting for the UI.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use parlor_engine::{Identity, MessageId, Room, RoomConfig, RoomLink, ServerUrl};
use serde::Serialize;
use tauri::{AppHandle, Runtime};

use crate::cli::Launch;
use crate::contacts::{ContactsStore, short_fingerprint};
use crate::embedded::Embedded;
use crate::error::AppError;
use crate::events;
use crate::links::LinkInfo;
use crate::qr;
use crate::settings::SettingsStore;

/// The identity file's name inside the profile (config) directory.
const IDENTITY_FILE: &str = "identity.pem";

/// The app's shared state, managed by Tauri.
pub struct AppState {
    launch: Launch,
    /// Where settings are kept.
    pub settings: SettingsStore,
    /// Where verified contacts are kept.
    pub contacts: ContactsStore,
    room: tokio::sync::Mutex<Option<Joined>>,
    /// Which room's events reach the UI; bumped on every join and leave.
    session: Arc<AtomicU64>,
    embedded: tokio::sync::Mutex<Option<Embedded>>,
    pending_link: Mutex<Option<String>>,
    /// Where this profile's identity is kept, and the identity once read.
    identity_path: PathBuf,
    identity: Mutex<Option<Identity>>,
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
    /// The server the room is on (the built-in one's rooms are LAN only).
    pub server: LinkInfo,
    /// Which room this is: every engine event the window gets carries it as
    /// `room_session`, so events of a room being left never mix into the
    /// next one's view.
    pub session: u64,
}

/// This profile's identity, as the window shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityInfo {
    /// The certificate's SHA-256 fingerprint, `ab:cd:…`.
    pub fingerprint: String,
    /// Its first byte pairs (`ab:cd:ef:01`), as others see it on our card.
    pub short: String,
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
            contacts: ContactsStore::new(config_dir),
            room: tokio::sync::Mutex::new(None),
            session: Arc::new(AtomicU64::new(0)),
            embedded: tokio::sync::Mutex::new(None),
            pending_link: Mutex::new(pending_link),
            identity_path: config_dir.join(IDENTITY_FILE),
            identity: Mutex::new(None),
        }
    }

    /// This profile's identity: read (or made) on first use, then kept. A
    /// file that cannot be read is an error every time, never replaced.
    pub fn identity(&self) -> Result<Identity, AppError> {
        let mut identity = self
            .identity
            .lock()
            .map_err(|_| AppError::Identity("the identity is being read elsewhere".into()))?;
        if let Some(identity) = identity.as_ref() {
            return Ok(identity.clone());
        }
        let loaded = Identity::load_or_create(&self.identity_path)
            .map_err(|e| AppError::Identity(e.to_string()))?;
        *identity = Some(loaded.clone());
        Ok(loaded)
    }

    /// Our identity as the window shows it.
    pub fn identity_info(&self) -> Result<IdentityInfo, AppError> {
        let identity = self.identity()?;
        Ok(IdentityInfo {
            fingerprint: identity.fingerprint().to_owned(),
            short: short_fingerprint(identity.fingerprint()),
        })
    }

    /// What a room link leads to: its server, whether the connection to it is
    /// encrypted, and whether it is this app's built-in server.
    pub async fn inspect_link(&self, link: &str) -> Result<LinkInfo, AppError> {
        let link = RoomLink::from_str(link)?;
        Ok(self.link_info(&link).await)
    }

    async fn link_info(&self, link: &RoomLink) -> LinkInfo {
        let embedded = self
            .embedded
            .lock()
            .await
            .as_ref()
            .is_some_and(|embedded| embedded.serves(&link.server));
        LinkInfo::new(link, embedded)
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

    /// Joins `link`, and once the server let us in, leaves the room we were
    /// in (so a join that fails keeps the current room). No lock is held
    /// while joining: the engine bounds how long that takes.
    pub async fn join<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        link: RoomLink,
    ) -> Result<RoomInfo, AppError> {
        let settings = self.settings.load()?;
        let mut config = RoomConfig::new(link);
        config.identity = Some(self.identity()?);
        config.display_name = settings.name();
        config.extra_ice_servers = settings.ice_servers.clone();
        if !self.launch.bind.is_empty() {
            config.bind_addrs = self.launch.bind.clone();
        }
        let server = self.link_info(&config.link).await;
        let (room, events) = Room::join(config).await?;

        let link = room.link().to_owned();
        let mut current = self.room.lock().await;
        let session = self.session.fetch_add(1, Ordering::SeqCst) + 1;
        let info = RoomInfo {
            qr_svg: qr::svg(&link),
            peer_id: room.peer_id().to_string(),
            link,
            server,
            session,
        };
        events::forward(app.clone(), events, session, self.session.clone());
        if let Some(previous) = current.replace(Joined {
            room,
            info: info.clone(),
        }) {
            previous.room.leave();
        }
        Ok(info)
    }

    /// Sends `text` to everyone in the room; returns the message's id, which
    /// the engine's `queued`/`delivered` events name.
    pub async fn send(&self, text: &str) -> Result<MessageId, AppError> {
        if text.trim().is_empty() {
            return Err(AppError::EmptyMessage);
        }
        match self.room.lock().await.as_ref() {
            Some(joined) => Ok(joined.room.send(text).await?),
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
