//! Graceful shutdown through the library: every client gets a close frame
//! with 1001 ("going away").

use parlor_protocol::close_code;
use tokio::net::TcpStream;

use crate::support::{Client, config, join_all, start};

#[tokio::test]
async fn shutdown_sends_going_away_to_every_client() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let mut clients = join_all(&server, "one", &["alice", "bob"]).await;
    let mut carol = Client::parlor(&server, "two", "carol").await;
    carol.recv_peer_list().await;
    clients.push(carol);

    let stopping = tokio::spawn(server.shutdown());
    for client in &mut clients {
        let close = client.expect_close().await;
        assert_eq!(
            u16::from(close.code),
            close_code::GOING_AWAY,
            "{}",
            client.id
        );
    }
    stopping.await.expect("shutdown completes");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a stopped server accepts nothing"
    );
}
