//! Behind a reverse proxy: with `trusted_proxy_header` set, the per-address
//! limits count by the address the header's last entry names (IPv6 per
//! /64); without it, the header is never read.

use crate::support::{
    Client, limit_metric, limited, metric, metrics, numbered, refused_join, start,
};

const XFF: &str = "X-Forwarded-For";

fn behind_proxy() -> parlor_signal::Config {
    parlor_signal::Config {
        trusted_proxy_header: Some(XFF.to_owned()),
        max_connections_per_address: 1,
        ..limited()
    }
}

async fn join_from(server: &parlor_signal::Server, id: &str, forwarded: &str) -> Client {
    let query = format!("_pk={id}&parlor=1");
    let mut client =
        Client::open_with(server.local_addr(), "room", &query, id, &[(XFF, forwarded)]).await;
    client.recv_peer_list().await;
    client
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_last_forwarded_address_is_the_client() {
    let server = start(behind_proxy()).await;
    let addr = server.local_addr();
    let mut alice = join_from(&server, "alice", "198.51.100.7, 203.0.113.1").await;

    // The same last hop is the same client, whatever came before it.
    let refused = refused_join(addr, "room", "_pk=bob", &[(XFF, "192.0.2.99, 203.0.113.1")]).await;
    assert_eq!(refused.status, 429);

    // Another last hop is another client, though the proxy is the same
    // socket address (and the first entry is alice's).
    let mut bob = join_from(&server, "bob", "203.0.113.1, 203.0.113.2").await;
    alice.wait_for_peers(&["bob"]).await;
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
    assert_eq!(
        metric(
            &metrics(addr).await,
            &limit_metric("connections-per-address")
        ),
        1
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_ipv6_clients_count_per_64() {
    let server = start(behind_proxy()).await;
    let addr = server.local_addr();
    let mut alice = join_from(&server, "alice", "2001:db8:1:2::1").await;
    let refused = refused_join(addr, "room", "_pk=bob", &[(XFF, "2001:db8:1:2:abcd::7")]).await;
    assert_eq!(refused.status, 429, "the same /64");
    let _carol = join_from(&server, "carol", "2001:db8:1:3::1").await;
    alice.wait_for_peers(&["carol"]).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_leaving_client_gives_its_place_back() {
    let server = start(behind_proxy()).await;
    let mut watcher = join_from(&server, "watcher", "203.0.113.50").await;
    let alice = join_from(&server, "alice", "203.0.113.1").await;
    watcher.wait_for_peers(&["alice"]).await;
    drop(alice);
    watcher.wait_for_peers(&[]).await;
    // The place is given back when the connection's task ends, a moment
    // after the room hears of it: the metrics page says when.
    crate::support::wait_for_metric(server.local_addr(), "parlor_signal_open_connections", |n| {
        n == 1
    })
    .await;
    let _again = join_from(&server, "alice", "203.0.113.1").await;
    watcher.wait_for_peers(&["alice"]).await;
}

#[tokio::test]
async fn without_the_option_the_forwarding_header_is_never_read() {
    let server = start(parlor_signal::Config {
        max_connections_per_address: 1,
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    let _alice = join_from(&server, "alice", "203.0.113.1").await;
    // Another "address" in the header, but the same socket address.
    let refused = refused_join(addr, "room", "_pk=bob", &[(XFF, "203.0.113.2")]).await;
    assert_eq!(refused.status, 429);
}
