//! Shared test helpers: start a server in-process, connect real WebSocket
//! clients over loopback, and read what they receive.
//!
//! Every wait is bounded by [`GUARD`] so a broken server fails the test
//! instead of hanging it; no test asserts on how long anything takes.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parlor_signal::{Config, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Upper bound on any single wait in a test.
pub const GUARD: Duration = Duration::from_secs(10);

/// A configuration on a free loopback port, otherwise the defaults.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Server {
    Server::start(config).await.expect("server starts")
}

/// Any byte stream a client can run over: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket client of the signaling server.
pub struct Client {
    pub id: String,
    ws: WebSocketStream<Box<dyn Io>>,
}

impl Client {
    /// Joins `room` as `id`, declared as a Parlor client (`parlor=1`).
    pub async fn parlor(server: &Server, room: &str, id: &str) -> Client {
        let query = format!("_pk={id}&parlor=1");
        Client::open(server.local_addr(), room, &query, id).await
    }

    /// Joins `room` as `id` the way the old `partysocket` client does.
    pub async fn old(server: &Server, room: &str, id: &str) -> Client {
        Client::open(server.local_addr(), room, &format!("_pk={id}"), id).await
    }

    /// Opens `/parties/main/<room>?<query>` over plain TCP.
    pub async fn open(addr: SocketAddr, room: &str, query: &str, id: &str) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        let url = format!("ws://{addr}/parties/main/{room}?{query}");
        Client::handshake(&url, Box::new(tcp), id).await
    }

    /// Runs the WebSocket handshake for `url` over `stream`.
    pub async fn handshake(url: &str, stream: Box<dyn Io>, id: &str) -> Client {
        let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake in time")
            .expect("WebSocket handshake");
        Client {
            id: id.to_owned(),
            ws,
        }
    }

    pub async fn send(&mut self, message: Message) {
        tokio::time::timeout(GUARD, self.ws.send(message))
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Sends without failing the test when the server already closed.
    pub async fn try_send(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(GUARD, self.ws.send(message)).await,
            Ok(Ok(()))
        )
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next data frame as JSON; pings and pongs are skipped (and
    /// answered by the library while reading).
    pub async fn recv(&mut self) -> Value {
        let deadline = Instant::now() + GUARD;
        loop {
            match self.next_frame(deadline).await {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("server sends JSON");
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("{}: expected a text frame, got {other:?}", self.id),
            }
        }
    }

    /// The next frame that is not a peer list.
    pub async fn recv_message(&mut self) -> Value {
        loop {
            let value = self.recv().await;
            if value["type"] != "info:peerlist" {
                return value;
            }
        }
    }

    /// The next frame, which must be a peer list: `(peers, parlor)`.
    pub async fn recv_peer_list(&mut self) -> (Vec<String>, Vec<String>) {
        let value = self.recv().await;
        assert_eq!(value["type"], "info:peerlist", "{}: {value}", self.id);
        (strings(&value["peers"]), strings(&value["parlor"]))
    }

    /// Reads peer lists until one lists exactly `peers`.
    pub async fn wait_for_peers(&mut self, peers: &[&str]) {
        let id = self.id.clone();
        let wait = async {
            loop {
                let (seen, _) = self.recv_peer_list().await;
                if seen == peers {
                    return;
                }
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("{id}: no peer list {peers:?} in time"));
    }

    /// The next frame, which must be an error frame with `code`.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let value = self.recv_message().await;
        assert_eq!(value["type"], "error", "{}: {value}", self.id);
        assert_eq!(value["code"], code, "{}: {value}", self.id);
        assert!(value["message"].is_string(), "{value}");
        value
    }

    /// Reads until the server's close frame, skipping data frames.
    pub async fn expect_close(&mut self) -> CloseFrame {
        let deadline = Instant::now() + GUARD;
        loop {
            match self.next_frame(deadline).await {
                Message::Close(Some(frame)) => return frame,
                Message::Close(None) => panic!("{}: close frame without a code", self.id),
                _ => {}
            }
        }
    }

    /// Reads until the server closes: its close frame, or `None` when the
    /// connection was cut without one (e.g. reset while still sending).
    pub async fn close_or_reset(&mut self) -> Option<CloseFrame> {
        let deadline = Instant::now() + GUARD;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: not closed in time", self.id));
            match frame {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame of any kind, failing the test at `deadline`.
    async fn next_frame(&mut self, deadline: Instant) -> Message {
        tokio::time::timeout_at(deadline, self.ws.next())
            .await
            .unwrap_or_else(|_| panic!("{}: nothing received in time", self.id))
            .unwrap_or_else(|| panic!("{}: connection ended", self.id))
            .unwrap_or_else(|error| panic!("{}: read failed: {error}", self.id))
    }

    /// Reads until the server has pinged `count` times (each answered),
    /// failing on any data frame or a close.
    pub async fn answer_pings(&mut self, count: usize) {
        let deadline = Instant::now() + GUARD;
        let mut pings = 0;
        while pings < count {
            match self.next_frame(deadline).await {
                Message::Ping(_) => pings += 1,
                Message::Pong(_) => {}
                other => panic!("{}: expected only pings, got {other:?}", self.id),
            }
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("ids are strings").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Joins `ids` into `room` one after another, each waiting for its first
/// peer list, so join order is well defined.
pub async fn join_all(server: &Server, room: &str, ids: &[&str]) -> Vec<Client> {
    let mut clients = Vec::new();
    for id in ids {
        let mut client = Client::parlor(server, room, id).await;
        client.recv_peer_list().await;
        clients.push(client);
    }
    // Everyone has now seen the last join.
    let count = clients.len();
    for (index, client) in clients.iter_mut().enumerate() {
        for _ in index + 1..count {
            client.recv_peer_list().await;
        }
    }
    clients
}

/// A test message carrying a sequence number.
pub fn numbered(n: u64) -> Value {
    json!({ "type": "test", "n": n })
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one HTTP/1.1 request over plain TCP and reads the whole response.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.expect("TCP connect");
    http_over(Box::new(stream), method, path, headers).await
}

/// Sends one HTTP/1.1 request over `stream` and reads the whole response.
pub async fn http_over(
    mut stream: Box<dyn Io>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let raw = tokio::time::timeout(GUARD, async {
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map(|_| raw)
    })
    .await
    .expect("HTTP response in time")
    .expect("HTTP exchange");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}
