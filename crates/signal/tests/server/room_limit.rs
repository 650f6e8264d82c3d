//! Rooms in total: a join that would create one room too many is closed
//! with 1013 ("try again later"); joins to existing rooms go on, and a room
//! that empties makes room for a new one.

use crate::support::{Client, limit_metric, metric, metrics, numbered, start, wait_for_metric};

#[tokio::test]
async fn a_join_that_would_create_one_room_too_many_is_closed_with_1013() {
    let server = start(parlor_signal::Config {
        max_rooms: 2,
        ..crate::support::config()
    })
    .await;
    let addr = server.local_addr();
    let mut alice = Client::parlor(&server, "one", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "two", "bob").await;
    bob.recv_peer_list().await;

    let mut carol = Client::parlor(&server, "three", "carol").await;
    let close = carol.expect_close().await;
    assert_eq!(u16::from(close.code), 1013);
    assert!(close.reason.contains("rooms"), "{}", close.reason);

    // Existing rooms still take members.
    let mut dave = Client::parlor(&server, "one", "dave").await;
    assert_eq!(dave.recv_peer_list().await.0, ["alice"]);
    dave.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
    assert_eq!(metric(&metrics(addr).await, &limit_metric("rooms")), 1);

    // Room "two" empties: "three" can be made.
    drop(bob);
    wait_for_metric(addr, "parlor_signal_rooms", |rooms| rooms == 1).await;
    let mut carol = Client::parlor(&server, "three", "carol").await;
    assert!(carol.recv_peer_list().await.0.is_empty());
}
