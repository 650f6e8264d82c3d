//! Files between `parlor-peer`s (`/send PATH`, `--accept-files DIR`): a
//! large file arrives identical, checked byte for byte by the test; a
//! transfer whose sender is killed half way goes on from where it stopped
//! when the sender offers it again; a block damaged on the way is asked
//! for again.

use std::path::Path;

use parlor_e2e::peer::PeerProcess;
use parlor_e2e::scratch::{Scratch, write_random_file};
use parlor_e2e::signal::SignalProcess;
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// A file of `size` pseudo-random bytes.
fn random_file(path: &Path, size: usize) {
    write_random_file(path, size as u64)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Whether two files hold the same bytes (read by the test, not Parlor).
fn same_bytes(a: &Path, b: &Path) -> bool {
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    read(a) == read(b)
}

/// A server, Alice in a new room (with `alice` options and environment)
/// and Bob in it (with `bob` options), connected to each other.
struct Room {
    /// Kept running for as long as the test: bind it (`_server`), or the
    /// server stops when the rest is taken apart.
    _server: SignalProcess,
    alice: PeerProcess,
    bob: PeerProcess,
    /// Bob's peer id.
    b: String,
}

async fn room(alice: &[&str], env: &[(&str, &str)], bob: &[&str]) -> Room {
    let server = SignalProcess::start(&[]).await;
    let mut alice = PeerProcess::create_with_env("alice", &server.url(), alice, env).await;
    let mut bob = PeerProcess::join_with("bob", &alice.link.clone(), bob);
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;
    Room {
        _server: server,
        alice,
        bob,
        b,
    }
}

fn is_received(e: &Value) -> bool {
    e["event"] == "file-received"
}

fn is_sent(e: &Value) -> bool {
    e["event"] == "file-sent"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_file_arrives_identical() {
    let scratch = Scratch::new("files-big").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("big.bin");
    random_file(&source, 200 * MIB);
    let inbox = scratch.file("inbox");
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&[], &[], &["--accept-files", &inbox]).await;

    alice.say(&format!("/send {}", source.display())).await;
    let received = bob.wait_for("the file", is_received).await;
    alice.wait_for("file-sent", is_sent).await;
    let path = received["path"].as_str().unwrap_or_default();
    assert_eq!(Path::new(path), Path::new(&inbox).join("big.bin"));
    assert!(same_bytes(&source, Path::new(path)), "the bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_whose_sender_was_killed_goes_on_from_where_it_stopped() {
    let scratch = Scratch::new("files-resume").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("movie.bin");
    let size = 200 * MIB;
    random_file(&source, size);
    let inbox = scratch.file("inbox");
    let Room {
        _server,
        mut alice,
        mut bob,
        b,
        ..
    } = room(&[], &[], &["--accept-files", &inbox]).await;
    let link = alice.link.clone();

    let send = format!("/send {}", source.display());
    alice.say(&send).await;
    let half = (size / 2) as u64;
    let before = bob
        .wait_for("half the file", |e| {
            e["event"] == "file-progress" && e["bytes"].as_u64().is_some_and(|b| b >= half)
        })
        .await;
    alice.kill().await;

    let mut alice = PeerProcess::join("alice", &link);
    alice.wait_connected_to(&b).await;
    alice.say(&send).await;
    let first = alice
        .wait_for("progress after the restart", |e| {
            e["event"] == "file-progress"
        })
        .await;
    let received = bob.wait_for("the file", is_received).await;
    let path = received["path"].as_str().unwrap_or_default();
    assert!(same_bytes(&source, Path::new(path)), "the bytes differ");

    // The new sender's first report comes after its first block: it
    // started at the end of the last block bob had verified, not at zero.
    let verified_before = before["bytes"].as_u64().unwrap_or(0);
    let resumed_from = first["bytes"].as_u64().unwrap_or(0);
    assert!(
        resumed_from > verified_before,
        "started again below what bob had verified: {resumed_from} <= {verified_before}"
    );
    eprintln!(
        "resumed: bob had {verified_before} of {size} bytes verified when alice was killed; the new alice's first block ended at {resumed_from}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_damaged_on_the_way_is_sent_again_and_the_file_arrives_identical() {
    let scratch = Scratch::new("files-damaged").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("data.bin");
    random_file(&source, 8 * MIB);
    let inbox = scratch.file("inbox");
    let hook = [("PARLOR_TEST_CORRUPT_BLOCK", "3")];
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&[], &hook, &["--accept-files", &inbox]).await;

    alice.say(&format!("/send {}", source.display())).await;
    let received = bob.wait_for("the file", is_received).await;
    let path = received["path"].as_str().unwrap_or_default();
    assert!(same_bytes(&source, Path::new(path)), "the bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_to_a_peer_that_takes_no_files_is_declined_and_nothing_is_written() {
    let scratch = Scratch::new("files-declined").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("note.txt");
    random_file(&source, 1000);
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&[], &[], &[]).await;

    alice.say(&format!("/send {}", source.display())).await;
    bob.wait_for("the offer", |e| e["event"] == "file-offered")
        .await;
    let failed = alice
        .wait_for("the refusal", |e| e["event"] == "file-failed")
        .await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("declined")),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_restarted_with_its_store_offers_the_unfinished_transfer_again_by_itself() {
    let scratch = Scratch::new("files-sender-restart").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("archive.bin");
    let size = 200 * MIB;
    random_file(&source, size);
    let (inbox, store) = (scratch.file("inbox"), scratch.file("alice.db"));
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&["--store", &store], &[], &["--accept-files", &inbox]).await;
    let link = alice.link.clone();

    alice.say(&format!("/send {}", source.display())).await;
    bob.wait_for("the transfer under way", |e| {
        e["event"] == "file-progress" && e["bytes"].as_u64().is_some_and(|n| n > 0)
    })
    .await;
    alice.kill().await;

    // Started again with its store, and nothing typed: it offers by itself.
    let mut alice = PeerProcess::join_with("alice", &link, &["--store", &store]);
    let received = bob.wait_for("the file", is_received).await;
    alice.wait_for("file-sent", is_sent).await;
    let path = received["path"].as_str().unwrap_or_default();
    assert!(same_bytes(&source, Path::new(path)), "the bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_restarted_during_a_transfer_goes_on_from_what_it_verified() {
    let scratch = Scratch::new("files-receiver-restart").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("backup.bin");
    let size = 200 * MIB;
    random_file(&source, size);
    let inbox = scratch.file("inbox");
    let identity = scratch.file("bob.pem");
    let bob_options = [
        "--accept-files",
        inbox.as_str(),
        "--identity",
        identity.as_str(),
    ];
    let Room {
        _server,
        mut alice,
        mut bob,
        b,
        ..
    } = room(&[], &[], &bob_options).await;
    let link = alice.link.clone();
    alice.wait_connected_to(&b).await;

    alice.say(&format!("/send {}", source.display())).await;
    let before = bob
        .wait_for("the transfer under way", |e| {
            e["event"] == "file-progress" && e["bytes"].as_u64().is_some_and(|n| n > 0)
        })
        .await;
    bob.kill().await;

    let mut bob = PeerProcess::join_with("bob", &link, &bob_options);
    let received = bob.wait_for("the file", is_received).await;
    let path = received["path"].as_str().unwrap_or_default();
    assert!(same_bytes(&source, Path::new(path)), "the bytes differ");
    let first = bob
        .seen
        .iter()
        .find(|e| e["event"] == "file-progress")
        .and_then(|e| e["bytes"].as_u64())
        .unwrap_or(0);
    let verified_before = before["bytes"].as_u64().unwrap_or(0);
    assert!(
        first >= verified_before,
        "started over: first report {first} below {verified_before} verified before the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_transfers_at_once_both_make_progress_before_either_finishes() {
    let scratch = Scratch::new("files-two").unwrap_or_else(|e| panic!("{e}"));
    let (first, second) = (
        scratch.path().join("one.bin"),
        scratch.path().join("two.bin"),
    );
    random_file(&first, 150 * MIB);
    random_file(&second, 150 * MIB + 1);
    let inbox = scratch.file("inbox");
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&[], &[], &["--accept-files", &inbox]).await;

    alice.say(&format!("/send {}", first.display())).await;
    alice.say(&format!("/send {}", second.display())).await;
    let done = bob.wait_for("the first file", is_received).await;
    let moving: std::collections::HashSet<&str> = bob
        .seen
        .iter()
        .filter(|e| e["event"] == "file-progress" && e["bytes"].as_u64().is_some_and(|n| n > 0))
        .filter_map(|e| e["transfer"].as_str())
        .collect();
    assert_eq!(
        moving.len(),
        2,
        "only one transfer moved before {} arrived",
        done["path"]
    );
    bob.wait_for("the second file", |e| {
        is_received(e) && e["transfer"] != done["transfer"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_on_the_senders_disk_during_the_transfer_fails_clearly_on_both_sides() {
    let scratch = Scratch::new("files-changed").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("draft.bin");
    random_file(&source, 200 * MIB);
    let inbox = scratch.file("inbox");
    let Room {
        _server,
        mut alice,
        mut bob,
        ..
    } = room(&[], &[], &["--accept-files", &inbox]).await;
    // Bob is frozen once the transfer starts, so it cannot finish before
    // the file changes.
    alice.say(&format!("/send {}", source.display())).await;
    bob.wait_for("the transfer under way", |e| e["event"] == "file-progress")
        .await;
    bob.pause();
    std::fs::write(&source, vec![7u8; 200 * MIB]).unwrap_or_else(|e| panic!("{e}"));
    bob.resume();

    let failed = alice
        .wait_for("the sender's failure", |e| e["event"] == "file-failed")
        .await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("changed on disk")),
        "{failed}"
    );
    let told = bob
        .wait_for("the receiver told", |e| e["event"] == "file-failed")
        .await;
    assert!(
        told["reason"]
            .as_str()
            .is_some_and(|r| r.contains("changed on disk")),
        "{told}"
    );
    assert!(
        !bob.seen.iter().any(is_received),
        "a changed file was kept as received"
    );
}
