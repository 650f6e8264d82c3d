//! Connection limits: in total (503) and per client address (429), checked
//! when the connection is accepted; the connections already in keep
//! working, and a place given back is taken again.

use crate::support::{
    config, http, join_all, limit_metric, limited, metric, metrics, numbered, refused_join, start,
};

#[tokio::test]
async fn a_connection_over_the_total_limit_gets_503_and_the_others_keep_working() {
    let server = start(parlor_signal::Config {
        max_connections: 2,
        ..config()
    })
    .await;
    let addr = server.local_addr();
    // Exactly at the limit: both are served.
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;

    let refused = refused_join(addr, "room", "_pk=carol&parlor=1", &[]).await;
    assert_eq!(refused.status, 503);
    assert!(refused.body.contains("connections"), "{}", refused.body);
    let plain = http(addr, "GET", "/parties/main/room", &[]).await;
    assert_eq!(plain.status, 503);

    clients[0].send_json(numbered(1)).await;
    assert_eq!(clients[1].recv_message().await["n"], 1);

    // bob's place is given back when he leaves: the metrics request gets it.
    drop(clients.pop());
    clients[0].wait_for_peers(&[]).await;
    let page = metrics(addr).await;
    // The metrics request may itself have been refused until bob's place
    // was free.
    assert!(metric(&page, &limit_metric("connections")) >= 2);
    assert_eq!(
        metric(&page, "parlor_signal_tcp_connections"),
        2,
        "alice and this request"
    );
}

#[tokio::test]
async fn a_connection_over_the_per_address_limit_gets_429_and_the_others_keep_working() {
    let server = start(parlor_signal::Config {
        max_connections_per_address: 3,
        ..limited()
    })
    .await;
    let addr = server.local_addr();
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;

    let refused = refused_join(addr, "room", "_pk=dave&parlor=1", &[]).await;
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("your address"), "{}", refused.body);

    clients[2].send_json(numbered(1)).await;
    assert_eq!(clients[0].recv_message().await["n"], 1);
    assert_eq!(clients[1].recv_message().await["n"], 1);

    // carol's place is given back when she leaves: the metrics request
    // (from the same address) gets it.
    drop(clients.pop());
    clients[0].wait_for_peers(&["bob"]).await;
    let page = metrics(addr).await;
    assert!(metric(&page, &limit_metric("connections-per-address")) >= 1);
    assert_eq!(metric(&page, &limit_metric("connections")), 0);
}

#[tokio::test]
async fn loopback_clients_are_not_limited_per_address_unless_asked() {
    let server = start(parlor_signal::Config {
        max_connections_per_address: 1,
        joins_per_minute: 1,
        ..config()
    })
    .await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    clients[2].send_json(numbered(1)).await;
    assert_eq!(clients[0].recv_message().await["n"], 1);
    let page = metrics(server.local_addr()).await;
    assert_eq!(metric(&page, &limit_metric("connections-per-address")), 0);
    assert_eq!(metric(&page, &limit_metric("joins-per-address")), 0);
}
