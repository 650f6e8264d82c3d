//! The engine against a real signaling server and real webrtc peers on
//! loopback.

mod support;

use parlor_engine::{EventKind, PathKind};
use support::{connected_pair, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_and_chat_both_ways() {
    let server = start_server().await;
    let (mut alice, mut bob) = connected_pair(&server).await;
    let (a, b) = (alice.id(), bob.id());

    alice.room.send("hello bob");
    bob.wait_message(&a, "hello bob").await;
    alice
        .wait_for("delivered", |e| matches!(e, EventKind::Delivered { .. }))
        .await;
    let path = alice
        .seen
        .iter()
        .find(|e| matches!(e, EventKind::PathSelected { .. }))
        .cloned();
    assert!(
        matches!(&path, Some(EventKind::PathSelected { path: PathKind::Lan, local, remote, .. }) if local == "host"),
        "two peers on loopback are direct: {path:?}"
    );
    bob.room.send("hi alice");
    alice.wait_message(&b, "hi alice").await;
    server.shutdown().await;
}
