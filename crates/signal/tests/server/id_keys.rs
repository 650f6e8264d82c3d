//! Peer ids that cannot be taken over: a Parlor client sends a key with its
//! id, and the server keeps the id for the holder of that key while it
//! reconnects; old clients, which send no key, keep first come, first served.

use std::time::Duration;

use parlor_protocol::close_code;

use crate::support::{Client, config, start};

const KEY: &str = "k3y-of-alice";

/// Joins `room` as a Parlor client `id` with `key`.
async fn with_key(server: &parlor_signal::Server, room: &str, id: &str, key: &str) -> Client {
    let query = format!("_pk={id}&parlor=1&key={key}");
    Client::open(server.local_addr(), room, &query, id).await
}

async fn expect_refused(client: &mut Client) {
    client.expect_error("duplicate-peer-id").await;
    let frame = client.expect_close().await;
    assert_eq!(u16::from(frame.code), close_code::DUPLICATE_PEER_ID);
}

/// Alice (with [`KEY`]) and bob in `room`, then alice's connection lost;
/// returns bob once he has seen her go.
async fn alice_lost(server: &parlor_signal::Server, room: &str) -> Client {
    let mut alice = with_key(server, room, "alice", KEY).await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(server, room, "bob").await;
    bob.wait_for_peers(&["alice"]).await;
    drop(alice);
    bob.wait_for_peers(&[]).await;
    bob
}

#[tokio::test]
async fn a_departed_members_id_is_refused_to_a_newcomer_without_its_key() {
    let server = start(config()).await;
    let _bob = alice_lost(&server, "room").await;
    let mut impostor = Client::parlor(&server, "room", "alice").await;
    expect_refused(&mut impostor).await;
}

#[tokio::test]
async fn a_departed_members_id_is_refused_to_a_newcomer_with_another_key() {
    let server = start(config()).await;
    let _bob = alice_lost(&server, "room").await;
    let mut impostor = with_key(&server, "room", "alice", "guessed").await;
    expect_refused(&mut impostor).await;
}

#[tokio::test]
async fn the_owner_takes_its_id_back_with_its_key() {
    let server = start(config()).await;
    let mut bob = alice_lost(&server, "room").await;
    let mut alice = with_key(&server, "room", "alice", KEY).await;
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    bob.wait_for_peers(&["alice"]).await;
}

#[tokio::test]
async fn the_owner_replaces_a_connection_the_server_still_holds() {
    let server = start(config()).await;
    let mut stale = with_key(&server, "room", "alice", KEY).await;
    stale.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    bob.wait_for_peers(&["alice"]).await;

    let mut alice = with_key(&server, "room", "alice", KEY).await;
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    let frame = stale.close_or_reset().await;
    assert_eq!(
        frame.map(|f| u16::from(f.code)),
        Some(close_code::DUPLICATE_PEER_ID),
        "the stale connection is told it was replaced"
    );
    // Bob still talks to alice, the new connection.
    bob.send_json(serde_json::json!({"to": "alice", "n": 1}))
        .await;
    assert_eq!(alice.recv_message().await["n"], 1);
}

#[tokio::test]
async fn old_clients_without_a_key_keep_first_come_first_served() {
    let server = start(config()).await;
    let mut bob = Client::old(&server, "room", "bob").await;
    bob.recv_peer_list().await;
    let alice = Client::old(&server, "room", "alice").await;
    bob.wait_for_peers(&["alice"]).await;
    drop(alice);
    bob.wait_for_peers(&[]).await;
    let mut again = Client::old(&server, "room", "alice").await;
    assert_eq!(again.recv_peer_list().await.0, ["bob"]);
}

#[tokio::test]
async fn a_reservation_ends_after_its_time() {
    let server = start(parlor_signal::Config {
        id_reservation: Duration::from_millis(100),
        ..config()
    })
    .await;
    let _bob = alice_lost(&server, "room").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut newcomer = Client::parlor(&server, "room", "alice").await;
    assert_eq!(newcomer.recv_peer_list().await.0, ["bob"]);
}
