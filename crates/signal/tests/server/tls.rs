//! TLS: with a certificate configured, the same server speaks wss and https.

use parlor_signal::TlsConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::certificates::self_signed;
use crate::support::{Client, config, http_over, numbered, read_until_closed, start};

async fn connect(connector: &TlsConnector, server: &parlor_signal::Server) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.local_addr())
        .await
        .expect("TCP connect");
    let name = ServerName::try_from("localhost").expect("server name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

#[tokio::test]
async fn wss_relays_between_members() {
    let (tls, connector) = self_signed();
    let server = start(parlor_signal::Config {
        tls: Some(tls),
        ..config()
    })
    .await;
    assert!(server.url().starts_with("wss://"));
    let port = server.local_addr().port();
    let mut members = Vec::new();
    for id in ["alice", "bob"] {
        let url = format!("wss://localhost:{port}/parties/main/room?_pk={id}&parlor=1");
        let stream = connect(&connector, &server).await;
        let mut client = Client::handshake(&url, Box::new(stream), id).await;
        client.recv_peer_list().await;
        members.push(client);
    }
    members[0].wait_for_peers(&["bob"]).await;
    members[1].send_json(numbered(7)).await;
    let message = members[0].recv_message().await;
    assert_eq!(message["n"], 7);
    assert_eq!(message["from"], "bob");
}

#[tokio::test]
async fn https_serves_turn() {
    let (tls, connector) = self_signed();
    let server = start(parlor_signal::Config {
        tls: Some(tls),
        ..config()
    })
    .await;
    let stream = connect(&connector, &server).await;
    let response = http_over(Box::new(stream), "GET", "/parties/main/room/turn", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_tls_handshake_is_closed() {
    let (tls, _) = self_signed();
    let server = start(parlor_signal::Config {
        tls: Some(tls),
        header_read_timeout: std::time::Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut silent = TcpStream::connect(server.local_addr())
        .await
        .expect("TCP connect");
    read_until_closed(&mut silent).await;
}

#[test]
fn mismatched_pem_is_a_typed_error() {
    assert!(matches!(
        TlsConfig::from_pem(b"not a certificate", b"not a key"),
        Err(parlor_signal::TlsError::NoCertificate)
    ));
}
