//! Parlor peers on a signaling server that speaks only the old library's
//! protocol (protocol.md §1–3, "(seed)" parts): a broadcast relay with peer
//! lists, that stamps no `from`, routes no `to` and reports no Parlor
//! members. The server is `OldRelay`, an in-process stand-in for the old
//! library's PartyKit party; the first tests check the stand-in itself, so
//! that a failure of the Parlor tests below is Parlor's.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parlor_e2e::PATIENCE;
use parlor_e2e::old_relay::OldRelay;
use parlor_e2e::peer::PeerProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// ── the stand-in server ─────────────────────────────────────────────────────

type RawClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A plain WebSocket client, as an old browser client connects.
async fn join_raw(relay: &OldRelay, room: &str, id: &str) -> RawClient {
    let url = format!("{}/parties/main/{room}?_pk={id}", relay.url());
    let (socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(&url))
        .await
        .unwrap_or_else(|_| panic!("{id}: no WebSocket handshake with {url} in {PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("{id}: cannot connect to {url}: {e}"));
    socket
}

/// The next text frame `id` gets, exactly as it came.
async fn next_text(client: &mut RawClient, id: &str) -> String {
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.as_str().to_owned(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(other))) => panic!("{id}: expected a text frame, got {other:?}"),
            Ok(Some(Err(e))) => panic!("{id}: reading from the relay failed: {e}"),
            Ok(None) => panic!("{id}: the relay closed the connection"),
            Err(_) => panic!("{id}: nothing from the relay for {PATIENCE:?}"),
        }
    }
}

/// The next frame `id` gets, parsed.
async fn next_json(client: &mut RawClient, id: &str) -> Value {
    let text = next_text(client, id).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {text}"))
}

async fn send_text(client: &mut RawClient, id: &str, text: &str) {
    client
        .send(Message::text(text))
        .await
        .unwrap_or_else(|e| panic!("{id}: cannot send: {e}"));
}

fn peer_list(peers: &[&str]) -> Value {
    json!({ "type": "info:peerlist", "peers": peers })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_relay_lists_the_other_members_to_everyone_on_every_join_and_leave() {
    let relay = OldRelay::start().await;
    let mut alice = join_raw(&relay, "lists", "alice").await;
    assert_eq!(next_json(&mut alice, "alice").await, peer_list(&[]));

    let mut bob = join_raw(&relay, "lists", "bob").await;
    assert_eq!(next_json(&mut alice, "alice").await, peer_list(&["bob"]));
    assert_eq!(next_json(&mut bob, "bob").await, peer_list(&["alice"]));

    bob.close(None)
        .await
        .unwrap_or_else(|e| panic!("bob: cannot close: {e}"));
    assert_eq!(next_json(&mut alice, "alice").await, peer_list(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_relay_broadcasts_without_stamping_a_sender() {
    let relay = OldRelay::start().await;
    // One at a time, each in the room (its first peer list) before the next
    // comes: the relay takes a member in after the handshake, so a later
    // client's join could otherwise be taken first and alice would get
    // one list fewer. Everyone has seen everyone before the frames below.
    let mut alice = join_raw(&relay, "broadcast", "alice").await;
    next_text(&mut alice, "alice").await;
    let mut bob = join_raw(&relay, "broadcast", "bob").await;
    next_text(&mut bob, "bob").await;
    next_text(&mut alice, "alice").await;
    let mut carol = join_raw(&relay, "broadcast", "carol").await;
    next_text(&mut carol, "carol").await;
    next_text(&mut alice, "alice").await;
    next_text(&mut bob, "bob").await;

    // Addressed to bob, which the old server does not read: carol gets it
    // too, byte for byte, with no `from` added.
    let offer = r#"{"to":"bob","type":"offer","description":{"type":"offer","sdp":"v=0\r\n"}}"#;
    send_text(&mut alice, "alice", offer).await;
    assert_eq!(next_text(&mut bob, "bob").await, offer);
    assert_eq!(next_text(&mut carol, "carol").await, offer);

    // Carol answers only after she has alice's frame, so an echo of it to
    // alice would reach alice before the answer does.
    let answer = r#"{"description":{"type":"answer","sdp":"v=0\r\n"}}"#;
    send_text(&mut carol, "carol", answer).await;
    assert_eq!(
        next_text(&mut alice, "alice").await,
        answer,
        "alice must not get her own frame back"
    );
    assert_eq!(next_text(&mut bob, "bob").await, answer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_relay_serves_an_empty_ice_server_list_readable_from_any_origin() {
    let relay = OldRelay::start().await;
    let mut http = TcpStream::connect(relay.host())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the relay: {e}"));
    let request = format!(
        "GET /parties/main/some-room/turn HTTP/1.1\r\nHost: {}\r\nOrigin: http://elsewhere.example\r\nConnection: close\r\n\r\n",
        relay.host()
    );
    http.write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("cannot send the request: {e}"));
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, http.read_to_string(&mut response))
        .await
        .unwrap_or_else(|_| panic!("no complete answer in {PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("reading the answer failed: {e}"));

    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(
        head.lines()
            .any(|line| line.eq_ignore_ascii_case("access-control-allow-origin: *")),
        "{response}"
    );
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    assert_eq!(body, json!({ "iceServers": [] }));
}

// ── Parlor peers on it ──────────────────────────────────────────────────────

/// Rooms per test: enough for a race that loses one time in a few dozen to
/// show up.
const ROOMS: usize = 50;

/// Peers running at once, across rooms: the machine has two cores, and a
/// room that waits for CPU is not what the connect limit is about.
const PEERS_AT_ONCE: usize = 6;

/// How long every pair in a room may take to connect once all its members
/// are in the room. Parlor peers connect in tens of milliseconds on
/// loopback; seconds mean a stall that only a retry got out of.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// The mesh tests take turns: each already keeps both cores busy.
static ONE_MESH_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`ROOMS`] rooms of `size` Parlor peers each on one old relay, a few rooms
/// at a time; every room must form its mesh and chat (see [`one_room`]).
async fn rooms_form_meshes_and_chat(size: usize) {
    let _turn = ONE_MESH_TEST_AT_A_TIME.lock().await;
    let relay = OldRelay::start().await;
    let at_once = (PEERS_AT_ONCE / size).max(1);
    let mut running = JoinSet::new();
    for n in 0..ROOMS {
        while running.len() >= at_once {
            let Some(done) = running.join_next().await else {
                break;
            };
            settle(done);
        }
        let room = format!("old-server-{size}-peers-{n:02}");
        let link = relay.link(&room);
        running.spawn(one_room(room, link, size));
    }
    while let Some(done) = running.join_next().await {
        settle(done);
    }
}

/// Passes a room's panic on as this test's own, message and all.
fn settle(done: Result<(), JoinError>) {
    if let Err(error) = done {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("a room's task ended without finishing: {error}"),
        }
    }
}

/// What peer `i` of `room` says.
fn line_of(room: &str, i: usize) -> String {
    format!("hello from p{i} of {room}")
}

/// `size` peers join `room`; every pair connects within [`CONNECT_WITHIN`]
/// of the last one's arrival; each peer says one line, and by the time the
/// peers have left, each has received every other peer's line exactly once
/// and nothing else.
async fn one_room(room: String, link: String, size: usize) {
    let lines: Vec<String> = (0..size).map(|i| line_of(&room, i)).collect();
    let mut peers: Vec<PeerProcess> = (0..size)
        .map(|i| PeerProcess::join(&format!("{room}/p{i}"), &link))
        .collect();
    let mut ids = Vec::new();
    for peer in &mut peers {
        ids.push(peer.peer_id().await);
    }

    // Everyone is in the room (its socket is open): the clock starts.
    let all_in = Instant::now();
    for (i, peer) in peers.iter_mut().enumerate() {
        for (j, other) in ids.iter().enumerate() {
            if i != j {
                peer.wait_connected_to_within(other, all_in, CONNECT_WITHIN)
                    .await;
            }
        }
    }

    for (i, peer) in peers.iter_mut().enumerate() {
        peer.say(&lines[i]).await;
    }
    for (i, peer) in peers.iter_mut().enumerate() {
        for (j, from) in ids.iter().enumerate() {
            if i != j {
                wait_message(peer, from, &lines[j]).await;
            }
        }
    }

    let mut everything = Vec::new();
    for peer in peers {
        let label = peer.label.clone();
        everything.push((label, peer.finish_with_events().await));
    }
    for (i, (label, events)) in everything.iter().enumerate() {
        let mut got: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| {
                (
                    e["from"].as_str().unwrap_or_default(),
                    e["text"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        got.sort_unstable();
        let mut expected: Vec<(&str, &str)> = (0..size)
            .filter(|&j| j != i)
            .map(|j| (ids[j].as_str(), lines[j].as_str()))
            .collect();
        expected.sort_unstable();
        assert_eq!(
            got, expected,
            "{label}: the (sender, text) of every chat message it received, by the time it left"
        );
    }
}

/// Waits for `text` from `from`, unless it already arrived.
async fn wait_message(peer: &mut PeerProcess, from: &str, text: &str) {
    let wanted = |e: &Value| e["event"] == "message" && e["from"] == from && e["text"] == text;
    if !peer.seen.iter().any(wanted) {
        peer.wait_for(&format!("message {text:?} from {from}"), wanted)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parlor_peers_connect_and_chat_on_a_server_that_only_speaks_the_old_protocol() {
    rooms_form_meshes_and_chat(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parlor_peers_form_a_mesh_and_chat_on_a_server_that_only_speaks_the_old_protocol() {
    rooms_form_meshes_and_chat(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_from_senders_not_in_the_room_starts_no_connection() {
    let relay = OldRelay::start().await;
    let room = "forged";
    let mut alice = PeerProcess::join("alice", &relay.link(room));
    alice.peer_id().await;
    // A member of the room that forges offers from a thousand made-up ids:
    // on an old server nothing stops it from writing any `sender`.
    let mut mallory = join_raw(&relay, room, "mallory").await;
    for n in 0..1000 {
        let offer = json!({
            "type": "offer",
            "description": {"type": "offer", "sdp": "v=0\r\n"},
            "sender": format!("ghost-{n}"),
            "app": "parlor",
        });
        send_text(&mut mallory, "mallory", &offer.to_string()).await;
    }
    // A real peer joins after them: once alice connects to it, she has
    // handled every forged offer (the relay keeps order).
    let mut bob = PeerProcess::join("bob", &relay.link(room));
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;
    let ghosts = alice
        .seen
        .iter()
        .filter(|e| {
            e["event"] == "peer-joined"
                && e["peer"].as_str().is_some_and(|p| p.starts_with("ghost-"))
        })
        .count();
    assert_eq!(ghosts, 0, "alice started connections for forged senders");
}
