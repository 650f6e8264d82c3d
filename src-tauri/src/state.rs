//! What the app holds between commands: settings, verified contacts, the
//! message store, the rooms it is in (any number at once, each with its own
//! connections, named by a `session` number the window uses), the embedded
//! signaling server once started (one for every room this app creates), a
//! link waiting for the UI, the window's place and the files received (see
//! [`files`](crate::files)).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use parlor_engine::{Identity, MessageId, PeerId, Room, RoomConfig, RoomLink, ServerUrl, Store};
use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tracing::{debug, info};

use crate::cli::Launch;
use crate::contacts::{ContactsStore, short_fingerprint};
use crate::embedded::{self, Embedded};
use crate::error::AppError;
use crate::events;
use crate::files::{self, ReceivedFiles, SentOffer};
use crate::links::LinkInfo;
use crate::messages::{self, HistoryMessage, RecentRoom};
use crate::notify::Notifier;
use crate::qr;
use crate::room_prefs::RoomPrefsStore;
use crate::settings::SettingsStore;
use crate::window_state::WindowStateStore;

/// The identity file's name inside the profile (config) directory.
const IDENTITY_FILE: &str = "identity.pem";

/// How many of the latest rooms are searched for a link being rejoined
/// (see [`AppState::revive_embedded`]): far more than anyone rejoins from.
const KNOWN_ROOMS: usize = 1000;

/// Rooms open at once. Each holds a signaling socket and a connection per
/// peer; far more than a person follows, and a bound on what a script
/// driving the window could make the app hold.
pub const MAX_OPEN_ROOMS: usize = 32;

/// The app's shared state, managed by Tauri.
pub struct AppState {
    launch: Launch,
    /// Where settings are kept.
    pub settings: SettingsStore,
    /// Where verified contacts are kept.
    pub contacts: ContactsStore,
    /// Each room's name of the person's own and notification switch.
    pub room_prefs: RoomPrefsStore,
    /// The window's place and the rooms open, kept for the next start.
    pub window: WindowStateStore,
    /// Whether a message raises a desktop notification.
    pub notifier: Arc<Notifier>,
    /// Where messages are kept (the engine writes it, the window reads it).
    store: Option<Store>,
    /// Whether the store is a file (messages outlive the app) or in memory.
    store_kept: bool,
    /// What the person must be told about the store, if anything.
    store_notice: Option<String>,
    /// The person chose to close with messages undelivered: the window's
    /// close is no longer held up.
    closing: AtomicBool,
    /// The rooms open, by session.
    rooms: tokio::sync::Mutex<BTreeMap<u64, Joined>>,
    /// The last session number handed out.
    sessions: AtomicU64,
    /// The room on screen (for the window's place at the next start).
    shown: Mutex<Option<u64>>,
    /// The rooms of the last run to rejoin, handed to the window once.
    restore: Mutex<Option<Restore>>,
    embedded: tokio::sync::Mutex<Option<Embedded>>,
    pending_link: Mutex<Option<String>>,
    /// Where this profile's identity is kept, and the identity once read.
    identity_path: PathBuf,
    identity: Mutex<Option<Identity>>,
    /// Where accepted files are received.
    downloads: PathBuf,
    /// The files received in this run: the only paths the window may open.
    received: ReceivedFiles,
}

/// A room we are in. Shared, so a command that waits on the engine for
/// long (hashing files to offer) does not hold the rooms' lock meanwhile.
struct Joined {
    room: Arc<Room>,
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
    /// `room_session`, and the commands about one room name it.
    pub session: u64,
    /// The name the person gave the room on this computer, if any.
    pub label: Option<String>,
    /// Whether its notifications are off.
    pub muted: bool,
}

/// The rooms that were open when the app last closed, for the window to
/// rejoin at start (they are the person's own: no question asked).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restore {
    /// Their links, in the order they were joined.
    pub rooms: Vec<String>,
    /// The one that was on screen.
    pub shown: Option<String>,
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
    /// The rooms we are in, in the order they were joined.
    pub rooms: Vec<RoomInfo>,
    /// The room on screen, if the window said.
    pub shown: Option<u64>,
    /// The rooms of the last run to rejoin (given once, at the first start).
    pub restore: Option<Restore>,
    /// The theme setting, so the page is drawn in it from the start.
    pub theme: crate::settings::Theme,
    /// A link that arrived (command line, deep link) and should be joined.
    pub pending_link: Option<String>,
    /// The app's version, for the settings view.
    pub version: String,
    /// What happened to the message store at start (moved aside because it
    /// was damaged, or not kept at all), for a banner on the start view.
    pub store_notice: Option<String>,
}

impl AppState {
    /// State for an app started with `launch`, keeping settings, contacts,
    /// identity and messages in `config_dir`. Opens the message store; a
    /// store that cannot be used does not stop the app (see [`messages`]).
    /// Accepted files go to `--download-dir`, else `platform_downloads`
    /// (the platform's Downloads folder, if it has one), else a folder in
    /// the profile.
    pub fn new(launch: Launch, config_dir: &Path, platform_downloads: Option<PathBuf>) -> Self {
        let pending_link = launch.link.clone();
        let downloads = files::download_dir(
            launch.download_dir.as_deref(),
            platform_downloads,
            config_dir,
        );
        let opened = messages::open(config_dir, crate::contacts::now_ms());
        let settings = SettingsStore::new(config_dir);
        // Unreadable settings are reported where they are edited; until
        // then notifications are on, as by default.
        let notify = settings.load().map(|s| s.notifications).unwrap_or(true);
        let window = WindowStateStore::open(config_dir);
        let restore = (!window.saved().rooms.is_empty()).then(|| Restore {
            rooms: window.saved().rooms.clone(),
            shown: window.saved().shown.clone(),
        });
        Self {
            launch,
            settings,
            contacts: ContactsStore::new(config_dir),
            room_prefs: RoomPrefsStore::new(config_dir),
            window,
            notifier: Arc::new(Notifier::new(notify)),
            store: opened.store,
            store_kept: opened.kept,
            store_notice: opened.notice,
            closing: AtomicBool::new(false),
            rooms: tokio::sync::Mutex::new(BTreeMap::new()),
            sessions: AtomicU64::new(0),
            shown: Mutex::new(None),
            restore: Mutex::new(restore),
            embedded: tokio::sync::Mutex::new(None),
            pending_link: Mutex::new(pending_link),
            identity_path: config_dir.join(IDENTITY_FILE),
            identity: Mutex::new(None),
            downloads,
            received: ReceivedFiles::default(),
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
        let link = crate::links::parse_link(link)?;
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

    /// The rooms, and the pending link and the rooms to restore (each
    /// handed out once).
    pub async fn snapshot(&self) -> AppSnapshot {
        let rooms = self
            .rooms
            .lock()
            .await
            .values()
            .map(|j| j.info.clone())
            .collect();
        let pending_link = self.pending_link.lock().ok().and_then(|mut p| p.take());
        let restore = self.restore.lock().ok().and_then(|mut r| r.take());
        let shown = self.shown.lock().ok().and_then(|s| *s);
        AppSnapshot {
            rooms,
            shown,
            restore,
            theme: self.settings.load().map(|s| s.theme).unwrap_or_default(),
            pending_link,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            store_notice: self.store_notice.clone(),
        }
    }

    /// The rooms this profile was in, newest first, at most
    /// [`messages::RECENT_ROOMS`]. A stored link that no longer parses is
    /// left out rather than failing the list.
    pub async fn recent_rooms(&self) -> Result<Vec<RecentRoom>, AppError> {
        let Some(store) = &self.store else {
            return Ok(Vec::new());
        };
        let mut rooms = Vec::new();
        for record in store.recent_rooms(messages::RECENT_ROOMS)? {
            match RoomLink::from_str(&record.link) {
                Ok(link) => {
                    let mut info = self.link_info(&link).await;
                    // Made on this machine's built-in server, which rejoining
                    // starts again even if it is not running now.
                    info.embedded |=
                        embedded::port_for(&link.server, self.launch.embedded_host).is_some();
                    rooms.push(RecentRoom::new(record, info));
                }
                Err(error) => {
                    debug!(link = %record.link, %error, "a stored room link does not parse")
                }
            }
        }
        Ok(rooms)
    }

    /// One page of the room `link`'s messages, oldest first: the last
    /// [`messages::HISTORY_PAGE`] before `before_seq` (the latest without it).
    pub fn history(
        &self,
        link: &str,
        before_seq: Option<i64>,
    ) -> Result<Vec<HistoryMessage>, AppError> {
        // The store keys rooms by the link as the engine writes it.
        let link = crate::links::parse_link(link)?.to_string();
        let Some(store) = &self.store else {
            return Ok(Vec::new());
        };
        Ok(store
            .history(&link, before_seq, messages::HISTORY_PAGE)?
            .into_iter()
            .map(HistoryMessage::from)
            .collect())
    }

    /// How many of our messages, in any room, have not reached everyone
    /// they are for.
    pub fn undelivered(&self) -> Result<usize, AppError> {
        match &self.store {
            Some(store) => Ok(store.undelivered(None)?),
            None => Ok(0),
        }
    }

    /// Whether messages outlive the app (the store is a file).
    pub fn messages_kept(&self) -> bool {
        self.store_kept
    }

    /// The person chose to close even though messages are undelivered.
    pub fn allow_close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Whether closing was already confirmed.
    pub fn close_allowed(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
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

    /// Joins `link`, keeping every room we are in. A room already open is
    /// not joined twice: its info is returned, and the window shows it. No
    /// lock is held while joining: the engine bounds how long that takes.
    pub async fn join<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        link: RoomLink,
    ) -> Result<RoomInfo, AppError> {
        let key = link.to_string();
        {
            let rooms = self.rooms.lock().await;
            if let Some(open) = rooms.values().find(|j| j.info.link == key) {
                return Ok(open.info.clone());
            }
            if rooms.len() >= MAX_OPEN_ROOMS {
                return Err(AppError::TooManyRooms(MAX_OPEN_ROOMS));
            }
        }
        let settings = self.settings.load()?;
        self.revive_embedded(&link).await;
        let mut config = RoomConfig::new(link);
        config.store = self.store.clone();
        config.identity = Some(self.identity()?);
        // A transfer accepted before an interruption or a restart goes on
        // into the same folder without asking again.
        config.download_dir = Some(self.downloads.clone());
        config.display_name = settings.name();
        config.extra_ice_servers = settings.ice_servers.clone();
        if !self.launch.bind.is_empty() {
            config.bind_addrs = self.launch.bind.clone();
        }
        let server = self.link_info(&config.link).await;
        let (room, events) = Room::join(config).await?;

        let link = room.link().to_owned();
        let mut rooms = self.rooms.lock().await;
        // Joined twice at once (two clicks): the first one in stays.
        if let Some(open) = rooms.values().find(|j| j.info.link == link) {
            room.leave();
            return Ok(open.info.clone());
        }
        let session = self.sessions.fetch_add(1, Ordering::SeqCst) + 1;
        let prefs = self.room_prefs.get(&link).unwrap_or_default();
        let info = RoomInfo {
            qr_svg: qr::svg(&link),
            peer_id: room.peer_id().to_string(),
            label: prefs.name.clone(),
            muted: prefs.muted,
            server,
            link,
            session,
        };
        self.notifier
            .set_room(session, &room_label(&info), prefs.muted);
        events::forward(
            app.clone(),
            events,
            session,
            self.notifier.clone(),
            self.received.clone(),
        );
        rooms.insert(
            session,
            Joined {
                room: Arc::new(room),
                info: info.clone(),
            },
        );
        self.keep_open_rooms(&rooms);
        Ok(info)
    }

    /// The room `session` is on screen (`None`: the start view): its
    /// messages no longer notify while the window is focused, and it is the
    /// room shown at the next start.
    pub async fn show_room(&self, session: Option<u64>) {
        if let Ok(mut shown) = self.shown.lock() {
            *shown = session;
        }
        self.notifier.set_shown(session);
        let rooms = self.rooms.lock().await;
        self.keep_open_rooms(&rooms);
    }

    /// Writes the open rooms and the one on screen to the window state.
    fn keep_open_rooms(&self, rooms: &BTreeMap<u64, Joined>) {
        let shown = self.shown.lock().ok().and_then(|s| *s);
        let links = rooms.values().map(|j| j.info.link.clone()).collect();
        let shown = shown
            .and_then(|session| rooms.get(&session))
            .map(|j| j.info.link.clone());
        self.window.set_rooms(links, shown);
    }

    /// Gives the room `session` a name of the person's own (empty: the
    /// link's name again); returns its info as the sidebar shows it.
    pub async fn rename_room(&self, session: u64, name: &str) -> Result<RoomInfo, AppError> {
        self.change_prefs(session, |link| self.room_prefs.rename(link, name))
            .await
    }

    /// Turns the room `session`'s notifications off (`muted`) or back on.
    pub async fn mute_room(&self, session: u64, muted: bool) -> Result<RoomInfo, AppError> {
        self.change_prefs(session, |link| self.room_prefs.set_muted(link, muted))
            .await
    }

    /// Changes the room `session`'s preferences with `change` (given its
    /// link), and what the room's info and notifications say of them.
    async fn change_prefs(
        &self,
        session: u64,
        change: impl FnOnce(&str) -> Result<crate::room_prefs::RoomPrefs, AppError>,
    ) -> Result<RoomInfo, AppError> {
        let mut rooms = self.rooms.lock().await;
        let joined = rooms.get_mut(&session).ok_or(AppError::NotInRoom)?;
        let prefs = change(&joined.info.link)?;
        joined.info.label = prefs.name;
        joined.info.muted = prefs.muted;
        self.notifier
            .set_room(session, &room_label(&joined.info), prefs.muted);
        Ok(joined.info.clone())
    }

    /// Sends `text` to everyone in the room `session`; returns the
    /// message's id, which the engine's `queued`/`delivered` events name.
    pub async fn send(&self, session: u64, text: &str) -> Result<MessageId, AppError> {
        if text.trim().is_empty() {
            return Err(AppError::EmptyMessage);
        }
        Ok(self.room(session).await?.send(text).await?)
    }

    /// Sends our message `id` again to the connected people it failed to
    /// reach; returns to how many it went out. The others are owed it again
    /// and get it when they come back.
    pub async fn retry(&self, session: u64, id: MessageId) -> Result<usize, AppError> {
        Ok(self.room(session).await?.retry(id).await?)
    }

    /// Starts the built-in server again for a room made on it before a
    /// restart (the link names this machine and a port, and this profile
    /// was in the room): without it, the one-click rejoin of a recent room
    /// would find nobody listening. Links we never joined are left alone,
    /// so a link to a server that is down is reported as such. If the port
    /// is taken (another Parlor serves it), the join goes there.
    async fn revive_embedded(&self, link: &RoomLink) {
        let mut embedded = self.embedded.lock().await;
        if embedded.is_some() {
            return;
        }
        let Some(port) = embedded::port_for(&link.server, self.launch.embedded_host) else {
            return;
        };
        let key = link.to_string();
        let known = self
            .store
            .as_ref()
            .and_then(|store| store.recent_rooms(KNOWN_ROOMS).ok())
            .is_some_and(|rooms| rooms.iter().any(|room| room.link == key));
        if !known {
            return;
        }
        match Embedded::start_at(self.launch.embedded_host, port).await {
            Ok(started) => {
                info!(port, "built-in server started again for a room made on it");
                *embedded = Some(started);
            }
            Err(error) => debug!(port, %error, "the port of a room made here is taken"),
        }
    }

    /// The room `session`, shared: the lock is not held while the engine works.
    async fn room(&self, session: u64) -> Result<Arc<Room>, AppError> {
        match self.rooms.lock().await.get(&session) {
            Some(joined) => Ok(joined.room.clone()),
            None => Err(AppError::NotInRoom),
        }
    }

    /// Offers the files and folders at `paths` to everyone in the room (and
    /// to members once they connect). The engine reads and hashes them
    /// first, which takes a while for big files; the room stays usable
    /// meanwhile. Returns what the offer's card shows.
    pub async fn send_files(
        &self,
        session: u64,
        paths: Vec<String>,
    ) -> Result<SentOffer, AppError> {
        let paths: Vec<PathBuf> = paths
            .into_iter()
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from)
            .collect();
        let room = self.room(session).await?;
        let transfer = room.send_files(paths.clone(), None).await?;
        tokio::task::spawn_blocking(move || files::summarize(transfer, &paths))
            .await
            .map_err(|e| AppError::Files(format!("The files could not be listed: {e}")))
    }

    /// Takes `peer`'s offer `transfer` into the downloads folder (made if
    /// missing); returns that folder.
    pub async fn accept_files(
        &self,
        session: u64,
        peer: &str,
        transfer: String,
    ) -> Result<String, AppError> {
        let peer = parse_peer(peer)?;
        let room = self.room(session).await?;
        std::fs::create_dir_all(&self.downloads).map_err(|e| {
            AppError::Files(format!(
                "The folder {} cannot receive files: {e}",
                self.downloads.display()
            ))
        })?;
        room.accept_files(peer, transfer, self.downloads.clone());
        Ok(self.downloads.display().to_string())
    }

    /// Turns `peer`'s offer `transfer` down.
    pub async fn decline_files(
        &self,
        session: u64,
        peer: &str,
        transfer: String,
    ) -> Result<(), AppError> {
        let peer = parse_peer(peer)?;
        self.room(session).await?.decline_files(peer, transfer);
        Ok(())
    }

    /// Stops the transfer `transfer` with `peer`, whichever way it goes.
    pub async fn cancel_transfer(
        &self,
        session: u64,
        peer: &str,
        transfer: String,
    ) -> Result<(), AppError> {
        let peer = parse_peer(peer)?;
        self.room(session).await?.cancel_transfer(peer, transfer);
        Ok(())
    }

    /// `path` if it is a file received in this run (see [`ReceivedFiles`]).
    pub fn received_file(&self, path: &str) -> Result<PathBuf, AppError> {
        self.received.check(path)
    }

    /// Leaves the room `session`, and only it. Its last events (peers
    /// closing, `left`) still reach the window, which knows the room is gone.
    pub async fn leave(&self, session: u64) -> Result<(), AppError> {
        let mut rooms = self.rooms.lock().await;
        let joined = rooms.remove(&session).ok_or(AppError::NotInRoom)?;
        joined.room.leave();
        self.notifier.forget_room(session);
        if let Ok(mut shown) = self.shown.lock()
            && *shown == Some(session)
        {
            *shown = None;
        }
        self.keep_open_rooms(&rooms);
        Ok(())
    }
}

/// The name a room goes by in notifications: the person's own for it, or
/// the link's.
fn room_label(info: &RoomInfo) -> String {
    info.label
        .clone()
        .unwrap_or_else(|| info.server.room.clone())
}

/// A peer id from the window (as the engine's events name peers).
fn parse_peer(peer: &str) -> Result<PeerId, AppError> {
    PeerId::from_str(peer).map_err(|_| AppError::BadPeer(peer.to_owned()))
}
