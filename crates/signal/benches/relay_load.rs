//! Load benchmark: many concurrent clients in rooms of two on loopback,
//! relaying messages through (a) the `parlor-signal` release binary and (b)
//! the reference relay written with Node's `ws` package
//! (`bench/reference-relay/relay.js`), the same workload against both in one
//! run, with ratios.
//!
//! Run: `crates/signal/bench/run.sh` (installs the reference relay's `ws`,
//! then `cargo bench -p parlor-signal --bench relay_load`).
//!
//! Per size (connections), per server, as a separate process:
//! 1. start the server; read `listening on HOST:PORT` from its stdout;
//! 2. open all clients (rooms of two), each waiting for a peer list naming
//!    its partner; memory per idle connection is the server's RSS delta
//!    (`VmRSS` in `/proc/<pid>/status`) divided by the connections;
//! 3. each pair plays ping-pong for a fixed time with `to`-addressed
//!    messages carrying a send timestamp: `PARLOR_BENCH_IN_FLIGHT` messages
//!    in flight per pair (default 1), every receipt is a latency sample
//!    (send → delivery through the relay) and sends the next message;
//! 4. the server's CPU time over the load phase (`utime + stime` in
//!    `/proc/<pid>/stat`) divided by the messages relayed.
//!
//! Environment: `PARLOR_BENCH_SIZES` (default `100,1000,10000`),
//! `PARLOR_BENCH_SECONDS` (load phase per run, default 5),
//! `PARLOR_BENCH_IN_FLIGHT` (messages in flight per pair, default 1).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Handshakes in flight at once while opening connections.
const CONNECT_CONCURRENCY: usize = 200;

/// Bound on each wait of the setup phases.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One server under test.
struct Target {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

/// Figures of one run.
struct Figures {
    messages_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    bytes_per_connection: f64,
    /// Server CPU time (user + system) per relayed message.
    cpu_us_per_message: f64,
}

fn main() -> anyhow::Result<()> {
    // Both servers are children and inherit the raised limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    let sizes: Vec<usize> = std::env::var("PARLOR_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000".to_owned())
        .split(',')
        .map(|size| size.trim().parse().context("PARLOR_BENCH_SIZES"))
        .collect::<anyhow::Result<_>>()?;
    let seconds: u64 = std::env::var("PARLOR_BENCH_SECONDS")
        .map_or(Ok(5), |value| value.parse())
        .context("PARLOR_BENCH_SECONDS")?;
    let load = Duration::from_secs(seconds);
    let in_flight: usize = std::env::var("PARLOR_BENCH_IN_FLIGHT")
        .map_or(Ok(1), |value| value.parse())
        .context("PARLOR_BENCH_IN_FLIGHT")?;
    // Each connection costs a descriptor here and one in the server.
    if let Some(&largest) = sizes.iter().max() {
        if limit < largest as u64 + 100 {
            bail!("open-files limit {limit} is too low for {largest} connections");
        }
    }

    let relay_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference-relay");
    if !relay_dir.join("node_modules/ws").is_dir() {
        bail!(
            "the reference relay's dependencies are missing: run `npm install` in {}, or use bench/run.sh",
            relay_dir.display()
        );
    }
    let targets = [
        Target {
            name: "parlor-signal",
            program: PathBuf::from(env!("CARGO_BIN_EXE_parlor-signal")),
            // The reference relay has no limits; neither may ours here
            // (per-address limits do not apply to loopback clients anyway).
            args: [
                "--listen",
                "127.0.0.1:0",
                "--rate-limit",
                "1000000000",
                "--rate-burst",
                "1000000000",
                "--byte-rate-limit",
                "4294967295",
                "--byte-rate-burst",
                "4294967295",
                "--max-connections",
                "0",
                "--max-rooms",
                "0",
                "--peer-list-interval",
                "0",
            ]
            .map(String::from)
            .to_vec(),
        },
        Target {
            name: "node ws",
            program: PathBuf::from("node"),
            args: vec![
                relay_dir.join("relay.js").display().to_string(),
                "--listen".into(),
                "127.0.0.1:0".into(),
            ],
        },
    ];

    let runtime = tokio::runtime::Runtime::new()?;
    let mut rows = Vec::new();
    for &size in &sizes {
        let mut figures = Vec::new();
        for target in &targets {
            eprintln!("{}: {size} connections ...", target.name);
            let result = runtime.block_on(run(target, size, load, in_flight))?;
            eprintln!(
                "  {:.0} msg/s, p50 {:.0} µs, p99 {:.0} µs, {:.1} KiB/connection, {:.2} µs CPU/message",
                result.messages_per_second,
                result.p50_us,
                result.p99_us,
                result.bytes_per_connection / 1024.0,
                result.cpu_us_per_message
            );
            figures.push(result);
        }
        rows.push((size, figures));
    }
    print_table(&targets, &rows, seconds, in_flight);
    Ok(())
}

/// One server, one size: start, connect, measure memory, load, stop.
async fn run(
    target: &Target,
    size: usize,
    load: Duration,
    in_flight: usize,
) -> anyhow::Result<Figures> {
    let (mut server, addr) = spawn(target).await?;
    let pid = server.id().context("server pid")?;
    let pairs = size / 2;

    let rss_before = rss_bytes(pid)?;
    let (start_tx, start) = watch::channel(None);
    let (ready_tx, mut ready) = mpsc::channel(pairs * 2);
    let connecting = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut clients = Vec::with_capacity(pairs * 2);
    for pair in 0..pairs {
        for (me, partner, starts) in [("a", "b", true), ("b", "a", false)] {
            let client = Client {
                url: format!("ws://{addr}/parties/main/r{pair}?_pk={me}{pair}&parlor=1"),
                partner: format!("{partner}{pair}"),
                starts: if starts { in_flight } else { 0 },
            };
            let permit = Arc::clone(&connecting);
            let (ready_tx, start) = (ready_tx.clone(), start.clone());
            clients.push(tokio::spawn(async move {
                client.run(permit, ready_tx, start).await
            }));
        }
    }
    drop(ready_tx);
    for _ in 0..pairs * 2 {
        tokio::time::timeout(SETUP_TIMEOUT, ready.recv())
            .await
            .context("clients connect in time")?
            .context("a client failed to connect")?;
    }
    // Let the server finish whatever the last joins started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_bytes(pid)?;

    let cpu_before = cpu_seconds(pid)?;
    let epoch = Instant::now();
    start_tx.send_replace(Some((epoch, epoch + load)));
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await??);
    }
    let cpu = cpu_seconds(pid)? - cpu_before;
    stop(&mut server).await?;

    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(index)
            .map_or(f64::NAN, |&nanos| nanos as f64 / 1000.0)
    };
    Ok(Figures {
        messages_per_second: latencies.len() as f64 / load.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        bytes_per_connection: rss_idle.saturating_sub(rss_before) as f64 / (pairs * 2) as f64,
        cpu_us_per_message: cpu * 1e6 / latencies.len().max(1) as f64,
    })
}

/// One load-generating client.
struct Client {
    url: String,
    partner: String,
    /// How many messages this client sends first (the pair's messages in
    /// flight; 0 for the partner, which only answers).
    starts: usize,
}

impl Client {
    /// Connects, reports ready once the partner is listed, plays ping-pong
    /// from the start signal until the deadline, and returns the latencies
    /// (nanoseconds) of the messages it received.
    async fn run(
        self,
        connecting: Arc<Semaphore>,
        ready: mpsc::Sender<()>,
        mut start: watch::Receiver<Option<(Instant, Instant)>>,
    ) -> anyhow::Result<Vec<u64>> {
        let permit = connecting.acquire_owned().await?;
        let (mut ws, _) = tokio_tungstenite::connect_async(self.url.as_str())
            .await
            .with_context(|| format!("connect {}", self.url))?;
        loop {
            let frame = ws.next().await.context("closed during setup")??;
            if let Message::Text(text) = frame {
                let value: Value = serde_json::from_str(text.as_str())?;
                if value["type"] == "info:peerlist"
                    && value["peers"]
                        .as_array()
                        .is_some_and(|peers| peers.iter().any(|p| p == self.partner.as_str()))
                {
                    break;
                }
            }
        }
        drop(permit);
        ready.send(()).await?;

        // Keep reading while idle so pings are answered.
        // Timestamps count from a shared epoch, so a receiver can subtract
        // its sender's.
        let (epoch, deadline) = loop {
            tokio::select! {
                changed = start.changed() => {
                    changed?;
                    if let Some(times) = *start.borrow() {
                        break times;
                    }
                }
                frame = ws.next() => {
                    frame.context("closed while idle")??;
                }
            }
        };

        let message = |epoch: Instant| {
            let sent = Instant::now().duration_since(epoch).as_nanos() as u64;
            Message::text(json!({ "type": "bench", "to": self.partner, "t": sent }).to_string())
        };
        let mut latencies = Vec::new();
        for _ in 0..self.starts {
            ws.send(message(epoch)).await?;
        }
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame.context("closed under load")??,
                () = tokio::time::sleep_until(deadline) => break,
            };
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(text.as_str())?;
            let Some(sent) = value["t"].as_u64() else {
                continue;
            };
            let received = Instant::now().duration_since(epoch).as_nanos() as u64;
            latencies.push(received.saturating_sub(sent));
            if Instant::now() < deadline {
                ws.send(message(epoch)).await?;
            }
        }
        // Best effort: the server is stopped right after anyway.
        let _ = ws.close(None).await;
        Ok(latencies)
    }
}

/// Starts a server and reads its address from the first stdout line.
async fn spawn(target: &Target) -> anyhow::Result<(Child, String)> {
    let mut command = Command::new(&target.program);
    command.args(&target.args).env("RUST_LOG", "error");
    parlor_bench::start_listening(command, SETUP_TIMEOUT)
        .await
        .with_context(|| format!("start {}", target.program.display()))
}

/// SIGTERM, then wait.
async fn stop(server: &mut Child) -> anyhow::Result<()> {
    if let Some(pid) = server.id() {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
    }
    if tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .is_err()
    {
        server.kill().await?;
    }
    Ok(())
}

/// CPU time (user + system) a process has used, in seconds, from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; count from after it.
    let after_name = stat.rsplit_once(')').context("no command name")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields.get(index).context("short stat")?.parse::<f64>()?)
    };
    // Fields 14 and 15 of the line are 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, 100 on every Linux this runs on.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident memory of a process, from `/proc/<pid>/status`.
fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

fn print_table(targets: &[Target], rows: &[(usize, Vec<Figures>)], seconds: u64, in_flight: usize) {
    println!(
        "Rooms of two, ping-pong with `to`, {in_flight} message(s) in flight per pair, {seconds} s per run."
    );
    println!();
    println!(
        "| connections | server | messages/s | p50 latency | p99 latency | memory per idle connection | server CPU per message |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for (size, figures) in rows {
        for (target, f) in targets.iter().zip(figures) {
            println!(
                "| {size} | {} | {:.0} | {:.0} µs | {:.0} µs | {:.1} KiB | {:.2} µs |",
                target.name,
                f.messages_per_second,
                f.p50_us,
                f.p99_us,
                f.bytes_per_connection / 1024.0,
                f.cpu_us_per_message
            );
        }
        if let [ours, reference] = figures.as_slice() {
            println!(
                "| {size} | **ratio** parlor / node | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                ours.messages_per_second / reference.messages_per_second,
                ours.p50_us / reference.p50_us,
                ours.p99_us / reference.p99_us,
                ours.bytes_per_connection / reference.bytes_per_connection,
                ours.cpu_us_per_message / reference.cpu_us_per_message
            );
        }
    }
    println!();
    println!(
        "Ratios: messages/s above 1 means parlor-signal relays more; latency and memory below 1 mean parlor-signal is lower."
    );
}
