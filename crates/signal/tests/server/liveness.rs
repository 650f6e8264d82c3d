//! Liveness: the server pings; a client that stops answering is dropped and
//! its room is told, while a client that answers stays.

use std::time::Duration;

use crate::support::{Client, config, join_all, numbered, start};

fn fast_pings() -> parlor_signal::Config {
    parlor_signal::Config {
        ping_interval: Duration::from_millis(100),
        // Generous against a loaded CI machine; still many per test.
        pong_timeout: Duration::from_millis(1000),
        ..config()
    }
}

#[tokio::test]
async fn killed_client_leaves_room_after_pong_timeout() {
    let server = start(fast_pings()).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    // `frozen` joins, then is never read again: it answers no pings, as if
    // its process were stopped, while its TCP connection stays open.
    let mut frozen = Client::parlor(&server, "room", "frozen").await;
    frozen.recv_peer_list().await;
    alice.wait_for_peers(&["frozen"]).await;
    alice.wait_for_peers(&[]).await;
    drop(frozen);
}

#[tokio::test]
async fn client_answering_pings_stays_through_many_intervals() {
    let server = start(fast_pings()).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    // Reading answers the pings: thirty of them span three pong timeouts,
    // and the connection is still up after them.
    alice.answer_pings(30).await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
}

#[tokio::test]
async fn client_that_drops_its_socket_leaves_room() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    // No close frame: the TCP connection just ends.
    drop(clients.pop());
    clients[0].wait_for_peers(&[]).await;
}
