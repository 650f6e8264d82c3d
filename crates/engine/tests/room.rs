//! The engine against a real signaling server and real webrtc peers on
//! loopback.

mod support;

use std::net::SocketAddr;

use parlor_engine::{EventKind, IceConnectionState, JoinError, PathKind, Room};
use support::{TestPeer, connected_pair, loopback_config, new_link, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_and_chat_both_ways() {
    let server = start_server().await;
    let (mut alice, mut bob) = connected_pair(&server).await;
    let (a, b) = (alice.id(), bob.id());

    alice.say("hello bob").await;
    bob.wait_message(&a, "hello bob").await;
    let path = alice
        .seen
        .iter()
        .find(|e| matches!(e, EventKind::PathSelected { .. }))
        .cloned();
    assert!(
        matches!(&path, Some(EventKind::PathSelected { path: PathKind::Lan, local, remote, .. }) if local == "host"),
        "two peers on loopback are direct: {path:?}"
    );
    bob.say("hi alice").await;
    alice.wait_message(&b, "hi alice").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_send_returns_is_the_one_delivery_is_reported_for() {
    let server = start_server().await;
    let (mut alice, bob) = connected_pair(&server).await;
    let b = bob.id();

    let id = alice.say("track me").await;
    let delivered = alice
        .wait_for("delivered", |e| matches!(e, EventKind::Delivered { .. }))
        .await;
    assert_eq!(delivered, EventKind::Delivered { id, to: b });
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_with_nobody_in_the_room_waits_and_reaches_whoever_joins_next() {
    let server = start_server().await;
    let link = new_link(&server);
    let mut alice = TestPeer::join(loopback_config(&link)).await;
    let id = alice.say("anyone?").await;
    let waiting = alice
        .wait_for("waiting", |e| matches!(e, EventKind::Waiting { .. }))
        .await;
    assert_eq!(
        waiting,
        EventKind::Waiting {
            id: id.clone(),
            owed_to: 0
        }
    );

    let mut bob = TestPeer::join(loopback_config(&link)).await;
    bob.wait_message(&alice.id(), "anyone?").await;
    let delivered = alice
        .wait_for("delivered", |e| matches!(e, EventKind::Delivered { .. }))
        .await;
    assert_eq!(delivered, EventKind::Delivered { id, to: bob.id() });
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_full_room_fails_with_room_full() {
    let config = parlor_signal::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_peers_per_room: 1,
        ..parlor_signal::Config::default()
    };
    let server = parlor_signal::Server::start(config)
        .await
        .unwrap_or_else(|e| panic!("cannot start the signaling server: {e}"));
    let link = new_link(&server);
    let _alice = TestPeer::join(loopback_config(&link)).await;
    let refused = Room::join(loopback_config(&link)).await.map(|_| ());
    assert!(
        matches!(refused, Err(JoinError::RoomFull { .. })),
        "{refused:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_taken_peer_id_fails_with_duplicate_id() {
    let server = start_server().await;
    let link = new_link(&server);
    let alice = TestPeer::join(loopback_config(&link)).await;
    let mut impostor = loopback_config(&link);
    impostor.peer_id = alice.room.peer_id().clone();
    let refused = Room::join(impostor).await.map(|_| ());
    assert!(
        matches!(refused, Err(JoinError::DuplicateId { .. })),
        "{refused:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_through_a_server_that_is_not_there_fails_with_server_unreachable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let link = format!("parlor://join/nowhere?server=ws%3A%2F%2F127.0.0.1%3A{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = loopback_config(&link);
    config.fetch_ice_servers = false;
    let refused = Room::join(config).await.map(|_| ());
    assert!(
        matches!(refused, Err(JoinError::ServerUnreachable { .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_leaves_says_goodbye_so_the_other_drops_it_before_ice_notices() {
    let server = start_server().await;
    let (mut alice, bob) = connected_pair(&server).await;
    let b = bob.id();

    bob.room.leave();
    alice
        .wait_for(
            "peer-left",
            |e| matches!(e, EventKind::PeerLeft { peer } if *peer == b),
        )
        .await;
    let ice_noticed = alice.seen.iter().any(|e| {
        matches!(e, EventKind::Ice { peer, state: IceConnectionState::Disconnected } if *peer == b)
    });
    assert!(
        !ice_noticed,
        "the peer was dropped only once ICE noticed: {:#?}",
        alice.seen
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_connects_to_at_most_its_member_cap_and_says_so() {
    let server = start_server().await;
    let link = new_link(&server);
    let first = TestPeer::join(loopback_config(&link)).await;
    let second = TestPeer::join(loopback_config(&link)).await;
    let mut capped = loopback_config(&link);
    capped.max_members = 1;
    let mut third = TestPeer::join(capped).await;
    third
        .wait_for("the cap's error", |e| {
            matches!(e, EventKind::Error { peer: None, message } if message.contains("connects to the first 1"))
        })
        .await;
    third.wait_connected_to(&first.id()).await;
    let joined: Vec<&EventKind> = third
        .seen
        .iter()
        .filter(|e| matches!(e, EventKind::PeerJoined { .. }))
        .collect();
    assert_eq!(
        joined,
        [&EventKind::PeerJoined {
            peer: first.id(),
            parlor: true
        }],
        "only the first member who joined; not {}",
        second.id()
    );
    server.shutdown().await;
}
