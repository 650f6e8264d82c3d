//! Refused joins: the upgrade is accepted, an error frame explains, and a
//! 44xx close code follows, because browsers cannot see HTTP statuses.

use parlor_protocol::close_code;

use crate::support::{Client, config, join_all, numbered, start};

async fn expect_rejection(client: &mut Client, code: &str, close: u16) {
    client.expect_error(code).await;
    let frame = client.expect_close().await;
    assert_eq!(u16::from(frame.code), close);
    assert!(!frame.reason.is_empty(), "close reason explains");
}

#[tokio::test]
async fn invalid_room_name_is_rejected_with_4400() {
    let server = start(config()).await;
    let mut client = Client::open(server.local_addr(), "bad%20room", "_pk=alice", "alice").await;
    expect_rejection(&mut client, "invalid-room", close_code::INVALID_JOIN).await;
}

#[tokio::test]
async fn overlong_room_name_is_rejected_with_4400() {
    let server = start(config()).await;
    let room = "r".repeat(65);
    let mut client = Client::open(server.local_addr(), &room, "_pk=alice", "alice").await;
    expect_rejection(&mut client, "invalid-room", close_code::INVALID_JOIN).await;
}

#[tokio::test]
async fn invalid_peer_id_is_rejected_with_4400() {
    let server = start(config()).await;
    let mut client = Client::open(server.local_addr(), "room", "_pk=al%2Fice", "al/ice").await;
    expect_rejection(&mut client, "invalid-peer-id", close_code::INVALID_JOIN).await;
}

#[tokio::test]
async fn empty_peer_id_is_rejected_with_4400() {
    let server = start(config()).await;
    let mut client = Client::open(server.local_addr(), "room", "_pk=", "").await;
    expect_rejection(&mut client, "invalid-peer-id", close_code::INVALID_JOIN).await;
}

#[tokio::test]
async fn duplicate_id_is_rejected_and_first_connection_keeps_it() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    let mut impostor = Client::parlor(&server, "room", "alice").await;
    expect_rejection(
        &mut impostor,
        "duplicate-peer-id",
        close_code::DUPLICATE_PEER_ID,
    )
    .await;
    // The original alice is still the one bob talks to.
    clients[1].send_json(numbered(1)).await;
    assert_eq!(clients[0].recv_message().await["n"], 1);
    clients[0].send_json(numbered(2)).await;
    let message = clients[1].recv_message().await;
    assert_eq!(message["n"], 2);
    assert_eq!(message["from"], "alice");
}

#[tokio::test]
async fn full_room_rejects_with_4429() {
    let server = start(parlor_signal::Config {
        max_peers_per_room: 2,
        ..config()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    let mut third = Client::parlor(&server, "room", "carol").await;
    expect_rejection(&mut third, "room-full", close_code::ROOM_FULL).await;
    // Another room is not affected.
    let mut elsewhere = Client::parlor(&server, "elsewhere", "carol").await;
    assert!(elsewhere.recv_peer_list().await.0.is_empty());
    clients[0].send_json(numbered(1)).await;
    assert_eq!(clients[1].recv_message().await["n"], 1);
}
