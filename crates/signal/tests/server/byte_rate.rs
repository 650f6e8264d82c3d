//! Bytes per second per sender: a second token bucket next to the frame
//! rate; a frame that finds it short is answered `rate-limited`.

use parlor_signal::{ByteRateLimit, Config, StartError};
use serde_json::json;

use crate::support::{Client, config, join_all, limit_metric, metric, metrics, numbered, start};

/// A frame of about `size` bytes carrying `n`.
fn padded(n: u64, size: usize) -> serde_json::Value {
    json!({ "type": "test", "n": n, "padding": "x".repeat(size - 40) })
}

/// 1000 bytes per connection and no refill: what is spent stays spent.
fn spent_budgets() -> Config {
    Config {
        max_message_size: 1000,
        byte_rate_limit: ByteRateLimit {
            bytes_per_second: 0,
            burst: 1000,
        },
        ..config()
    }
}

#[tokio::test]
async fn sending_more_bytes_than_the_byte_rate_gets_rate_limited() {
    let server = start(spent_budgets()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for n in 1..=3 {
        clients[0].send_json(padded(n, 400)).await;
    }
    clients[0].expect_error("rate-limited").await;
    assert_eq!(clients[1].recv_message().await["n"], 1);
    assert_eq!(clients[1].recv_message().await["n"], 2);
    // bob's own budget is untouched.
    clients[1].send_json(numbered(4)).await;
    assert_eq!(clients[0].recv_message().await["n"], 4);
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("byte-rate")), 1);
    assert_eq!(metric(&page, &limit_metric("frame-rate")), 0);
    assert_eq!(
        metric(&page, "parlor_signal_errors_total{code=\"rate-limited\"}"),
        1
    );
}

#[tokio::test]
async fn frames_within_the_byte_rate_are_all_relayed() {
    let server = start(spent_budgets()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for n in 1..=4 {
        clients[0].send_json(padded(n, 240)).await;
    }
    for n in 1..=4 {
        assert_eq!(clients[1].recv_message().await["n"], n);
    }
}

#[tokio::test]
async fn a_byte_burst_smaller_than_the_largest_frame_is_refused_at_start() {
    let refused = parlor_signal::Server::start(Config {
        max_message_size: 2000,
        byte_rate_limit: ByteRateLimit {
            bytes_per_second: 100,
            burst: 1000,
        },
        ..config()
    })
    .await;
    assert!(matches!(refused, Err(StartError::InvalidConfig(_))));
}

#[tokio::test]
async fn a_client_that_reconnects_keeps_the_byte_budget_it_spent() {
    let server = start(Config {
        limit_loopback: true,
        ..spent_budgets()
    })
    .await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    bob.recv_peer_list().await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    alice.send_json(padded(1, 400)).await;
    alice.send_json(padded(2, 400)).await;
    assert_eq!(bob.recv_message().await["n"], 1);
    assert_eq!(bob.recv_message().await["n"], 2);
    drop(alice);
    bob.wait_for_peers(&[]).await;

    let mut again = Client::parlor(&server, "room", "alice").await;
    again.recv_peer_list().await;
    again.send_json(padded(3, 400)).await;
    again.expect_error("rate-limited").await;
}

#[tokio::test]
async fn loopback_clients_start_each_connection_with_a_full_byte_budget_unless_limited() {
    let server = start(spent_budgets()).await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    bob.recv_peer_list().await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    alice.send_json(padded(1, 900)).await;
    assert_eq!(bob.recv_message().await["n"], 1);
    drop(alice);
    bob.wait_for_peers(&[]).await;

    let mut again = Client::parlor(&server, "room", "alice").await;
    again.recv_peer_list().await;
    again.send_json(padded(2, 900)).await;
    assert_eq!(bob.recv_message().await["n"], 2);
}

#[tokio::test]
async fn a_sender_over_its_byte_rate_is_not_read_until_its_budget_could_take_a_frame() {
    // 10 000 bytes a second, 1000 at once: after each refusal the next
    // frame is read only once a whole frame's budget is back, so of ten
    // 900-byte frames sent at once every other one passes; read at once,
    // all but the first would be refused.
    let server = start(Config {
        max_message_size: 1000,
        byte_rate_limit: ByteRateLimit {
            bytes_per_second: 10_000,
            burst: 1000,
        },
        ..config()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for n in 1..=10 {
        clients[0].send_json(padded(n, 900)).await;
    }
    for n in [1, 3, 5, 7, 9] {
        assert_eq!(clients[1].recv_message().await["n"], n);
    }
    for _ in 0..5 {
        clients[0].expect_error("rate-limited").await;
    }
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("byte-rate")), 5);
}

#[tokio::test]
async fn a_sender_whose_budget_never_refills_is_read_again_after_two_seconds_and_refused_again() {
    let server = start(spent_budgets()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    for n in 1..=3 {
        clients[0].send_json(padded(n, 400)).await;
    }
    clients[0].expect_error("rate-limited").await;
    // Sent while the server does not read: read once the pause ends.
    clients[0].send_json(padded(4, 400)).await;
    clients[0].expect_error("rate-limited").await;
    assert_eq!(clients[1].recv_message().await["n"], 1);
    assert_eq!(clients[1].recv_message().await["n"], 2);
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("byte-rate")), 2);
}
