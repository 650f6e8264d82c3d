//! The room actor: one task per joined room that owns the signaling client
//! and one peer task per remote member, and routes between them.
//!
//! Membership comes from the server's peer lists, but a working direct
//! connection outlives the list: after a signaling restart the list may lag
//! behind (the other peer has not reconnected yet), and tearing down a live
//! connection then would turn a server blip into a chat outage. A member that
//! leaves the list is dropped once its connection is also gone.

use std::collections::HashMap;

use parlor_protocol::PeerId;
use parlor_transport::TransportConfig;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::chat::Info;
use crate::config::RoomConfig;
use crate::events::{Event, EventKind};
use crate::peer::{self, PeerHandle, PeerInput, PeerNotice};
use crate::signaling::{self, SignalingEvent, SignalingSender};
use crate::{EngineError, ice_servers, wire};

/// A joined room. Dropping it leaves the room, as does [`Room::leave`].
pub struct Room {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    link: String,
}

enum Command {
    Send { text: String },
    Leave,
}

impl Room {
    /// Joins the room of `config.link` and starts connecting to its members.
    /// Progress, messages and errors arrive on the returned receiver, which
    /// ends after [`EventKind::Left`].
    ///
    /// Must be called inside a tokio runtime.
    pub fn join(config: RoomConfig) -> Result<(Room, mpsc::UnboundedReceiver<Event>), EngineError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let link = config.link.to_string();
        let room = Room {
            commands,
            peer_id: config.peer_id.clone(),
            link,
        };
        tokio::spawn(run(config, commands_rx, events_tx));
        Ok((room, events_rx))
    }

    /// Our id in the room.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// The room's link, to share.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// Sends a chat message to every connected member (and to members whose
    /// connection is still coming up, once it is).
    pub fn send(&self, text: impl Into<String>) {
        let _ = self.commands.send(Command::Send { text: text.into() });
    }

    /// Leaves the room: closes every peer connection and the signaling
    /// socket. The event stream ends with [`EventKind::Left`].
    pub fn leave(&self) {
        let _ = self.commands.send(Command::Leave);
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave);
    }
}

/// What the room knows about one remote member.
struct Member {
    handle: PeerHandle,
    /// In the server's latest peer list.
    listed: bool,
    /// Its peer connection is up.
    connected: bool,
}

struct RoomActor {
    config: RoomConfig,
    events: mpsc::UnboundedSender<Event>,
    signaling: SignalingSender,
    notices: mpsc::UnboundedSender<PeerNotice>,
    transport: TransportConfig,
    members: HashMap<PeerId, Member>,
    /// Members in join order, for "from" on servers that do not stamp it.
    order: Vec<PeerId>,
}

async fn run(
    config: RoomConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let (signaling_tx, mut signaling_rx) = mpsc::unbounded_channel();
    let url = config
        .link
        .server
        .websocket_url(&config.link.room, &config.peer_id);
    info!(%url, "joining room");
    let signaling = signaling::spawn(url, signaling_tx);

    let mut ice_servers = config.extra_ice_servers.clone();
    if config.fetch_ice_servers {
        match ice_servers::fetch(&config.link.server, &config.link.room).await {
            Ok(fetched) => ice_servers.extend(fetched),
            Err(error) => {
                warn!(%error, "no ICE servers from the signaling server");
                let _ = events.send(Event::now(EventKind::Error {
                    peer: None,
                    message: format!(
                        "could not get ICE servers from the signaling server ({error}); connecting with host candidates only"
                    ),
                }));
            }
        }
    }
    let transport = TransportConfig {
        ice_servers,
        bind_addrs: config.bind_addrs.clone(),
        tuning: config.tuning,
    };

    let (notices, mut notices_rx) = mpsc::unbounded_channel();
    let mut actor = RoomActor {
        config,
        events,
        signaling,
        notices,
        transport,
        members: HashMap::new(),
        order: Vec::new(),
    };

    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send { text }) => actor.send_chat(text),
                Some(Command::Leave) | None => break,
            },
            event = signaling_rx.recv() => match event {
                Some(event) => {
                    if !actor.on_signaling(event) {
                        break;
                    }
                }
                None => break,
            },
            Some(notice) = notices_rx.recv() => actor.on_notice(notice),
        }
    }
    actor.leave().await;
}

impl RoomActor {
    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event::now(kind));
    }

    /// Handles one signaling event; `false` means the room cannot go on.
    fn on_signaling(&mut self, event: SignalingEvent) -> bool {
        match event {
            SignalingEvent::Connected => self.emit(EventKind::SignalingConnected {
                link: self.config.link.to_string(),
                peer_id: self.config.peer_id.to_string(),
            }),
            SignalingEvent::Disconnected { reason, retry_in } => {
                self.emit(EventKind::SignalingDisconnected {
                    reason,
                    retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                })
            }
            SignalingEvent::PeerList(list) => {
                let parlor = |id: &PeerId| list.parlor.contains(id);
                for id in &list.peers {
                    self.ensure_member(id, parlor(id));
                }
                let listed: Vec<PeerId> = list.peers.clone();
                let gone: Vec<PeerId> = self
                    .members
                    .iter_mut()
                    .filter_map(|(id, member)| {
                        member.listed = listed.contains(id);
                        (!member.listed && !member.connected).then(|| id.clone())
                    })
                    .collect();
                for id in gone {
                    self.remove_member(&id);
                }
                self.order = listed;
            }
            SignalingEvent::Relayed { from, body } => self.on_relayed(from, body),
            SignalingEvent::ServerError(error) => {
                warn!(code = %error.code, message = %error.message, "signaling server error");
                self.emit(EventKind::Error {
                    peer: None,
                    message: format!(
                        "the signaling server refused a message: {} ({})",
                        error.message, error.code
                    ),
                });
            }
            SignalingEvent::Rejected { reason, room_full } => {
                self.emit(EventKind::JoinRefused { reason, room_full });
                return false;
            }
        }
        true
    }

    fn on_relayed(&mut self, from: Option<PeerId>, body: Map<String, Value>) {
        // An old server does not say who sent a message; in its rooms of two
        // it can only be the one other member.
        let from = match from {
            Some(from) => from,
            None => match self.order.as_slice() {
                [only] => only.clone(),
                _ => {
                    debug!("relayed message without a sender in a room of several; dropped");
                    return;
                }
            },
        };
        if from == self.config.peer_id {
            return;
        }
        match wire::decode(&body) {
            Ok(message) => {
                self.ensure_member(&from, false);
                if let Some(member) = self.members.get(&from) {
                    member.handle.send(PeerInput::Signal(message));
                }
            }
            Err(wire::DecodeError::NotNegotiation) => {
                debug!(%from, "ignoring a relayed message that is not negotiation");
            }
            Err(error) => {
                warn!(%from, %error, "malformed negotiation message");
                self.emit(EventKind::Error {
                    peer: Some(from.to_string()),
                    message: format!("received a broken negotiation message: {error}"),
                });
            }
        }
    }

    /// Starts a peer task for `id` unless one runs.
    fn ensure_member(&mut self, id: &PeerId, parlor: bool) {
        if *id == self.config.peer_id || self.members.contains_key(id) {
            return;
        }
        self.emit(EventKind::PeerJoined {
            peer: id.to_string(),
            parlor,
        });
        let handle = peer::spawn(peer::PeerContext {
            local: self.config.peer_id.clone(),
            remote: id.clone(),
            remote_is_parlor: parlor,
            info: Info::parlor(
                self.config.peer_id.as_str(),
                self.config.display_name.as_deref(),
            ),
            transport: self.transport.clone(),
            signaling: self.signaling.clone(),
            events: self.events.clone(),
            notices: self.notices.clone(),
        });
        self.members.insert(
            id.clone(),
            Member {
                handle,
                listed: true,
                connected: false,
            },
        );
    }

    fn remove_member(&mut self, id: &PeerId) {
        if let Some(member) = self.members.remove(id) {
            member.handle.send(PeerInput::Close);
            self.emit(EventKind::PeerLeft {
                peer: id.to_string(),
            });
        }
    }

    fn on_notice(&mut self, notice: PeerNotice) {
        match notice {
            PeerNotice::Connected { peer, connected } => {
                let Some(member) = self.members.get_mut(&peer) else {
                    return;
                };
                member.connected = connected;
                if !connected && !member.listed {
                    self.remove_member(&peer);
                }
            }
        }
    }

    fn send_chat(&mut self, text: String) {
        if self.members.is_empty() {
            self.emit(EventKind::Error {
                peer: None,
                message: "no one else is in the room yet; the message was not sent".into(),
            });
            return;
        }
        let id = crate::random::token();
        for (peer, member) in &self.members {
            member.handle.send(PeerInput::Chat {
                id: id.clone(),
                text: text.clone(),
            });
            self.emit(EventKind::Sent {
                id: id.clone(),
                to: peer.to_string(),
            });
        }
    }

    async fn leave(mut self) {
        for (_, member) in self.members.drain() {
            member.handle.close().await;
        }
        self.emit(EventKind::Left);
    }
}
