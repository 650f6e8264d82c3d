//! HTTP timeouts: a connection that does not send a complete request head
//! in time (slowloris, or nothing at all) is closed after the header read
//! timeout; one that stays plain HTTP is closed after the upgrade timeout;
//! a WebSocket is not affected by either.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{
    Client, config, http, join_all, limit_metric, metric, metrics, numbered, read_until_closed,
    start, wait_for_metric,
};

/// Short timeouts for `header` and `upgrade`; the other one is long enough
/// never to be the one that closes a connection in these tests.
fn timeouts(header: Duration, upgrade: Duration) -> parlor_signal::Config {
    parlor_signal::Config {
        header_read_timeout: header,
        upgrade_timeout: upgrade,
        ..config()
    }
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(600);

#[tokio::test]
async fn a_request_head_sent_a_line_at_a_time_is_closed_after_the_header_read_timeout() {
    let server = start(timeouts(SHORT, LONG)).await;
    let addr = server.local_addr();
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reading, mut writing) = stream.into_split();
    // Slowloris: a header line every 50 ms, never the blank line that ends
    // the head. Trickling must not keep the connection open.
    let dribble = tokio::spawn(async move {
        let _ = writing
            .write_all(b"GET /parties/main/room HTTP/1.1\r\nHost: localhost\r\n")
            .await;
        for n in 0u32.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writing
                .write_all(format!("X-Slow-{n}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // Meanwhile the server serves everyone else.
    let mut clients = join_all(&server, "room", &["alice", "bob"]).await;
    clients[0].send_json(numbered(1)).await;
    assert_eq!(clients[1].recv_message().await["n"], 1);

    let answer = read_until_closed(&mut reading).await;
    dribble.abort();
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    wait_for_metric(addr, &limit_metric("header-read-timeout"), |n| n == 1).await;
    assert_eq!(
        metric(&metrics(addr).await, &limit_metric("upgrade-timeout")),
        0
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let server = start(timeouts(SHORT, LONG)).await;
    let addr = server.local_addr();
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    read_until_closed(&mut silent).await;
    wait_for_metric(addr, &limit_metric("header-read-timeout"), |n| n == 1).await;
}

#[tokio::test]
async fn a_request_head_completed_in_time_is_answered() {
    let server = start(timeouts(Duration::from_secs(5), LONG)).await;
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // In two parts, the second one a moment later.
    stream
        .write_all(b"GET /parties/main/room HTTP/1.1\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"Host: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        metric(&metrics(addr).await, &limit_metric("header-read-timeout")),
        0
    );
}

#[tokio::test]
async fn a_connection_that_never_upgrades_is_closed_after_the_upgrade_timeout() {
    let server = start(timeouts(LONG, SHORT)).await;
    let addr = server.local_addr();
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    read_until_closed(&mut silent).await;
    wait_for_metric(addr, &limit_metric("upgrade-timeout"), |n| n >= 1).await;
    assert_eq!(
        metric(&metrics(addr).await, &limit_metric("header-read-timeout")),
        0
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_upgrade_timeout() {
    let server = start(timeouts(LONG, SHORT)).await;
    let addr = server.local_addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // A keep-alive request, answered; then nothing more.
    stream
        .write_all(b"GET /parties/main/room HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    wait_for_metric(addr, &limit_metric("upgrade-timeout"), |n| n >= 1).await;
}

#[tokio::test]
async fn plain_requests_are_still_served_with_both_timeouts_short() {
    let server = start(timeouts(SHORT, SHORT)).await;
    for _ in 0..3 {
        let response = http(server.local_addr(), "GET", "/parties/main/room", &[]).await;
        assert_eq!(response.status, 200);
    }
}

#[tokio::test]
async fn a_websocket_outlives_both_timeouts() {
    let server = start(parlor_signal::Config {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(1000),
        ..timeouts(Duration::from_millis(200), Duration::from_millis(200))
    })
    .await;
    let addr = server.local_addr();
    let mut alice = Client::parlor(&server, "room", "alice").await;
    alice.recv_peer_list().await;
    // Ten pings span a second: five times either timeout.
    alice.answer_pings(10).await;
    let mut bob = Client::parlor(&server, "room", "bob").await;
    assert_eq!(bob.recv_peer_list().await.0, ["alice"]);
    bob.send_json(numbered(1)).await;
    assert_eq!(alice.recv_message().await["n"], 1);
    let page = metrics(addr).await;
    assert_eq!(metric(&page, &limit_metric("header-read-timeout")), 0);
    assert_eq!(metric(&page, &limit_metric("upgrade-timeout")), 0);
}
