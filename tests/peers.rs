//! Headless peers in a room through a real signaling server, as separate
//! processes on loopback: what a user of `parlor-peer` sees.

use std::collections::HashMap;

use parlor_e2e::netns::Namespace;
use parlor_e2e::peer::{LOOPBACK, PeerProcess};
use parlor_e2e::signal::SignalProcess;
use serde_json::Value;

/// Collects chat messages until `expected` have arrived, keyed by sender.
async fn collect_messages(peer: &mut PeerProcess, expected: usize) -> HashMap<String, Vec<String>> {
    let mut by_sender: HashMap<String, Vec<String>> = HashMap::new();
    let mut count = 0;
    // Messages that arrived while waiting for something else count too.
    for event in peer.seen.iter().filter(|e| e["event"] == "message") {
        record(&mut by_sender, event);
        count += 1;
    }
    while count < expected {
        let event = peer.wait_event("message", None).await;
        record(&mut by_sender, &event);
        count += 1;
    }
    by_sender
}

fn record(by_sender: &mut HashMap<String, Vec<String>>, event: &Value) {
    let from = event["from"].as_str().unwrap_or_default().to_owned();
    let text = event["text"].as_str().unwrap_or_default().to_owned();
    by_sender.entry(from).or_default().push(text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_and_chat_through_a_real_server() {
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create("alice", &server.url()).await;
    let mut bob = PeerProcess::join("bob", &alice.link.clone());
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);

    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;

    alice.say("hello bob").await;
    let got = bob.wait_event("message", Some(("from", &a))).await;
    assert_eq!(got["text"], "hello bob");
    assert_eq!(got["name"], "alice");
    alice.wait_event("delivered", Some(("to", &b))).await;

    bob.say("hi alice").await;
    let got = alice.wait_event("message", Some(("from", &b))).await;
    assert_eq!(got["text"], "hi alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_every_message_arrives_everywhere_once_and_in_order() {
    const EACH: usize = 15;
    let server = SignalProcess::start(&[]).await;
    let first = PeerProcess::create("p1", &server.url()).await;
    let link = first.link.clone();
    let mut peers = vec![first];
    peers.push(PeerProcess::join("p2", &link));
    peers.push(PeerProcess::join("p3", &link));
    let mut ids = Vec::new();
    for peer in &mut peers {
        ids.push(peer.peer_id().await);
    }
    for (i, peer) in peers.iter_mut().enumerate() {
        for (j, other) in ids.iter().enumerate() {
            if i != j {
                peer.wait_connected_to(other).await;
            }
        }
    }

    for (i, peer) in peers.iter_mut().enumerate() {
        for n in 0..EACH {
            peer.say(&format!("{i}:{n}")).await;
        }
    }

    for (i, peer) in peers.iter_mut().enumerate() {
        let got = collect_messages(peer, EACH * 2).await;
        for (j, sender) in ids.iter().enumerate() {
            if i == j {
                continue;
            }
            let expected: Vec<String> = (0..EACH).map(|n| format!("{j}:{n}")).collect();
            assert_eq!(got.get(sender), Some(&expected), "peer {i} from peer {j}");
        }
        assert!(
            !got.contains_key(&ids[i]),
            "peer {i} received its own messages"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_chatting_while_the_server_is_down_and_rejoin_when_it_returns() {
    let server = SignalProcess::start(&[]).await;
    let addr = server.addr().to_owned();
    let mut alice = PeerProcess::create("alice", &server.url()).await;
    let link = alice.link.clone();
    let mut bob = PeerProcess::join("bob", &link);
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);
    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;

    server.stop().await;
    alice.wait_event("signaling-disconnected", None).await;
    bob.wait_event("signaling-disconnected", None).await;

    alice.say("still here?").await;
    let got = bob.wait_event("message", Some(("from", &a))).await;
    assert_eq!(got["text"], "still here?");
    bob.say("yes").await;
    alice.wait_event("message", Some(("from", &b))).await;

    let _server = SignalProcess::start_on(&addr, &[]).await;
    alice.wait_event("signaling-connected", None).await;
    bob.wait_event("signaling-connected", None).await;

    let mut carol = PeerProcess::join("carol", &link);
    let c = carol.peer_id().await;
    carol.wait_connected_to(&a).await;
    carol.wait_connected_to(&b).await;
    alice.wait_connected_to(&c).await;
    carol.say("hi all").await;
    alice.wait_event("message", Some(("from", &c))).await;
    bob.wait_event("message", Some(("from", &c))).await;
    assert!(
        !alice
            .seen
            .iter()
            .any(|e| e["event"] == "peer-left" && e["peer"] == b.as_str()),
        "alice lost bob during the outage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_is_seen_leaving_and_reconnects_when_started_again() {
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create("alice", &server.url()).await;
    let link = alice.link.clone();
    let mut bob = PeerProcess::join("bob", &link);
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;

    bob.kill().await;
    alice.wait_event("peer-left", Some(("peer", &b))).await;

    let mut bob_again = PeerProcess::join("bob", &link);
    let b2 = bob_again.peer_id().await;
    alice.wait_connected_to(&b2).await;
    bob_again.say("back").await;
    let got = alice.wait_event("message", Some(("from", &b2))).await;
    assert_eq!(got["text"], "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_ends_its_input_leaves_cleanly_and_the_others_see_it_go() {
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create("alice", &server.url()).await;
    let mut bob = PeerProcess::join("bob", &alice.link.clone());
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;

    let status = bob.finish().await;
    assert!(status.success(), "bob exited with {status}");
    alice.wait_event("peer-left", Some(("peer", &b))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_the_join_with_a_clear_error() {
    let server = SignalProcess::start(&["--max-peers-per-room", "1"]).await;
    let mut alice = PeerProcess::create("alice", &server.url()).await;
    // `create` prints the link before it joins: wait until alice is in.
    alice.peer_id().await;
    let mut bob = PeerProcess::join("bob", &alice.link);
    let refused = bob.wait_event("join-refused", None).await;
    assert_eq!(refused["room_full"], true, "{refused}");
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "signaling-connected"),
        "a refused peer is never reported as connected: {:#?}",
        bob.seen
    );
    let reason = refused["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("full"),
        "reason does not say the room is full: {reason}"
    );
    let status = bob.finish().await;
    assert!(!status.success(), "a refused join must not exit 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_link_is_refused_with_a_readable_message() {
    let output = tokio::process::Command::new(parlor_e2e::binary("parlor-peer"))
        .args(["join", "https://example.invalid/not-a-room"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run parlor-peer: {e}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a Parlor room link"),
        "stderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_on_a_machine_with_only_a_loopback_interface_connect_and_chat() {
    // No interface carries multicast there, so mDNS cannot start (ENODEV):
    // that must not stop peer connections, which need none on loopback.
    let machine = Namespace::loopback_only();
    let server = SignalProcess::start_in(&machine, "127.0.0.1:0", &[]).await;
    let mut alice = PeerProcess::create_in(&machine, LOOPBACK, "alice", &server.url()).await;
    let mut bob = PeerProcess::join_in(&machine, LOOPBACK, "bob", &alice.link.clone());
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);
    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;

    alice.say("offline but together").await;
    let got = bob.wait_event("message", Some(("from", &a))).await;
    assert_eq!(got["text"], "offline but together");
}
