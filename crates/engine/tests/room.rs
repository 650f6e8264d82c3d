//! The engine against a real signaling server and real webrtc peers on
//! loopback.

mod support;

use parlor_engine::EventKind;
use support::{TestPeer, loopback_config, new_link, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_and_chat_both_ways() {
    let server = start_server().await;
    let link = new_link(&server);
    let mut alice = TestPeer::join(loopback_config(&link));
    let mut bob = TestPeer::join(loopback_config(&link));
    let (a, b) = (alice.id(), bob.id());

    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;

    alice.room.send("hello bob");
    bob.wait_message(&a, "hello bob").await;
    alice
        .wait_for("delivered", |e| matches!(e, EventKind::Delivered { .. }))
        .await;
    bob.room.send("hi alice");
    alice.wait_message(&b, "hi alice").await;
    server.shutdown().await;
}
