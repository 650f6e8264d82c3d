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
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
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

/// [`config`] with the per-address limits applied to loopback clients, as
/// they are to strangers (every test client comes from 127.0.0.1).
pub fn limited() -> Config {
    Config {
        limit_loopback: true,
        ..config()
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

    /// Opens `/parties/main/<room>?<query>` with extra request headers.
    pub async fn open_with(
        addr: SocketAddr,
        room: &str,
        query: &str,
        id: &str,
        headers: &[(&str, &str)],
    ) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        let request = upgrade_request(addr, room, query, headers);
        Client::handshake(request, Box::new(tcp), id).await
    }

    /// Runs the WebSocket handshake for `url` over `stream`.
    pub async fn handshake(
        request: impl IntoClientRequest + Unpin,
        stream: Box<dyn Io>,
        id: &str,
    ) -> Client {
        let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::client_async(request, stream))
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

    /// A text frame already received (or arriving within a moment), if
    /// any; for a test that must keep sending until something happens.
    pub async fn try_recv(&mut self) -> Option<Value> {
        match tokio::time::timeout(Duration::from_millis(5), self.ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                Some(serde_json::from_str(text.as_str()).expect("server sends JSON"))
            }
            _ => None,
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

/// An upgrade request for `/parties/main/<room>?<query>` with `headers`.
fn upgrade_request(
    addr: SocketAddr,
    room: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!("ws://{addr}/parties/main/{room}?{query}");
    let mut request = url.into_client_request().expect("valid URL");
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    request
}

/// An upgrade the server refused with an HTTP status.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

/// Tries to join `room` and expects the server to refuse the upgrade with
/// an HTTP status (a limit that protects the server, checked before it
/// accepts the upgrade).
pub async fn refused_join(
    addr: SocketAddr,
    room: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> Refused {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let request = upgrade_request(addr, room, query, headers);
    let outcome = tokio::time::timeout(GUARD, tokio_tungstenite::client_async(request, tcp))
        .await
        .expect("answer in time");
    match outcome {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Refused {
            status: response.status().as_u16(),
            body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned(),
        },
        Err(error) => panic!("expected an HTTP refusal, got {error}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade was accepted"),
    }
}

/// The value of the sample `name` (labels included) in a metrics page.
pub fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .parse()
        .expect("a number")
}

/// The name of the counter of refusals by `limit`.
pub fn limit_metric(limit: &str) -> String {
    format!("parlor_signal_limit_exceeded_total{{limit=\"{limit}\"}}")
}

/// The metrics page. The request is a connection like any other, so while
/// a connection limit refuses it, it is tried again (a short pause between
/// tries) until one is admitted.
pub async fn metrics(addr: SocketAddr) -> String {
    let deadline = Instant::now() + GUARD;
    loop {
        let response = http(addr, "GET", "/metrics", &[]).await;
        if response.status == 200 {
            return response.body;
        }
        assert!(
            Instant::now() < deadline,
            "metrics still refused ({}) after the guard time",
            response.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads the metrics until `name` satisfies `check`; returns its value.
pub async fn wait_for_metric(addr: SocketAddr, name: &str, check: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + GUARD;
    loop {
        let value = metric(&metrics(addr).await, name);
        if check(value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is still {value} after the guard time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads from `stream` until the server closes it (end of stream or a
/// reset); returns what it sent first. Fails the test after [`GUARD`].
pub async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await
    .expect("the server closes the connection in time");
    received
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
    let mut seen = Vec::new();
    for id in ids {
        let mut client = Client::parlor(server, room, id).await;
        seen.push(client.recv_peer_list().await.0);
        clients.push(client);
    }
    // Everyone has now seen the last join (lists that came close together
    // may have been merged into one).
    for (client, seen) in clients.iter_mut().zip(seen) {
        let others: Vec<&str> = ids.iter().copied().filter(|id| *id != client.id).collect();
        if seen != others {
            client.wait_for_peers(&others).await;
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
