//! The well-behaved pairs whose latency every scenario measures, on a
//! runtime and thread of their own, and the client plumbing the attacks
//! share (a hand-written WebSocket upgrade for the cheap raw-TCP attackers,
//! peer-list waits for the tungstenite ones).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on each wait while clients connect and join.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Well-behaved clients connecting at once.
const PAIR_CONNECT_CONCURRENCY: usize = 50;

/// Nanoseconds since `epoch`.
pub(crate) fn nanos_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// What one well-behaved client saw.
#[derive(Debug, Default)]
pub(crate) struct ClientRecord {
    /// The pair (and room) it belongs to.
    pub(crate) pair: usize,
    /// Whether it is the side that pings (and times round trips).
    pub(crate) pinger: bool,
    /// Round trips it timed (only the pinging side times any): when the
    /// ping left and how long until the pong came back, nanoseconds.
    pub(crate) round_trips: Vec<(u64, u64)>,
    /// When and how the connection ended before it was told to stop.
    pub(crate) ended: Option<(u64, String)>,
    /// Error frames the server sent it, by code.
    pub(crate) errors: Vec<String>,
    /// The send time of a ping still unanswered when it stopped.
    pub(crate) outstanding: Option<u64>,
}

/// `pairs` rooms of two clients each, playing ping-pong (one ping in flight
/// per pair, the next one `interval` after the previous one left, or when
/// its pong arrives if that is later) from the moment both are in until
/// [`Pairs::finish`].
///
/// They run on a current-thread runtime on a thread of their own, so the
/// attackers' tasks never queue in front of them in a runtime: what they
/// measure is the server (and the two cores everyone shares).
pub(crate) struct Pairs {
    stop: watch::Sender<bool>,
    ready: Option<oneshot::Receiver<anyhow::Result<()>>>,
    thread: std::thread::JoinHandle<anyhow::Result<Vec<ClientRecord>>>,
}

impl Pairs {
    pub(crate) fn start(
        addr: &str,
        pairs: usize,
        interval: Duration,
        epoch: Instant,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready) = oneshot::channel();
        let addr = addr.to_owned();
        let thread = std::thread::Builder::new()
            .name("well-behaved".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(run_pairs(addr, pairs, interval, epoch, stopped, ready_tx))
            })?;
        Ok(Self {
            stop,
            ready: Some(ready),
            thread,
        })
    }

    /// Resolves once every client sees its partner in a peer list.
    pub(crate) async fn ready(&mut self) -> anyhow::Result<()> {
        let ready = self.ready.take().context("ready() called twice")?;
        ready
            .await
            .context("the well-behaved clients' thread ended")?
    }

    /// Stops every client and returns what each saw.
    pub(crate) async fn finish(self) -> anyhow::Result<Vec<ClientRecord>> {
        let _ = self.stop.send(true);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the well-behaved clients' thread panicked"))?
    }
}

async fn run_pairs(
    addr: String,
    pairs: usize,
    interval: Duration,
    epoch: Instant,
    stop: watch::Receiver<bool>,
    report_ready: oneshot::Sender<anyhow::Result<()>>,
) -> anyhow::Result<Vec<ClientRecord>> {
    let clients = pairs * 2;
    let (ready_tx, mut ready) = mpsc::channel(clients);
    let connecting = Arc::new(Semaphore::new(PAIR_CONNECT_CONCURRENCY));
    let mut tasks = Vec::with_capacity(clients);
    for pair in 0..pairs {
        for pinger in [true, false] {
            let client = WellBehaved {
                url: format!(
                    "ws://{addr}/parties/main/quiet{pair}?_pk={}{pair}&parlor=1",
                    if pinger { "a" } else { "b" }
                ),
                partner: format!("{}{pair}", if pinger { "b" } else { "a" }),
                pair,
                pinger,
                // Spread the pings over the interval.
                offset: interval.mul_f64(pair as f64 / pairs.max(1) as f64),
                interval,
                epoch,
            };
            let (connecting, ready, stop) =
                (Arc::clone(&connecting), ready_tx.clone(), stop.clone());
            tasks.push(tokio::spawn(client.run(connecting, ready, stop)));
        }
    }
    drop(ready_tx);
    let all_ready = async {
        for _ in 0..clients {
            ready
                .recv()
                .await
                .context("a well-behaved client failed to join")?;
        }
        anyhow::Ok(())
    };
    let outcome = tokio::time::timeout(SETUP_TIMEOUT, all_ready)
        .await
        .context("well-behaved clients join in time")
        .and_then(|joined| joined);
    let failed = outcome.is_err();
    let _ = report_ready.send(outcome);
    if failed {
        for task in &tasks {
            task.abort();
        }
    }
    let mut records = Vec::with_capacity(clients);
    for task in tasks {
        match task.await {
            Ok(record) => records.push(record?),
            Err(error) if error.is_cancelled() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(records)
}

/// One well-behaved client: the pinging side times round trips, the other
/// echoes.
struct WellBehaved {
    url: String,
    partner: String,
    pair: usize,
    pinger: bool,
    offset: Duration,
    interval: Duration,
    epoch: Instant,
}

impl WellBehaved {
    async fn run(
        self,
        connecting: Arc<Semaphore>,
        ready: mpsc::Sender<()>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<ClientRecord> {
        let permit = connecting.acquire_owned().await?;
        let mut ws = tokio::time::timeout(SETUP_TIMEOUT, connect(self.url.as_str()))
            .await
            .context("connect in time")?
            .with_context(|| format!("connect {}", self.url))?;
        wait_for_peer_list(&mut ws, Some(&self.partner)).await?;
        drop(permit);
        ready.send(()).await?;

        let mut record = ClientRecord {
            pair: self.pair,
            pinger: self.pinger,
            ..ClientRecord::default()
        };
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + self.offset, self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
                _ = tick.tick(), if self.pinger && record.outstanding.is_none() => {
                    let sent = nanos_since(self.epoch);
                    let ping = json!({ "type": "ping", "to": self.partner, "t": sent });
                    if let Err(error) = ws.send(Message::text(ping.to_string())).await {
                        record.ended = Some((nanos_since(self.epoch), format!("send failed: {error}")));
                        break;
                    }
                    record.outstanding = Some(sent);
                }
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(close))) => {
                            let why = close.map_or_else(
                                || "closed by the server".to_owned(),
                                |close| format!("closed by the server: {} {}", u16::from(close.code), close.reason),
                            );
                            record.ended = Some((nanos_since(self.epoch), why));
                            break;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            record.ended = Some((nanos_since(self.epoch), format!("read failed: {error}")));
                            break;
                        }
                        None => {
                            record.ended = Some((nanos_since(self.epoch), "connection ended".to_owned()));
                            break;
                        }
                    };
                    let value: Value = serde_json::from_str(text.as_str())?;
                    match value["type"].as_str() {
                        Some("ping") if !self.pinger => {
                            let pong = json!({ "type": "pong", "to": self.partner, "t": value["t"] });
                            if let Err(error) = ws.send(Message::text(pong.to_string())).await {
                                record.ended = Some((nanos_since(self.epoch), format!("send failed: {error}")));
                                break;
                            }
                        }
                        Some("pong") if self.pinger => {
                            if let (Some(sent), Some(outstanding)) = (value["t"].as_u64(), record.outstanding) {
                                if sent == outstanding {
                                    let now = nanos_since(self.epoch);
                                    record.round_trips.push((sent, now.saturating_sub(sent)));
                                    record.outstanding = None;
                                }
                            }
                        }
                        Some("error") => {
                            record.errors.push(value["code"].as_str().unwrap_or("?").to_owned());
                        }
                        _ => {}
                    }
                }
            }
        }
        if record.ended.is_none() {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
        Ok(record)
    }
}

/// A client connection, as the library makes it, but with Nagle's algorithm
/// off (as the server has it): otherwise a ping that follows the client's
/// automatic pong waits for the server's delayed ACK, 40 ms.
pub(crate) async fn connect(url: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

/// A client's WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Reads frames until a peer list arrives (naming `partner`, if given);
/// an error frame or the end of the connection fails it.
pub(crate) async fn wait_for_peer_list<S>(
    ws: &mut WebSocketStream<S>,
    partner: Option<&str>,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let wait = async {
        loop {
            let frame = ws.next().await.context("closed before a peer list")??;
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(text.as_str())?;
            match value["type"].as_str() {
                Some("info:peerlist") => {
                    let listed = partner.is_none_or(|partner| {
                        value["peers"]
                            .as_array()
                            .is_some_and(|peers| peers.iter().any(|p| p == partner))
                    });
                    if listed {
                        return anyhow::Ok(());
                    }
                }
                Some("error") => bail!("join refused: {text}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, wait)
        .await
        .context("a peer list in time")?
}

/// How a hand-written upgrade request went.
pub(crate) enum Upgrade {
    /// `101 Switching Protocols`: a WebSocket (and so a join), with the
    /// bytes that came after the head.
    Switched(TcpStream, Vec<u8>),
    /// Any other answer: its status line.
    Refused(String),
}

/// Connects and sends a WebSocket upgrade request for `path` by hand (the
/// answer's accept key is not checked): cheaper than a WebSocket library for
/// attackers that never send a frame.
pub(crate) async fn raw_upgrade(addr: &str, path: &str) -> anyhow::Result<Upgrade> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            bail!("closed before an answer");
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > 16 * 1024 {
            bail!("no end of the answer's head");
        }
    };
    let status = String::from_utf8_lossy(&head[..end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status.starts_with("HTTP/1.1 101") {
        Ok(Upgrade::Switched(stream, head[end..].to_vec()))
    } else {
        Ok(Upgrade::Refused(status))
    }
}
