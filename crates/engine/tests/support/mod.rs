//! Shared set-up for engine tests: a real signaling server on loopback and
//! rooms whose WebRTC sockets bind to loopback only.

use std::net::SocketAddr;
use std::time::Duration;

use parlor_engine::{Event, EventKind, Room, RoomConfig, RoomLink, ServerUrl};
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest any single expected event may take; a failure guard, not a
/// performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub async fn start_server() -> parlor_signal::Server {
    let config = parlor_signal::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..parlor_signal::Config::default()
    };
    match parlor_signal::Server::start(config).await {
        Ok(server) => server,
        Err(error) => panic!("cannot start the signaling server: {error}"),
    }
}

pub fn new_link(server: &parlor_signal::Server) -> RoomLink {
    let url: ServerUrl = server.url().parse().unwrap_or_else(|e| panic!("{e}"));
    RoomLink::new_room(url)
}

pub fn loopback_config(link: &RoomLink) -> RoomConfig {
    let mut config = RoomConfig::new(link.clone());
    config.bind_addrs = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
    config
}

/// A joined room and the events it produced so far.
pub struct TestPeer {
    pub room: Room,
    pub events: UnboundedReceiver<Event>,
    pub seen: Vec<EventKind>,
}

impl TestPeer {
    pub async fn join(config: RoomConfig) -> Self {
        let (room, events) = Room::join(config)
            .await
            .unwrap_or_else(|e| panic!("join failed: {e}"));
        Self {
            room,
            events,
            seen: Vec::new(),
        }
    }

    pub fn id(&self) -> String {
        self.room.peer_id().to_string()
    }

    /// Waits for the first event (after those already consumed) that
    /// `matches` accepts, and returns it.
    pub async fn wait_for(
        &mut self,
        what: &str,
        matches: impl Fn(&EventKind) -> bool,
    ) -> EventKind {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match event {
                Ok(Some(event)) => {
                    self.seen.push(event.kind.clone());
                    if matches(&event.kind) {
                        return event.kind;
                    }
                }
                Ok(None) => panic!(
                    "event stream ended while waiting for {what}; saw {:#?}",
                    self.seen
                ),
                Err(_) => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    pub async fn wait_connected_to(&mut self, peer: &str) {
        let peer = peer.to_owned();
        self.wait_for(
            &format!("peer-connected {peer}"),
            |e| matches!(e, EventKind::PeerConnected { peer: p, .. } if *p == peer),
        )
        .await;
    }

    pub async fn wait_message(&mut self, from: &str, text: &str) {
        let (from, text) = (from.to_owned(), text.to_owned());
        self.wait_for(&format!("message {text:?} from {from}"), |e| {
            matches!(e, EventKind::Message { from: f, text: t, .. } if *f == from && *t == text)
        })
        .await;
    }

    /// Sends `text` to the room and returns its id.
    pub async fn say(&self, text: &str) -> parlor_engine::MessageId {
        self.room
            .send(text)
            .await
            .unwrap_or_else(|e| panic!("cannot send {text:?}: {e}"))
    }
}

/// Two peers that join a fresh room on `server` at the same moment, returned
/// once each has its chat channel to the other open.
pub async fn connected_pair(server: &parlor_signal::Server) -> (TestPeer, TestPeer) {
    let link = new_link(server);
    let (mut alice, mut bob) = tokio::join!(
        TestPeer::join(loopback_config(&link)),
        TestPeer::join(loopback_config(&link))
    );
    let (a, b) = (alice.id(), bob.id());
    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;
    (alice, bob)
}
