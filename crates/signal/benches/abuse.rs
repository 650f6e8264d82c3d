//! Abuse benchmark ("holding under abuse"): how `parlor-signal` holds up
//! while strangers misbehave, measured on the people who do not.
//!
//! Run: `cargo bench -p parlor-signal --bench abuse` (release build; about
//! two minutes). It is not part of the test suite.
//!
//! For each scenario, a fresh `parlor-signal` process (the binary cargo
//! builds for this bench, or `PARLOR_SIGNAL_BIN`) on 127.0.0.1 with its
//! default settings:
//! 1. 100 well-behaved pairs join, each pair in its own room, and play
//!    ping-pong for the whole run: one ping in flight per pair, sent every
//!    100 ms (or when the previous pong arrives, if later), each pong a
//!    round-trip sample. They run on a thread and runtime of their own.
//! 2. A quiet phase (5 s): the baseline latency, RSS and CPU time.
//! 3. The attack, which stops by itself; meanwhile `VmRSS` is sampled every
//!    200 ms and the gauges of `/metrics` every second.
//! 4. Three seconds of recovery: every pair must still be connected and
//!    answering.
//! 5. `/metrics` before and after the attack: every counter that changed.
//!
//! The scenarios (`abuse/scenarios.rs`): slowloris, idle joins, 64 KiB
//! frame floods, join/leave churn, clients that stop reading.
//!
//! Environment: `PARLOR_ABUSE_SCENARIOS` (comma-separated names out of
//! `slowloris,idle,flood,churn,non-readers`; BENCHMARKS.md is only rewritten
//! when all ran), `PARLOR_ABUSE_PAIRS` (100), `PARLOR_ABUSE_PING_MS` (100),
//! `PARLOR_ABUSE_QUIET_SECONDS` (5), `PARLOR_ABUSE_RSS_BOUND_MIB` (512),
//! `PARLOR_ABUSE_SERVER_ARGS` (extra server flags, space-separated),
//! `PARLOR_SIGNAL_BIN` (another server binary), `PARLOR_ABUSE_DUMP` (a
//! directory to write every round trip to, one CSV per scenario),
//! `PARLOR_ABUSE_ATTACKER=normal` (the attack generator at normal priority
//! instead of `SCHED_IDLE`).

#[path = "abuse/clients.rs"]
mod clients;
#[path = "abuse/probe.rs"]
mod probe;
#[path = "abuse/scenarios.rs"]
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parlor_bench::{Load, Section, machine_note, percentile};
use tokio::process::{Child, Command};

use crate::clients::{ClientRecord, Pairs, SETUP_TIMEOUT, nanos_since};
use crate::probe::{Peaks, cpu_seconds, status_kib};
use crate::scenarios::Scenario;

/// The section of BENCHMARKS.md this bench owns.
const SECTION: &str = "## Signaling server under abuse";

/// After the pairs joined, before the quiet phase.
const SETTLE: Duration = Duration::from_secs(1);
/// After the attack: every pair must answer again within it.
const RECOVERY: Duration = Duration::from_secs(3);
/// The part of the recovery that is given to the server before it is judged.
const RECOVERY_GRACE: Duration = Duration::from_secs(1);
/// The goal: well-behaved p99 under attack within this factor of quiet.
const P99_FACTOR: f64 = 2.0;

/// What the environment chose.
struct Settings {
    program: PathBuf,
    extra_args: Vec<String>,
    pairs: usize,
    ping_every: Duration,
    quiet: Duration,
    rss_bound_mib: f64,
    /// The attack generator's threads run at `SCHED_IDLE`
    /// (`PARLOR_ABUSE_ATTACKER=normal` for not).
    attacker_yields: bool,
    scenarios: Vec<Scenario>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
        where
            T::Err: std::error::Error + Send + Sync + 'static,
        {
            match std::env::var(name) {
                Ok(value) => value
                    .trim()
                    .parse()
                    .with_context(|| format!("{name}={value}")),
                Err(_) => Ok(default),
            }
        }
        let scenarios = match std::env::var("PARLOR_ABUSE_SCENARIOS") {
            Ok(names) => names
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    Scenario::ALL
                        .into_iter()
                        .find(|s| s.name() == name)
                        .with_context(|| format!("unknown scenario {name:?}"))
                })
                .collect::<anyhow::Result<_>>()?,
            Err(_) => Scenario::ALL.to_vec(),
        };
        Ok(Self {
            program: std::env::var_os("PARLOR_SIGNAL_BIN").map_or_else(
                || PathBuf::from(env!("CARGO_BIN_EXE_parlor-signal")),
                PathBuf::from,
            ),
            extra_args: std::env::var("PARLOR_ABUSE_SERVER_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            pairs: number("PARLOR_ABUSE_PAIRS", 100)?,
            ping_every: Duration::from_millis(number("PARLOR_ABUSE_PING_MS", 100)?),
            quiet: Duration::from_secs(number("PARLOR_ABUSE_QUIET_SECONDS", 5)?),
            rss_bound_mib: number("PARLOR_ABUSE_RSS_BOUND_MIB", 512.0)?,
            attacker_yields: std::env::var("PARLOR_ABUSE_ATTACKER").map_or(true, |v| v != "normal"),
            scenarios,
        })
    }

    /// Whether this is the full default run, the one BENCHMARKS.md shows.
    fn is_full_run(&self) -> bool {
        self.scenarios == Scenario::ALL
    }
}

/// Round-trip latency of the well-behaved pairs over one window.
#[derive(Debug, Clone, Copy)]
struct Latency {
    samples: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latency {
    /// Round trips whose ping left in `[from, to)` (nanoseconds since the epoch).
    fn of(records: &[ClientRecord], from: u64, to: u64) -> Self {
        let samples: Vec<f64> = records
            .iter()
            .flat_map(|record| &record.round_trips)
            .filter(|&&(sent, _)| sent >= from && sent < to)
            .map(|&(_, rtt)| rtt as f64 / 1e6)
            .collect();
        Self {
            samples: samples.len(),
            per_second: samples.len() as f64 / ((to - from) as f64 / 1e9),
            p50_ms: percentile(&samples, 0.50),
            p99_ms: percentile(&samples, 0.99),
            max_ms: percentile(&samples, 1.0),
        }
    }
}

/// CPU seconds the server used over a wall-clock span.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    seconds: f64,
    wall: f64,
}

impl Cpu {
    fn share(&self) -> f64 {
        self.seconds / self.wall
    }
}

/// Everything one scenario measured.
struct Outcome {
    quiet: Latency,
    attack: Latency,
    quiet_rss_kib: u64,
    peak_rss_kib: u64,
    after_rss_kib: Option<u64>,
    quiet_cpu: Cpu,
    attack_cpu: Option<Cpu>,
    /// CPU seconds this process (attackers and well-behaved pairs) used
    /// over the attack.
    generator_cpu: f64,
    refusals: Vec<(String, f64)>,
    traffic: Vec<(String, f64)>,
    peaks: Peaks,
    notes: Vec<String>,
    /// Well-behaved clients whose connection ended, and how.
    lost: Vec<String>,
    /// Error frames the well-behaved clients got.
    errors: Vec<String>,
    /// Pairs without a round trip in the recovery window.
    silent_after: usize,
    /// Pings unanswered for over a second when the pairs stopped.
    stuck: usize,
    server_up: bool,
    metrics_after: Result<(), String>,
    exit: Result<String, String>,
}

impl Outcome {
    fn p99_ok(&self) -> bool {
        self.attack.samples > 0 && self.attack.p99_ms <= P99_FACTOR * self.quiet.p99_ms
    }

    fn rss_ok(&self, bound_mib: f64) -> bool {
        self.peak_rss_kib as f64 / 1024.0 <= bound_mib
    }

    fn up(&self) -> bool {
        self.server_up && self.metrics_after.is_ok() && self.exit.is_ok()
    }

    fn isolated(&self) -> bool {
        self.lost.is_empty() && self.errors.is_empty() && self.silent_after == 0 && self.stuck == 0
    }
}

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs on CPU
/// time nothing else wants, and gives its core up at once to any other
/// thread that wakes. For the attack generator: on a real server the
/// attacker's CPU is not the server's, here it shares the same two cores
/// with the server and the well-behaved clients.
fn yield_to_others() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param`; pid 0 is the calling thread.
    let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if set != 0 {
        eprintln!(
            "the attack generator runs at normal priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    // The server is a child and inherits the raised limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    if limit < 12_000 {
        bail!("open-files limit {limit} is too low: the attacks hold over 5 000 connections");
    }
    if !settings.program.is_file() {
        bail!("no server binary at {}", settings.program.display());
    }
    let load_before = Load::now();
    let yielding = settings.attacker_yields;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            if yielding {
                yield_to_others();
            }
        })
        .build()?;
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for &scenario in &settings.scenarios {
        eprintln!("{} ...", scenario.title());
        let outcome = runtime.block_on(run(&settings, scenario));
        match &outcome {
            Ok(o) => eprintln!(
                "  p50/p99 {:.2}/{:.2} ms (quiet {:.2}/{:.2}), peak RSS {:.1} MiB, refused {:?}",
                o.attack.p50_ms,
                o.attack.p99_ms,
                o.quiet.p50_ms,
                o.quiet.p99_ms,
                o.peak_rss_kib as f64 / 1024.0,
                o.refusals
            ),
            Err(error) => eprintln!("  failed: {error:#}"),
        }
        outcomes.push((scenario, outcome));
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let machine = machine_note(&load_before, &Load::now());
    let section = report(&settings, &outcomes, &machine, minutes);
    println!("{section}");
    if settings.is_full_run() {
        let path = parlor_bench::benchmarks_md();
        section.write_into(&path)?;
        eprintln!("wrote {}", path.display());
    } else {
        eprintln!("not all scenarios ran: BENCHMARKS.md left as it is");
    }
    Ok(())
}

/// One scenario against a fresh server process.
async fn run(settings: &Settings, scenario: Scenario) -> anyhow::Result<Outcome> {
    let (mut server, addr) = spawn(settings).await?;
    let pid = server.id().context("server pid")?;
    let measured = measure(settings, scenario, &addr, pid, &mut server).await;
    let exit = stop(&mut server).await;
    let mut outcome = measured?;
    outcome.exit = exit;
    Ok(outcome)
}

async fn measure(
    settings: &Settings,
    scenario: Scenario,
    addr: &str,
    pid: u32,
    server: &mut Child,
) -> anyhow::Result<Outcome> {
    let epoch = Instant::now();
    let mut pairs = Pairs::start(addr, settings.pairs, settings.ping_every, epoch)?;
    if let Err(error) = pairs.ready().await {
        let _ = pairs.finish().await;
        return Err(error);
    }
    tokio::time::sleep(SETTLE).await;

    let quiet_from = nanos_since(epoch);
    let cpu_quiet_from = cpu_seconds(pid)?;
    tokio::time::sleep(settings.quiet).await;
    let quiet_to = nanos_since(epoch);
    let quiet_cpu = Cpu {
        seconds: cpu_seconds(pid)? - cpu_quiet_from,
        wall: (quiet_to - quiet_from) as f64 / 1e9,
    };
    let quiet_rss_kib = status_kib(pid, "VmRSS")?;
    let before = probe::scrape(addr)
        .await
        .context("/metrics before the attack")?;

    let sampler = probe::Sampler::start(pid, addr.to_owned());
    let attack_from = nanos_since(epoch);
    let cpu_attack_from = cpu_seconds(pid)?;
    let generator_from = cpu_seconds(std::process::id())?;
    let notes = scenario
        .run(addr)
        .await
        .unwrap_or_else(|error| vec![format!("the attack failed: {error:#}")]);
    let attack_to = nanos_since(epoch);
    let attack_cpu = cpu_seconds(pid).ok().map(|cpu| Cpu {
        seconds: cpu - cpu_attack_from,
        wall: (attack_to - attack_from) as f64 / 1e9,
    });
    let generator_cpu = cpu_seconds(std::process::id())? - generator_from;
    let hwm_kib = status_kib(pid, "VmHWM").unwrap_or(0);

    tokio::time::sleep(RECOVERY).await;
    let recovery_to = nanos_since(epoch);
    let peaks = sampler.finish().await;
    let after = probe::scrape(addr).await;
    let server_up = server.try_wait()?.is_none();
    let after_rss_kib = status_kib(pid, "VmRSS").ok();
    let records = pairs.finish().await?;
    let stopped_at = nanos_since(epoch);
    if let Some(dir) = std::env::var_os("PARLOR_ABUSE_DUMP") {
        dump(Path::new(&dir), scenario, &records, attack_from)?;
    }

    let (refusals, traffic) = match &after {
        Ok(after) => probe::changed_counters(&before, after),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let judged_from = attack_to + RECOVERY_GRACE.as_nanos() as u64;
    let pingers: Vec<&ClientRecord> = records.iter().filter(|record| record.pinger).collect();
    let silent_after = (0..settings.pairs)
        .filter(|&pair| {
            !pingers.iter().any(|record| {
                record.pair == pair
                    && record
                        .round_trips
                        .iter()
                        .any(|&(sent, _)| sent >= judged_from && sent < recovery_to)
            })
        })
        .count();
    let stuck = records
        .iter()
        .filter(|record| {
            record
                .outstanding
                .is_some_and(|sent| sent + 1_000_000_000 < stopped_at)
        })
        .count();
    let lost = records
        .iter()
        .filter_map(|record| {
            record.ended.as_ref().map(|(at, why)| {
                format!(
                    "pair {} at {:.1} s of the attack: {why}",
                    record.pair,
                    (*at as f64 - attack_from as f64) / 1e9
                )
            })
        })
        .collect();
    let errors = records
        .iter()
        .flat_map(|record| record.errors.iter().cloned())
        .collect();
    Ok(Outcome {
        quiet: Latency::of(&records, quiet_from, quiet_to),
        attack: Latency::of(&records, attack_from, attack_to),
        quiet_rss_kib,
        peak_rss_kib: hwm_kib.max(peaks.rss_kib),
        after_rss_kib,
        quiet_cpu,
        attack_cpu,
        generator_cpu,
        refusals,
        traffic,
        peaks,
        notes,
        lost,
        errors,
        silent_after,
        stuck,
        server_up,
        metrics_after: after.map(drop).map_err(|error| format!("{error:#}")),
        exit: Err("not stopped yet".to_owned()),
    })
}

/// Writes every round trip of a scenario to `<dir>/<scenario>.csv`: when
/// the ping left (seconds from the start of the attack; negative: quiet)
/// and the round trip (ms), to see when the slow ones happened.
fn dump(
    dir: &Path,
    scenario: Scenario,
    records: &[ClientRecord],
    attack_from: u64,
) -> anyhow::Result<()> {
    use std::fmt::Write;
    let mut csv = String::from("pair,sent_s,rtt_ms\n");
    for record in records {
        for &(sent, rtt) in &record.round_trips {
            let _ = writeln!(
                csv,
                "{},{:.4},{:.3}",
                record.pair,
                (sent as f64 - attack_from as f64) / 1e9,
                rtt as f64 / 1e6
            );
        }
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.csv", scenario.name()));
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))
}

/// Starts the server and reads its address from the first stdout line.
async fn spawn(settings: &Settings) -> anyhow::Result<(Child, String)> {
    let mut command = Command::new(&settings.program);
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(&settings.extra_args)
        .env("RUST_LOG", "error");
    parlor_bench::start_listening(command, SETUP_TIMEOUT)
        .await
        .with_context(|| format!("start {}", settings.program.display()))
}

/// SIGTERM, then wait: how the server ended, or why that was not clean.
async fn stop(server: &mut Child) -> Result<String, String> {
    let Some(pid) = server.id() else {
        return match server.try_wait() {
            Ok(Some(status)) => Err(format!("had already exited: {status}")),
            _ => Err("had already exited".to_owned()),
        };
    };
    let asked = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    match tokio::time::timeout(Duration::from_secs(10), server.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(format!(
            "exited 0 {:.1} s after SIGTERM",
            asked.elapsed().as_secs_f64()
        )),
        Ok(Ok(status)) => Err(format!("exited with {status} after SIGTERM")),
        Ok(Err(error)) => Err(format!("wait failed: {error}")),
        Err(_) => {
            let _ = server.kill().await;
            Err("still running 10 s after SIGTERM; killed".to_owned())
        }
    }
}

// ── the report ──────────────────────────────────────────────────────────

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// `1234567` → `1 234 567`.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// How the tree the server was built from stands, for the record.
fn build_note() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let changed = git(&["status", "--porcelain", "--", "src"])
                .is_some_and(|status| !status.is_empty());
            if changed {
                format!("commit {commit} with uncommitted changes in `crates/signal/src`")
            } else {
                format!("commit {commit}")
            }
        }
        None => "an unknown tree".to_owned(),
    }
}

fn report(
    settings: &Settings,
    outcomes: &[(Scenario, anyhow::Result<Outcome>)],
    machine: &str,
    minutes: f64,
) -> Section {
    let mut section = Section::new(SECTION);
    section.paragraph(format!(
        "Command: `cargo bench -p parlor-signal --bench abuse` (release build of `parlor-signal`; \
         about {minutes:.0} minutes; not part of the test suite). `PARLOR_ABUSE_SCENARIOS=flood,churn` \
         runs some of `slowloris,idle,flood,churn,non-readers` (and leaves this file alone); \
         `PARLOR_ABUSE_SERVER_ARGS` passes flags to the server, `PARLOR_SIGNAL_BIN` picks another binary, \
         `PARLOR_ABUSE_ATTACKER=normal` runs the attack generator at normal priority."
    ));
    let args = if settings.extra_args.is_empty() {
        "its default settings".to_owned()
    } else {
        format!("`{}`", settings.extra_args.join(" "))
    };
    section.paragraph(format!(
        "Method: each scenario gets a fresh `parlor-signal` process on 127.0.0.1 with {args} \
         (built from {build}). On loopback the per-address limits are off by default, so every \
         attacking connection counts as if it came from an address of its own: a distributed \
         attacker, which those limits would not stop. {pairs} well-behaved pairs, each in a room \
         of its own, play ping-pong throughout (one ping in flight per pair, every {ping} ms; a \
         sample is the round trip ping → pong through the server, timed by the pinging side) on a \
         thread and runtime of their own; the attack generator (tokio; raw TCP for the attackers \
         that never send a frame, tokio-tungstenite for the others) shares the two cores with the \
         server, {attacker}. Phases: the pairs join, {quiet} s quiet (the baseline), the attack (it stops by \
         itself and drops every connection it opened), {recovery} s of recovery. Peak RSS is the \
         server's `VmHWM` (also `VmRSS` sampled every 200 ms) from `/proc/<pid>/status`; server \
         CPU is `utime + stime` from `/proc/<pid>/stat` over the attack; \"refused / closed\" is \
         every counter of `/metrics` that changed between just before the attack and the end of \
         the recovery, other than traffic (connections, messages, bytes, peer lists sent).",
        build = build_note(),
        attacker = if settings.attacker_yields {
            "its threads at Linux's `SCHED_IDLE` priority, so that its own CPU use does not delay \
             the server or the well-behaved clients (an attacker's CPU is not on the server it \
             attacks; `PARLOR_ABUSE_ATTACKER=normal` runs it at normal priority)"
        } else {
            "its threads at normal priority (`PARLOR_ABUSE_ATTACKER=normal`; by default they run at \
             Linux's `SCHED_IDLE`)"
        },
        pairs = settings.pairs,
        ping = settings.ping_every.as_millis(),
        quiet = settings.quiet.as_secs(),
        recovery = RECOVERY.as_secs(),
    ));
    section.paragraph(format!(
        "Goal (issue \"Holding under abuse\"): under every attack the well-behaved pairs' p99 \
         stays within {P99_FACTOR}× of the quiet run; the server's peak RSS stays under \
         {bound:.0} MiB (the default 256 MiB budget for all outboxes together, plus as much \
         again for connections and the rest); nothing crashes (the server is up and answers \
         `/metrics` after the attack and exits 0 on SIGTERM); and no room is affected by another \
         room's abuser: no well-behaved client is disconnected or sent an error frame, none has a \
         ping unanswered for over a second, and every pair answers again within {grace} s of the \
         attack's end.",
        bound = settings.rss_bound_mib,
        grace = (RECOVERY - RECOVERY_GRACE).as_secs(),
    ));
    section.paragraph(machine.to_owned());

    section.table(&[
        "scenario",
        "well-behaved p50 / p99 (quiet)",
        "peak RSS (quiet; after)",
        "server CPU over the attack (quiet)",
        "refused / closed (counters)",
        "notes",
    ]);
    for (scenario, outcome) in outcomes {
        let o = match outcome {
            Ok(o) => o,
            Err(error) => {
                section.row(&[
                    scenario.title(),
                    format!("failed: {error:#}"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                continue;
            }
        };
        let latency = format!(
            "{:.2} / {:.2} ms (quiet {:.2} / {:.2} ms; p99 {:.2}×)",
            o.attack.p50_ms,
            o.attack.p99_ms,
            o.quiet.p50_ms,
            o.quiet.p99_ms,
            o.attack.p99_ms / o.quiet.p99_ms
        );
        let rss = format!(
            "{} (quiet {}; after {})",
            mib(o.peak_rss_kib),
            mib(o.quiet_rss_kib),
            o.after_rss_kib.map_or_else(|| "?".to_owned(), mib)
        );
        let cpu = match o.attack_cpu {
            Some(cpu) => format!(
                "{:.1} s in {:.1} s = {:.0}% of a core (quiet {:.0}%); generator {:.0}%",
                cpu.seconds,
                cpu.wall,
                cpu.share() * 100.0,
                o.quiet_cpu.share() * 100.0,
                o.generator_cpu / cpu.wall * 100.0
            ),
            None => "?".to_owned(),
        };
        let refused = if o.refusals.is_empty() {
            "nothing".to_owned()
        } else {
            o.refusals
                .iter()
                .map(|(name, delta)| format!("{name} +{}", grouped(*delta)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut notes = o.notes.clone();
        notes.push(format!(
            "well-behaved round trips: {:.0}/s quiet, {:.0}/s under attack, slowest {:.1} ms",
            o.quiet.per_second, o.attack.per_second, o.attack.max_ms
        ));
        let gauge = |name: &str| {
            o.peaks
                .gauges
                .get(&format!("parlor_signal_{name}"))
                .copied()
        };
        let mut peaks = Vec::new();
        if let Some(tcp) = gauge("tcp_connections") {
            peaks.push(format!("{} TCP connections", grouped(tcp)));
        }
        if let Some(open) = gauge("open_connections") {
            peaks.push(format!("{} WebSockets", grouped(open)));
        }
        if let Some(outbox) = gauge("outbox_bytes") {
            peaks.push(format!("{:.1} MiB queued in outboxes", outbox / 1048576.0));
        }
        if !peaks.is_empty() {
            notes.push(format!(
                "server peaks (sampled each second): {}",
                peaks.join(", ")
            ));
        }
        if o.peaks.failed_scrapes > 0 {
            notes.push(format!(
                "/metrics did not answer {} time(s) during the attack",
                o.peaks.failed_scrapes
            ));
        }
        if !o.traffic.is_empty() {
            notes.push(format!(
                "traffic: {}",
                o.traffic
                    .iter()
                    .map(|(name, delta)| format!("{name} +{}", grouped(*delta)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        section.row(&[
            scenario.title(),
            latency,
            rss,
            cpu,
            refused,
            notes.join("; "),
        ]);
    }

    section.table(&[
        "scenario",
        "p99 within 2× of quiet",
        "peak RSS under the bound",
        "nothing crashed",
        "other rooms unaffected",
        "goal met",
    ]);
    for (scenario, outcome) in outcomes {
        let Ok(o) = outcome else {
            section.row(&[
                scenario.name(),
                "?",
                "?",
                "?",
                "?",
                "**no** (the run failed)",
            ]);
            continue;
        };
        let up = if o.up() {
            "yes".to_owned()
        } else {
            let mut why = Vec::new();
            if !o.server_up {
                why.push("the server exited".to_owned());
            }
            if let Err(error) = &o.metrics_after {
                why.push(format!("/metrics: {error}"));
            }
            if let Err(error) = &o.exit {
                why.push(error.clone());
            }
            format!("**no**: {}", why.join("; "))
        };
        let isolated = if o.isolated() {
            "yes".to_owned()
        } else {
            let mut why = Vec::new();
            if !o.lost.is_empty() {
                why.push(format!(
                    "{} well-behaved clients disconnected (first: {})",
                    o.lost.len(),
                    o.lost[0]
                ));
            }
            if !o.errors.is_empty() {
                let mut codes = o.errors.clone();
                codes.sort();
                codes.dedup();
                why.push(format!(
                    "{} error frames to well-behaved clients ({})",
                    o.errors.len(),
                    codes.join(", ")
                ));
            }
            if o.stuck > 0 {
                why.push(format!("{} pings unanswered at the end", o.stuck));
            }
            if o.silent_after > 0 {
                why.push(format!("{} pairs silent after the attack", o.silent_after));
            }
            format!("**no**: {}", why.join("; "))
        };
        let met = o.p99_ok() && o.rss_ok(settings.rss_bound_mib) && o.up() && o.isolated();
        section.row(&[
            scenario.name().to_owned(),
            format!(
                "{} ({:.2}×)",
                yes_no(o.p99_ok()),
                o.attack.p99_ms / o.quiet.p99_ms
            ),
            format!(
                "{} ({} < {:.0} MiB)",
                yes_no(o.rss_ok(settings.rss_bound_mib)),
                mib(o.peak_rss_kib),
                settings.rss_bound_mib
            ),
            up,
            isolated,
            yes_no(met).to_owned(),
        ]);
    }
    section
}
