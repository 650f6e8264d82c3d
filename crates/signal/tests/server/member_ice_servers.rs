//! TURN credentials for members: each Parlor member gets its own, in an
//! `ice-servers` frame before its first peer list and again before they
//! expire; nobody else gets that frame. And the open `/turn` endpoint,
//! which old clients need: limited per address, and able to keep TURN to
//! itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use parlor_signal::{Config, IceConfig, Server, StartError, TurnAuth, TurnServer};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::support::{Client, http, limit_metric, limited, metric, metrics, start};

const SECRET: &str = "s3cret";
const STUN: &str = "stun:stun.example:3478";
const TURN: &str = "turn:turn.example:3478";

/// A server on loopback with a STUN server and a TURN server whose
/// credentials are minted from [`SECRET`], members' lasting `member_ttl`.
fn with_turn(member_ttl: Duration) -> Config {
    Config {
        ice: IceConfig {
            stun_urls: vec![STUN.into()],
            turn: Some(TurnServer {
                urls: vec![TURN.into()],
                auth: TurnAuth::SharedSecret {
                    secret: SECRET.into(),
                    ttl: Duration::from_secs(600),
                    member_ttl,
                },
            }),
            ..IceConfig::default()
        },
        ..crate::support::config()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// What coturn's `use-auth-secret` accepts as the password of `username`.
fn rest_password(username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Reads an `ice-servers` frame, checks that its TURN entry is a valid
/// credential in the client's name, and returns its expiry.
async fn expect_ice_servers(client: &mut Client) -> u64 {
    let frame = client.recv().await;
    assert_eq!(frame["type"], "ice-servers", "{}: {frame}", client.id);
    assert_eq!(frame["iceServers"][0], json!({ "urls": [STUN] }));
    let turn = &frame["iceServers"][1];
    assert_eq!(turn["urls"], json!([TURN]));
    let username = turn["username"].as_str().expect("a user name");
    let expires = frame["expires"].as_u64().expect("an expiry");
    assert_eq!(username, format!("{expires}:{}", client.id));
    assert_eq!(turn["credential"], rest_password(username).as_str());
    expires
}

#[tokio::test]
async fn a_member_gets_credentials_in_its_name_before_its_first_peer_list() {
    let ttl = Duration::from_secs(300);
    let server = start(with_turn(ttl)).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    expect_ice_servers(&mut alice).await;
    alice.recv_peer_list().await;

    let before = unix_now();
    let mut bob = Client::parlor(&server, "room", "bob").await;
    let expires = expect_ice_servers(&mut bob).await;
    let after = unix_now();
    assert!(
        (before + ttl.as_secs()..=after + ttl.as_secs()).contains(&expires),
        "expires at {expires}, joined between {before} and {after}"
    );
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
}

#[tokio::test]
async fn a_refused_join_gets_no_credentials() {
    let server = start(Config {
        max_peers_per_room: 1,
        ..with_turn(Duration::from_secs(600))
    })
    .await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    expect_ice_servers(&mut alice).await;

    let mut bob = Client::parlor(&server, "room", "bob").await;
    let first = bob.recv().await;
    assert_eq!(first["type"], "error", "{first}");
    assert_eq!(first["code"], "room-full");
    bob.expect_close().await;
}

#[tokio::test]
async fn a_member_gets_fresh_credentials_before_its_own_expire() {
    let server = start(with_turn(Duration::from_secs(3))).await;
    let mut alice = Client::parlor(&server, "room", "alice").await;
    let first = expect_ice_servers(&mut alice).await;
    alice.recv_peer_list().await;
    let second = expect_ice_servers(&mut alice).await;
    assert!(second > first, "{second} after {first}");
}

#[tokio::test]
async fn a_member_ttl_under_a_second_is_refused_at_start() {
    let refused = Server::start(with_turn(Duration::from_millis(500))).await;
    assert!(
        matches!(refused, Err(StartError::InvalidConfig(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn old_clients_get_no_ice_servers_frame() {
    let server = start(with_turn(Duration::from_secs(600))).await;
    let mut old = Client::old(&server, "room", "old").await;
    assert!(old.recv_peer_list().await.0.is_empty());
    let mut bob = Client::parlor(&server, "room", "bob").await;
    expect_ice_servers(&mut bob).await;
    assert_eq!(old.recv_peer_list().await.0, ["bob"]);
}

#[tokio::test]
async fn with_the_open_endpoint_off_turn_is_for_members_only() {
    let mut config = with_turn(Duration::from_secs(600));
    config.ice.open_turn = false;
    let server = start(config).await;
    let response = http(server.local_addr(), "GET", "/parties/main/room/turn", &[]).await;
    assert_eq!(response.status, 200);
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert_eq!(body, json!({ "iceServers": [{ "urls": [STUN] }] }));

    let mut alice = Client::parlor(&server, "room", "alice").await;
    expect_ice_servers(&mut alice).await;
}

#[tokio::test]
async fn turn_requests_over_the_rate_get_429_that_a_page_can_read() {
    let server = start(Config {
        turn_requests_per_minute: 2,
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    for _ in 0..2 {
        let response = http(addr, "GET", "/parties/main/room/turn", &[]).await;
        assert_eq!(response.status, 200);
    }
    let refused = http(addr, "GET", "/parties/main/other/turn", &[]).await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.body.contains("ICE-server requests"),
        "{}",
        refused.body
    );
    assert_eq!(refused.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        metric(
            &metrics(addr).await,
            &limit_metric("turn-requests-per-address")
        ),
        1
    );
}

#[tokio::test]
async fn turn_requests_do_not_use_up_joins() {
    let server = start(Config {
        turn_requests_per_minute: 1,
        joins_per_minute: 1,
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    assert_eq!(
        http(addr, "GET", "/parties/main/room/turn", &[])
            .await
            .status,
        200
    );
    let mut alice = Client::parlor(&server, "room", "alice").await;
    assert!(alice.recv_peer_list().await.0.is_empty());
}

#[tokio::test]
async fn another_address_gets_ice_servers_while_one_is_over_its_rate() {
    const XFF: &str = "X-Forwarded-For";
    let server = start(Config {
        turn_requests_per_minute: 1,
        trusted_proxy_header: Some(XFF.to_owned()),
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    let path = "/parties/main/room/turn";
    let first = [(XFF, "198.51.100.1")];
    assert_eq!(http(addr, "GET", path, &first).await.status, 200);
    assert_eq!(http(addr, "GET", path, &first).await.status, 429);
    let other = [(XFF, "198.51.100.2")];
    assert_eq!(http(addr, "GET", path, &other).await.status, 200);
}
