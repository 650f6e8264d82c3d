//! Running a server in public: metrics kept from strangers, pages from
//! other sites refused, and a renewed certificate served without a restart.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::certificates::self_signed as certificate;
use crate::support::{Client, config, http, metric, metrics, numbered, refused_join, start};

/// This machine's own address on its default route (no packet is sent: a
/// UDP "connect" only picks the source address).
fn own_non_loopback_address() -> Ipv4Addr {
    let probe = UdpSocket::bind("0.0.0.0:0").expect("UDP socket");
    probe
        .connect("198.18.0.2:9")
        .expect("a default route (the test namespace has one)");
    match probe.local_addr().expect("local address") {
        SocketAddr::V4(addr) if !addr.ip().is_loopback() => *addr.ip(),
        other => panic!("no non-loopback address: {other}"),
    }
}

#[tokio::test]
async fn metrics_on_the_main_address_answer_loopback_clients_only() {
    let server = start(parlor_signal::Config {
        listen: "0.0.0.0:0".parse().expect("address"),
        ..config()
    })
    .await;
    let port = server.local_addr().port();
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert_eq!(http(local, "GET", "/metrics", &[]).await.status, 200);
    let outside = SocketAddr::from((own_non_loopback_address(), port));
    assert_eq!(http(outside, "GET", "/metrics", &[]).await.status, 404);
}

#[tokio::test]
async fn metrics_on_their_own_address_are_served_there_and_not_on_the_main_one() {
    let server = start(parlor_signal::Config {
        metrics_listen: Some("127.0.0.1:0".parse().expect("address")),
        ..config()
    })
    .await;
    let metrics_addr = server.metrics_addr().expect("a metrics address");
    assert!(metrics(metrics_addr).await.contains("parlor_signal_"));
    assert_eq!(
        http(server.local_addr(), "GET", "/metrics", &[])
            .await
            .status,
        404
    );
}

fn allowing_one_origin() -> parlor_signal::Config {
    parlor_signal::Config {
        allowed_origins: vec!["https://chat.example.org".to_owned()],
        ..config()
    }
}

#[tokio::test]
async fn a_page_from_an_origin_not_allowed_is_refused_and_counted() {
    let server = start(allowing_one_origin()).await;
    let refused = refused_join(
        server.local_addr(),
        "room",
        "_pk=mallory",
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("https://evil.example"), "{refused:?}");
    let page = metrics(server.local_addr()).await;
    assert_eq!(
        metric(
            &page,
            "parlor_signal_limit_exceeded_total{limit=\"origin\"}"
        ),
        1
    );
}

#[tokio::test]
async fn a_page_from_an_allowed_origin_and_an_app_without_one_both_join() {
    let server = start(allowing_one_origin()).await;
    let addr = server.local_addr();
    let origin = [("Origin", "https://chat.example.org")];
    let mut page = Client::open_with(addr, "room", "_pk=page", "page", &origin).await;
    page.recv_peer_list().await;
    let mut app = Client::parlor(&server, "room", "app").await;
    assert_eq!(app.recv_peer_list().await.0, ["page"]);
}

async fn wss_member(
    server: &parlor_signal::Server,
    connector: &TlsConnector,
    id: &str,
) -> Result<Client, std::io::Error> {
    let tcp = TcpStream::connect(server.local_addr()).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    let stream = connector.connect(name, tcp).await?;
    let port = server.local_addr().port();
    let url = format!("wss://localhost:{port}/parties/main/room?_pk={id}&parlor=1");
    Ok(Client::handshake(url, Box::new(stream), id).await)
}

#[tokio::test]
async fn a_renewed_certificate_serves_new_handshakes_and_open_connections_stay() {
    let (old, trusts_old) = certificate();
    let (renewed, trusts_renewed) = certificate();
    let server = start(parlor_signal::Config {
        tls: Some(old),
        ..config()
    })
    .await;
    let mut alice = wss_member(&server, &trusts_old, "alice")
        .await
        .expect("the first certificate is served");
    alice.recv_peer_list().await;

    assert!(server.replace_tls(&renewed));

    assert!(
        wss_member(&server, &trusts_old, "eve").await.is_err(),
        "the old certificate is no longer served"
    );
    let mut bob = wss_member(&server, &trusts_renewed, "bob")
        .await
        .expect("the renewed certificate is served");
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    // Alice's connection, made before the renewal, still relays.
    alice.wait_for_peers(&["bob"]).await;
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
}
