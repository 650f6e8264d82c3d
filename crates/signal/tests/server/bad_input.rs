//! Bad frames get an error frame back; the connection and the room keep
//! working, until a client keeps misbehaving.

use parlor_protocol::close_code;
use parlor_signal::{ErrorLimit, RateLimit};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{config, join_all, numbered, start};

/// Sends `frame` from alice, expects `code` back, then checks that alice and
/// bob still exchange messages both ways.
async fn refused_then_still_working(frame: Message, code: &str) {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0].send(frame).await;
    clients[0].expect_error(code).await;
    clients[0].send_json(numbered(1)).await;
    assert_eq!(clients[1].recv_message().await["n"], 1);
    clients[1].send_json(numbered(2)).await;
    assert_eq!(clients[0].recv_message().await["n"], 2);
}

#[tokio::test]
async fn text_that_is_not_json_gets_not_json() {
    refused_then_still_working(Message::text("hello there"), "not-json").await;
}

#[tokio::test]
async fn json_that_is_not_an_object_gets_not_object() {
    refused_then_still_working(Message::text("[1,2,3]"), "not-object").await;
}

#[tokio::test]
async fn binary_frame_gets_binary_frame_error() {
    refused_then_still_working(Message::binary(vec![0u8, 159, 146, 150]), "binary-frame").await;
}

#[tokio::test]
async fn oversized_frame_gets_too_large_and_connection_keeps_working() {
    let padding = "x".repeat(64 * 1024 + 1);
    let frame = json!({ "type": "big", "padding": padding }).to_string();
    refused_then_still_working(Message::text(frame), "too-large").await;
}

#[tokio::test]
async fn unknown_to_gets_unknown_peer_and_connection_keeps_working() {
    let frame = json!({ "type": "offer", "to": "nobody" }).to_string();
    refused_then_still_working(Message::text(frame), "unknown-peer").await;
}

#[tokio::test]
async fn message_to_oneself_gets_unknown_peer() {
    let frame = json!({ "type": "offer", "to": "alice" }).to_string();
    refused_then_still_working(Message::text(frame), "unknown-peer").await;
}

#[tokio::test]
async fn to_that_is_not_a_string_gets_unknown_peer() {
    let frame = json!({ "type": "offer", "to": 7 }).to_string();
    refused_then_still_working(Message::text(frame), "unknown-peer").await;
}

#[tokio::test]
async fn frame_beyond_the_hard_limit_ends_only_that_connection() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    let hard_limit = config().hard_frame_limit();
    // The server may stop reading mid-frame, so the send itself may fail.
    clients[0]
        .try_send(Message::text("x".repeat(hard_limit + 1)))
        .await;
    if let Some(close) = clients[0].close_or_reset().await {
        assert_eq!(u16::from(close.code), close_code::MESSAGE_TOO_BIG);
    }
    clients[1].wait_for_peers(&["carol"]).await;
    clients[1].send_json(numbered(1)).await;
    assert_eq!(clients[2].recv_message().await["n"], 1);
}

#[tokio::test]
async fn sending_faster_than_the_rate_limit_gets_rate_limited() {
    let server = start(parlor_signal::Config {
        // No refill: exactly `burst` frames pass.
        rate_limit: RateLimit {
            messages_per_second: 0,
            burst: 2,
        },
        ..config()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for n in 1..=3 {
        clients[0].send_json(numbered(n)).await;
    }
    clients[0].expect_error("rate-limited").await;
    assert_eq!(clients[1].recv_message().await["n"], 1);
    assert_eq!(clients[1].recv_message().await["n"], 2);
    // bob's own budget is untouched.
    clients[1].send_json(numbered(4)).await;
    assert_eq!(clients[0].recv_message().await["n"], 4);
}

#[tokio::test]
async fn client_that_keeps_misbehaving_is_closed_with_1008() {
    let server = start(parlor_signal::Config {
        error_limit: ErrorLimit {
            max_errors: 3,
            window: Duration::from_secs(3600),
        },
        ..config()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for _ in 0..4 {
        clients[0].send_text("not json").await;
    }
    for _ in 0..4 {
        clients[0].expect_error("not-json").await;
    }
    let close = clients[0].expect_close().await;
    assert_eq!(u16::from(close.code), close_code::POLICY_VIOLATION);
    assert!(!close.reason.is_empty());
    clients[1].wait_for_peers(&[]).await;
}

#[tokio::test]
async fn bad_frames_do_not_disturb_other_members_or_rooms() {
    let server = start(config()).await;
    let mut room = join_all(&server, "room", &["mallory", "alice", "bob"]).await;
    let mut other = join_all(&server, "other", &["carol", "dave"]).await;
    let bad = [
        Message::text("{"),
        Message::text("42"),
        Message::binary(vec![1u8; 10]),
        Message::text(json!({ "to": "ghost" }).to_string()),
        Message::text("y".repeat(100_000)),
    ];
    for (n, frame) in bad.into_iter().enumerate() {
        room[0].send(frame).await;
        room[1]
            .send_json(json!({ "type": "test", "n": n, "to": "bob" }))
            .await;
        other[0].send_json(numbered(n as u64)).await;
        assert_eq!(room[2].recv_message().await["n"], n);
        assert_eq!(other[1].recv_message().await["n"], n);
    }
}
