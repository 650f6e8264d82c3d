//! Verified peers, as `parlor-peer` processes see them: lasting identities,
//! a safety code both ends of a connection agree on, and a server in the
//! middle that swaps certificate fingerprints caught.

use parlor_e2e::old_relay::OldRelay;
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::signal::SignalProcess;
use serde_json::Value;

/// A fingerprint no peer has: what a man in the middle puts in place of the
/// real ones (its own certificate's, in a real attack).
const MITM_FINGERPRINT: &str = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/// A link to `room` on a Parlor server.
fn link(server: &SignalProcess, room: &str) -> String {
    let server = server.url().replace(':', "%3A").replace('/', "%2F");
    format!("parlor://join/{room}?server={server}")
}

/// A scratch identity file for this test run (none exists yet).
fn identity_file(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("parlor-e2e-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{name}.pem"));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

/// `parlor-peer join LINK` with extra options.
fn join(label: &str, link: &str, options: &[&str]) -> PeerProcess {
    let mut args = vec!["join", link];
    args.extend_from_slice(options);
    PeerProcess::spawn(label, &args)
}

async fn own_fingerprint(peer: &mut PeerProcess) -> String {
    let event = peer.seen_or_wait("identity", None).await;
    event["fingerprint"].as_str().unwrap_or_default().to_owned()
}

/// The `peer-connected` event `peer` reported for `other`.
async fn connected(peer: &mut PeerProcess, other: &str) -> Value {
    peer.seen_or_wait("peer-connected", Some(("peer", other)))
        .await
}

/// Replaces every certificate fingerprint in a relayed description.
fn swap_fingerprints(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len());
    let mut rest = frame;
    while let Some(start) = rest.find("a=fingerprint:") {
        let (before, line) = rest.split_at(start);
        out.push_str(before);
        out.push_str("a=fingerprint:");
        out.push_str(MITM_FINGERPRINT);
        // SDP lines end in CRLF, written `\r\n` inside the JSON string.
        let end = line.find("\\r\\n").unwrap_or(line.len());
        rest = &line[end..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ends_of_a_connection_see_the_same_safety_code_and_other_pairs_see_others() {
    let server = SignalProcess::start(&[]).await;
    let room = link(&server, "codes");
    let mut peers = [
        join("a", &room, &[]),
        join("b", &room, &[]),
        join("c", &room, &[]),
    ];
    let mut ids = Vec::new();
    for peer in &mut peers {
        ids.push(peer.peer_id().await);
    }
    let mut codes = std::collections::HashMap::new();
    for (i, peer) in peers.iter_mut().enumerate() {
        for (j, other) in ids.iter().enumerate() {
            if i != j {
                let event = connected(peer, other).await;
                codes.insert((i, j), event["safety_code"].clone());
            }
        }
    }
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        assert_eq!(codes[&(i, j)], codes[&(j, i)], "peers {i} and {j} disagree");
        assert_eq!(
            codes[&(i, j)]["emoji"]
                .as_str()
                .map(|e| e.split(' ').count()),
            Some(7)
        );
    }
    assert_ne!(codes[&(0, 1)], codes[&(0, 2)]);
    assert_ne!(codes[&(0, 1)], codes[&(1, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restarted_with_its_identity_file_keeps_its_fingerprint() {
    let server = SignalProcess::start(&[]).await;
    let room = link(&server, "lasting");
    let file = identity_file("lasting");
    let mut first = join("bob", &room, &["--identity", &file]);
    let before = own_fingerprint(&mut first).await;
    first.finish().await;
    let mut again = join("bob", &room, &["--identity", &file]);
    assert_eq!(own_fingerprint(&mut again).await, before);

    let mut other = join("bob", &room, &["--identity", &identity_file("other")]);
    assert_ne!(own_fingerprint(&mut other).await, before);
}

/// The safety code a `bob` with the identity in `file` gets with `alice`.
async fn code_with(room: &str, alice: &str, file: &str) -> Value {
    let mut bob = join("bob", room, &["--identity", file]);
    let event = connected(&mut bob, alice).await;
    bob.finish().await;
    event["safety_code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_identity_changes_the_safety_code_and_the_same_one_keeps_it() {
    let server = SignalProcess::start(&[]).await;
    let room = link(&server, "rekey");
    let alice_file = identity_file("alice-rekey");
    let mut alice = join("alice", &room, &["--identity", &alice_file]);
    let a = alice.peer_id().await;

    let bob_file = identity_file("bob-rekey");
    let first = code_with(&room, &a, &bob_file).await;
    let same = code_with(&room, &a, &bob_file).await;
    let renewed = code_with(&room, &a, &identity_file("bob-rekey-new")).await;
    assert_eq!(first, same, "the same identities in the same room");
    assert_ne!(first, renewed, "a new identity must change the code");
    alice.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_accepts_the_peer_it_names() {
    let server = SignalProcess::start(&[]).await;
    let room = link(&server, "verify-ok");
    let mut alice = join("alice", &room, &["--identity", &identity_file("alice-ok")]);
    let alice_fingerprint = own_fingerprint(&mut alice).await;
    let a = alice.peer_id().await;
    let mut bob = join("bob", &room, &["--verify", &alice_fingerprint]);
    let event = connected(&mut bob, &a).await;
    assert_eq!(event["fingerprint"], alice_fingerprint.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_a_peer_whose_fingerprint_a_server_swapped() {
    let relay = OldRelay::start_tampering(swap_fingerprints).await;
    let room = relay.link("mitm-verify");
    let mut alice = join(
        "alice",
        &room,
        &["--identity", &identity_file("alice-mitm")],
    );
    let alice_fingerprint = own_fingerprint(&mut alice).await;
    let a = alice.peer_id().await;
    let mut bob = join("bob", &room, &["--verify", &alice_fingerprint]);
    let refused = bob
        .wait_for("a refusal", |e| {
            e["event"] == "error"
                && e["peer"] == a.as_str()
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not the expected one"))
        })
        .await;
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "peer-connected"),
        "connected despite the refusal: {refused}"
    );
    // Nothing is sent to a refused peer any more: the message waits for
    // someone else.
    bob.say("are you there?").await;
    bob.wait_event("waiting", None).await;
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "queued"),
        "queued for the refused peer: {:#?}",
        bob.seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_swaps_fingerprints_never_gets_both_ends_to_agree() {
    let relay = OldRelay::start_tampering(swap_fingerprints).await;
    let room = relay.link("mitm");
    let mut alice = join("alice", &room, &[]);
    let mut bob = join("bob", &room, &[]);
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);
    // DTLS holds each side to the fingerprint its description named, which
    // is not the other's certificate: the handshake never completes, the
    // engine says so and starts over, and the chat never opens.
    for (peer, other) in [(&mut alice, &b), (&mut bob, &a)] {
        peer.wait_for("the failed handshake", |e| {
            e["event"] == "negotiation"
                && e["peer"] == other.as_str()
                && e["step"] == "handshake-timed-out"
        })
        .await;
        assert!(
            !peer.seen.iter().any(|e| e["event"] == "peer-connected"),
            "{}: a connection through a tampering server came up: {:#?}",
            peer.label,
            peer.seen
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_file_that_is_not_one_is_a_clear_error_and_is_left_alone() {
    let file = identity_file("garbage");
    std::fs::write(&file, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
    let output = tokio::process::Command::new(parlor_e2e::binary("parlor-peer"))
        .args([
            "join",
            "parlor://join/r?server=ws%3A%2F%2F127.0.0.1%3A9",
            "--identity",
            &file,
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run parlor-peer: {e}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not a Parlor identity") && stderr.contains(&file),
        "stderr: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "not a certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_name_with_bidi_overrides_arrives_cleaned_and_cut() {
    let server = SignalProcess::start(&[]).await;
    let room = link(&server, "names");
    let mut alice = join("alice", &room, &[]);
    let a = alice.peer_id().await;
    let name = format!("\u{202E}{}", "é".repeat(10_000));
    let mut bob = join("bob", &room, &["--name", &name]);
    let b = bob.peer_id().await;
    bob.wait_connected_to(&a).await;
    let shown = connected(&mut alice, &b).await;
    let shown = shown["name"].as_str().unwrap_or_default();
    assert_eq!(shown.chars().count(), 64, "{shown:?}");
    assert!(!shown.contains('\u{202E}'), "{shown:?}");
}
