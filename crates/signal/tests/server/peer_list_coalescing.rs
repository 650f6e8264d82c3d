//! Peer lists under churn: at most one per `peer_list_interval` per member,
//! the last always sent; a newcomer still gets its list at once, and nobody
//! gets a message from a member before a list that names it.

use std::time::{Duration, Instant};

use crate::support::{Client, config, metric, metrics, numbered, start};

fn interval(interval: Duration) -> parlor_signal::Config {
    parlor_signal::Config {
        peer_list_interval: interval,
        ..config()
    }
}

#[tokio::test]
async fn churn_sends_each_member_few_peer_lists_and_the_last_one_is_right() {
    let interval = Duration::from_millis(500);
    let server = start(self::interval(interval)).await;
    let start = Instant::now();
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    for n in 0..20 {
        let mut churner = Client::parlor(&server, "room", &format!("churn-{n}")).await;
        // Its own list comes at once, whatever the interval.
        assert_eq!(churner.recv_peer_list().await.0[0], "alice");
    }
    let mut carol = Client::parlor(&server, "room", "carol").await;
    carol.recv_peer_list().await;

    // alice ends up with the right list: only carol (lists naming only
    // carol come after every churner's leave, as carol joined after).
    let mut lists = 0;
    loop {
        let (peers, _) = alice.recv_peer_list().await;
        lists += 1;
        if peers == ["carol"] {
            break;
        }
    }
    let elapsed = start.elapsed();
    // One list at most per interval, and the last one.
    let allowed = (elapsed.as_secs_f64() / interval.as_secs_f64()).floor() as usize + 1;
    assert!(
        lists <= allowed,
        "{lists} lists in {elapsed:?} (at most {allowed}) for 41 changes"
    );
    // Each of the 41 changes alice lived through went out in a list of its
    // own or was merged into the next.
    let page = metrics(server.local_addr()).await;
    assert!(metric(&page, "parlor_signal_peer_lists_merged_total") >= 41 - lists as u64);
}

#[tokio::test]
async fn a_newcomers_message_comes_after_a_peer_list_that_names_it() {
    // So long that no held-back list is sent on time during the test.
    let server = start(interval(Duration::from_secs(600))).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    // The newcomer's own list is never held back.
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    // alice's list naming bob is held back; bob's message makes it go first.
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    let message = alice.recv().await;
    assert_eq!(message["n"], 1, "{message}");
    assert_eq!(message["from"], "bob");
}

#[tokio::test]
async fn messages_between_listed_members_do_not_wait_for_held_back_lists() {
    let server = start(interval(Duration::from_secs(600))).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    bob.recv_peer_list().await;
    // alice's list naming bob is due to his message.
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    assert_eq!(alice.recv().await["n"], 1);
    // carol joins: alice's and bob's lists are held back now, but bob's
    // message to alice needs none (her last list named him), and comes at
    // once.
    let mut carol = Client::parlor(&server, "room", "carol").await;
    carol.recv_peer_list().await;
    bob.send_json(serde_json::json!({ "type": "test", "n": 2, "to": "alice" }))
        .await;
    let message = alice.recv().await;
    assert_eq!(message["n"], 2, "{message}");
}

#[tokio::test]
async fn with_no_interval_every_change_is_sent_on_its_own() {
    let server = start(interval(Duration::ZERO)).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    let mut others = Vec::new();
    for id in ["bob", "carol", "dave"] {
        let mut client = Client::parlor(&server, "room", id).await;
        client.recv_peer_list().await;
        others.push(client);
    }
    assert_eq!(alice.recv_peer_list().await.0, ["bob"]);
    assert_eq!(alice.recv_peer_list().await.0, ["bob", "carol"]);
    assert_eq!(alice.recv_peer_list().await.0, ["bob", "carol", "dave"]);
    drop(others.pop());
    assert_eq!(alice.recv_peer_list().await.0, ["bob", "carol"]);
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, "parlor_signal_peer_lists_merged_total"), 0);
}
