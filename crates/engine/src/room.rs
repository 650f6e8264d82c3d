//! The room actor: one task per joined room that owns the signaling client
//! and one peer task per remote member, and routes between them.
//!
//! Membership comes from the server's peer lists, but a working direct
//! connection outlives the list: after a signaling restart the list may lag
//! behind (the other peer has not reconnected yet), and tearing down a live
//! connection then would turn a server blip into a chat outage. A member that
//! leaves the list is dropped once its connection is also gone, or at once
//! when it said goodbye (`{"type":"bye"}` through the server).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parlor_files::{FileError, Manifest};
use parlor_protocol::{
    Envelope, ErrorCode, IceServer, IdKey, Info, JoinRejection, MessageId, PeerId, SignalMessage,
    bye, is_bye,
};
use parlor_session::{MAX_UNACKED_BYTES, SessionConfig};
use parlor_store::DeliveryState;
use parlor_transport::{Identity, TransportConfig};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::config::RoomConfig;
use crate::events::{Event, EventKind};
use crate::ledger::Ledger;
use crate::network::{self, NetworkChange};
use crate::peer::{self, PeerHandle, PeerInput, PeerNotice};
use crate::signaling::{self, SignalingEvent, SignalingSender};
use crate::{JoinError, SendError, ice_servers};

/// The longest leaving waits for its goodbye to be written to the
/// signaling socket before it closes the peer connections.
const BYE_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// A joined room. Dropping it leaves the room, as does [`Room::leave`].
pub struct Room {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    link: String,
}

enum Command {
    Send {
        text: String,
        reply: oneshot::Sender<Result<MessageId, SendError>>,
    },
    Retry {
        id: MessageId,
        reply: oneshot::Sender<usize>,
    },
    /// Offer files to `to`, or to everyone.
    OfferFiles {
        manifest: Arc<Manifest>,
        paths: Vec<String>,
        to: Option<PeerId>,
    },
    /// An answer to, or a stop of, a transfer with one peer.
    Transfer {
        peer: PeerId,
        input: PeerInput,
    },
    Leave,
}

impl Room {
    /// Joins the room of `config.link`: returns once the signaling server
    /// let us in, or with why it did not. Connecting to the members then
    /// goes on in the background; progress, messages and errors arrive on
    /// the returned receiver, which ends after [`EventKind::Left`]. Events
    /// from the join itself are on it too.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn join(
        config: RoomConfig,
    ) -> Result<(Room, mpsc::UnboundedReceiver<Event>), JoinError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (joined_tx, joined_rx) = oneshot::channel();
        let room = Room {
            commands,
            peer_id: config.peer_id.clone(),
            link: config.link.to_string(),
        };
        let server = config.link.server.to_string();
        tokio::spawn(run(config, commands_rx, events_tx, joined_tx));
        match joined_rx.await {
            Ok(Ok(())) => Ok((room, events_rx)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(JoinError::ServerUnreachable {
                server,
                reason: "the room stopped before it was joined".into(),
            }),
        }
    }

    /// Our id in the room.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// The room's link, to share.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// Sends a chat message to every member: at once to those connected,
    /// and to those still connecting once they are. Returns the message's
    /// id, which the [`EventKind::Queued`], [`EventKind::Delivered`] and
    /// [`EventKind::SendFailed`] events name.
    pub async fn send(&self, text: impl Into<String>) -> Result<MessageId, SendError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Send {
                text: text.into(),
                reply,
            })
            .map_err(|_| SendError::Left)?;
        answer.await.map_err(|_| SendError::Left)?
    }

    /// Sends one of our messages again to the recipients it failed to reach
    /// (old clients, which cannot acknowledge: a failed send to one is not
    /// retried by itself). Returns to how many connected peers it went out
    /// again; the others get it if they come back with the same identity.
    pub async fn retry(&self, id: MessageId) -> Result<usize, SendError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Retry { id, reply })
            .map_err(|_| SendError::Left)?;
        answer.await.map_err(|_| SendError::Left)
    }

    /// Offers files and folders to `to`, or to every member (now to those
    /// connected, and to the others once they connect). Reads and hashes
    /// them first, off the async threads; returns the transfer's id, which
    /// the `file-*` events name. The same files offered again get the same
    /// id, so a receiver goes on with what it has.
    pub async fn send_files(
        &self,
        paths: Vec<PathBuf>,
        to: Option<PeerId>,
    ) -> Result<String, FileError> {
        // Kept absolute: after a restart they are read again from anywhere.
        let paths: Vec<PathBuf> = paths
            .into_iter()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .collect();
        let kept = paths.iter().map(|p| p.display().to_string()).collect();
        let manifest = tokio::task::spawn_blocking(move || Manifest::build(&paths))
            .await
            .map_err(|_| FileError::Interrupted)??;
        let manifest = Arc::new(manifest);
        let transfer = manifest.transfer().to_owned();
        let _ = self.commands.send(Command::OfferFiles {
            manifest,
            paths: kept,
            to,
        });
        Ok(transfer)
    }

    /// Takes `peer`'s offer `transfer`, receiving into `dir`.
    pub fn accept_files(&self, peer: PeerId, transfer: String, dir: PathBuf) {
        let input = PeerInput::AcceptFiles { transfer, dir };
        let _ = self.commands.send(Command::Transfer { peer, input });
    }

    /// Turns `peer`'s offer `transfer` down.
    pub fn decline_files(&self, peer: PeerId, transfer: String) {
        let input = PeerInput::DeclineFiles { transfer };
        let _ = self.commands.send(Command::Transfer { peer, input });
    }

    /// Stops transfer `transfer` with `peer`, whichever way it goes.
    pub fn cancel_transfer(&self, peer: PeerId, transfer: String) {
        let input = PeerInput::CancelTransfer { transfer };
        let _ = self.commands.send(Command::Transfer { peer, input });
    }

    /// Leaves the room: says goodbye to every member, closes every peer
    /// connection and the signaling socket. The event stream ends with
    /// [`EventKind::Left`].
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
    /// The identity it proved, once its connection is up.
    fingerprint: Option<String>,
}

struct RoomActor {
    config: RoomConfig,
    local_fingerprint: String,
    ledger: Ledger,
    events: mpsc::UnboundedSender<Event>,
    signaling: SignalingSender,
    notices: mpsc::UnboundedSender<PeerNotice>,
    transport: TransportConfig,
    members: HashMap<PeerId, Member>,
    /// The other members in join order, for messages without a sender on
    /// servers that do not stamp one.
    order: Vec<PeerId>,
    /// Members that said goodbye but may still be in a peer list sent
    /// before the server saw them go: not reconnected to from a list.
    departed: std::collections::HashSet<PeerId>,
    /// Members the session dropped (another identity than expected, or over
    /// a bound): never connected to again while we are in this room.
    dropped: std::collections::HashSet<PeerId>,
    /// Told once how the join went.
    joined: Option<oneshot::Sender<Result<(), JoinError>>>,
}

async fn run(
    config: RoomConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    joined: oneshot::Sender<Result<(), JoinError>>,
) {
    // Without a lasting identity, one for this room: every connection then
    // proves the same certificate, so safety codes stay meaningful.
    let identity = match config.identity.clone().map_or_else(Identity::generate, Ok) {
        Ok(identity) => identity,
        Err(error) => {
            let _ = joined.send(Err(JoinError::Identity(error.to_string())));
            return;
        }
    };
    let store = match config
        .store
        .clone()
        .map_or_else(parlor_store::Store::in_memory, Ok)
    {
        Ok(store) => store,
        Err(error) => {
            let _ = joined.send(Err(JoinError::Store(error.to_string())));
            return;
        }
    };
    let ledger = Ledger::new(
        store,
        config.link.to_string(),
        identity.fingerprint().to_owned(),
        config.display_name.clone(),
        events.clone(),
    );
    ledger.joined(&config.link.server.to_string(), config.link.room.as_str());
    let _ = events.send(Event::now(EventKind::Identity {
        fingerprint: identity.fingerprint().to_owned(),
    }));
    let (signaling_tx, mut signaling_rx) = mpsc::unbounded_channel();
    // Proves, on every reconnection of this membership, that the id is ours:
    // the server keeps it for us while we reconnect and refuses others.
    let key: IdKey = crate::random::token()
        .parse()
        .unwrap_or_else(|_| unreachable!("hex is a valid token"));
    let url = config
        .link
        .server
        .websocket_url(&config.link.room, &config.peer_id, &key);
    info!(link = %config.link, peer = %config.peer_id, "joining room");
    let signaling = signaling::spawn(url, config.peer_id.clone(), signaling_tx);

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
        identity: Some(identity.clone()),
    };

    let (notices, mut notices_rx) = mpsc::unbounded_channel();
    let (network, mut network_rx) = mpsc::unbounded_channel();
    network::spawn_watcher(network);
    let mut actor = RoomActor {
        local_fingerprint: identity.fingerprint().to_owned(),
        ledger,
        config,
        events,
        signaling,
        notices,
        transport,
        members: HashMap::new(),
        order: Vec::new(),
        departed: std::collections::HashSet::new(),
        dropped: std::collections::HashSet::new(),
        joined: Some(joined),
    };

    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send { text, reply }) => {
                    let _ = reply.send(actor.send_chat(text));
                }
                Some(Command::Retry { id, reply }) => {
                    let _ = reply.send(actor.retry(&id));
                }
                Some(Command::OfferFiles { manifest, paths, to }) => {
                    actor.ledger.transfer_offered(manifest.transfer(), &paths);
                    for (peer, member) in &actor.members {
                        if to.as_ref().is_none_or(|to| to == peer) {
                            member.handle.send(PeerInput::OfferFiles(manifest.clone()));
                        }
                    }
                }
                Some(Command::Transfer { peer, input }) => {
                    if let Some(member) = actor.members.get(&peer) {
                        member.handle.send(input);
                    }
                }
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
            Some(change) = network_rx.recv() => actor.on_network_change(change),
        }
    }
    actor.leave().await;
}

impl RoomActor {
    /// This machine's addresses changed: the signaling socket and the peer
    /// connections that stood on a lost address start over from the
    /// addresses there are now, and connections still looking for a path
    /// try again with the new ones.
    fn on_network_change(&self, change: NetworkChange) {
        if !change.removed.is_empty() {
            self.signaling.addresses_gone(change.removed.clone());
        }
        for member in self.members.values() {
            member.handle.send(PeerInput::NetworkChanged {
                removed: change.removed.clone(),
            });
        }
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event::now(kind));
    }

    /// Tells [`Room::join`] how the join went, the first time only.
    fn settle_join(&mut self, outcome: Result<(), JoinError>) {
        if let Some(joined) = self.joined.take() {
            let _ = joined.send(outcome);
        }
    }

    /// Handles one signaling event; `false` means the room cannot go on.
    fn on_signaling(&mut self, event: SignalingEvent) -> bool {
        match event {
            SignalingEvent::Connected => {
                self.settle_join(Ok(()));
                self.emit(EventKind::SignalingConnected {
                    link: self.config.link.to_string(),
                    peer_id: self.config.peer_id.to_string(),
                });
            }
            SignalingEvent::Disconnected { reason, retry_in } => {
                if self.joined.is_some() {
                    self.settle_join(Err(JoinError::ServerUnreachable {
                        server: self.config.link.server.to_string(),
                        reason,
                    }));
                    return false;
                }
                self.emit(EventKind::SignalingDisconnected {
                    reason,
                    retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                });
            }
            SignalingEvent::PeerList(mut list) => {
                if list.peers.len() > self.config.max_members {
                    warn!(
                        members = list.peers.len(),
                        "more members than this room connects to"
                    );
                    self.emit(EventKind::Error {
                        peer: None,
                        message: format!(
                            "{} others are in this room; Parlor connects to the first {} who joined",
                            list.peers.len(),
                            self.config.max_members
                        ),
                    });
                    list.peers.truncate(self.config.max_members);
                }
                self.departed.retain(|id| list.peers.contains(id));
                for id in &list.peers {
                    if !self.departed.contains(id) && !self.dropped.contains(id) {
                        self.ensure_member(id, list.parlor.contains(id));
                    }
                }
                let gone: Vec<PeerId> = self
                    .members
                    .iter_mut()
                    .filter_map(|(id, member)| {
                        member.listed = list.peers.contains(id);
                        (!member.listed && !member.connected).then(|| id.clone())
                    })
                    .collect();
                for id in gone {
                    self.remove_member(&id);
                }
                self.order = list.peers;
            }
            SignalingEvent::IceServers(servers) => {
                // Ours as a member: they replace what `/turn` said for the
                // connections made from now on; the user's own stay.
                if self.config.fetch_ice_servers {
                    self.transport.ice_servers =
                        [self.config.extra_ice_servers.clone(), servers].concat();
                }
            }
            SignalingEvent::Relayed { envelope, body } => self.on_relayed(envelope, body),
            SignalingEvent::ServerError(error) => {
                if JoinRejection::from_error_code(error.code).is_some() {
                    // The close that follows says it again, as a refusal.
                    return true;
                }
                if error.code == ErrorCode::UnknownPeer {
                    // A peer left while something was on its way to it; the
                    // next peer list says so.
                    debug!(message = %error.message, "a message for a member who left");
                    return true;
                }
                warn!(code = %error.code, message = %error.message, "signaling server error");
                self.emit(EventKind::Error {
                    peer: None,
                    message: format!(
                        "the signaling server refused a message: {} ({})",
                        error.message, error.code
                    ),
                });
            }
            SignalingEvent::Rejected { rejection, reason } => {
                if self.joined.is_some() {
                    self.settle_join(Err(JoinError::refused(rejection, reason)));
                } else {
                    self.emit(EventKind::JoinRefused {
                        reason,
                        room_full: rejection == JoinRejection::RoomFull,
                    });
                }
                return false;
            }
        }
        true
    }

    fn on_relayed(&mut self, envelope: Envelope, body: Map<String, Value>) {
        if !envelope.is_for(&self.config.peer_id) {
            // An old server delivers every message to everyone.
            return;
        }
        if is_bye(&body) {
            if let Some(from) = envelope.from {
                debug!(%from, "said goodbye");
                self.departed.insert(from.clone());
                self.remove_member(&from);
            }
            return;
        }
        // An old client on an old server does not say who it is; in a room
        // of two it can only be the one other member.
        let from = match envelope.from {
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
        if self.dropped.contains(&from) {
            return;
        }
        if !self.members.contains_key(&from) && !self.order.contains(&from) {
            // Only members the server listed get a connection: anyone else
            // could make us build one WebRTC connection per forged sender.
            debug!(%from, "dropped a relayed message from someone not in the room");
            return;
        }
        match SignalMessage::from_json(&body) {
            Ok(message) => {
                // Negotiation from a member that said goodbye: it came back.
                self.departed.remove(&from);
                self.ensure_member(&from, envelope.parlor);
                if let Some(member) = self.members.get(&from) {
                    if envelope.parlor {
                        member.handle.send(PeerInput::RemoteIsParlor);
                    }
                    member.handle.send(PeerInput::Signal(message));
                }
            }
            Err(parlor_protocol::DecodeError::NotNegotiation) => {
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

    /// Starts a peer task for `id` unless one runs; tells a running one if
    /// `id` turned out to be a Parlor peer (a member first heard of through
    /// a relayed message, before the peer list said so).
    fn ensure_member(&mut self, id: &PeerId, parlor: bool) {
        if *id == self.config.peer_id {
            return;
        }
        if let Some(member) = self.members.get(id) {
            if parlor {
                member.handle.send(PeerInput::RemoteIsParlor);
            }
            return;
        }
        self.emit(EventKind::PeerJoined {
            peer: id.to_string(),
            parlor,
        });
        let handle = peer::spawn(peer::PeerContext {
            session: SessionConfig {
                local: self.config.peer_id.clone(),
                remote: id.clone(),
                remote_is_parlor: parlor,
                local_info: Info::parlor(
                    self.config.peer_id.as_str(),
                    self.config.display_name.as_deref(),
                ),
                expected_fingerprint: self.config.expected_fingerprint.clone(),
                relay_configured: self.transport.ice_servers.iter().any(IceServer::is_relay),
            },
            room: self.config.link.room.clone(),
            local_fingerprint: self.local_fingerprint.clone(),
            ledger: self.ledger.clone(),
            accept_files: self.config.accept_files.clone(),
            download_dir: self.config.download_dir.clone(),
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
                fingerprint: None,
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
            PeerNotice::Identified { peer, fingerprint } => {
                if let Some(member) = self.members.get_mut(&peer) {
                    member.fingerprint = Some(fingerprint);
                }
            }
            PeerNotice::Dropped { peer, reason } => {
                // Its card stays with the reason; nothing more is sent to it.
                self.dropped.insert(peer.clone());
                self.members.remove(&peer);
                self.emit(EventKind::Error {
                    peer: Some(peer.to_string()),
                    message: format!("disconnected from this peer: {reason}"),
                });
            }
        }
    }

    /// Keeps the message, then hands it to every member; with nobody here
    /// it waits in the store for whoever it is owed to.
    fn send_chat(&mut self, text: String) -> Result<MessageId, SendError> {
        // Back-pressure: a peer that acknowledges nothing (a slow or broken
        // line, a stuck client) must not make us hold everything typed. The
        // person is told to wait; nothing is dropped.
        if let Some((peer, member)) = self
            .members
            .iter()
            .find(|(_, member)| member.handle.unacked_bytes() >= MAX_UNACKED_BYTES)
        {
            return Err(SendError::Backlogged {
                peer: peer.to_string(),
                unacked_bytes: member.handle.unacked_bytes(),
            });
        }
        let id = MessageId::new(crate::random::token());
        let owed_to = self.ledger.sent(&id, &text);
        if self.members.is_empty() {
            self.emit(EventKind::Waiting {
                id: id.clone(),
                owed_to,
            });
        }
        for (peer, member) in &self.members {
            member.handle.send_chat(id.clone(), text.clone());
            self.emit(EventKind::Queued {
                id: id.clone(),
                to: peer.to_string(),
            });
        }
        Ok(id)
    }

    /// Queues a failed message again for the connected peers it failed to
    /// reach; those not here stay failed (an old client never comes back
    /// as the same identity).
    fn retry(&mut self, id: &MessageId) -> usize {
        let failed = self.ledger.failed(id);
        let mut again = 0;
        for (peer, member) in &self.members {
            let Some(fingerprint) = member.fingerprint.as_ref().filter(|f| failed.contains(f))
            else {
                continue;
            };
            self.ledger.state(id, fingerprint, DeliveryState::Queued);
            let owed = self.ledger.owed_to(fingerprint);
            if let Some((id, text)) = owed.into_iter().find(|(owed, _)| owed == id) {
                member.handle.send_chat(id.clone(), text);
                self.emit(EventKind::Queued {
                    id,
                    to: peer.to_string(),
                });
                again += 1;
            }
        }
        again
    }

    async fn leave(mut self) {
        // Written to the socket before the peer connections close, so the
        // others drop us at once instead of when ICE notices (a closed
        // connection can reach them before a goodbye still queued here).
        // Bounded: a stalled socket must not hold up leaving.
        let written = self.signaling.send_written(None, bye());
        let _ = timeout(BYE_WRITE_TIMEOUT, written).await;
        for (_, member) in self.members.drain() {
            member.handle.close().await;
        }
        self.emit(EventKind::Left);
    }
}
