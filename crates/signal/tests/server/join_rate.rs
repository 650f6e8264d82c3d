//! Joins per address per minute: a token bucket per client address that a
//! reconnection does not reset; over it, the upgrade is refused with 429.

use crate::support::{
    Client, http, limit_metric, limited, metric, metrics, numbered, refused_join, start,
};

#[tokio::test]
async fn joins_over_the_rate_get_429_even_from_a_new_connection() {
    let server = start(parlor_signal::Config {
        joins_per_minute: 2,
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    for n in 0..2 {
        let mut alice = Client::parlor(&server, "room", &format!("alice-{n}")).await;
        alice.recv_peer_list().await;
    }
    let refused = refused_join(addr, "room", "_pk=alice&parlor=1", &[]).await;
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("joins"), "{}", refused.body);
    // Reconnecting does not reset the bucket: it belongs to the address.
    let again = refused_join(addr, "other", "_pk=bob", &[]).await;
    assert_eq!(again.status, 429);
    assert_eq!(
        metric(&metrics(addr).await, &limit_metric("joins-per-address")),
        2
    );
}

#[tokio::test]
async fn plain_requests_do_not_use_up_joins() {
    let server = start(parlor_signal::Config {
        joins_per_minute: 1,
        ..limited()
    })
    .await;
    for _ in 0..5 {
        let response = http(server.local_addr(), "GET", "/parties/main/room", &[]).await;
        assert_eq!(response.status, 200);
    }
    let mut alice = Client::parlor(&server, "room", "alice").await;
    assert!(alice.recv_peer_list().await.0.is_empty());
}

#[tokio::test]
async fn another_address_joins_while_one_is_over_its_rate() {
    const XFF: &str = "X-Forwarded-For";
    let server = start(parlor_signal::Config {
        joins_per_minute: 1,
        trusted_proxy_header: Some(XFF.to_owned()),
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    let mut alice = Client::open_with(
        addr,
        "room",
        "_pk=alice&parlor=1",
        "alice",
        &[(XFF, "203.0.113.1")],
    )
    .await;
    alice.recv_peer_list().await;
    let refused = refused_join(addr, "room", "_pk=mallory", &[(XFF, "203.0.113.1")]).await;
    assert_eq!(refused.status, 429);
    let mut bob = Client::open_with(
        addr,
        "room",
        "_pk=bob&parlor=1",
        "bob",
        &[(XFF, "203.0.113.2")],
    )
    .await;
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
}
