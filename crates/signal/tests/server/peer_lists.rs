//! `info:peerlist`: sent to every member on every join and leave, listing the
//! other members in join order, and which of them are Parlor clients.

use crate::support::{Client, config, join_all, start};

#[tokio::test]
async fn first_member_gets_empty_peer_list() {
    let server = start(config()).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    let (peers, parlor) = alice.recv_peer_list().await;
    assert!(peers.is_empty());
    assert!(parlor.is_empty());
}

#[tokio::test]
async fn second_member_sees_first_in_peer_list() {
    let server = start(config()).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
}

#[tokio::test]
async fn three_members_get_peer_lists_in_join_order() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["carol", "alice", "bob"]).await;
    let dave = Client::parlor(&server, "room", "dave").await;
    let expected = [
        vec!["alice", "bob", "dave"],
        vec!["carol", "bob", "dave"],
        vec!["carol", "alice", "dave"],
    ];
    for (client, expected) in clients.iter_mut().zip(expected) {
        assert_eq!(client.recv_peer_list().await.0, expected, "{}", client.id);
    }
    let mut dave = dave;
    assert_eq!(dave.recv_peer_list().await.0, ["carol", "alice", "bob"]);
}

#[tokio::test]
async fn leaving_member_triggers_new_peer_list_for_the_rest() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    let bob = clients.remove(1);
    drop(bob);
    for client in &mut clients {
        let others: Vec<&str> = ["alice", "carol"]
            .into_iter()
            .filter(|id| *id != client.id)
            .collect();
        assert_eq!(client.recv_peer_list().await.0, others);
    }
}

#[tokio::test]
async fn parlor_field_lists_only_declared_members() {
    let server = start(config()).await;
    let mut old = Client::old(&server, "room", "old").await;
    old.recv_peer_list().await;
    let mut new = Client::parlor(&server, "room", "new").await;
    let (peers, parlor) = new.recv_peer_list().await;
    assert_eq!(peers, ["old"]);
    assert!(parlor.is_empty());
    let (peers, parlor) = old.recv_peer_list().await;
    assert_eq!(peers, ["new"]);
    assert_eq!(parlor, ["new"]);
}

#[tokio::test]
async fn rooms_do_not_see_each_other() {
    let server = start(config()).await;
    let mut alice = Client::parlor(&server, "one", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "two", "bob").await;
    assert!(bob.recv_peer_list().await.0.is_empty());
    // The same id may be used in another room.
    let mut alice_two = Client::parlor(&server, "two", "alice").await;
    assert_eq!(alice_two.recv_peer_list().await.0, ["bob"]);
}

#[tokio::test]
async fn client_without_pk_gets_a_random_uuid() {
    let server = start(config()).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    let mut anonymous = Client::open(server.local_addr(), "room", "", "anonymous").await;
    anonymous.recv_peer_list().await;
    let (peers, _) = alice.recv_peer_list().await;
    assert_eq!(peers.len(), 1);
    let id = &peers[0];
    assert_eq!(id.len(), 36, "UUID: {id}");
    assert_eq!(id.matches('-').count(), 4, "UUID: {id}");
}
