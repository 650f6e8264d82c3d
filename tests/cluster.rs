//! Several `parlor-signal` nodes sharing their rooms through a real
//! `redis-server` (`--redis`): members of one room on different nodes see
//! one peer list and reach each other, ids are unique across the cluster,
//! a dead node's members go, a Redis restart drops nobody, and the
//! connections per address are counted across the nodes.
//!
//! Each test starts its own Redis and nodes (a few milliseconds each), so
//! tests that kill a node or Redis disturb no other.

// Test code: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parlor_e2e::PATIENCE;
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::redis::RedisServer;
use parlor_e2e::signal::SignalProcess;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Seconds of silence after which the tests' nodes count each other dead:
/// short, so a killed node's members go within a few seconds.
const NODE_TIMEOUT: &str = "2";

/// A key only the test's alice knows.
const ALICE_KEY: &str = "alices-own-key";

/// `count` nodes sharing `redis`.
async fn nodes(redis: &RedisServer, count: usize) -> Vec<SignalProcess> {
    let url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..count {
        let args = ["--redis", &url, "--redis-node-timeout", NODE_TIMEOUT];
        nodes.push(SignalProcess::start(&args).await);
    }
    nodes
}

/// A WebSocket client of one node.
struct Client {
    id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Joins `room` on `node` as Parlor client `id`, with `key` if given.
    async fn join(node: &SignalProcess, room: &str, id: &str, key: Option<&str>) -> Client {
        let key = key.map(|key| format!("&key={key}")).unwrap_or_default();
        let url = format!(
            "ws://{}/parties/main/{room}?_pk={id}&parlor=1{key}",
            node.addr()
        );
        let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
            .await
            .expect("handshake in time")
            .expect("WebSocket handshake");
        Client {
            id: id.to_owned(),
            ws,
        }
    }

    async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::text(value.to_string()))
            .await
            .expect("send");
    }

    /// The next text frame as JSON (pings skipped); fails on a close.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: nothing received in time", self.id))
                .unwrap_or_else(|| panic!("{}: connection ended", self.id))
                .unwrap_or_else(|e| panic!("{}: read failed: {e}", self.id));
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("{}: expected a text frame, got {other:?}", self.id),
            }
        }
    }

    /// The next frame that is not a peer list.
    async fn recv_message(&mut self) -> Value {
        loop {
            let value = self.recv().await;
            if value["type"] != "info:peerlist" {
                return value;
            }
        }
    }

    /// Reads peer lists until one names exactly `peers`, in this order.
    async fn wait_for_peers(&mut self, peers: &[&str]) {
        loop {
            let value = self.recv().await;
            if value["type"] != "info:peerlist" {
                continue;
            }
            let seen: Vec<&str> = value["peers"]
                .as_array()
                .expect("peers")
                .iter()
                .map(|p| p.as_str().expect("id"))
                .collect();
            if seen == peers {
                return;
            }
        }
    }

    /// Reads until the server's close frame.
    async fn expect_close(&mut self) -> CloseFrame {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: not closed in time", self.id));
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("{}: expected a close frame, got {other:?}", self.id),
            }
        }
    }
}

/// Joins `ids` into `room`, the i-th on `nodes[i % len]`, one after
/// another, and waits until everyone lists all the others in join order.
async fn spread(nodes: &[SignalProcess], room: &str, ids: &[&str]) -> Vec<Client> {
    let mut clients = Vec::new();
    let mut first_lists = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let key = (*id == "alice").then_some(ALICE_KEY);
        let mut client = Client::join(&nodes[index % nodes.len()], room, id, key).await;
        first_lists.push(client.recv().await["peers"].clone());
        clients.push(client);
    }
    for (client, first) in clients.iter_mut().zip(first_lists) {
        let others: Vec<&str> = ids.iter().copied().filter(|id| *id != client.id).collect();
        if first != json!(others) {
            client.wait_for_peers(&others).await;
        }
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_three_nodes_share_one_peer_list_and_reach_each_other_in_order() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, 3).await;
    let mut clients = spread(&nodes, "lobby", &["alice", "bob", "carol"]).await;

    for n in 0..20 {
        clients[0].send(json!({"type": "test", "n": n})).await;
    }
    for receiver in &mut clients[1..] {
        for n in 0..20 {
            let message = receiver.recv_message().await;
            assert_eq!(message["from"], "alice", "{}: {message}", receiver.id);
            assert_eq!(message["n"], n, "{}: order kept", receiver.id);
        }
    }

    clients[1]
        .send(json!({"type": "test", "to": "carol", "secret": true}))
        .await;
    clients[1]
        .send(json!({"type": "test", "marker": true}))
        .await;
    let addressed = clients[2].recv_message().await;
    assert_eq!(
        (addressed["from"].clone(), addressed["secret"].clone()),
        (json!("bob"), json!(true))
    );
    let next = clients[0].recv_message().await;
    assert_eq!(
        (next["from"].clone(), next["marker"].clone()),
        (json!("bob"), json!(true)),
        "alice gets bob's broadcast, not what he sent carol"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_id_taken_on_one_node_is_refused_on_another() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, 2).await;
    let mut alice = Client::join(&nodes[0], "lobby", "alice", Some(ALICE_KEY)).await;
    alice.recv().await;

    let mut impostor = Client::join(&nodes[1], "lobby", "alice", Some("guessed")).await;
    let refusal = impostor.recv().await;
    assert_eq!(refusal["code"], "duplicate-peer-id", "{refusal}");
    assert_eq!(u16::from(impostor.expect_close().await.code), 4409);
}

/// The HTTP status a WebSocket handshake to `node` is refused with, or
/// `None` if it is accepted (the connection is then closed).
async fn handshake_refusal(node: &SignalProcess, id: &str) -> Option<u16> {
    let url = format!("ws://{}/parties/main/lobby?_pk={id}&parlor=1", node.addr());
    let attempt = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake in time");
    match attempt {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            None
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        Err(error) => panic!("{id}: handshake failed otherwise: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_connection_limit_across_two_nodes_is_refused_as_on_one() {
    // Loopback counts as one client address here.
    let limit = ["--max-connections-per-address", "2", "--limit-loopback"];
    let alone = SignalProcess::start(&limit).await;
    let mut held = Vec::new();
    for id in ["alice", "bob"] {
        let mut client = Client::join(&alone, "lobby", id, None).await;
        client.recv().await;
        held.push(client);
    }
    let on_one_node = handshake_refusal(&alone, "carol").await;
    assert_eq!(on_one_node, Some(429), "one node refuses the third");

    let redis = RedisServer::start().await;
    let url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut args = vec!["--redis", &url, "--redis-node-timeout", NODE_TIMEOUT];
        args.extend(limit);
        nodes.push(SignalProcess::start(&args).await);
    }
    let mut first = Client::join(&nodes[0], "lobby", "alice", None).await;
    first.recv().await;
    let mut second = Client::join(&nodes[1], "lobby", "bob", None).await;
    second.recv().await;
    assert_eq!(
        handshake_refusal(&nodes[0], "carol").await,
        on_one_node,
        "node 0 holds one connection of the address, the cluster two"
    );

    // Its place comes back cluster-wide once a connection closes.
    drop(second);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while handshake_refusal(&nodes[0], "dave").await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_members_leave_everywhere_and_keep_their_ids_on_another_node() {
    let redis = RedisServer::start().await;
    let mut nodes = nodes(&redis, 3).await;
    let mut clients = spread(&nodes, "lobby", &["alice", "bob", "carol"]).await;
    let mut carol = clients.pop().expect("carol");
    let mut bob = clients.pop().expect("bob");

    // SIGKILL: the node says goodbye to no one, Redis included.
    drop(nodes.remove(0));
    bob.wait_for_peers(&["carol"]).await;
    carol.wait_for_peers(&["bob"]).await;

    bob.send(json!({"type": "test", "to": "carol", "n": 1}))
        .await;
    assert_eq!(
        carol.recv_message().await["n"],
        1,
        "the others keep chatting"
    );

    let mut impostor = Client::join(&nodes[0], "lobby", "alice", None).await;
    assert_eq!(impostor.recv().await["code"], "duplicate-peer-id");
    let mut alice = Client::join(&nodes[0], "lobby", "alice", Some(ALICE_KEY)).await;
    alice.wait_for_peers(&["bob", "carol"]).await;
    bob.wait_for_peers(&["carol", "alice"]).await;
    alice
        .send(json!({"type": "test", "to": "carol", "n": 2}))
        .await;
    let message = carol.recv_message().await;
    assert_eq!(
        (message["from"].clone(), message["n"].clone()),
        (json!("alice"), json!(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_drops_no_client_and_the_rooms_come_back() {
    let mut redis = RedisServer::start().await;
    let nodes = nodes(&redis, 2).await;
    let mut clients = spread(&nodes, "lobby", &["alice", "bob"]).await;
    let mut bob = clients.pop().expect("bob");
    let mut alice = clients.pop().expect("alice");

    redis.restart().await;

    // A newcomer sees the room as it was: the nodes registered their
    // members again.
    let mut carol = Client::join(&nodes[0], "lobby", "carol", None).await;
    carol.wait_for_peers(&["alice", "bob"]).await;
    // Frames sent before the nodes have reconnected may be lost; keep
    // sending until one arrives (each read fails the test on a close).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut n = 0;
    loop {
        n += 1;
        alice
            .send(json!({"type": "test", "to": "bob", "n": n}))
            .await;
        let received = tokio::time::timeout(Duration::from_millis(200), bob.recv_message()).await;
        if let Ok(message) = received {
            assert_eq!(message["from"], "alice");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing reached bob after the restart"
        );
    }
    carol
        .send(json!({"type": "test", "to": "bob", "hello": true}))
        .await;
    loop {
        let message = bob.recv_message().await;
        if message["from"] == "carol" {
            assert_eq!(message["hello"], true);
            break;
        }
    }
}

/// `link` (made by a node's `create`) with its server replaced by `server`.
fn link_on(link: &str, server: &str) -> String {
    let room = link
        .strip_prefix("parlor://join/")
        .and_then(|rest| rest.split('?').next())
        .expect("a room link");
    let encoded = server.replace(':', "%3A").replace('/', "%2F");
    format!("parlor://join/{room}?server={encoded}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_signaling_through_different_nodes_chat_over_webrtc() {
    let redis = RedisServer::start().await;
    let nodes = nodes(&redis, 2).await;
    let mut alice = PeerProcess::create("alice", &nodes[0].url()).await;
    let mut bob = PeerProcess::join("bob", &link_on(&alice.link, &nodes[1].url()));
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);

    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;
    alice.say("hello across the cluster").await;
    let got = bob.wait_event("message", Some(("from", &a))).await;
    assert_eq!(got["text"], "hello across the cluster");
}
