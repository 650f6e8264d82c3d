//! What keeping messages on disk costs: chat through two engines with the
//! store in a file (as the app and `parlor-peer --store` run) against the
//! store in memory (nothing kept past the process), in the same run; and
//! how long a room with 100 000 messages of history takes to open.
//!
//! `cargo bench -p parlor-e2e --bench store` (release build).

#[path = "common/engine.rs"]
mod engine;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parlor_bench::{Load, Section, machine_note, percentile};
use parlor_engine::{EventKind, Room, RoomConfig, RoomLink, ServerUrl, Store};
use parlor_store::NewMessage;

/// Messages per trial: within the receiver's flood burst
/// (`parlor_session::BURST`), so no trial is cut short by it.
const MESSAGES: usize = 400;
/// Trials per mode and pace (a fresh pair each, so every trial starts
/// with a full flood budget).
const TRIALS: usize = 5;
/// The offered load of the paced trials.
const PACE: Duration = Duration::from_millis(1);
/// Messages in the history of the room opened.
const HISTORY: usize = 100_000;
/// Messages on a page of history (what the window shows first).
const PAGE: usize = 200;
const PATIENCE: Duration = Duration::from_secs(60);

const SECTION: &str = "## Message store: cost on the chat path, opening a long history";

#[derive(Debug, Clone, Copy)]
struct Trial {
    /// Messages per second, first send to last acknowledgement.
    rate: f64,
    /// Process CPU (both engines, the server, the store) per message.
    cpu_us: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("parlor-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let server = parlor_signal::Server::start(parlor_signal::Config {
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let url: ServerUrl = server.url().parse()?;

    let load_before = Load::now();
    let mut rows = Vec::new();
    for (pace, pace_name) in [
        (Some(PACE), "1 000/s offered"),
        (None, "as fast as acknowledged"),
    ] {
        for on_disk in [false, true] {
            let mut trials = Vec::new();
            for trial in 0..TRIALS {
                let stores = if on_disk {
                    let a = Store::open(&scratch.join(format!("a-{trial}.db")))?;
                    let b = Store::open(&scratch.join(format!("b-{trial}.db")))?;
                    (Some(a), Some(b))
                } else {
                    (None, None)
                };
                trials.push(chat(&url, stores, pace).await?);
            }
            let rate: Vec<f64> = trials.iter().map(|t| t.rate).collect();
            let cpu: Vec<f64> = trials.iter().map(|t| t.cpu_us).collect();
            let mode = if on_disk { "file (WAL)" } else { "memory" };
            eprintln!("{pace_name}, {mode}: {trials:?}");
            rows.push((
                pace_name,
                mode,
                percentile(&rate, 0.5),
                percentile(&cpu, 0.5),
            ));
        }
    }
    server.shutdown().await;

    eprintln!("writing {HISTORY} messages of history ...");
    let history_file = scratch.join("history.db");
    let (open_ms, page_ms) = open_history(&history_file)?;
    let machine = machine_note(&load_before, &Load::now());
    let _ = std::fs::remove_dir_all(&scratch);

    let mut section = Section::new(SECTION);
    section.paragraph(format!(
        "Two engines in one process chat through an in-process `parlor-signal` on loopback: {MESSAGES} messages of 32 bytes per trial, a fresh pair per trial, median of {TRIALS}. \"file\" is the store the app and `parlor-peer --store` use (SQLite, WAL, one transaction per state change: the sent message, each recipient's state, the received message before its acknowledgement); \"memory\" is the same store in memory, what a room without a profile uses. CPU is the whole process's (both engines, server, store) per message, from getrusage."
    ));
    section.table(&[
        "load",
        "store",
        "messages/s",
        "CPU µs per message",
        "cost vs memory",
    ]);
    for (pace, mode, rate, cpu) in &rows {
        let memory = rows
            .iter()
            .find(|(p, m, _, _)| p == pace && *m == "memory")
            .map_or(*cpu, |row| row.3);
        let cost = if *mode == "memory" {
            "—".to_owned()
        } else {
            format!("{:+.0}% CPU", (cpu / memory - 1.0) * 100.0)
        };
        section.row(&[
            (*pace).to_owned(),
            (*mode).to_owned(),
            format!("{rate:.0}"),
            format!("{cpu:.0}"),
            cost,
        ]);
    }
    section.paragraph(
        "The goal was a store that costs under 10% at 1 000 messages/s. The rate is the same with the file as without, but the CPU is not: each message costs three SQLite transactions (ours written before it goes out, its acknowledgement, the receiver's copy before it acknowledges), each an append of a few 4 KiB pages to the write-ahead log, and a checkpoint with an fsync every thousand pages. Writing what one turn of a peer's event loop produced in one transaction (acknowledgements sent after it commits) is the way down.",
    );
    section.paragraph(format!(
        "Opening a room with {HISTORY} messages of history (median of 10): opening the store file, as the app does once at start (with SQLite's `quick_check` over the whole file, so damage is found before anything is written) {open_ms:.1} ms; reading the last page ({PAGE} messages with their recipients), what the window shows first, {page_ms:.2} ms."
    ));
    section.paragraph(machine);
    println!("{}", section.heading());
    let path = parlor_bench::benchmarks_md();
    section.write_into(&path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn config(link: &RoomLink, store: Option<Store>) -> anyhow::Result<RoomConfig> {
    let mut config = engine::loopback_config(link)?;
    config.store = store;
    Ok(config)
}

/// One trial: a fresh pair, `MESSAGES` sent (at `pace`, or back to back),
/// timed until the last is acknowledged.
async fn chat(
    url: &ServerUrl,
    (a_store, b_store): (Option<Store>, Option<Store>),
    pace: Option<Duration>,
) -> anyhow::Result<Trial> {
    let link = RoomLink::new_room(url.clone());
    let ((a, mut a_events), (b, b_events)) = tokio::try_join!(
        Room::join(config(&link, a_store)?),
        Room::join(config(&link, b_store)?)
    )?;
    engine::next_event(&mut a_events, "peer-connected", PATIENCE, |kind| {
        matches!(kind, EventKind::PeerConnected { .. })
    })
    .await?;
    // B only has to keep its event stream drained.
    let drain = tokio::spawn(async move {
        let mut b_events = b_events;
        while b_events.recv().await.is_some() {}
    });

    let cpu_before = cpu_time()?;
    let start = Instant::now();
    let mut ticks = pace.map(tokio::time::interval);
    for n in 0..MESSAGES {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
        }
        a.send(format!("message {n:>24}"))
            .await
            .context("sending")?;
    }
    let mut delivered = 0;
    while delivered < MESSAGES {
        engine::next_event(&mut a_events, "delivered", PATIENCE, |kind| {
            matches!(kind, EventKind::Delivered { .. })
        })
        .await?;
        delivered += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_time()? - cpu_before;

    a.leave();
    b.leave();
    let _ = engine::next_event(&mut a_events, "left", PATIENCE, |kind| {
        matches!(kind, EventKind::Left)
    })
    .await;
    drain.abort();
    Ok(Trial {
        rate: MESSAGES as f64 / elapsed,
        cpu_us: cpu.as_secs_f64() * 1e6 / MESSAGES as f64,
    })
}

/// User and system CPU time of this process so far.
fn cpu_time() -> anyhow::Result<Duration> {
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        bail!("getrusage failed");
    }
    let micros = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Writes `HISTORY` messages into a store, then times opening it and
/// reading its last page (medians of 10, in milliseconds).
fn open_history(file: &Path) -> anyhow::Result<(f64, f64)> {
    let room = "parlor://join/bench?server=ws%3A%2F%2F127.0.0.1%3A1999";
    {
        let store = Store::open(file)?;
        let peer = "ab:cd";
        for n in 0..HISTORY {
            let id = format!("m{n}");
            let text = format!("message number {n} of the long history");
            let ours = n % 2 == 0;
            let message = NewMessage {
                room,
                id: Some(&id),
                sender: if ours { "me" } else { peer },
                sender_name: None,
                text: &text,
                at_ms: 1_700_000_000_000 + n as u64,
            };
            if ours {
                store.add_outgoing(&message, &[peer.to_owned()])?;
            } else {
                store.add_incoming(&message)?;
            }
        }
    }
    let mut opens = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let store = Store::open(file)?;
        opens.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let page = store.history(room, None, PAGE)?;
        pages.push(start.elapsed().as_secs_f64() * 1e3);
        if page.len() != PAGE {
            bail!("the last page has {} messages, not {PAGE}", page.len());
        }
    }
    Ok((percentile(&opens, 0.5), percentile(&pages, 0.5)))
}
