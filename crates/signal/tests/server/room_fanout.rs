//! The fan-out budget per room: the bytes one room may make the server
//! send, every copy to every member counted, so that a room full of
//! senders within their own rates still cannot take the server's whole
//! bandwidth from the other rooms.

use parlor_signal::{ByteRateLimit, Config, StartError};
use serde_json::json;

use crate::support::{config, join_all, limit_metric, metric, metrics, start};

/// A room may make the server send 3 000 bytes, and then almost nothing.
fn small_fanout() -> Config {
    Config {
        max_message_size: 2_000,
        room_fanout_limit: ByteRateLimit {
            bytes_per_second: 1,
            burst: 3_000,
        },
        ..config()
    }
}

/// A frame of about 1 000 bytes once relayed.
fn kilobyte(n: u64) -> serde_json::Value {
    json!({ "type": "test", "n": n, "pad": "x".repeat(950) })
}

#[tokio::test]
async fn a_broadcast_past_the_rooms_fanout_budget_is_refused_and_other_rooms_go_on() {
    let server = start(small_fanout()).await;
    let mut busy = join_all(&server, "busy", &["alice", "bob", "carol"]).await;
    let mut calm = join_all(&server, "calm", &["dave", "erin"]).await;

    // Two copies of about 1 000 bytes: within the room's 3 000.
    busy[0].send_json(kilobyte(1)).await;
    for member in &mut busy[1..] {
        assert_eq!(member.recv_message().await["n"], 1);
    }
    // Two more would take the room past it.
    busy[0].send_json(kilobyte(2)).await;
    let error = busy[0].expect_error("rate-limited").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("room"),
        "{error}"
    );

    // Another room has a budget of its own.
    calm[0].send_json(kilobyte(3)).await;
    assert_eq!(calm[1].recv_message().await["n"], 3);

    // What bob hears next is carol, not the refused frame.
    busy[2]
        .send_json(json!({ "type": "test", "n": 4, "to": "bob" }))
        .await;
    assert_eq!(busy[1].recv_message().await["n"], 4);

    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("room-fanout")), 1);
}

#[tokio::test]
async fn a_fanout_burst_smaller_than_the_largest_frame_is_refused_at_start() {
    let refused = parlor_signal::Server::start(Config {
        max_message_size: 4_000,
        ..small_fanout()
    })
    .await;
    assert!(matches!(refused, Err(StartError::InvalidConfig(_))));
}
