//! A test double of the old library's signaling server: the PartyKit party
//! of substrate-system/webrtc (`src/server.ts`), run in process so a test
//! can check that Parlor peers still find each other on a server that knows
//! nothing about Parlor.
//!
//! It does what that server does and nothing more:
//! - `ws://HOST/parties/main/<room>?_pk=<peer id>` joins a room (PartyKit
//!   takes the connection id from `_pk`; a missing `_pk` gets one made up);
//! - on every join and leave, every member gets
//!   `{"type":"info:peerlist","peers":[...]}` listing the *other* members in
//!   join order, with no `parlor` field;
//! - every frame a member sends goes, unchanged, to every other member of the
//!   room (PartyKit's `room.broadcast(message, [sender.id])`): no `from` is
//!   written, a `to` is not read, nothing is parsed or refused;
//! - `GET /parties/main/<room>/turn` answers 200 `{"iceServers":[]}` readable
//!   from any origin (the real one asks Cloudflare for TURN credentials; an
//!   empty list is what a server without them can honestly give); any other
//!   plain `GET` of a room answers 200, as PartyKit's health check does.
//!
//! It is deliberately not `parlor-signal`: no limits, no error frames, no
//! liveness pings, no checks on room names or ids.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::{mpsc, watch};

/// WebSocket close code sent to every member when the relay is dropped
/// ("going away", as a server that shuts down says).
const GOING_AWAY: u16 = 1001;

/// The old signaling server on a free loopback port; stops when dropped.
pub struct OldRelay {
    addr: SocketAddr,
    /// `true` tells the listener and every member's connection to end.
    closing: watch::Sender<bool>,
}

impl OldRelay {
    /// Starts the relay on `127.0.0.1:0` as a task of the current runtime.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A relay that passes every text frame through `rewrite` first: a
    /// server that tampers with what it relays (a man in the middle).
    pub async fn start_tampering(rewrite: fn(&str) -> String) -> Self {
        Self::start_with(Some(rewrite)).await
    }

    async fn start_with(tamper: Option<fn(&str) -> String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("old relay: cannot listen on loopback: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("old relay: no local address: {e}"));
        let (closing, closed) = watch::channel(false);
        let relay = Arc::new(Relay {
            rooms: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
            closing: closed.clone(),
            tamper,
        });
        let router = Router::new()
            .route("/parties/main/{room}", get(room))
            .route("/parties/main/{room}/turn", get(turn))
            .with_state(relay);
        let mut shutdown = closed;
        tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|closing| *closing).await;
            });
            if let Err(error) = serve.await {
                eprintln!("old relay: server ended: {error}");
            }
        });
        Self { addr, closing }
    }

    /// `127.0.0.1:PORT`, the form the old browser client's `start()` takes.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The server URL Parlor is given: `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A Parlor room link for `room` on this relay
    /// (`parlor://join/<room>?server=<percent-encoded url>`).
    pub fn link(&self, room: &str) -> String {
        let server = self.url().replace(':', "%3A").replace('/', "%2F");
        format!("parlor://join/{room}?server={server}")
    }
}

impl Drop for OldRelay {
    fn drop(&mut self) {
        let _ = self.closing.send(true);
    }
}

/// Rooms by name; each member has a queue its connection task writes out,
/// so a member gets peer lists and relayed frames in the order they were
/// produced.
struct Relay {
    rooms: Mutex<HashMap<String, Vec<Member>>>,
    next_key: AtomicU64,
    closing: watch::Receiver<bool>,
    /// Rewrites every relayed text frame, when set.
    tamper: Option<fn(&str) -> String>,
}

struct Member {
    id: String,
    /// Unique per connection: two connections may claim the same `_pk`.
    key: u64,
    outbox: mpsc::UnboundedSender<Message>,
}

impl Relay {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Vec<Member>>> {
        // A panic while holding the lock leaves the map consistent (every
        // change is one push or one retain), so a poisoned lock is usable.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a member and tells everyone in the room who the others are.
    fn join(&self, room: &str, member: Member) {
        let mut rooms = self.rooms();
        let members = rooms.entry(room.to_owned()).or_default();
        members.push(member);
        send_peer_lists(members);
    }

    /// Removes the connection `key` and tells those left.
    fn leave(&self, room: &str, key: u64) {
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else {
            return;
        };
        members.retain(|m| m.key != key);
        if members.is_empty() {
            rooms.remove(room);
        } else {
            send_peer_lists(members);
        }
    }

    /// Sends `frame`, unchanged, to every member of `room` but `sender`.
    fn broadcast(&self, room: &str, sender: u64, frame: Message) {
        let rooms = self.rooms();
        for member in rooms.get(room).into_iter().flatten() {
            if member.key != sender {
                let _ = member.outbox.send(frame.clone());
            }
        }
    }
}

/// `{"type":"info:peerlist","peers":[others]}` to each member.
fn send_peer_lists(members: &[Member]) {
    for member in members {
        let others: Vec<&str> = members
            .iter()
            .filter(|m| m.key != member.key)
            .map(|m| m.id.as_str())
            .collect();
        let list = json!({ "type": "info:peerlist", "peers": others }).to_string();
        let _ = member.outbox.send(Message::Text(list.into()));
    }
}

/// `GET /parties/main/<room>`: a WebSocket upgrade joins the room; a plain
/// request is a health check.
async fn room(
    State(relay): State<Arc<Relay>>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return "WebRTC Signaling Server".into_response();
    };
    let key = relay.next_key.fetch_add(1, Ordering::Relaxed);
    let id = query
        .get("_pk")
        .cloned()
        .unwrap_or_else(|| format!("anonymous-{key}"));
    upgrade.on_upgrade(move |socket| serve_member(socket, relay, room, id, key))
}

/// `GET /parties/main/<room>/turn`: no ICE servers, to any origin.
async fn turn() -> Response {
    (
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        axum::Json(json!({ "iceServers": [] })),
    )
        .into_response()
}

/// One member's connection: relays what it sends, writes out its queue, and
/// leaves the room when either side closes or the relay is dropped.
async fn serve_member(
    mut socket: WebSocket,
    relay: Arc<Relay>,
    room: String,
    id: String,
    key: u64,
) {
    let (outbox, mut queue) = mpsc::unbounded_channel();
    relay.join(&room, Member { id, key, outbox });
    let mut closing = relay.closing.clone();
    loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let frame = match relay.tamper {
                        Some(rewrite) => Message::Text(rewrite(text.as_str()).into()),
                        None => Message::Text(text),
                    };
                    relay.broadcast(&room, key, frame);
                }
                Some(Ok(frame @ Message::Binary(_))) => relay.broadcast(&room, key, frame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            Some(frame) = queue.recv() => {
                if socket.send(frame).await.is_err() {
                    break;
                }
            }
            () = stopped(&mut closing) => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: GOING_AWAY,
                        reason: "relay stopped".into(),
                    })))
                    .await;
                break;
            }
        }
    }
    relay.leave(&room, key);
}

/// Returns once the relay is being dropped (or already gone).
async fn stopped(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}
