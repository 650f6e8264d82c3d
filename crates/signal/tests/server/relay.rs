//! Relaying: broadcast without `to`, delivery to one member with `to`,
//! `from` stamped by the server, unknown types passed through.

use serde_json::json;

use crate::support::{config, join_all, numbered, start};

#[tokio::test]
async fn broadcast_reaches_every_other_member() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    clients[0].send_json(numbered(1)).await;
    for client in &mut clients[1..] {
        let message = client.recv_message().await;
        assert_eq!(message["n"], 1);
        assert_eq!(message["from"], "alice");
    }
    // The sender does not get its own message back: its next frame is
    // bob's reply.
    clients[1].send_json(numbered(2)).await;
    assert_eq!(clients[0].recv_message().await["n"], 2);
}

#[tokio::test]
async fn from_cannot_be_forged() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0]
        .send_json(json!({ "type": "offer", "from": "bob" }))
        .await;
    assert_eq!(clients[1].recv_message().await["from"], "alice");
}

#[tokio::test]
async fn directed_message_reaches_only_its_target() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    clients[0]
        .send_json(json!({ "type": "secret", "to": "carol" }))
        .await;
    clients[0].send_json(json!({ "type": "marker" })).await;
    // bob's next message is the broadcast marker, not the secret.
    assert_eq!(clients[1].recv_message().await["type"], "marker");
    let secret = clients[2].recv_message().await;
    assert_eq!(secret["type"], "secret");
    assert_eq!(secret["from"], "alice");
    assert_eq!(secret["to"], "carol");
    assert_eq!(clients[2].recv_message().await["type"], "marker");
}

#[tokio::test]
async fn unknown_message_types_are_relayed_unchanged() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    let sent = json!({
        "type": "something-new",
        "payload": { "list": [1, "two", null, 3.5], "flag": true },
        "unicode": "héllo ✓",
    });
    clients[0].send_json(sent.clone()).await;
    let mut received = clients[1].recv_message().await;
    assert_eq!(received["from"], "alice");
    received.as_object_mut().expect("object").remove("from");
    assert_eq!(received, sent);
}

#[tokio::test]
async fn seed_negotiation_messages_without_type_are_relayed() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0]
        .send_json(json!({ "description": { "type": "answer", "sdp": "v=0\r\n" } }))
        .await;
    clients[0].send_json(json!({ "candidate": null })).await;
    let answer = clients[1].recv_message().await;
    assert_eq!(answer["description"]["sdp"], "v=0\r\n");
    let end = clients[1].recv_message().await;
    assert!(end["candidate"].is_null());
    assert_eq!(end["from"], "alice");
}

#[tokio::test]
async fn to_null_is_a_broadcast() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0]
        .send_json(json!({ "type": "hello", "to": null }))
        .await;
    assert_eq!(clients[1].recv_message().await["type"], "hello");
}
