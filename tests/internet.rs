//! Rooms across a simulated internet: homes behind real Linux NAT routers,
//! `parlor-signal` and a real coturn on a public segment, all in network
//! namespaces the tests make (see `support/internet.rs`).

use parlor_e2e::chromium::{Mdns, OldClient};
use parlor_e2e::coturn::{Coturn, SECRET};
use parlor_e2e::impair::Impairment;
use parlor_e2e::internet::{Home, Internet, Nat, SERVER_ADDR, TURN_PORT};
use parlor_e2e::peer::{EVERY_INTERFACE, PeerProcess};
use parlor_e2e::scratch::{Scratch, write_random_file};
use parlor_e2e::signal::SignalProcess;

/// The public segment with a signaling server that hands out coturn's
/// STUN and TURN (per-member credentials from the shared secret).
struct Public {
    internet: Internet,
    coturn: Coturn,
    server: SignalProcess,
}

impl Public {
    /// The servers, with coturn as the rooms' STUN and TURN server.
    async fn start() -> Self {
        Self::start_with(Relay::Turn, &[]).await
    }

    /// The servers, `parlor-signal` with `extra` flags.
    async fn start_with(relay: Relay, extra: &[&str]) -> Self {
        let internet = Internet::create();
        let coturn = Coturn::start(&internet).await;
        let secret_file = std::env::temp_dir().join(format!(
            "parlor-turn-secret-{}-{}",
            std::process::id(),
            internet.servers().name()
        ));
        std::fs::write(&secret_file, format!("{SECRET}\n"))
            .unwrap_or_else(|e| panic!("writing the secret: {e}"));
        let stun = format!("stun:{SERVER_ADDR}:{TURN_PORT}");
        let turn = format!("turn:{SERVER_ADDR}:{TURN_PORT}");
        let secret_file = secret_file.display().to_string();
        let mut args = vec!["--stun", &stun];
        if relay == Relay::Turn {
            args.extend(["--turn", &turn, "--turn-secret-file", &secret_file]);
        }
        args.extend_from_slice(extra);
        let server =
            SignalProcess::start_in(internet.servers(), &format!("{SERVER_ADDR}:0"), &args).await;
        Self {
            internet,
            coturn,
            server,
        }
    }
}

/// 10 % loss, 80 ms delay, 20 ms jitter, each way.
const BAD_LINE: Impairment = Impairment {
    loss_percent: 10,
    delay: std::time::Duration::from_millis(80),
    jitter: std::time::Duration::from_millis(20),
};

/// How long two peers may take to connect across [`BAD_LINE`]: a handshake
/// timeout and a second handshake, each with lost flights retransmitted.
const OVER_A_BAD_LINE: std::time::Duration = std::time::Duration::from_secs(90);

/// Whether the signaling server hands out coturn as a TURN server too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    Turn,
    StunOnly,
}

/// Alice creates a room from `alice_home`, Bob joins from `bob_home`; both
/// wait until the other is connected and return their peer ids.
async fn meet(
    public: &Public,
    alice_home: &Home,
    bob_home: &Home,
) -> (PeerProcess, PeerProcess, String, String) {
    let (mut alice, mut bob, a, b) = enter(public, alice_home, bob_home).await;
    alice.wait_connected_to(&b).await;
    bob.wait_connected_to(&a).await;
    (alice, bob, a, b)
}

/// Alice creates a room from `alice_home`, Bob joins from `bob_home`;
/// returns them once both know each other's id.
async fn enter(
    public: &Public,
    alice_home: &Home,
    bob_home: &Home,
) -> (PeerProcess, PeerProcess, String, String) {
    let alice = PeerProcess::create_in(
        alice_home.host(),
        EVERY_INTERFACE,
        "alice",
        &public.server.url(),
    )
    .await;
    let mut alice = alice;
    let mut bob =
        PeerProcess::join_in(bob_home.host(), EVERY_INTERFACE, "bob", &alice.link.clone());
    let (a, b) = (alice.peer_id().await, bob.peer_id().await);
    (alice, bob, a, b)
}

/// Two homes behind routers of kind `nat`.
fn two_homes(public: &Public, nat: Nat) -> (Home, Home) {
    (public.internet.home(nat), public.internet.home(nat))
}

/// Everything `from` said, as `peer` received it, once `peer` has left: a
/// message received twice shows twice.
async fn texts_from(peer: PeerProcess, from: &str) -> Vec<String> {
    peer.finish_with_events()
        .await
        .iter()
        .filter(|e| e["event"] == "message" && e["from"] == from)
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect()
}

/// Both say something; each hears the other.
async fn chat_both_ways(alice: &mut PeerProcess, bob: &mut PeerProcess, a: &str, b: &str) {
    alice.say("hello from home one").await;
    let got = bob.wait_event("message", Some(("from", a))).await;
    assert_eq!(got["text"], "hello from home one");
    bob.say("hello from home two").await;
    let got = alice.wait_event("message", Some(("from", b))).await;
    assert_eq!(got["text"], "hello from home two");
}

async fn path_to(peer: &mut PeerProcess, other: &str) -> String {
    let event = peer
        .seen_or_wait("path-selected", Some(("peer", other)))
        .await;
    event["path"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_behind_home_routers_connect_directly_through_nat() {
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;

    assert_eq!(path_to(&mut alice, &b).await, "nat");
    assert_eq!(path_to(&mut bob, &a).await, "nat");
    chat_both_ways(&mut alice, &mut bob, &a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_behind_symmetric_nats_connect_through_the_turn_server() {
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::Symmetric);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;

    assert_eq!(path_to(&mut alice, &b).await, "relay");
    assert_eq!(path_to(&mut bob, &a).await, "relay");
    chat_both_ways(&mut alice, &mut bob, &a, &b).await;
    let allocations = public.coturn.allocations();
    assert!(
        allocations
            .iter()
            .any(|user| user.ends_with(&format!(":{a}")))
            && allocations
                .iter()
                .any(|user| user.ends_with(&format!(":{b}"))),
        "coturn granted no allocation to each member: {allocations:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_network_blocks_udp_connects_through_the_turn_port() {
    // webrtc-rs 0.21 cannot reach TURN over TCP or TLS; what it can do is
    // relay over UDP to port 3478, which such networks often still allow.
    let public = Public::start().await;
    let (blocked, home) = (
        public.internet.home(Nat::UdpBlocked),
        public.internet.home(Nat::EndpointIndependent),
    );
    let (mut alice, mut bob, a, b) = meet(&public, &blocked, &home).await;

    assert_eq!(path_to(&mut alice, &b).await, "relay");
    assert_eq!(path_to(&mut bob, &a).await, "relay");
    chat_both_ways(&mut alice, &mut bob, &a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_path_and_no_relay_the_person_is_told_why_within_fifteen_seconds() {
    let public = Public::start_with(Relay::StunOnly, &[]).await;
    let (home1, home2) = two_homes(&public, Nat::Symmetric);
    let (mut alice, _bob, _a, b) = enter(&public, &home1, &home2).await;
    let joined = tokio::time::Instant::now();

    let report = alice
        .wait_for_until(
            "peer-unreachable",
            joined + std::time::Duration::from_secs(15),
            |e| e["event"] == "peer-unreachable" && e["peer"] == b.as_str(),
        )
        .await;
    assert_eq!(
        report["reason"],
        "no direct path to this peer works, and no relay server is configured"
    );
    // The engine keeps trying: a fresh connection, reported as such.
    alice
        .wait_event("peer-reconnecting", Some(("peer", &b)))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_cut_for_five_seconds_loses_and_duplicates_nothing() {
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;
    path_to(&mut alice, &b).await;

    home1.cut_link();
    let during: Vec<String> = (1..=3)
        .map(|n| format!("typed during the outage {n}"))
        .collect();
    alice.say_all(&during).await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    home1.restore_link();
    alice.say("typed after the outage").await;

    bob.wait_for("the message typed after the outage", |e| {
        e["event"] == "message" && e["text"] == "typed after the outage"
    })
    .await;
    let texts = texts_from(bob, &a).await;
    let mut expected: Vec<&str> = during.iter().map(String::as_str).collect();
    expected.push("typed after the outage");
    assert_eq!(texts, expected, "each message once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_transfer_across_a_cut_link_goes_on_and_arrives_identical() {
    let scratch = Scratch::new("files-cut").unwrap_or_else(|e| panic!("{e}"));
    let source = scratch.path().join("video.bin");
    write_random_file(&source, 300 << 20).unwrap_or_else(|e| panic!("{e}"));
    let inbox = scratch.file("inbox");
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    let mut alice =
        PeerProcess::create_in(home1.host(), EVERY_INTERFACE, "alice", &public.server.url()).await;
    let mut bob = PeerProcess::join_in_with(
        home2.host(),
        EVERY_INTERFACE,
        "bob",
        &alice.link.clone(),
        &["--accept-files", &inbox],
    );
    let b = bob.peer_id().await;
    alice.wait_connected_to(&b).await;

    alice.say(&format!("/send {}", source.display())).await;
    let before = bob
        .wait_for("the transfer under way", |e| {
            e["event"] == "file-progress" && e["bytes"].as_u64().is_some_and(|n| n > 0)
        })
        .await;
    home1.cut_link();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    home1.restore_link();
    let received = bob
        .wait_for("the file", |e| e["event"] == "file-received")
        .await;

    let path = received["path"].as_str().unwrap_or_default();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
    assert!(
        read(&source) == read(std::path::Path::new(path)),
        "the bytes differ"
    );
    let floor = before["bytes"].as_u64().unwrap_or(0);
    let cut_at = bob.seen.iter().position(|e| *e == before).unwrap_or(0);
    let restarted = bob.seen[cut_at..]
        .iter()
        .filter(|e| e["event"] == "file-progress")
        .filter_map(|e| e["bytes"].as_u64())
        .any(|bytes| bytes < floor);
    assert!(!restarted, "the transfer started over from below {floor}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_address_changes_reconnects_and_loses_nothing() {
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;
    path_to(&mut alice, &b).await;

    home1.renumber();
    alice.say("typed after the move").await;

    alice
        .wait_event("peer-reconnecting", Some(("peer", &b)))
        .await;
    bob.wait_for("the message typed after the move", |e| {
        e["event"] == "message" && e["text"] == "typed after the move"
    })
    .await;
    alice.say("and once reconnected").await;
    bob.wait_for("the message typed once reconnected", |e| {
        e["event"] == "message" && e["text"] == "and once reconnected"
    })
    .await;
    let texts = texts_from(bob, &a).await;
    assert_eq!(
        texts,
        ["typed after the move", "and once reconnected"],
        "each message once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_slow_path_keeps_order_and_loses_nothing() {
    let public = Public::start().await;
    let (mut home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    home1.degrade(BAD_LINE);
    let (mut alice, mut bob, a, b) = enter(&public, &home1, &home2).await;
    // Over this line a DTLS handshake can lose enough flights to reach the
    // engine's 10 s handshake timeout and start over with a fresh
    // connection (seen once in CI): more patience than a clean path needs.
    let since = tokio::time::Instant::now();
    alice
        .wait_connected_to_within(&b, since, OVER_A_BAD_LINE)
        .await;
    bob.wait_connected_to_within(&a, since, OVER_A_BAD_LINE)
        .await;

    let lines: Vec<String> = (1..=30).map(|n| format!("over a bad line {n}")).collect();
    alice.say_all(&lines).await;
    bob.wait_for("the last message", |e| {
        e["event"] == "message" && e["text"] == "over a bad line 30"
    })
    .await;
    let texts = texts_from(bob, &a).await;
    let expected: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(texts, expected, "each message once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_lost_with_a_turn_server_restart_is_allocated_again() {
    let mut public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::Symmetric);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;
    assert_eq!(path_to(&mut alice, &b).await, "relay");

    public.coturn.restart(&public.internet).await;

    alice.say("after the relay came back").await;
    let got = bob.wait_event("message", Some(("from", &a))).await;
    assert_eq!(got["text"], "after the relay came back");
    assert!(
        !public.coturn.allocations().is_empty(),
        "the new coturn granted no allocation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_behind_one_nat_and_parlor_behind_another_connect_through_the_relay() {
    // Symmetric NATs on both sides: only the relay works, so the browser's
    // credentials from the open `/turn` endpoint are what connects them.
    let public = Public::start().await;
    let (browser_home, parlor_home) = (
        public.internet.home(Nat::Symmetric),
        public.internet.home(Nat::Symmetric),
    );
    let mut browser = OldClient::launch_in(browser_home.host(), Mdns::Hide)
        .await
        .unwrap_or_else(|e| panic!("cannot start the browser: {e:#}"));
    let browser_id = browser
        .start(public.server.addr(), "across-the-internet")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let server = public.server.url().replace(':', "%3A").replace('/', "%2F");
    let link = format!("parlor://join/across-the-internet?server={server}");
    let mut parlor = PeerProcess::join_in(parlor_home.host(), EVERY_INTERFACE, "parlor", &link);
    parlor.wait_connected_to(&browser_id).await;
    if let Err(error) = browser.wait_open().await {
        panic!("old client: {error:#}");
    }

    assert_eq!(path_to(&mut parlor, &browser_id).await, "relay");
    parlor.say("hello, browser").await;
    if let Err(error) = browser.wait_message("hello, browser").await {
        panic!("old client: {error:#}");
    }
    if let Err(error) = browser.send("hello, parlor").await {
        panic!("old client: {error:#}");
    }
    let got = parlor
        .wait_event("message", Some(("from", &browser_id)))
        .await;
    assert_eq!(got["text"], "hello, parlor");
    browser.browser.close().await;
}

/// Whether coturn allocates a relay for `username`/`credential`, asked from
/// `home` by coturn's own test client (two allocations that talk to each
/// other through the relay).
fn coturn_allocates(home: &Home, username: &str, credential: &str) -> bool {
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", home.host().name(), "turnutils_uclient"])
        .args([
            "-u", username, "-w", credential, "-y", "-n", "1", "-m", "1", "-l", "100",
        ])
        .arg(SERVER_ADDR)
        .output()
        .unwrap_or_else(|e| panic!("cannot run turnutils_uclient (coturn): {e}"));
    let printed = String::from_utf8_lossy(&output.stdout);
    !printed.contains("Cannot complete Allocation") && printed.contains("Total lost packets")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_the_credentials_parlor_signal_mints_and_refuses_them_once_expired() {
    let public = Public::start_with(Relay::Turn, &["--turn-ttl", "2"]).await;
    let home = public.internet.home(Nat::EndpointIndependent);
    let url = format!(
        "http://{}/parties/main/some-room/turn",
        public.server.addr()
    );
    let answer = std::process::Command::new("ip")
        .args(["netns", "exec", home.host().name(), "curl", "-sf", &url])
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    let servers: serde_json::Value = serde_json::from_slice(&answer.stdout)
        .unwrap_or_else(|e| panic!("/turn answered no JSON ({e}): {answer:?}"));
    let turn = servers["iceServers"]
        .as_array()
        .and_then(|list| list.iter().find(|server| server.get("username").is_some()))
        .unwrap_or_else(|| panic!("/turn listed no TURN server: {servers}"));
    let (username, credential) = (
        turn["username"].as_str().unwrap_or_default(),
        turn["credential"].as_str().unwrap_or_default(),
    );

    assert!(
        coturn_allocates(&home, username, credential),
        "fresh credentials refused"
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !coturn_allocates(&home, username, credential),
        "expired credentials accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_acknowledges_nothing_holds_back_the_sender_instead_of_piling_up() {
    let public = Public::start().await;
    let (home1, home2) = two_homes(&public, Nat::EndpointIndependent);
    let (mut alice, mut bob, a, b) = meet(&public, &home1, &home2).await;
    path_to(&mut alice, &b).await;

    // Bob's line is cut: nothing Alice sends is acknowledged. 100 messages
    // of 60 kB are more than the 4 MiB she may leave unacknowledged.
    home2.cut_link();
    let big: Vec<String> = (0..100)
        .map(|n| format!("{n:03}{}", "x".repeat(60_000)))
        .collect();
    alice.say_all(&big).await;
    let refused = alice
        .wait_for("a send refused for Bob's backlog", |e| {
            e["event"] == "error"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("has not acknowledged"))
        })
        .await;
    assert!(refused["message"].as_str().unwrap_or_default().contains(&b));

    // Once Bob is back, what was accepted arrives, and Alice may send again.
    home2.restore_link();
    let accepted = alice
        .seen
        .iter()
        .filter(|e| e["event"] == "queued" && e["to"] == b.as_str())
        .count();
    assert!(accepted < big.len(), "every message was accepted");
    bob.wait_for("the last accepted message", |e| {
        e["event"] == "message"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{:03}", accepted - 1)))
    })
    .await;
    alice.say("and one more").await;
    bob.wait_for("the message after the backlog cleared", |e| {
        e["event"] == "message" && e["text"] == "and one more"
    })
    .await;
    let texts = texts_from(bob, &a).await;
    assert_eq!(texts.len(), accepted + 1, "each accepted message once");
}
