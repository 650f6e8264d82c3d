//! Connections spread over several connection threads, each room's members
//! on one of them: every room hears its own members, in order, wherever
//! the other rooms run, and a socket that moved there from the thread that
//! read its request loses nothing it sent.

use parlor_signal::Config;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{Client, config, join_all, numbered, start};

fn three_threads() -> Config {
    Config {
        connection_threads: 3,
        ..config()
    }
}

#[tokio::test]
async fn rooms_spread_over_threads_each_hear_their_members_in_order() {
    let server = start(three_threads()).await;
    let mut rooms = Vec::new();
    for room in ["one", "two", "three", "four", "five", "six"] {
        rooms.push(join_all(&server, room, &["alice", "bob", "carol"]).await);
    }
    for clients in &mut rooms {
        for n in 0..100 {
            clients[0].send_json(numbered(n)).await;
        }
    }
    for clients in &mut rooms {
        for client in &mut clients[1..] {
            for n in 0..100 {
                let message = client.recv_message().await;
                assert_eq!(
                    message["n"], n,
                    "{} hears its room's alice in order",
                    client.id
                );
                assert_eq!(message["from"], "alice");
            }
        }
    }
}

/// A client may send its first frame right behind its upgrade request; the
/// server then reads both at once, before the socket moves to its room's
/// thread.
#[tokio::test]
async fn a_frame_sent_with_the_upgrade_request_is_relayed() {
    let server = start(three_threads()).await;
    let mut bob = Client::parlor(&server, "early", "bob").await;
    // In the room once his first peer list arrives (the join follows the
    // upgrade's answer).
    bob.recv_peer_list().await;
    let payload = br#"{"type":"hello"}"#;
    let mut bytes = format!(
        "GET /parties/main/early?_pk=alice&parlor=1 HTTP/1.1\r\nHost: {}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.local_addr()
    )
    .into_bytes();
    // A final text frame, masked with an all-zero key (any key is valid).
    let length = u8::try_from(payload.len()).expect("a short payload");
    bytes.extend_from_slice(&[0x81, 0x80 | length, 0, 0, 0, 0]);
    bytes.extend_from_slice(payload);
    let mut alice = TcpStream::connect(server.local_addr())
        .await
        .expect("TCP connect");
    alice
        .write_all(&bytes)
        .await
        .expect("request and frame sent");

    let message = bob.recv_message().await;
    assert_eq!(message["type"], "hello");
    assert_eq!(message["from"], "alice");
}
