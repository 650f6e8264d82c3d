//! Nothing lost: `parlor-peer --store FILE` keeps every message and what a
//! peer has not acknowledged, and delivers it when the peer is back, after
//! either side was killed. A damaged or newer store is moved aside, never
//! deleted; a store that cannot be written is a clear error.

use std::process::Stdio;

use parlor_e2e::binary;
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::scratch::Scratch;
use parlor_e2e::signal::SignalProcess;
use parlor_store::{DeliveryState, Store};
use serde_json::Value;

const TEXTS: [&str; 3] = ["one", "two", "three"];

/// The ids of the messages a peer sent, in the order it sent them, once it
/// has reported `count` of them (queued for someone, or waiting).
async fn sent_ids(peer: &mut PeerProcess, count: usize) -> Vec<String> {
    let ids = |seen: &[Value]| {
        let mut ids: Vec<String> = Vec::new();
        for event in seen {
            if event["event"] == "queued" || event["event"] == "waiting" {
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    };
    while ids(&peer.seen).len() < count {
        peer.wait_for("a sent message", |e| {
            e["event"] == "queued" || e["event"] == "waiting"
        })
        .await;
    }
    ids(&peer.seen)
}

/// Waits until `peer` has reported each of `ids` delivered to `to`.
async fn wait_delivered(peer: &mut PeerProcess, ids: &[String], to: &str) {
    for id in ids {
        let wanted = |e: &Value| e["event"] == "delivered" && e["id"] == *id && e["to"] == to;
        if !peer.seen.iter().any(wanted) {
            peer.wait_for(&format!("{id} delivered to {to}"), wanted)
                .await;
        }
    }
}

/// The texts of the chat messages in `events` from `from`, in order.
fn texts_from<'a>(events: &'a [Value], from: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["event"] == "message" && e["from"] == from)
        .filter_map(|e| e["text"].as_str())
        .collect()
}

/// The texts of a room's history in a store file, with whether each is ours.
fn history(file: &str, link: &str) -> Vec<(String, bool, Vec<DeliveryState>)> {
    let store = Store::open(std::path::Path::new(file))
        .unwrap_or_else(|e| panic!("cannot open {file}: {e}"));
    store
        .history(link, None, 200)
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
        .into_iter()
        .map(|m| {
            let states = m.recipients.iter().map(|r| r.state).collect();
            (m.text, m.outgoing, states)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_the_other_is_offline_arrive_once_in_order_when_it_returns() {
    let scratch = Scratch::new("offline").unwrap_or_else(|e| panic!("{e}"));
    let (a_store, b_store) = (scratch.file("alice.db"), scratch.file("bob.db"));
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create_with("alice", &server.url(), &["--store", &a_store]).await;
    let link = alice.link.clone();
    let mut bob = PeerProcess::join_with("bob", &link, &["--store", &b_store]);
    let first_bob = bob.peer_id().await;
    alice.wait_connected_to(&first_bob).await;
    bob.kill().await;

    for text in TEXTS {
        alice.say(text).await;
    }
    let ids = sent_ids(&mut alice, TEXTS.len()).await;

    let mut bob = PeerProcess::join_with("bob", &link, &["--store", &b_store]);
    let bob_again = bob.peer_id().await;
    wait_delivered(&mut alice, &ids, &bob_again).await;
    let a = alice.peer_id().await;
    let events = bob.finish_with_events().await;
    assert_eq!(texts_from(&events, &a), TEXTS, "each once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_before_the_acknowledgement_sends_again_and_each_message_shows_once() {
    let scratch = Scratch::new("killed-sender").unwrap_or_else(|e| panic!("{e}"));
    let (a_store, b_store) = (scratch.file("alice.db"), scratch.file("bob.db"));
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create_with("alice", &server.url(), &["--store", &a_store]).await;
    let link = alice.link.clone();
    let mut bob = PeerProcess::join_with("bob", &link, &["--store", &b_store]);
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;
    let first_alice = alice.peer_id().await;
    bob.wait_connected_to(&first_alice).await;

    // Bob acknowledges nothing while frozen: Alice dies with all three
    // sent and none acknowledged.
    bob.pause();
    for text in TEXTS {
        alice.say(text).await;
    }
    let ids = sent_ids(&mut alice, TEXTS.len()).await;
    alice.kill().await;
    bob.resume();

    let mut alice = PeerProcess::join_with("alice", &link, &["--store", &a_store]);
    wait_delivered(&mut alice, &ids, &b).await;
    let alice_again = alice.peer_id().await;
    let events = bob.finish_with_events().await;
    let shown: Vec<&str> = [
        texts_from(&events, &first_alice),
        texts_from(&events, &alice_again),
    ]
    .concat();
    assert_eq!(
        shown, TEXTS,
        "each once, in order, whichever Alice brought it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_keep_the_history_in_order_with_its_states_across_restarts() {
    let scratch = Scratch::new("history").unwrap_or_else(|e| panic!("{e}"));
    let (a_store, b_store) = (scratch.file("alice.db"), scratch.file("bob.db"));
    let server = SignalProcess::start(&[]).await;
    let mut link = String::new();
    for round in 0..2 {
        let mut alice = if round == 0 {
            PeerProcess::create_with("alice", &server.url(), &["--store", &a_store]).await
        } else {
            PeerProcess::join_with("alice", &link, &["--store", &a_store])
        };
        link.clone_from(&alice.link);
        let mut bob = PeerProcess::join_with("bob", &link, &["--store", &b_store]);
        let b = bob.peer_id().await;
        alice.wait_connected_to(&b).await;
        alice.say(&format!("from alice {round}")).await;
        let a = alice.peer_id().await;
        bob.wait_event("message", Some(("from", &a))).await;
        bob.say(&format!("from bob {round}")).await;
        alice.wait_event("message", Some(("from", &b))).await;
        let ids = sent_ids(&mut alice, 1).await;
        wait_delivered(&mut alice, &ids, &b).await;
        let ids = sent_ids(&mut bob, 1).await;
        wait_delivered(&mut bob, &ids, &a).await;
        bob.finish().await;
        alice.finish().await;
    }

    let delivered = vec![DeliveryState::Delivered];
    let line = |text: &str, ours: bool| {
        let states = if ours { delivered.clone() } else { Vec::new() };
        (text.to_owned(), ours, states)
    };
    assert_eq!(
        history(&a_store, &link),
        [
            line("from alice 0", true),
            line("from bob 0", false),
            line("from alice 1", true),
            line("from bob 1", false),
        ]
    );
    assert_eq!(
        history(&b_store, &link),
        [
            line("from alice 0", false),
            line("from bob 0", true),
            line("from alice 1", false),
            line("from bob 1", true),
        ]
    );
}

/// The files in a directory, by name.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts a peer on `store`, waits for the error event that says what
/// happened to the old file, and checks the old bytes are kept beside it.
async fn moved_aside(store: &str, bytes: &[u8], scratch: &Scratch, kept_as: &str) {
    let server = SignalProcess::start(&[]).await;
    let mut peer = PeerProcess::create_with("alice", &server.url(), &["--store", store]).await;
    let notice = peer.wait_event("error", None).await;
    let message = notice["message"].as_str().unwrap_or_default();
    assert!(message.contains("moved to"), "{message}");
    peer.wait_event("signaling-connected", None).await;
    peer.finish().await;
    let aside = names_in(scratch.path())
        .into_iter()
        .find(|name| name.starts_with(kept_as))
        .unwrap_or_else(|| panic!("no {kept_as}* in {:?}", names_in(scratch.path())));
    assert_eq!(
        std::fs::read(scratch.path().join(aside)).unwrap_or_default(),
        bytes,
        "kept as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_moved_aside_and_a_fresh_one_started() {
    let scratch = Scratch::new("damaged-store").unwrap_or_else(|e| panic!("{e}"));
    let store = scratch.file("alice.db");
    let garbage = b"this is not a database, it was damaged on the way".repeat(100);
    std::fs::write(&store, &garbage).unwrap_or_else(|e| panic!("{e}"));
    moved_aside(&store, &garbage, &scratch, "alice.db.damaged-").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_newer_parlor_is_moved_aside_untouched() {
    let scratch = Scratch::new("newer-store").unwrap_or_else(|e| panic!("{e}"));
    let store = scratch.file("alice.db");
    {
        let newer = rusqlite::Connection::open(&store).unwrap_or_else(|e| panic!("{e}"));
        newer
            .execute_batch(&format!(
                "CREATE TABLE future(x); PRAGMA user_version = {};",
                parlor_store::SCHEMA_VERSION + 1
            ))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let bytes = std::fs::read(&store).unwrap_or_default();
    moved_aside(&store, &bytes, &scratch, "alice.db.newer-").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_a_read_only_directory_is_a_clear_error_and_nothing_is_deleted() {
    let scratch = Scratch::new("read-only-store").unwrap_or_else(|e| panic!("{e}"));
    let kept = scratch.path().join("notes.txt");
    std::fs::write(&kept, "mine").unwrap_or_else(|e| panic!("{e}"));
    let mode = |mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    };
    mode(0o555);
    let server = SignalProcess::start(&[]).await;
    // As an unprivileged user: root writes anywhere.
    let output = tokio::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(binary("parlor-peer"))
        .args(["create", "--server", &server.url(), "--bind", "127.0.0.1:0"])
        .args(["--store", &scratch.file("alice.db")])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run parlor-peer as nobody: {e}"));
    mode(0o755);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot write the message store"),
        "says what is wrong: {stderr}"
    );
    assert_eq!(names_in(scratch.path()), ["notes.txt"], "nothing deleted");
}
