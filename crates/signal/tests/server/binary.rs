//! The `parlor-signal` executable: address on the first stdout line, flags
//! from the environment, clean exit on SIGTERM, a renewed certificate on
//! SIGHUP.

use std::net::SocketAddr;
use std::process::Stdio;

use base64::Engine;
use hmac::{Hmac, Mac};
use parlor_protocol::close_code;
use serde_json::Value;
use sha1::Sha1;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::certificates::{handshake_succeeds, self_signed_pem};
use crate::support::{Client, GUARD, http};

/// Starts the binary on a free port and reads its address from stdout.
async fn spawn(envs: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parlor-signal"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn parlor-signal");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = tokio::time::timeout(GUARD, BufReader::new(stdout).lines().next_line())
        .await
        .expect("first line in time")
        .expect("read stdout")
        .expect("a first line");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("HOST:PORT");
    (child, addr)
}

#[tokio::test]
async fn binary_exits_zero_on_sigterm_after_sending_going_away() {
    let (mut child, addr) = spawn(&[]).await;
    assert_ne!(addr.port(), 0, "the real port is printed");
    let mut alice = Client::open(addr, "room", "_pk=alice&parlor=1", "alice").await;
    alice.recv_peer_list().await;

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());

    let close = alice.expect_close().await;
    assert_eq!(u16::from(close.code), close_code::GOING_AWAY);
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn binary_reads_ice_servers_from_environment() {
    let (_child, addr) = spawn(&[
        (
            "PARLOR_SIGNAL_STUN",
            "stun:one.example:3478,stun:two.example:3478",
        ),
        ("PARLOR_SIGNAL_TURN", "turn:turn.example:3478"),
        ("PARLOR_SIGNAL_TURN_USERNAME", "user"),
        ("PARLOR_SIGNAL_TURN_CREDENTIAL", "pass"),
    ])
    .await;
    let response = http(addr, "GET", "/parties/main/room/turn", &[]).await;
    assert_eq!(response.status, 200);
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert_eq!(
        body["iceServers"][0]["urls"],
        serde_json::json!(["stun:one.example:3478", "stun:two.example:3478"])
    );
    assert_eq!(body["iceServers"][1]["urls"][0], "turn:turn.example:3478");
    assert_eq!(body["iceServers"][1]["username"], "user");
    assert_eq!(body["iceServers"][1]["credential"], "pass");
}

#[tokio::test]
async fn binary_keeps_turn_for_members_with_a_secret_from_a_file() {
    let dir = std::env::temp_dir().join(format!("parlor-turn-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let secret_file = dir.join("turn-secret");
    std::fs::write(&secret_file, "from-a-file\n").expect("write the secret");
    let (_child, addr) = spawn(&[
        ("PARLOR_SIGNAL_STUN", "stun:one.example:3478"),
        ("PARLOR_SIGNAL_TURN", "turn:turn.example:3478"),
        (
            "PARLOR_SIGNAL_TURN_SECRET_FILE",
            secret_file.to_str().expect("UTF-8 path"),
        ),
        ("PARLOR_SIGNAL_NO_OPEN_TURN", "true"),
    ])
    .await;
    let response = http(addr, "GET", "/parties/main/room/turn", &[]).await;
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({ "iceServers": [{ "urls": ["stun:one.example:3478"] }] })
    );

    let mut alice = Client::open(addr, "room", "_pk=alice&parlor=1", "alice").await;
    let frame = alice.recv().await;
    assert_eq!(frame["type"], "ice-servers", "{frame}");
    let turn = &frame["iceServers"][1];
    let username = turn["username"].as_str().expect("a user name");
    let mut mac = Hmac::<Sha1>::new_from_slice(b"from-a-file").expect("any key length");
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn["credential"], expected.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn binary_reads_limits_from_environment() {
    let (_child, addr) = spawn(&[
        ("PARLOR_SIGNAL_MAX_ROOMS", "1"),
        ("PARLOR_SIGNAL_PEER_LIST_INTERVAL", "0"),
    ])
    .await;
    let mut alice = Client::open(addr, "one", "_pk=alice&parlor=1", "alice").await;
    alice.recv_peer_list().await;
    let mut bob = Client::open(addr, "two", "_pk=bob&parlor=1", "bob").await;
    let close = bob.expect_close().await;
    assert_eq!(u16::from(close.code), 1013);
    let page = http(addr, "GET", "/metrics", &[]).await.body;
    assert!(
        page.contains("parlor_signal_limit_exceeded_total{limit=\"rooms\"} 1"),
        "{page}"
    );
}

#[tokio::test]
async fn binary_serves_a_renewed_certificate_after_sighup() {
    let (cert, key, trusts_first) = self_signed_pem();
    let dir = std::env::temp_dir().join(format!("parlor-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).expect("write cert");
    std::fs::write(&key_path, key).expect("write key");
    let paths = [
        (
            "PARLOR_SIGNAL_TLS_CERT",
            cert_path.to_str().expect("UTF-8 path"),
        ),
        (
            "PARLOR_SIGNAL_TLS_KEY",
            key_path.to_str().expect("UTF-8 path"),
        ),
    ];
    let (child, addr) = spawn(&paths).await;
    assert!(handshake_succeeds(addr, &trusts_first).await);

    let (cert, key, trusts_renewed) = self_signed_pem();
    std::fs::write(&cert_path, cert).expect("write cert");
    std::fs::write(&key_path, key).expect("write key");
    let pid = child.id().expect("running").to_string();
    let hung_up = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("run kill");
    assert!(hung_up.success());

    let renewed = async {
        while !handshake_succeeds(addr, &trusts_renewed).await {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(GUARD, renewed)
        .await
        .expect("the renewed certificate is served after SIGHUP");
    assert!(!handshake_succeeds(addr, &trusts_first).await);
}
