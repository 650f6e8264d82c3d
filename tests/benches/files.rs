//! One 1 GiB file between two Parlor engines on loopback (through an
//! in-process `parlor-signal`), against Chromium↔Chromium sending the same
//! number of bytes over a data channel in chunks of the same size with the
//! same back-pressure, in one run; and the memory the transfer takes.
//!
//! `cargo bench -p parlor-e2e --bench files` (release build). Needs Debian
//! `chromium` and `chromium-driver` for the Chromium row.

#[path = "common/engine.rs"]
mod engine;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parlor_bench::{Load, Section, machine_note};
use parlor_e2e::chromium::{connected_old_pair, file_figures};
use parlor_e2e::scratch::write_random_file;
use parlor_engine::{EventKind, Room, RoomConfig, RoomLink, ServerUrl};
use parlor_protocol::CHUNK_SIZE;

const SIZE: u64 = 1024 * 1024 * 1024;
const PATIENCE: Duration = Duration::from_secs(600);
const SECTION: &str = "## Files: one 1 GiB transfer on loopback";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("parlor-files-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let source = scratch.join("one-gib.bin");
    write_random_file(&source, SIZE)?;
    let server = parlor_signal::Server::start(parlor_signal::Config {
        listen: "127.0.0.1:0".parse()?,
        ..Default::default()
    })
    .await?;
    let host = server.local_addr().to_string();
    let url: ServerUrl = server.url().parse()?;

    let load_before = Load::now();
    eprintln!("Parlor ↔ Parlor ...");
    let parlor = parlor_transfer(&url, &source, &scratch.join("inbox")).await?;
    eprintln!("{parlor:?}");
    eprintln!("Chromium ↔ Chromium ...");
    let chromium = async {
        let (a, b) = connected_old_pair(&host, "files-bench").await?;
        let rate = file_figures(&a, &b, SIZE, CHUNK_SIZE).await;
        a.browser.close().await;
        b.browser.close().await;
        rate
    }
    .await;
    server.shutdown().await;
    let machine = machine_note(&load_before, &Load::now());
    let _ = std::fs::remove_dir_all(&scratch);

    let mut section = Section::new(SECTION);
    section.paragraph(format!(
        "A file of 1 GiB of random bytes, from one engine to another through an in-process `parlor-signal` on loopback (`/send` as `parlor-peer` does, received with `--accept-files`): read from disk block by block, hashed per 1 MiB block on both sides, written to a partial file and renamed after its whole BLAKE3 matched. Chromium↔Chromium (two headless pages of the old client on the same server) sends the same number of bytes from memory in binary messages of the same {CHUNK_SIZE} bytes, held back while 8 MiB are buffered, as Parlor's sender. Hashing the file before the offer is timed apart. Memory is the process's RSS above what it held before the transfer, both engines together (so each side's is at most that)."
    ));
    section.table(&[
        "sender ↔ receiver",
        "MB/s",
        "ratio",
        "hashing before the offer",
        "peak RSS above idle",
    ]);
    let chromium_cell = match &chromium {
        Ok(rate) => format!("{rate:.1}"),
        Err(error) => format!("unavailable: {error:#}"),
    };
    let ratio = chromium.as_ref().map_or_else(
        |_| "—".to_owned(),
        |c| format!("{:.1}×", parlor.mb_per_s / c),
    );
    section.row(&[
        "Parlor ↔ Parlor".to_owned(),
        format!("{:.1}", parlor.mb_per_s),
        ratio,
        format!("{:.0} MB/s", parlor.hash_mb_per_s),
        format!("{:.0} MiB", parlor.peak_rss_mib),
    ]);
    section.row(&[
        "Chromium ↔ Chromium (from memory)".to_owned(),
        chromium_cell,
        "1×".to_owned(),
        "—".to_owned(),
        "—".to_owned(),
    ]);
    section.paragraph(
        "Goals: ≥ 3× Chromium; ≥ 80% of Parlor's raw channel throughput with 64 KiB messages in the transport bench (`cargo bench -p parlor-transport --bench pair`, run separately); under 64 MiB above idle per side.",
    );
    section.paragraph(machine);
    println!("{}", section.heading());
    let path = parlor_bench::benchmarks_md();
    section.write_into(&path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

#[derive(Debug)]
struct Figures {
    mb_per_s: f64,
    hash_mb_per_s: f64,
    peak_rss_mib: f64,
}

/// Resident memory now and at peak (VmRSS, VmHWM), in KiB.
fn memory() -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .context(format!("no {name} in /proc/self/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

async fn parlor_transfer(url: &ServerUrl, source: &Path, inbox: &Path) -> anyhow::Result<Figures> {
    let link = RoomLink::new_room(url.clone());
    let config = |accept: Option<&Path>| -> anyhow::Result<RoomConfig> {
        let mut config = engine::loopback_config(&link)?;
        config.accept_files = accept.map(Path::to_path_buf);
        Ok(config)
    };
    let ((a, mut a_events), (b, mut b_events)) =
        tokio::try_join!(Room::join(config(None)?), Room::join(config(Some(inbox))?))?;
    engine::next_event(&mut a_events, "peer-connected", PATIENCE, |k| {
        matches!(k, EventKind::PeerConnected { .. })
    })
    .await?;

    let hashing = Instant::now();
    let manifest = parlor_files::Manifest::build(&[source.to_path_buf()])?;
    let hash_mb_per_s = SIZE as f64 / hashing.elapsed().as_secs_f64() / 1e6;
    drop(manifest);

    // The peak from here on: clear_refs "5" resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (idle, _) = memory()?;
    a.send_files(vec![source.to_path_buf()], None).await?;
    let offered = Instant::now();
    let end = engine::next_event(&mut b_events, "file-received", PATIENCE, |k| {
        matches!(
            k,
            EventKind::FileReceived { .. } | EventKind::FileFailed { .. }
        )
    })
    .await?;
    if let EventKind::FileFailed { reason, .. } = end {
        bail!("the transfer failed: {reason}");
    }
    let transfer = offered.elapsed().as_secs_f64();
    let (_, peak) = memory()?;
    a.leave();
    b.leave();
    Ok(Figures {
        mb_per_s: SIZE as f64 / transfer / 1e6,
        hash_mb_per_s,
        peak_rss_mib: peak.saturating_sub(idle) as f64 / 1024.0,
    })
}
