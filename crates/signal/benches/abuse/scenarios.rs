//! The five attacks. Each one is bounded in count and time, stops by itself
//! (every connection it opened is dropped when it returns), targets only the
//! server on 127.0.0.1, and says in a few notes what it did and what the
//! attacker saw; the server's side of the story is its `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use parlor_bench::percentile;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;

use crate::clients::{Upgrade, Ws, connect, raw_upgrade, wait_for_peer_list};

/// Raw TCP connections opened at once.
const RAW_CONCURRENCY: usize = 500;
/// WebSocket handshakes in flight at once.
const WS_CONCURRENCY: usize = 200;
/// Bound on one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Slowloris: connections, and how long they are held.
const SLOWLORIS_CONNECTIONS: usize = 5_000;
const SLOWLORIS_FOR: Duration = Duration::from_secs(15);
/// A header line is added this often, as slowloris does.
const SLOWLORIS_DRIBBLE: Duration = Duration::from_secs(3);

/// Idle joins: connections, members per room, and how long they are held
/// (longer than the default 20 s pong timeout).
const IDLE_JOINS: usize = 5_000;
const IDLE_PER_ROOM: usize = 4;
const IDLE_FOR: Duration = Duration::from_secs(25);

/// Flood: rooms, each with one flooder and one well-behaved member; how
/// long; the frame (the default largest relayed frame).
const FLOOD_ROOMS: usize = 20;
const FLOOD_FOR: Duration = Duration::from_secs(10);
const FLOOD_FRAME: usize = 64 * 1024;
/// What a slow member does after each frame it reads.
const SLOW_READER_PAUSE: Duration = Duration::from_millis(100);

/// Churn: join/leave cycles per second aimed at, for how long, by how many
/// concurrent churners (fewer than a room holds).
const CHURN_RATE: f64 = 10_000.0;
const CHURN_FOR: Duration = Duration::from_secs(5);
const CHURNERS: usize = 24;

/// Non-readers: how many, in how many rooms, with how many senders per
/// room, each sending a frame this big this often (60 kB/s: inside the
/// default 64 KiB/s byte rate), for how long.
const NON_READERS: usize = 1_000;
const NON_READER_ROOMS: usize = 50;
const SENDERS_PER_ROOM: usize = 3;
const SENDER_FRAME: usize = 15_000;
const SENDER_EVERY: Duration = Duration::from_millis(250);
const NON_READERS_FOR: Duration = Duration::from_secs(15);
/// The non-readers' socket receive buffer: an attacker keeps it small so the
/// server, not the kernel, holds what it does not read.
const NON_READER_RCVBUF: u32 = 4096;

/// One attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Slowloris,
    IdleJoins,
    Flood,
    Churn,
    NonReaders,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 5] = [
        Scenario::Slowloris,
        Scenario::IdleJoins,
        Scenario::Flood,
        Scenario::Churn,
        Scenario::NonReaders,
    ];

    /// The name `PARLOR_ABUSE_SCENARIOS` selects it by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Slowloris => "slowloris",
            Scenario::IdleJoins => "idle",
            Scenario::Flood => "flood",
            Scenario::Churn => "churn",
            Scenario::NonReaders => "non-readers",
        }
    }

    /// What it does, for the table.
    pub(crate) fn title(self) -> String {
        match self {
            Scenario::Slowloris => format!(
                "1. slowloris: {SLOWLORIS_CONNECTIONS} half request heads, a header line every {} s, held {} s",
                SLOWLORIS_DRIBBLE.as_secs(),
                SLOWLORIS_FOR.as_secs()
            ),
            Scenario::IdleJoins => format!(
                "2. idle joins: {IDLE_JOINS} upgrades ({IDLE_PER_ROOM} per room) that never send a byte, held {} s",
                IDLE_FOR.as_secs()
            ),
            Scenario::Flood => format!(
                "3. flood: {FLOOD_ROOMS} rooms, one client each sending {} KiB frames at line rate (reconnecting when closed) for {} s",
                FLOOD_FRAME / 1024,
                FLOOD_FOR.as_secs()
            ),
            Scenario::Churn => format!(
                "4. churn: join/leave cycles in one room, aiming at {CHURN_RATE:.0}/s, for {} s",
                CHURN_FOR.as_secs()
            ),
            Scenario::NonReaders => format!(
                "5. non-readers: {NON_READERS} clients in {NON_READER_ROOMS} rooms stop reading; {SENDERS_PER_ROOM} senders per room send {} kB every {} ms, for {} s",
                SENDER_FRAME / 1000,
                SENDER_EVERY.as_millis(),
                NON_READERS_FOR.as_secs()
            ),
        }
    }

    /// Runs the attack against the server at `addr` until it stops by itself.
    pub(crate) async fn run(self, addr: &str) -> anyhow::Result<Vec<String>> {
        match self {
            Scenario::Slowloris => slowloris(addr).await,
            Scenario::IdleJoins => idle_joins(addr).await,
            Scenario::Flood => flood(addr).await,
            Scenario::Churn => churn(addr).await,
            Scenario::NonReaders => non_readers(addr).await,
        }
    }
}

/// How one held connection of an attacker ended.
enum Held {
    /// It never became what the attacker wanted (connect failed, or the
    /// upgrade was refused): why.
    Failed(String),
    /// The server closed it this long after it was opened, answering this
    /// (first line), if anything.
    Closed(Duration, Option<String>),
    /// Still open when the attack ended.
    Open,
}

/// Notes on a set of held connections.
fn held_notes(what: &str, held: &[Held], attack: Duration) -> Vec<String> {
    let mut failed: Vec<&str> = Vec::new();
    let mut closed_after = Vec::new();
    let mut answers: Vec<String> = Vec::new();
    let mut open = 0;
    for outcome in held {
        match outcome {
            Held::Failed(why) => failed.push(why),
            Held::Closed(after, answer) => {
                closed_after.push(after.as_secs_f64());
                answers.push(answer.clone().unwrap_or_else(|| "nothing".to_owned()));
            }
            Held::Open => open += 1,
        }
    }
    let mut notes = vec![format!(
        "{} {what} opened, {} not",
        held.len() - failed.len(),
        failed.len()
    )];
    if !failed.is_empty() {
        notes.push(format!("not opened: {}", tally(failed.iter().copied())));
    }
    if closed_after.is_empty() {
        notes.push(format!(
            "none closed by the server within {} s",
            attack.as_secs()
        ));
    } else {
        notes.push(format!(
            "{} closed by the server, {:.1} s (p50) / {:.1} s (max) after opening; answer before closing: {}",
            closed_after.len(),
            percentile(&closed_after, 0.5),
            percentile(&closed_after, 1.0),
            tally(answers.iter().map(String::as_str))
        ));
    }
    notes.push(format!("{open} still open when the attack ended"));
    notes
}

/// `a ×3, b ×1`, most frequent first.
fn tally<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(seen, _)| *seen == item) {
            Some((_, count)) => *count += 1,
            None => counts.push((item, 1)),
        }
    }
    counts.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    counts
        .iter()
        .take(4)
        .map(|(item, count)| format!("`{item}` ×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Collects every task's result; a panicked task counts as failed.
async fn join_held(mut tasks: JoinSet<Held>) -> Vec<Held> {
    let mut held = Vec::with_capacity(tasks.len());
    while let Some(outcome) = tasks.join_next().await {
        held.push(outcome.unwrap_or_else(|error| Held::Failed(error.to_string())));
    }
    held
}

// ── 1. slowloris ────────────────────────────────────────────────────────

async fn slowloris(addr: &str) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + SLOWLORIS_FOR;
    let connecting = Arc::new(Semaphore::new(RAW_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..SLOWLORIS_CONNECTIONS {
        let (addr, connecting) = (addr.to_owned(), Arc::clone(&connecting));
        tasks.spawn(async move {
            let Ok(permit) = connecting.acquire_owned().await else {
                return Held::Failed("semaphore closed".into());
            };
            let opened = Instant::now();
            let mut stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Held::Failed(error.kind().to_string()),
                Err(_) => return Held::Failed("connect timed out".into()),
            };
            let head = format!(
                "GET /parties/main/slow{} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: slowloris\r\n",
                i % 1000
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return Held::Closed(opened.elapsed(), None);
            }
            drop(permit);
            hold_raw(stream, opened, deadline, Some(SLOWLORIS_DRIBBLE)).await
        });
    }
    let held = join_held(tasks).await;
    Ok(held_notes("connections", &held, SLOWLORIS_FOR))
}

/// Holds a raw connection until the server closes it or `deadline`,
/// reading (and keeping the first line of) whatever the server sends; with
/// `dribble`, adds a header line that often.
async fn hold_raw(
    mut stream: TcpStream,
    opened: Instant,
    deadline: tokio::time::Instant,
    dribble: Option<Duration>,
) -> Held {
    let mut first_line = None;
    let mut buf = [0u8; 2048];
    let far = Duration::from_secs(3600);
    let every = dribble.unwrap_or(far);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut lines = 0u32;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Held::Closed(opened.elapsed(), first_line),
                Ok(n) => {
                    if first_line.is_none() {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        first_line = text.lines().next().map(str::to_owned);
                    }
                }
            },
            _ = tick.tick(), if dribble.is_some() => {
                lines += 1;
                if stream.write_all(format!("X-Slow-{lines}: 1\r\n").as_bytes()).await.is_err() {
                    return Held::Closed(opened.elapsed(), first_line);
                }
            }
            () = sleep_until(deadline) => return Held::Open,
        }
    }
}

// ── 2. idle joins ───────────────────────────────────────────────────────

async fn idle_joins(addr: &str) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + IDLE_FOR;
    let connecting = Arc::new(Semaphore::new(WS_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..IDLE_JOINS {
        let (addr, connecting) = (addr.to_owned(), Arc::clone(&connecting));
        tasks.spawn(async move {
            let Ok(permit) = connecting.acquire_owned().await else {
                return Held::Failed("semaphore closed".into());
            };
            let path = format!("/parties/main/idle{}?_pk=i{i}", i / IDLE_PER_ROOM);
            let opened = Instant::now();
            let stream = match timeout(CONNECT_TIMEOUT, raw_upgrade(&addr, &path)).await {
                Ok(Ok(Upgrade::Switched(stream, _))) => stream,
                Ok(Ok(Upgrade::Refused(status))) => return Held::Failed(status),
                Ok(Err(error)) => return Held::Failed(format!("{error:#}")),
                Err(_) => return Held::Failed("upgrade timed out".into()),
            };
            drop(permit);
            // Reads (peer lists, pings) but never sends a byte: no pong.
            match hold_raw(stream, opened, deadline, None).await {
                // What a WebSocket's first bytes say is binary noise.
                Held::Closed(after, _) => Held::Closed(after, None),
                other => other,
            }
        });
    }
    let held = join_held(tasks).await;
    Ok(held_notes("WebSockets (joins)", &held, IDLE_FOR))
}

// ── 3. flood ────────────────────────────────────────────────────────────

/// What one flooder did.
#[derive(Default)]
struct FlooderLog {
    connections: u64,
    failed: u64,
    frames: u64,
    /// Seconds each connection the server ended had lived.
    lifetimes: Vec<f64>,
}

/// What a well-behaved member of a flooded room saw.
struct MemberLog {
    slow: bool,
    frames: u64,
    bytes: u64,
    ended: Option<String>,
}

async fn flood(addr: &str) -> anyhow::Result<Vec<String>> {
    // The members join first and read until a second after the flood.
    let mut members = JoinSet::new();
    for room in 0..FLOOD_ROOMS {
        let url = format!("ws://{addr}/parties/main/flood{room}?_pk=m{room}&parlor=1");
        let mut ws = timeout(CONNECT_TIMEOUT, connect(url.as_str()))
            .await
            .context("member connects in time")??;
        wait_for_peer_list(&mut ws, None).await?;
        let slow = room % 2 == 1;
        members.spawn(read_as_member(ws, slow, FLOOD_FOR + Duration::from_secs(1)));
    }

    let frame = flood_frame(FLOOD_FRAME);
    let deadline = tokio::time::Instant::now() + FLOOD_FOR;
    let mut flooders = JoinSet::new();
    for room in 0..FLOOD_ROOMS {
        let (addr, frame) = (addr.to_owned(), frame.clone());
        flooders.spawn(async move {
            let mut log = FlooderLog::default();
            'connections: while tokio::time::Instant::now() < deadline {
                let url = format!(
                    "ws://{addr}/parties/main/flood{room}?_pk=f{room}n{}",
                    log.connections
                );
                log.connections += 1;
                let Ok(Ok(mut ws)) = timeout(CONNECT_TIMEOUT, connect(url.as_str())).await else {
                    log.failed += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let opened = Instant::now();
                // Never reads: sends until the server hangs up.
                loop {
                    tokio::select! {
                        sent = ws.send(Message::Text(frame.clone())) => {
                            if sent.is_err() {
                                log.lifetimes.push(opened.elapsed().as_secs_f64());
                                continue 'connections;
                            }
                            log.frames += 1;
                        }
                        () = sleep_until(deadline) => break 'connections,
                    }
                }
            }
            log
        });
    }
    let mut total = FlooderLog::default();
    while let Some(flooder) = flooders.join_next().await {
        let log = flooder?;
        total.connections += log.connections;
        total.failed += log.failed;
        total.frames += log.frames;
        total.lifetimes.extend(log.lifetimes);
    }
    let mut logs = Vec::new();
    while let Some(member) = members.join_next().await {
        logs.push(member?);
    }

    let seconds = FLOOD_FOR.as_secs_f64();
    let mut notes = vec![format!(
        "flooders: {} connections ({} failed), {} frames written ({:.0} MB/s, {:.0} per connection); \
         {} connections ended by the server, {:.1} s (p50) after opening",
        total.connections,
        total.failed,
        total.frames,
        (total.frames * FLOOD_FRAME as u64) as f64 / seconds / 1e6,
        total.frames as f64 / total.connections.max(1) as f64,
        total.lifetimes.len(),
        percentile(&total.lifetimes, 0.5),
    )];
    for slow in [false, true] {
        let group: Vec<&MemberLog> = logs.iter().filter(|log| log.slow == slow).collect();
        let received: u64 = group.iter().map(|log| log.frames).sum();
        let bytes: u64 = group.iter().map(|log| log.bytes).sum();
        let ended: Vec<&str> = group
            .iter()
            .filter_map(|log| log.ended.as_deref())
            .collect();
        notes.push(format!(
            "{} members in flooded rooms ({}): {} frames from the flooders per room ({:.2} MB/s), {} of {} disconnected{}",
            if slow { "slow" } else { "normal" },
            if slow {
                format!("{} ms per frame", SLOW_READER_PAUSE.as_millis())
            } else {
                "reading at once".to_owned()
            },
            received / group.len().max(1) as u64,
            bytes as f64 / group.len().max(1) as f64 / seconds / 1e6,
            ended.len(),
            group.len(),
            if ended.is_empty() {
                String::new()
            } else {
                format!(" ({})", tally(ended.iter().copied()))
            }
        ));
    }
    Ok(notes)
}

/// A JSON object of exactly `size` bytes.
fn flood_frame(size: usize) -> Utf8Bytes {
    let (head, tail) = (r#"{"type":"flood","pad":""#, r#""}"#);
    let pad = size.saturating_sub(head.len() + tail.len());
    Utf8Bytes::from(format!("{head}{}{tail}", "a".repeat(pad)))
}

/// Reads as a member for `duration`, counting the frames of others
/// (pausing after each one if `slow`).
async fn read_as_member(mut ws: Ws, slow: bool, duration: Duration) -> MemberLog {
    let deadline = tokio::time::Instant::now() + duration;
    let mut log = MemberLog {
        slow,
        frames: 0,
        bytes: 0,
        ended: None,
    };
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = sleep_until(deadline) => break,
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if !text.starts_with(r#"{"type":"info"#) && !text.starts_with(r#"{"type":"error"#) {
                    log.frames += 1;
                    log.bytes += text.len() as u64;
                }
                if slow {
                    tokio::time::sleep(SLOW_READER_PAUSE).await;
                }
            }
            Some(Ok(Message::Close(close))) => {
                log.ended = Some(close_reason(close));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                log.ended = Some("connection lost".to_owned());
                break;
            }
        }
    }
    log
}

// ── 4. churn ────────────────────────────────────────────────────────────

/// How the join/leave cycles of one churner went.
#[derive(Default)]
struct ChurnCount {
    joined: u64,
    full: u64,
    other: u64,
    /// Upgrades refused (or connections that failed), by status line or error.
    refused: Vec<String>,
    failed: u64,
}

async fn churn(addr: &str) -> anyhow::Result<Vec<String>> {
    let url = format!("ws://{addr}/parties/main/churn?_pk=m&parlor=1");
    let mut member = timeout(CONNECT_TIMEOUT, connect(url.as_str()))
        .await
        .context("member connects in time")??;
    wait_for_peer_list(&mut member, None).await?;
    let start = Instant::now();
    let deadline = start + CHURN_FOR;
    // The member reads through the churn (which the server's accept rate
    // stretches well past CHURN_FOR) and two seconds after it.
    let (churn_over, over) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(watch_peer_lists(member, start, over));

    let next = Arc::new(AtomicU64::new(0));
    let mut churners = JoinSet::new();
    for _ in 0..CHURNERS {
        let (addr, next) = (addr.to_owned(), Arc::clone(&next));
        churners.spawn(async move {
            let mut count = ChurnCount::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let due = start + Duration::from_secs_f64(n as f64 / CHURN_RATE);
                if due >= deadline {
                    return count;
                }
                sleep_until(tokio::time::Instant::from_std(due)).await;
                let path = format!("/parties/main/churn?_pk=c{n}");
                match timeout(CONNECT_TIMEOUT, churn_once(&addr, &path)).await {
                    Ok(Ok(Some(true))) => count.joined += 1,
                    Ok(Ok(Some(false))) => count.full += 1,
                    Ok(Ok(None)) => count.other += 1,
                    Ok(Err(Refusal(why))) => count.refused.push(why),
                    Err(_) => count.failed += 1,
                }
            }
        });
    }
    let mut total = ChurnCount::default();
    while let Some(count) = churners.join_next().await {
        let count = count?;
        total.joined += count.joined;
        total.full += count.full;
        total.other += count.other;
        total.refused.extend(count.refused);
        total.failed += count.failed;
    }
    let churned_for = start.elapsed().as_secs_f64();
    let _ = churn_over.send(());
    let lists = watcher.await?;

    let in_churn: Vec<f64> = lists
        .arrivals
        .iter()
        .copied()
        .filter(|&at| at <= CHURN_FOR.as_secs_f64())
        .collect();
    let mut per_second = vec![0u64; CHURN_FOR.as_secs() as usize + 1];
    for at in &in_churn {
        if let Some(slot) = per_second.get_mut(*at as usize) {
            *slot += 1;
        }
    }
    let busiest = per_second.iter().max().copied().unwrap_or(0);
    Ok(vec![
        format!(
            "{} join/leave cycles in {churned_for:.1} s ({:.0}/s; aimed at {CHURN_RATE:.0}/s); {} refused as room full, {} other answers, {} upgrades refused{}, {} timed out",
            total.joined,
            total.joined as f64 / churned_for,
            total.full,
            total.other,
            total.refused.len(),
            if total.refused.is_empty() {
                String::new()
            } else {
                format!(" ({})", tally(total.refused.iter().map(String::as_str)))
            },
            total.failed
        ),
        format!(
            "the member in the churned room got {} peer lists during the churn ({:.1}/s, at most {busiest} in one second); its last list named {} others (0 expected){}",
            in_churn.len(),
            in_churn.len() as f64 / CHURN_FOR.as_secs_f64(),
            lists
                .last_size
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            lists
                .ended
                .map_or_else(String::new, |why| format!("; it was disconnected: {why}"))
        ),
    ])
}

/// A refused upgrade (its status line), or a failed connection.
struct Refusal(String);

/// One join/leave cycle: upgrade, read the first frame, hang up. `Some(true)`
/// if it was a peer list (joined), `Some(false)` if it was `room-full`.
async fn churn_once(addr: &str, path: &str) -> Result<Option<bool>, Refusal> {
    let (mut stream, mut after_head) = match raw_upgrade(addr, path).await {
        Ok(Upgrade::Switched(stream, rest)) => (stream, rest),
        Ok(Upgrade::Refused(status)) => return Err(Refusal(status)),
        Err(error) => return Err(Refusal(format!("{error:#}"))),
    };
    let mut buf = [0u8; 1024];
    let first_frame = async {
        while after_head.len() < 48 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => after_head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = timeout(Duration::from_secs(2), first_frame).await;
    let seen = |needle: &[u8]| after_head.windows(needle.len()).any(|w| w == needle);
    Ok(if seen(b"info:peerlist") {
        Some(true)
    } else if seen(b"room-full") {
        Some(false)
    } else {
        None
    })
}

/// The peer lists one member received.
struct ListLog {
    /// Seconds after the start of the churn.
    arrivals: Vec<f64>,
    /// How many others the last one named.
    last_size: Option<usize>,
    ended: Option<String>,
}

async fn watch_peer_lists(
    mut ws: Ws,
    start: Instant,
    over: tokio::sync::oneshot::Receiver<()>,
) -> ListLog {
    let until = async {
        let _ = over.await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::pin!(until);
    let mut log = ListLog {
        arrivals: Vec::new(),
        last_size: None,
        ended: None,
    };
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = &mut until => break,
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if value["type"] == "info:peerlist" {
                    log.arrivals.push(start.elapsed().as_secs_f64());
                    log.last_size = value["peers"].as_array().map(Vec::len);
                }
            }
            Some(Ok(Message::Close(close))) => {
                log.ended = Some(close_reason(close));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                log.ended = Some("connection lost".to_owned());
                break;
            }
        }
    }
    log
}

// ── 5. non-readers ──────────────────────────────────────────────────────

/// What one sender of the non-reader scenario saw.
#[derive(Default)]
struct SenderLog {
    sent: u64,
    received: u64,
    errors: Vec<String>,
    ended: Option<String>,
}

async fn non_readers(addr: &str) -> anyhow::Result<Vec<String>> {
    // Join every non-reader first; each reads its first peer list, then
    // nothing more.
    let connecting = Arc::new(Semaphore::new(WS_CONCURRENCY));
    let mut joining = JoinSet::new();
    for i in 0..NON_READERS {
        let (addr, connecting) = (addr.to_owned(), Arc::clone(&connecting));
        joining.spawn(async move {
            let _permit = connecting.acquire_owned().await?;
            let room = i % NON_READER_ROOMS;
            let url = format!("ws://{addr}/parties/main/deaf{room}?_pk=d{i}&parlor=1");
            let join = async {
                let socket = TcpSocket::new_v4()?;
                socket.set_recv_buffer_size(NON_READER_RCVBUF)?;
                let stream = socket.connect(addr.parse()?).await?;
                let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream).await?;
                wait_for_peer_list(&mut ws, None).await?;
                anyhow::Ok(ws)
            };
            timeout(CONNECT_TIMEOUT, join)
                .await
                .context("joined in time")?
        });
    }
    let mut parked: Vec<WebSocketStream<TcpStream>> = Vec::with_capacity(NON_READERS);
    let mut not_joined = Vec::new();
    while let Some(joined) = joining.join_next().await {
        match joined? {
            Ok(ws) => parked.push(ws),
            Err(error) => not_joined.push(format!("{error:#}")),
        }
    }

    let deadline = tokio::time::Instant::now() + NON_READERS_FOR;
    let frame = flood_frame(SENDER_FRAME);
    let mut senders = JoinSet::new();
    for room in 0..NON_READER_ROOMS {
        for sender in 0..SENDERS_PER_ROOM {
            let (addr, frame) = (addr.to_owned(), frame.clone());
            let offset = SENDER_EVERY.mul_f64(
                (room * SENDERS_PER_ROOM + sender) as f64
                    / (NON_READER_ROOMS * SENDERS_PER_ROOM) as f64,
            );
            senders.spawn(async move {
                let mut log = SenderLog::default();
                let url = format!("ws://{addr}/parties/main/deaf{room}?_pk=s{sender}&parlor=1");
                let Ok(Ok(mut ws)) = timeout(CONNECT_TIMEOUT, connect(url.as_str())).await else {
                    log.ended = Some("could not connect".into());
                    return log;
                };
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, SENDER_EVERY);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if ws.send(Message::Text(frame.clone())).await.is_err() {
                                log.ended = Some("send failed".into());
                                break;
                            }
                            log.sent += 1;
                        }
                        incoming = ws.next() => match incoming {
                            Some(Ok(Message::Text(text))) => {
                                if text.starts_with(r#"{"type":"error"#) {
                                    let code = serde_json::from_str::<Value>(text.as_str())
                                        .ok()
                                        .and_then(|v| v["code"].as_str().map(str::to_owned));
                                    log.errors.push(code.unwrap_or_else(|| "?".into()));
                                } else if !text.starts_with(r#"{"type":"info"#) {
                                    log.received += 1;
                                }
                            }
                            Some(Ok(Message::Close(close))) => {
                                log.ended = Some(close_reason(close));
                                break;
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => {
                                log.ended = Some("connection lost".into());
                                break;
                            }
                        },
                        () = sleep_until(deadline) => break,
                    }
                }
                log
            });
        }
    }
    let mut logs = Vec::new();
    while let Some(log) = senders.join_next().await {
        logs.push(log?);
    }
    let held = parked.len();
    drop(parked);

    let sent: u64 = logs.iter().map(|log| log.sent).sum();
    let received: u64 = logs.iter().map(|log| log.received).sum();
    let errors: Vec<&str> = logs
        .iter()
        .flat_map(|log| log.errors.iter().map(String::as_str))
        .collect();
    let ended: Vec<&str> = logs.iter().filter_map(|log| log.ended.as_deref()).collect();
    let fan_out = NON_READERS / NON_READER_ROOMS + SENDERS_PER_ROOM - 1;
    let mut notes = vec![
        format!(
            "{held} non-readers joined ({} not{}), receive buffer {NON_READER_RCVBUF} B",
            not_joined.len(),
            if not_joined.is_empty() {
                String::new()
            } else {
                format!(": {}", tally(not_joined.iter().map(String::as_str)))
            }
        ),
        format!(
            "senders: {sent} frames sent ({:.1} MB/s in, each to {fan_out} members), {received} received from the other senders",
            (sent * SENDER_FRAME as u64) as f64 / NON_READERS_FOR.as_secs_f64() / 1e6
        ),
    ];
    if !errors.is_empty() {
        notes.push(format!(
            "senders got error frames: {}",
            tally(errors.iter().copied())
        ));
    }
    notes.push(format!(
        "{} of {} senders disconnected{}",
        ended.len(),
        logs.len(),
        if ended.is_empty() {
            String::new()
        } else {
            format!(" ({})", tally(ended.iter().copied()))
        }
    ));
    Ok(notes)
}

/// How the server closed a connection, for the table: "closed" and the code.
fn close_reason(close: Option<CloseFrame>) -> String {
    close.map_or_else(
        || "closed".to_owned(),
        |close| format!("closed {}", u16::from(close.code)),
    )
}
