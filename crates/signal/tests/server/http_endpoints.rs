//! Plain HTTP: health check, `/turn` with CORS, and `/metrics`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use parlor_signal::{IceConfig, TurnAuth, TurnServer};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::support::{config, http, join_all, numbered, start};

#[tokio::test]
async fn health_get_answers_200() {
    let server = start(config()).await;
    let response = http(server.local_addr(), "GET", "/parties/main/example", &[]).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn health_head_answers_200() {
    let server = start(config()).await;
    let response = http(server.local_addr(), "HEAD", "/parties/main/example", &[]).await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn health_of_an_invalid_room_name_answers_400() {
    let server = start(config()).await;
    let response = http(server.local_addr(), "GET", "/parties/main/a%20b", &[]).await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn turn_answers_with_cors() {
    let server = start(config()).await;
    let response = http(
        server.local_addr(),
        "GET",
        "/parties/main/example/turn",
        &[("Origin", "https://app.example")],
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert_eq!(body, json!({ "iceServers": [] }));
}

#[tokio::test]
async fn turn_preflight_allows_any_origin() {
    let server = start(config()).await;
    let response = http(
        server.local_addr(),
        "OPTIONS",
        "/parties/main/example/turn",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "x-custom"),
        ],
    )
    .await;
    assert!(response.status == 200 || response.status == 204);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert!(
        response
            .header("access-control-allow-methods")
            .is_some_and(|methods| methods.contains("GET"))
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("x-custom")
    );
}

#[tokio::test]
async fn turn_hands_out_stun_and_static_turn_servers() {
    let server = start(parlor_signal::Config {
        ice: IceConfig {
            stun_urls: vec!["stun:stun.example:3478".into()],
            turn: Some(TurnServer {
                urls: vec!["turn:turn.example:3478".into()],
                auth: TurnAuth::Static {
                    username: "user".into(),
                    credential: "pass".into(),
                },
            }),
            ..IceConfig::default()
        },
        ..config()
    })
    .await;
    let response = http(server.local_addr(), "GET", "/parties/main/room/turn", &[]).await;
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert_eq!(
        body,
        json!({ "iceServers": [
            { "urls": ["stun:stun.example:3478"] },
            { "urls": ["turn:turn.example:3478"], "username": "user", "credential": "pass" },
        ]})
    );
}

#[tokio::test]
async fn turn_rest_credentials_verify_with_hmac() {
    let ttl = Duration::from_secs(3600);
    let server = start(parlor_signal::Config {
        ice: IceConfig {
            stun_urls: vec![],
            turn: Some(TurnServer {
                urls: vec!["turn:turn.example:3478".into()],
                auth: TurnAuth::SharedSecret {
                    secret: "s3cret".into(),
                    ttl,
                    member_ttl: Duration::from_secs(600),
                },
            }),
            ..IceConfig::default()
        },
        ..config()
    })
    .await;
    let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let response = http(server.local_addr(), "GET", "/parties/main/room/turn", &[]).await;
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    let turn = &body["iceServers"][0];
    let username = turn["username"].as_str().expect("username");
    let credential = turn["credential"].as_str().expect("credential");

    // What coturn's use-auth-secret does: the username starts with the
    // expiry time, and the password is base64(HMAC-SHA1(secret, username)).
    let (expiry, _name) = username.split_once(':').expect("<expiry>:<name>");
    let expiry: u64 = expiry.parse().expect("unix time");
    assert!(expiry >= (before + ttl).as_secs());
    let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret").expect("any key length");
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(credential, expected);
}

#[tokio::test]
async fn metrics_count_connections_rooms_messages_and_errors() {
    let server = start(config()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0].send_json(numbered(1)).await;
    clients[1].recv_message().await;
    clients[0].send_text("not json").await;
    clients[0].expect_error("not-json").await;

    let response = http(server.local_addr(), "GET", "/metrics", &[]).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("text/plain"))
    );
    let value = |name: &str| -> u64 {
        response
            .body
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{}", response.body))
            .parse()
            .expect("a number")
    };
    assert_eq!(value("parlor_signal_open_connections"), 2);
    assert_eq!(value("parlor_signal_rooms"), 1);
    assert_eq!(value("parlor_signal_members"), 2);
    assert_eq!(value("parlor_signal_messages_relayed_total"), 1);
    assert!(value("parlor_signal_bytes_relayed_total") > 0);
    assert_eq!(value("parlor_signal_errors_total{code=\"not-json\"}"), 1);
    assert_eq!(value("parlor_signal_errors_total{code=\"too-large\"}"), 0);
}
