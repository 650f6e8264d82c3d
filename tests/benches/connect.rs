//! Parlor's peer engine against Chromium, both through one in-process
//! `parlor-signal` on loopback: connect time, chat round trips and chat
//! throughput, printed as a table and written into BENCHMARKS.md.
//!
//! `cargo bench -p parlor-e2e --bench connect` (release build). Needs Debian
//! `chromium` and `chromium-driver` for the Chromium row; without them the
//! row says why and the Parlor figures are still written.

#[path = "common/engine.rs"]
mod engine;

use std::time::{Duration, Instant};

use anyhow::Context;
use parlor_bench::{Load, Section, machine_note, number, percentile};
use parlor_e2e::chromium::{Mdns, OldClient, chat_figures};
use parlor_engine::{Event, EventKind, Room, RoomLink, SendError, ServerUrl};
use tokio::sync::mpsc::UnboundedReceiver;

/// Fresh pairs whose connect time is measured (p50 reported).
const CONNECTS: usize = 20;
/// Sequential echoed pings. The engine drops a peer that sends more than
/// `MESSAGES_PER_SECOND` beyond a burst of `BURST` (parlor-session's bounds),
/// so each phase stays within one burst, with a pause between phases for
/// the budget to refill.
const PINGS: usize = 200;
/// Chat messages of `BULK_SIZE` bytes for throughput (within one burst).
const BULK_COUNT: usize = 400;
const BULK_SIZE: usize = 16 * 1024;
/// Guard against a hung step; not a performance threshold.
const PATIENCE: Duration = Duration::from_secs(60);

const SECTION: &str = "## Peer engine: connect, latency, throughput (through parlor-signal)";

#[derive(Debug, Clone, Copy)]
struct Figures {
    connect_ms: f64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
    mb_per_s: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server = parlor_signal::Server::start(parlor_signal::Config {
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let host = server.local_addr().to_string();
    let server_url: ServerUrl = server.url().parse()?;

    let load_before = Load::now();
    eprintln!("Parlor ↔ Parlor ...");
    let parlor = parlor_pair(&server_url).await?;
    eprintln!("{parlor:?}");
    eprintln!("Chromium ↔ Chromium ...");
    let chromium = chromium_pair(&host).await;
    match &chromium {
        Ok(figures) => eprintln!("{figures:?}"),
        Err(error) => eprintln!("Chromium unavailable: {error:#}"),
    }
    server.shutdown().await;
    let machine = machine_note(&load_before, &Load::now());

    let section = report(
        &parlor,
        chromium.as_ref().map_err(|e| format!("{e:#}")),
        &machine,
    );
    println!("{section}");
    let path = parlor_bench::benchmarks_md();
    section.write_into(&path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

// ── Parlor ↔ Parlor ─────────────────────────────────────────────────────────────

async fn connected(events: &mut UnboundedReceiver<Event>) -> anyhow::Result<Instant> {
    engine::next_event(events, "peer-connected", PATIENCE, |kind| {
        matches!(kind, EventKind::PeerConnected { .. })
    })
    .await?;
    Ok(Instant::now())
}

async fn leave(room: Room, mut events: UnboundedReceiver<Event>) {
    room.leave();
    let _ = engine::next_event(&mut events, "left", PATIENCE, |kind| {
        matches!(kind, EventKind::Left)
    })
    .await;
}

async fn parlor_pair(server: &ServerUrl) -> anyhow::Result<Figures> {
    let mut connects = Vec::new();
    let mut last = None;
    for run in 0..CONNECTS {
        let link = RoomLink::new_room(server.clone());
        let (a_config, b_config) = (
            engine::loopback_config(&link)?,
            engine::loopback_config(&link)?,
        );
        // Both join at the same moment. `join` returns once the server let
        // the room in; that wait is part of connecting, so the clock starts
        // before the calls, as when `join` returned at once.
        let start = Instant::now();
        let ((a, mut a_events), (b, mut b_events)) =
            tokio::try_join!(Room::join(a_config), Room::join(b_config))?;
        let (a_up, b_up) = tokio::join!(connected(&mut a_events), connected(&mut b_events));
        let end = a_up?.max(b_up?);
        connects.push(end.duration_since(start).as_secs_f64() * 1e3);
        if run + 1 < CONNECTS {
            tokio::join!(leave(a, a_events), leave(b, b_events));
        } else {
            last = Some(((a, a_events), (b, b_events)));
        }
    }
    let ((a, mut a_events), (b, b_events)) = last.context("no runs")?;

    // B echoes pings and ignores the rest; its acks are the engine's own.
    let echo = tokio::spawn(async move {
        let mut b_events = b_events;
        while let Some(event) = b_events.recv().await {
            match event.kind {
                EventKind::Message { text, .. } if text.starts_with("ping") => {
                    // It fails only once the room is left, which the stream
                    // reports next.
                    let _ = b.send(text).await;
                }
                EventKind::Left => break,
                _ => {}
            }
        }
        b.leave();
    });

    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..PINGS {
        let ping = format!("ping {i}");
        let start = Instant::now();
        a.send(ping.clone()).await?;
        engine::next_event(
            &mut a_events,
            "the echo",
            PATIENCE,
            |kind| matches!(kind, EventKind::Message { text, .. } if *text == ping),
        )
        .await?;
        rtts.push(start.elapsed().as_secs_f64() * 1e6);
    }

    // The pings spent part of each side's message budget: let it refill, so
    // the bulk phase is not cut short by the flood bound.
    let refill = PINGS as f64 / f64::from(parlor_session::MESSAGES_PER_SECOND);
    tokio::time::sleep(Duration::from_secs_f64(refill + 1.0)).await;

    // Throughput: every message sent, until every one is acknowledged.
    let text = "x".repeat(BULK_SIZE);
    let start = Instant::now();
    let mut delivered = 0;
    for _ in 0..BULK_COUNT {
        // The engine holds back a sender whose peer is 4 MiB behind with
        // its acknowledgements: wait for one, then send again.
        while let Err(error) = a.send(text.clone()).await {
            if !matches!(error, SendError::Backlogged { .. }) {
                return Err(error.into());
            }
            engine::next_event(&mut a_events, "delivered", PATIENCE, |kind| {
                matches!(kind, EventKind::Delivered { .. })
            })
            .await?;
            delivered += 1;
        }
    }
    for _ in delivered..BULK_COUNT {
        engine::next_event(&mut a_events, "delivered", PATIENCE, |kind| {
            matches!(kind, EventKind::Delivered { .. })
        })
        .await?;
    }
    let mb_per_s = (BULK_COUNT * BULK_SIZE) as f64 / start.elapsed().as_secs_f64() / 1e6;

    leave(a, a_events).await;
    let _ = tokio::time::timeout(PATIENCE, echo).await;
    Ok(Figures {
        connect_ms: percentile(&connects, 0.5),
        rtt_p50_us: percentile(&rtts, 0.5),
        rtt_p99_us: percentile(&rtts, 0.99),
        mb_per_s,
    })
}

// ── Chromium ↔ Chromium ─────────────────────────────────────────────────────────

async fn chromium_pair(host: &str) -> anyhow::Result<Figures> {
    let (a, b) = tokio::join!(OldClient::launch(Mdns::Hide), OldClient::launch(Mdns::Hide));
    let (mut a, mut b) = (a?, b?);
    let figures = drive_chromium(&mut a, &mut b, host).await;
    a.browser.close().await;
    b.browser.close().await;
    figures
}

async fn drive_chromium(
    a: &mut OldClient,
    b: &mut OldClient,
    host: &str,
) -> anyhow::Result<Figures> {
    let page = parlor_e2e::chromium::browser_file("old-client.html");
    let mut connects = Vec::new();
    for run in 0..CONNECTS {
        if run > 0 {
            a.browser.open(&page).await?;
            b.browser.open(&page).await?;
        }
        let room = format!("bench-chromium-{run}");
        // A waits alone; the pair's clock starts when B joins.
        a.start(host, &room).await?;
        a.wait_until("oldClient.connections === 1").await?;
        b.start(host, &room).await?;
        // "Connect" once A has rebuilt its connection for B's arrival: an
        // old client drops offers that come earlier and never re-sends them.
        a.wait_until("oldClient.connections === 2").await?;
        b.connect().await?;
        a.wait_open().await?;
        b.wait_open().await?;
        let joined = evaluate(&b.browser, "return oldClient.joinedAt;").await?;
        let a_open = evaluate(&a.browser, "return oldClient.openedAt;").await?;
        let b_open = evaluate(&b.browser, "return oldClient.openedAt;").await?;
        connects.push(a_open.max(b_open) - joined);
    }

    let (rtts, mb_per_s) = chat_figures(a, b, PINGS, BULK_COUNT, BULK_SIZE).await?;
    Ok(Figures {
        connect_ms: percentile(&connects, 0.5),
        rtt_p50_us: percentile(&rtts, 0.5),
        rtt_p99_us: percentile(&rtts, 0.99),
        mb_per_s,
    })
}

/// What `script` returns, as a number.
async fn evaluate(browser: &parlor_e2e::chromium::Chromium, script: &str) -> anyhow::Result<f64> {
    number(&browser.eval(script, vec![]).await?, script)
}

// ── Report ──────────────────────────────────────────────────────────────────────

fn row(section: &mut Section, name: &str, f: &Figures) {
    section.row(&[
        name.to_owned(),
        format!("{:.1} ms", f.connect_ms),
        format!("{:.0} / {:.0} µs", f.rtt_p50_us, f.rtt_p99_us),
        format!("{:.1} MB/s", f.mb_per_s),
    ]);
}

fn report(parlor: &Figures, chromium: Result<&Figures, String>, machine: &str) -> Section {
    let mut section = Section::new(SECTION);
    section.paragraph(
        "Command: `cargo bench -p parlor-e2e --bench connect` (release build; needs Debian \
         `chromium` and `chromium-driver` for the Chromium row).",
    );
    section.paragraph(format!(
        "One in-process parlor-signal on 127.0.0.1 for both pairs. Parlor: two \
         `parlor_engine::Room`s (WebRTC bound to 127.0.0.1:0, ICE servers fetched from \
         /turn, default tuning) join a fresh room at the same moment; connect = join → \
         `peer-connected` on both sides, p50 of {CONNECTS} fresh pairs (`Room::join` now \
         returns once the server let the room in; both calls are awaited together and the \
         clock starts before them, as when `join` returned at once, so the figure means \
         what it did). Chromium: two headless Chromium pages (default flags, so mDNS \
         `.local` host candidates) running the old-client test page \
         (tests/browser/old-client.js); the first waits alone in the room, connect = the \
         second page's join → channel open on both (includes the old client's /turn fetch \
         and peer-connection rebuild and a WebDriver poll before \"Connect\"), p50 of \
         {CONNECTS}. RTT: {PINGS} sequential chat messages echoed by the other side, timed \
         at the sender (Parlor: through the engine's API and event stream, each message \
         also acked; Chromium: `performance.now()`, coarsened to 100 µs). Throughput: \
         {BULK_COUNT} chat messages of {} KiB (both phases stay within the engine's flood \
         bound: a burst of 500 messages, 50 a second sustained; earlier runs used 500 pings \
         and 640 messages), Parlor: `Room::send` all, each call awaited \
         (it returns the message id once the room has taken the message; before, `send` \
         returned at once), until every `delivered` ack is back; Chromium: plain `send` \
         kept under 1 MiB buffered, until the receiver's one final reply. {machine}",
        BULK_SIZE / 1024
    ));
    section.table(&["pair", "connect p50", "RTT p50 / p99", "16 KiB chat msgs"]);
    row(&mut section, "Parlor engine ↔ Parlor engine", parlor);
    match chromium {
        Ok(chromium) => {
            row(&mut section, "Chromium ↔ Chromium (old client)", chromium);
            section.table(&[
                "ratio Parlor / Chromium",
                "connect",
                "RTT p50 / p99",
                "throughput",
            ]);
            section.row(&[
                "(connect and RTT: lower is better; throughput: higher)".to_owned(),
                format!("{:.2}×", parlor.connect_ms / chromium.connect_ms),
                format!(
                    "{:.2}× / {:.2}×",
                    parlor.rtt_p50_us / chromium.rtt_p50_us,
                    parlor.rtt_p99_us / chromium.rtt_p99_us
                ),
                format!("{:.2}×", parlor.mb_per_s / chromium.mb_per_s),
            ]);
        }
        Err(reason) => section.row(&[
            "Chromium ↔ Chromium (old client)".to_owned(),
            format!("unavailable: {reason}"),
            String::new(),
            String::new(),
        ]),
    }
    section
}
