//! Outgoing queues bounded in bytes: a member that stops reading is closed
//! once its queue passes its own budget (1008), or once the server's queues
//! together pass the server's (1013); members that read are never closed,
//! and a closed member's queue gives its bytes back.

use parlor_signal::{ByteRateLimit, Config, RateLimit};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::support::{
    Client, config, join_all, limit_metric, metric, metrics, start, wait_for_metric,
};

/// No limits on what bob may send, so only the queues limit anything.
fn fast_senders() -> Config {
    Config {
        rate_limit: RateLimit {
            messages_per_second: 1_000_000,
            burst: 1_000_000,
        },
        byte_rate_limit: ByteRateLimit {
            bytes_per_second: u32::MAX,
            burst: u32::MAX,
        },
        ..config()
    }
}

/// Alice stops reading; bob broadcasts large frames until the server drops
/// her (bob's peer list says so). Returns alice, to read what she was sent.
async fn flood_a_reader_that_stopped(server: &parlor_signal::Server) -> Client {
    let mut clients = join_all(server, "room", &["alice", "bob"]).await;
    let mut bob = clients.pop().expect("bob");
    let alice = clients.pop().expect("alice");
    let padding = "x".repeat(60 * 1024);
    for n in 0..4000 {
        bob.send_json(json!({ "type": "flood", "n": n, "padding": padding }))
            .await;
        if n % 8 == 0 {
            if let Some(frame) = bob.try_recv().await {
                assert_eq!(frame["type"], "info:peerlist", "{frame}");
                assert_eq!(frame["peers"], json!([]), "{frame}");
                return alice;
            }
        }
    }
    panic!("alice was never dropped");
}

/// Alice's close frame, if the server got to send it before giving up on
/// her (she reads only now, behind megabytes of queued frames).
async fn close_of(alice: &mut Client) -> Option<CloseFrame> {
    alice.close_or_reset().await
}

#[tokio::test]
async fn a_member_whose_queue_passes_its_byte_budget_is_closed_with_1008() {
    let server = start(Config {
        outbox_bytes: 256 * 1024,
        ..fast_senders()
    })
    .await;
    let addr = server.local_addr();
    let mut alice = flood_a_reader_that_stopped(&server).await;
    if let Some(close) = close_of(&mut alice).await {
        assert_eq!(u16::from(close.code), 1008);
        assert!(close.reason.contains("not reading"), "{}", close.reason);
    }
    let page = metrics(addr).await;
    assert_eq!(metric(&page, &limit_metric("outbox")), 1);
    assert_eq!(metric(&page, &limit_metric("outbox-total")), 0);
    drop(alice);
    wait_for_metric(addr, "parlor_signal_outbox_bytes", |bytes| bytes == 0).await;
}

#[tokio::test]
async fn a_member_the_servers_queue_budget_cannot_take_is_closed_with_1013() {
    let server = start(Config {
        outbox_bytes: 0,
        total_outbox_bytes: 256 * 1024,
        ..fast_senders()
    })
    .await;
    let addr = server.local_addr();
    let mut alice = flood_a_reader_that_stopped(&server).await;
    if let Some(close) = close_of(&mut alice).await {
        assert_eq!(u16::from(close.code), 1013);
    }
    let page = metrics(addr).await;
    assert_eq!(metric(&page, &limit_metric("outbox-total")), 1);
    assert_eq!(metric(&page, &limit_metric("outbox")), 0);
    drop(alice);
    wait_for_metric(addr, "parlor_signal_outbox_bytes", |bytes| bytes == 0).await;
}

#[tokio::test]
async fn members_that_read_are_not_closed_by_small_budgets() {
    let server = start(Config {
        outbox_bytes: 16 * 1024,
        total_outbox_bytes: 32 * 1024,
        ..fast_senders()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    let padding = "x".repeat(1024);
    for n in 0..200u64 {
        clients[0]
            .send_json(json!({ "type": "test", "n": n, "padding": padding }))
            .await;
        // Each reads as it goes, as a live client does.
        for client in &mut clients[1..] {
            assert_eq!(client.recv_message().await["n"], n);
        }
    }
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("outbox")), 0);
    assert_eq!(metric(&page, &limit_metric("outbox-total")), 0);
}

#[tokio::test]
async fn when_all_queues_are_over_budget_the_member_furthest_behind_goes_not_a_reader_elsewhere() {
    let server = start(Config {
        outbox_bytes: 0,
        total_outbox_bytes: 256 * 1024,
        ..fast_senders()
    })
    .await;
    let mut stuck = join_all(&server, "stuck", &["alice", "bob"]).await;
    let mut calm = join_all(&server, "calm", &["carol", "dave"]).await;
    let padding = "x".repeat(60 * 1024);
    let mut alice_dropped = false;
    for n in 0..4000u64 {
        let frame = json!({ "type": "flood", "n": n, "padding": padding });
        stuck[1].send_json(frame.clone()).await;
        // Dave reads everything carol sends him, as large as the flood.
        calm[0].send_json(frame).await;
        assert_eq!(calm[1].recv_message().await["n"], n);
        if n % 8 == 0 {
            if let Some(list) = stuck[1].try_recv().await {
                assert_eq!(list["peers"], json!([]), "{list}");
                alice_dropped = true;
                break;
            }
        }
    }
    assert!(
        alice_dropped,
        "alice, who stopped reading, was never dropped"
    );
    calm[0].send_json(json!({"type": "after", "n": 1})).await;
    assert_eq!(calm[1].recv_message().await["type"], "after");
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("outbox-total")), 1);
}
