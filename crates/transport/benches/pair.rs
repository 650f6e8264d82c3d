//! Loopback benchmark: stock webrtc-rs, Parlor-tuned webrtc-rs and Chromium, each
//! talking to itself over 127.0.0.1.
//!
//! Run: `cargo bench -p parlor-transport --bench pair`
//!
//! Measures per pair: connect time (create_offer → channel open on both sides, p50 of
//! 20 fresh pairs), throughput on a reliable ordered channel with back-pressure (64 KiB
//! and 16 KiB messages) and round-trip time of 100-byte pings. Prints a table and
//! writes it into the "WebRTC transport (in-process pair)" section of BENCHMARKS.md.
//!
//! Chromium (the reference) runs two RTCPeerConnections in one headless page
//! (`benches/chromium_pair.html`), driven over WebDriver: needs Debian's `chromium` and
//! `chromium-driver`. Chromium gathers no 127.0.0.1 candidates (it skips loopback
//! interfaces, and finds none at all without a default route), so the bench re-runs
//! itself in a private network namespace (`unshare --net`, needs root) holding a veth
//! interface with [`CHROMIUM_ADDRESS`] and the default route: the page uses only that
//! address, which exists only inside the namespace; the kernel delivers traffic to a
//! local address over loopback, so it is the same path as 127.0.0.1. Where the
//! namespace or Chromium is missing, the Chromium row is reported as unavailable.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::BytesMut;
use parlor_bench::{Load, Section, machine_note, number, numbers, percentile};
use parlor_transport::{
    DataChannel, DataChannelEvent, PeerConnectionEventHandler, PeerTransport, RTCIceGatheringState,
    TransportConfig, Tuning, build_peer_connection,
};
use tokio::sync::mpsc;

const CONNECTS: usize = 20;
const TRANSFER_SECONDS: f64 = 3.0;
const SIZES: [usize; 2] = [64 * 1024, 16 * 1024];
const PINGS: usize = 2000;
const PING_BYTES: usize = 100;
/// Sender back-pressure, the same numbers as the Chromium page.
const HIGH_WATER: usize = 1024 * 1024;
const LOW_WATER: u32 = 256 * 1024;
/// Bound on any single wait, so a broken pair ends the bench instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);
const SECTION: &str = "## WebRTC transport (in-process pair)";
/// Set in the environment of the copy of this bench that runs inside the namespace.
const IN_NAMESPACE: &str = "PARLOR_BENCH_IN_NETNS";
/// The one non-loopback address inside the namespace, for Chromium (TEST-NET range
/// reserved for benchmarks, RFC 2544; it exists nowhere else).
const CHROMIUM_ADDRESS: &str = "198.18.0.1";
/// Exit status of the namespace setup script when it could not build the namespace.
const NAMESPACE_FAILED: i32 = 97;

#[derive(Debug, Clone)]
struct Figures {
    connect_ms: f64,
    mb_per_s: [f64; 2],
    rtt_p50_us: f64,
    rtt_p99_us: f64,
}

fn main() -> anyhow::Result<()> {
    let in_namespace = std::env::var_os(IN_NAMESPACE).is_some();
    if !in_namespace {
        match rerun_in_namespace() {
            Ok(code) if code != NAMESPACE_FAILED => std::process::exit(code),
            Ok(_) => eprintln!("could not set up a network namespace; Chromium skipped"),
            Err(error) => eprintln!("could not run unshare ({error}); Chromium skipped"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(in_namespace))
}

/// Run this same bench again inside a fresh network namespace; its exit code.
fn rerun_in_namespace() -> anyhow::Result<i32> {
    let setup = format!(
        "ip link set lo up && \
         ip link add bench0 type veth peer name bench1 && \
         ip addr add {CHROMIUM_ADDRESS}/24 dev bench0 && \
         ip link set bench0 up && ip link set bench1 up && \
         ip route add default dev bench0 || exit {NAMESPACE_FAILED}; \
         exec \"$0\" \"$@\""
    );
    let status = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &setup])
        .arg(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(IN_NAMESPACE, "1")
        .status()?;
    Ok(status.code().unwrap_or(NAMESPACE_FAILED))
}

async fn run(in_namespace: bool) -> anyhow::Result<()> {
    let load_before = Load::now();
    let buffers = parlor_transport::granted_socket_buffers()?;
    eprintln!(
        "socket buffers granted: receive {} B, send {} B → SCTP window {} B",
        buffers.receive,
        buffers.send,
        buffers.sctp_window()
    );
    eprintln!("webrtc-rs stock ↔ stock ...");
    let stock = rust_pair(Tuning::Stock).await?;
    eprintln!("Parlor tuned ↔ tuned ...");
    let tuned = rust_pair(Tuning::Fast).await?;
    eprintln!("Chromium ↔ Chromium ...");
    let chromium = match chromium_pair(in_namespace).await {
        Ok(figures) => Some(figures),
        Err(error) => {
            eprintln!("Chromium reference unavailable: {error:#}");
            None
        }
    };

    let machine = machine_note(&load_before, &Load::now());
    let report = report(&stock, &tuned, chromium.as_ref(), buffers, &machine);
    println!("{report}");
    let path = parlor_bench::benchmarks_md();
    report.write_into(&path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

// ── webrtc-rs pairs ─────────────────────────────────────────────────────────────

struct Events {
    gathered: mpsc::UnboundedSender<()>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }
}

struct Peer {
    transport: PeerTransport,
    gathered: mpsc::UnboundedReceiver<()>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
}

async fn peer(tuning: Tuning) -> anyhow::Result<Peer> {
    let (gathered_tx, gathered) = mpsc::unbounded_channel();
    let (channels_tx, channels) = mpsc::unbounded_channel();
    let transport = build_peer_connection(
        &TransportConfig::loopback(tuning),
        Arc::new(Events {
            gathered: gathered_tx,
            channels: channels_tx,
        }),
    )
    .await?;
    Ok(Peer {
        transport,
        gathered,
        channels,
    })
}

struct Connected {
    offerer: Peer,
    answerer: Peer,
    sending: Arc<dyn DataChannel>,
    receiving: Arc<dyn DataChannel>,
    elapsed: Duration,
}

/// Build two peers (untimed), then time create_offer → open on both sides.
async fn connect(tuning: Tuning) -> anyhow::Result<Connected> {
    let mut offerer = peer(tuning).await?;
    let mut answerer = peer(tuning).await?;
    let a = offerer.transport.connection().clone();
    let b = answerer.transport.connection().clone();
    let sending = a.create_data_channel("bench", None).await?;

    let start = Instant::now();
    let offer = a.create_offer(None).await?;
    a.set_local_description(offer).await?;
    within(offerer.gathered.recv()).await?;
    b.set_remote_description(a.local_description().await.context("no offer")?)
        .await?;
    let answer = b.create_answer(None).await?;
    b.set_local_description(answer).await?;
    within(answerer.gathered.recv()).await?;
    a.set_remote_description(b.local_description().await.context("no answer")?)
        .await?;
    let receiving = within(answerer.channels.recv()).await?;
    tokio::try_join!(opened(&sending), opened(&receiving))?;
    let elapsed = start.elapsed();

    // What the engine does once the channel is open.
    offerer.transport.boost().channel_open();
    answerer.transport.boost().channel_open();
    Ok(Connected {
        offerer,
        answerer,
        sending,
        receiving,
        elapsed,
    })
}

async fn close(pair: Connected) -> anyhow::Result<()> {
    pair.offerer.transport.connection().close().await?;
    pair.answerer.transport.connection().close().await?;
    Ok(())
}

async fn within<T>(future: impl std::future::Future<Output = Option<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(PATIENCE, future)
        .await
        .map_err(|_| anyhow!("timed out"))?
        .ok_or_else(|| anyhow!("sender dropped"))
}

async fn opened(channel: &Arc<dyn DataChannel>) -> anyhow::Result<()> {
    loop {
        match within(channel.poll()).await? {
            DataChannelEvent::OnOpen => return Ok(()),
            DataChannelEvent::OnClose | DataChannelEvent::OnError => bail!("channel closed"),
            _ => {}
        }
    }
}

async fn rust_pair(tuning: Tuning) -> anyhow::Result<Figures> {
    let mut connects = Vec::with_capacity(CONNECTS);
    for _ in 0..CONNECTS {
        let pair = connect(tuning).await?;
        connects.push(pair.elapsed.as_secs_f64() * 1e3);
        close(pair).await?;
    }

    let pair = connect(tuning).await?;
    // The receiving side counts bulk bytes and echoes pings, like the Chromium page.
    let received = Arc::new(AtomicU64::new(0));
    let receiver = tokio::spawn(receive(pair.receiving.clone(), received.clone()));
    pair.sending
        .set_buffered_amount_low_threshold(LOW_WATER)
        .await?;

    let mut mb_per_s = [0.0; 2];
    for (slot, size) in mb_per_s.iter_mut().zip(SIZES) {
        *slot = transfer(&pair.sending, &received, size).await? / 1e6;
    }
    let rtts = round_trips(&pair.sending).await?;
    receiver.abort();
    close(pair).await?;

    Ok(Figures {
        connect_ms: percentile(&connects, 0.5),
        mb_per_s,
        rtt_p50_us: percentile(&rtts, 0.5),
        rtt_p99_us: percentile(&rtts, 0.99),
    })
}

async fn receive(channel: Arc<dyn DataChannel>, received: Arc<AtomicU64>) -> anyhow::Result<()> {
    while let Some(event) = channel.poll().await {
        if let DataChannelEvent::OnMessage(message) = event {
            if message.data.len() <= PING_BYTES {
                channel.send(message.data).await?;
            } else {
                received.fetch_add(message.data.len() as u64, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Bytes per second the receiver counted while the sender kept the channel full.
async fn transfer(
    channel: &Arc<dyn DataChannel>,
    received: &AtomicU64,
    size: usize,
) -> anyhow::Result<f64> {
    let message = BytesMut::from(&vec![0u8; size][..]);
    let before = received.load(Ordering::Relaxed);
    let mut sent = 0u64;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(TRANSFER_SECONDS);
    while Instant::now() < end {
        while channel.outstanding_bytes().await? < HIGH_WATER {
            channel.send(message.clone()).await?;
            sent += size as u64;
        }
        loop {
            match within(channel.poll()).await? {
                DataChannelEvent::OnBufferedAmountLow => break,
                DataChannelEvent::OnClose | DataChannelEvent::OnError => bail!("channel closed"),
                _ => {}
            }
        }
    }
    let rate = (received.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64();
    // Drain before the next phase, so its count starts clean.
    let deadline = Instant::now() + PATIENCE;
    while received.load(Ordering::Relaxed) - before < sent {
        if Instant::now() > deadline {
            bail!("transfer did not drain");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(rate)
}

/// Round-trip times in microseconds.
async fn round_trips(channel: &Arc<dyn DataChannel>) -> anyhow::Result<Vec<f64>> {
    let ping = BytesMut::from(&[0u8; PING_BYTES][..]);
    let mut times = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let start = Instant::now();
        channel.send(ping.clone()).await?;
        loop {
            match within(channel.poll()).await? {
                DataChannelEvent::OnMessage(_) => break,
                DataChannelEvent::OnClose | DataChannelEvent::OnError => bail!("channel closed"),
                _ => {}
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}

// ── Chromium ────────────────────────────────────────────────────────────────────

/// chromedriver in its own process group, killed as a group (it starts Chromium as
/// its child) when dropped.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn chromium_pair(in_namespace: bool) -> anyhow::Result<Figures> {
    use std::os::unix::process::CommandExt;

    if !in_namespace {
        bail!("needs the private network namespace (run as root)");
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let profile = std::env::temp_dir().join(format!(
        "parlor-bench-chromium-{}-{}",
        std::process::id(),
        port
    ));
    std::fs::create_dir_all(&profile)?;
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting chromedriver (apt-get install chromium chromium-driver)")?;
    let driver = Driver { child, profile };

    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", driver.profile.display()),
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut client = None;
    for _ in 0..100 {
        match fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities.clone())
        .connect(&url)
        .await
        {
            Ok(connected) => {
                client = Some(connected);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let client = client.context("chromedriver did not accept a session")?;
    let figures = drive_page(&client).await;
    let _ = client.close().await;
    drop(driver);
    figures
}

async fn drive_page(client: &fantoccini::Client) -> anyhow::Result<Figures> {
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(120)),
            None,
            None,
        ))
        .await?;
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/chromium_pair.html");
    client
        .goto(&format!("file://{}", page.canonicalize()?.display()))
        .await?;

    let connects = numbers(
        &client
            .execute(
                &format!("return connectTimes({CONNECTS}, \"{CHROMIUM_ADDRESS}\");"),
                vec![],
            )
            .await?,
    )?;
    let mut mb_per_s = [0.0; 2];
    for (slot, size) in mb_per_s.iter_mut().zip(SIZES) {
        let rate = client
            .execute(
                &format!("return throughput({size}, {TRANSFER_SECONDS});"),
                vec![],
            )
            .await?;
        *slot = number(&rate, "throughput")? / 1e6;
    }
    let rtts = numbers(
        &client
            .execute(
                &format!("return roundTrips({PINGS}, {PING_BYTES});"),
                vec![],
            )
            .await?,
    )?;
    Ok(Figures {
        connect_ms: percentile(&connects, 0.5),
        mb_per_s,
        rtt_p50_us: percentile(&rtts, 0.5),
        rtt_p99_us: percentile(&rtts, 0.99),
    })
}

// ── Report ──────────────────────────────────────────────────────────────────────

fn row(section: &mut Section, name: &str, f: &Figures) {
    section.row(&[
        name.to_owned(),
        format!("{:.1} ms", f.connect_ms),
        format!("{:.0} MB/s", f.mb_per_s[0]),
        format!("{:.0} MB/s", f.mb_per_s[1]),
        format!("{:.0} / {:.0} µs", f.rtt_p50_us, f.rtt_p99_us),
    ]);
}

/// Ratios of `a` to `b` where higher is better for `a` in every column: connect time
/// and RTT as b/a (speed-up), throughput as a/b.
fn ratio_row(section: &mut Section, name: &str, a: &Figures, b: &Figures) {
    section.row(&[
        name.to_owned(),
        format!("{:.2}× faster", b.connect_ms / a.connect_ms),
        format!("{:.2}×", a.mb_per_s[0] / b.mb_per_s[0]),
        format!("{:.2}×", a.mb_per_s[1] / b.mb_per_s[1]),
        format!(
            "{:.2}× / {:.2}×",
            b.rtt_p50_us / a.rtt_p50_us,
            b.rtt_p99_us / a.rtt_p99_us
        ),
    ]);
}

fn report(
    stock: &Figures,
    tuned: &Figures,
    chromium: Option<&Figures>,
    buffers: parlor_transport::SocketBuffers,
    machine: &str,
) -> Section {
    let mut section = Section::new(SECTION);
    section.paragraph(
        "Command: `cargo bench -p parlor-transport --bench pair` (release build; needs \
         Debian `chromium` and `chromium-driver` for the reference row).",
    );
    section.paragraph(format!(
        "Two peers in one process on 127.0.0.1 (Chromium: on {CHROMIUM_ADDRESS}, a veth \
         address in a private network namespace, since Chromium gathers no loopback \
         candidates; local delivery is the same loopback path). Connect: create_offer → \
         channel open on both sides, p50 of {CONNECTS} fresh pairs; webrtc-rs exchanges \
         complete descriptions (host-only gathering is instant), Chromium trickles \
         candidates in-page, its fastest way. \
         Throughput: reliable ordered channel, sender kept between {} KiB and {} KiB \
         buffered, {TRANSFER_SECONDS} s per size, counted at the receiver. RTT: \
         {PINGS} pings of {PING_BYTES} B echoed by the peer (Chromium's \
         performance.now() is coarsened to ~100 µs). Socket buffers granted here: \
         receive {} B, send {} B → tuned SCTP window {} B. {machine}",
        LOW_WATER / 1024,
        HIGH_WATER / 1024,
        buffers.receive,
        buffers.send,
        buffers.sctp_window(),
    ));
    section.table(&[
        "pair",
        "connect p50",
        "64 KiB msgs",
        "16 KiB msgs",
        "RTT p50 / p99",
    ]);
    row(&mut section, "webrtc-rs stock ↔ stock", stock);
    row(&mut section, "Parlor tuned ↔ tuned", tuned);
    match chromium {
        Some(chromium) => row(&mut section, "Chromium ↔ Chromium", chromium),
        None => section.row(&["Chromium ↔ Chromium", "unavailable", "", "", ""]),
    }
    section.table(&[
        "ratio",
        "connect",
        "64 KiB msgs",
        "16 KiB msgs",
        "RTT p50 / p99",
    ]);
    ratio_row(&mut section, "tuned / stock", tuned, stock);
    if let Some(chromium) = chromium {
        ratio_row(&mut section, "tuned / Chromium", tuned, chromium);
    }
    section
}
