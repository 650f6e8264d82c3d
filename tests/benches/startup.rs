//! Startup and memory of the app: time from launch to a visible window and
//! to an interactive start view, and the memory of the app with its WebKit
//! processes, idle and in 5 rooms of 3 peers each; measured beside the
//! smallest Tauri 2 window (`tests/benches/minimal-window`), built in the
//! same `cargo build`.
//!
//! ```sh
//! cargo build --release --bins && \
//!   xvfb-run -a --server-args="-screen 0 1280x800x24" \
//!   cargo bench -p parlor-e2e --bench startup
//! ```
//!
//! The bench builds nothing itself: it runs the release binaries
//! (`parlor`, `minimal-window`, `parlor-peer`, `parlor-signal`) the first
//! command built, in `$CARGO_TARGET_DIR/release` (`target/release` without
//! it). `PARLOR_BENCH_PROFILE=debug` runs the debug ones instead (after
//! `cargo build --bins`); `PARLOR_BENCH_LAUNCHES=2` makes a quick try of
//! it (its figures still go into `BENCHMARKS.md`). Needs an X display,
//! `tauri-driver` (scripts/setup.sh installs it) and libX11 (there wherever
//! the app builds). About 3 minutes.
//!
//! - **Launch**: each app is started directly (no WebDriver), as a person
//!   would, with a fresh profile and fresh XDG directories each time, one
//!   untimed warm-up launch each, then [`LAUNCHES`] of each, alternating.
//!   Visible: spawn → X reports the app's top-level window mapped (see
//!   `common/x11.rs`). Interactive: spawn → the app's line on stderr:
//!   `start view interactive` (Parlor, `parlor_app::startup` at INFO, logged
//!   when the page has built its start view), `minimal-window: page
//!   interactive` (the reference, printed when its page has loaded and
//!   called the app). Idle memory: [`SETTLE`] after interactive, RSS and PSS
//!   (`/proc/<pid>/smaps_rollup`) summed over the app and every process it
//!   started.
//! - **5 rooms**: a `parlor-signal` on loopback, [`ROOMS`] rooms each made by
//!   a `parlor-peer` and joined by a second, then the app, launched under
//!   `tauri-driver` (as the window tests run it), joins every room through
//!   its window (or, where the window offers no way, the `join_room`
//!   command); once both peers of every room have the app connected, the
//!   peers and the app exchange messages, and after [`SETTLE`] the app's
//!   tree is measured (the app and its WebKit processes; not tauri-driver or
//!   WebKitWebDriver, which are its parents). The app idle under WebDriver,
//!   before the first join, is measured too, so the rooms' cost is the
//!   difference of two figures taken the same way.
//!
//! Output: a table on stdout, and its section in `BENCHMARKS.md`.

#[path = "common/x11.rs"]
mod x11;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parlor_bench::{Load, Section, machine_note, percentile};
use parlor_e2e::app::AppWindow;
use parlor_e2e::memory::TreeMemory;
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::signal::SignalProcess;
use serde_json::{Value, json};

const SECTION: &str = "## Startup: time to a window, memory idle and in 5 rooms";
/// Timed launches of each app (`PARLOR_BENCH_LAUNCHES` changes it, for a
/// quick try).
const LAUNCHES: usize = 10;
/// How long an app is left alone before its memory is read.
const SETTLE: Duration = Duration::from_secs(3);
/// Rooms the app holds at once in the busy measurement.
const ROOMS: usize = 5;
/// Messages each peer says in its room (and the app in the room it shows).
const MESSAGES: usize = 2;
/// How long a window may take to appear before the launch counts as failed.
const VISIBLE_LIMIT: Duration = Duration::from_secs(20);
/// How long after spawn the interactive line may take, once an app has shown
/// that it prints one.
const INTERACTIVE_LIMIT: Duration = Duration::from_secs(20);
/// How long to wait for an interactive line an app has never printed yet.
const UNSEEN_LIMIT: Duration = Duration::from_secs(4);
/// How long a join through the window may take before the command is used.
const JOIN_THROUGH_WINDOW_LIMIT: Duration = Duration::from_secs(40);

/// The issue's goals.
const VISIBLE_GOAL: Duration = Duration::from_millis(500);
const ROOMS_RSS_GOAL_MIB: f64 = 300.0;

/// Parlor's log line when its start view is built (target `parlor_app::startup`).
const PARLOR_INTERACTIVE: &str = "start view interactive";
/// The reference's line when its page has loaded and called it.
const REFERENCE_INTERACTIVE: &str = "minimal-window: page interactive";

fn main() -> anyhow::Result<()> {
    let profile = std::env::var("PARLOR_BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    if profile != "release" && profile != "debug" {
        bail!("PARLOR_BENCH_PROFILE is release or debug, not {profile:?}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bins = target.join(&profile);
    for name in ["parlor", "minimal-window", "parlor-peer", "parlor-signal"] {
        if !bins.join(name).is_file() {
            bail!(
                "{} is missing: build the binaries first (cargo build{} --bins)",
                bins.join(name).display(),
                if profile == "release" {
                    " --release"
                } else {
                    ""
                }
            );
        }
    }
    if std::env::var_os("DISPLAY").is_none() {
        bail!("needs an X display: run it under xvfb-run -a");
    }
    let scratch = std::env::temp_dir().join(format!("parlor-startup-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    if profile == "release" {
        // The test support finds `parlor`, `parlor-peer` and `parlor-signal`
        // in `$CARGO_TARGET_DIR/debug`: point it at a directory whose
        // `debug` is the release directory, so the WebDriver part runs the
        // same binaries as the launches.
        let shim = scratch.join("target");
        std::fs::create_dir_all(&shim)?;
        std::os::unix::fs::symlink(std::fs::canonicalize(&bins)?, shim.join("debug"))?;
        // SAFETY: nothing else runs yet (no thread has been started), so
        // nothing reads the environment while it changes.
        unsafe { std::env::set_var("CARGO_TARGET_DIR", &shim) };
    }
    if std::env::var_os("RUST_LOG").is_none() {
        // The server and the peers of the rooms part log at INFO and WARN
        // by default; the bench's own progress is easier to follow without.
        // SAFETY: as above, still no other thread.
        unsafe { std::env::set_var("RUST_LOG", "error") };
    }

    let load_before = Load::now();
    let parlor = Subject {
        name: "Parlor",
        binary: bins.join("parlor"),
        marker: PARLOR_INTERACTIVE,
        with_profile: true,
    };
    let reference = Subject {
        name: "minimal-window",
        binary: bins.join("minimal-window"),
        marker: REFERENCE_INTERACTIVE,
        with_profile: false,
    };
    let mut watcher = x11::MapWatcher::open()?;
    let mut parlor_runs = Runs::default();
    let mut reference_runs = Runs::default();
    let launches = match std::env::var("PARLOR_BENCH_LAUNCHES") {
        Ok(n) => n.parse().context("PARLOR_BENCH_LAUNCHES")?,
        Err(_) => LAUNCHES,
    };
    for round in 0..=launches {
        let warm_up = round == 0;
        for (subject, runs) in [
            (&parlor, &mut parlor_runs),
            (&reference, &mut reference_runs),
        ] {
            // A launch that fails counts as one without figures (the table
            // says how many had them), so one bad launch spoils no run.
            let launch =
                launch_once(subject, &mut watcher, runs, &scratch).unwrap_or_else(|error| {
                    eprintln!("{}: launch failed: {error:#}", subject.name);
                    Launch {
                        visible: None,
                        interactive: None,
                        memory: None,
                    }
                });
            eprintln!(
                "{}{}: visible {}, interactive {}, idle {}",
                subject.name,
                if warm_up { " (warm-up)" } else { "" },
                ms(launch.visible),
                ms(launch.interactive),
                launch.memory.as_ref().map_or_else(
                    || "—".to_owned(),
                    |m| format!(
                        "{:.0} / {:.0} MiB ({})",
                        m.rss_mib(),
                        m.pss_mib(),
                        m.breakdown()
                    )
                ),
            );
            runs.attempted += 1;
            if launch.interactive.is_some() {
                runs.prints_marker = true;
            }
            if warm_up {
                runs.warm_up = Some(launch);
            } else {
                runs.launches.push(launch);
            }
        }
    }
    drop(watcher);

    eprintln!("Parlor in {ROOMS} rooms ...");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The peer helpers panic when a peer does not do what is expected: run
    // the part in a task so that a failure still leaves the launch figures.
    let rooms = runtime
        .block_on(async { tokio::spawn(in_rooms()).await })
        .map_err(|error| anyhow::anyhow!("the rooms part failed: {error}"))
        .and_then(|outcome| outcome);
    if let Err(error) = &rooms {
        eprintln!("{error:#}");
    }
    drop(runtime);
    let machine = machine_note(&load_before, &Load::now());
    let _ = std::fs::remove_dir_all(&scratch);

    let section = report(&profile, &parlor_runs, &reference_runs, &rooms, &machine);
    println!("{section}");
    let path = parlor_bench::benchmarks_md();
    section.write_into(&path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// An app the launches measure.
struct Subject {
    name: &'static str,
    binary: PathBuf,
    /// The stderr line that says the app is interactive.
    marker: &'static str,
    /// Parlor: `--profile DIR` (separate settings, no single-instance
    /// hand-over) and the loopback switches the window tests use.
    with_profile: bool,
}

/// One launch's figures.
#[derive(Debug)]
struct Launch {
    visible: Option<Duration>,
    interactive: Option<Duration>,
    memory: Option<TreeMemory>,
}

/// The launches of one app.
#[derive(Default)]
struct Runs {
    launches: Vec<Launch>,
    /// The untimed first launch.
    warm_up: Option<Launch>,
    /// Launches so far, the warm-up included.
    attempted: usize,
    /// Whether any launch so far printed its interactive line.
    prints_marker: bool,
}

/// Starts `subject` with a fresh profile, times its window and its
/// interactive line, reads its tree's memory [`SETTLE`] after, and ends it.
fn launch_once(
    subject: &Subject,
    watcher: &mut x11::MapWatcher,
    runs: &Runs,
    scratch: &Path,
) -> anyhow::Result<Launch> {
    let home = scratch.join(format!("{}-{}", subject.name, runs.attempted));
    let _ = std::fs::remove_dir_all(&home);
    for dir in ["profile", "config", "data", "cache", "downloads"] {
        std::fs::create_dir_all(home.join(dir))?;
    }
    let mut command = Command::new(&subject.binary);
    command
        .env_remove("PARLOR_PROFILE")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("RUST_LOG", "warn,parlor_app=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group: ending it ends the WebKit processes it started.
        .process_group(0);
    if subject.with_profile {
        command
            .arg("--profile")
            .arg(home.join("profile"))
            .env("PARLOR_BIND", "127.0.0.1:0")
            .env("PARLOR_EMBEDDED_HOST", "127.0.0.1")
            .env("PARLOR_DOWNLOAD_DIR", home.join("downloads"));
    }
    watcher.drain();
    let start = Instant::now();
    let mut child = command.spawn().context("spawning")?;
    let pid = child.id();
    let stderr = read_stderr(&mut child, subject.marker)?;

    let result = (|| {
        let visible = watcher
            .wait_mapped(pid, start + VISIBLE_LIMIT)
            .map(|at| at - start);
        let limit = if runs.prints_marker || runs.attempted == 0 {
            INTERACTIVE_LIMIT
        } else {
            UNSEEN_LIMIT
        };
        let interactive = stderr
            .marker_seen
            .recv_timeout(limit.saturating_sub(start.elapsed()))
            .ok()
            .map(|at| at - start);
        if visible.is_none() && interactive.is_none() {
            bail!(
                "no window within {VISIBLE_LIMIT:?}; its stderr ended with:\n{}",
                stderr.tail()
            );
        }
        // Idle: a while after it became usable (or visible, if it never
        // says when it is usable).
        let ready = interactive.or(visible).unwrap_or_default();
        std::thread::sleep((ready + SETTLE).saturating_sub(start.elapsed()));
        let memory = match child.try_wait()? {
            None => Some(TreeMemory::of(&[pid])?),
            Some(status) => bail!(
                "exited ({status}) before its memory was read; its stderr ended with:\n{}",
                stderr.tail()
            ),
        };
        Ok(Launch {
            visible,
            interactive,
            memory,
        })
    })();
    end_group(&mut child)?;
    let _ = std::fs::remove_dir_all(&home);
    result
}

/// What a launched app writes on stderr, read on a thread until it closes.
struct Stderr {
    /// When a line containing the interactive marker arrived.
    marker_seen: mpsc::Receiver<Instant>,
    /// The last lines, for error messages.
    tail: Arc<Mutex<Vec<String>>>,
}

impl Stderr {
    /// The last lines read, one per line.
    fn tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }
}

/// Starts reading the child's stderr, watching for `marker`.
fn read_stderr(child: &mut Child, marker: &'static str) -> anyhow::Result<Stderr> {
    let stderr = child.stderr.take().context("stderr not piped")?;
    let (tx, rx) = mpsc::channel();
    let tail = Arc::new(Mutex::new(Vec::new()));
    let kept = tail.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(marker) {
                let _ = tx.send(Instant::now());
            }
            if let Ok(mut kept) = kept.lock() {
                if kept.len() == 20 {
                    kept.remove(0);
                }
                kept.push(line);
            }
        }
    });
    Ok(Stderr {
        marker_seen: rx,
        tail,
    })
}

/// Ends the child's process group (SIGTERM, then SIGKILL after 5 s) and
/// waits for it; then makes sure none of the processes it started is left.
fn end_group(child: &mut Child) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(child.id())?;
    let started = parlor_e2e::memory::tree(&[child.id()]).unwrap_or_default();
    // SAFETY: kill(2) on the process group this bench started.
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above; whatever is left of the group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    child.wait()?;
    for other in started {
        let Ok(other) = libc::pid_t::try_from(other) else {
            continue;
        };
        // SAFETY: a process of the tree this bench started (WebKit may have
        // put one in a group of its own); gone already is fine.
        unsafe { libc::kill(other, libc::SIGKILL) };
    }
    // Let the processes go before the next launch is timed.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// What the rooms part measured.
struct RoomsOutcome {
    /// The app under WebDriver on its start view, before any join.
    idle: TreeMemory,
    /// The app in the rooms, after the messages and [`SETTLE`].
    busy: TreeMemory,
    /// Rooms the app was connected in when `busy` was read.
    held: usize,
    /// How each room was joined (`window`, `command`) or why it was not.
    joins: Vec<String>,
    /// Messages the app acknowledged (from the peers of the rooms it held).
    acknowledged: usize,
    /// Whether the app's own messages reached the peers of the room it shows.
    app_spoke: String,
}

/// A room of the busy measurement: its two headless peers.
struct BenchRoom {
    a: PeerProcess,
    b: PeerProcess,
    b_id: String,
    /// The app's peer id in this room, once connected.
    app_id: Option<String>,
    held: bool,
}

/// The app in [`ROOMS`] rooms of 3 peers (2 `parlor-peer`s and the app).
async fn in_rooms() -> anyhow::Result<RoomsOutcome> {
    let signal = SignalProcess::start(&[]).await;
    let url = signal.url();
    let mut rooms = Vec::new();
    for index in 0..ROOMS {
        let a = PeerProcess::create(&format!("room{index}-a"), &url).await;
        let mut b = PeerProcess::join(&format!("room{index}-b"), &a.link);
        let b_id = b.peer_id().await;
        rooms.push(BenchRoom {
            a,
            b,
            b_id,
            app_id: None,
            held: false,
        });
    }
    for room in &mut rooms {
        let b_id = room.b_id.clone();
        room.a.wait_connected_to(&b_id).await;
    }

    let app = AppWindow::launch("startup-bench").await?;
    tokio::time::sleep(SETTLE).await;
    let idle = TreeMemory::of(&app.app_pids())?;
    eprintln!(
        "idle under WebDriver: {:.0} / {:.0} MiB ({})",
        idle.rss_mib(),
        idle.pss_mib(),
        idle.breakdown()
    );

    let mut joins = Vec::new();
    for (index, room) in rooms.iter_mut().enumerate() {
        let link = room.a.link.clone();
        match join(&app, &link, index).await {
            Ok(how) => {
                let b_id = room.b_id.clone();
                let event = room
                    .a
                    .wait_for("the app connected", |e| {
                        e["event"] == "peer-connected" && e["peer"] != b_id.as_str()
                    })
                    .await;
                let app_id = event["peer"].as_str().unwrap_or_default().to_owned();
                room.b
                    .seen_or_wait("peer-connected", Some(("peer", &app_id)))
                    .await;
                eprintln!("room {index}: joined through the {how}, connected to both peers");
                room.app_id = Some(app_id);
                joins.push(how.to_owned());
            }
            Err(error) => {
                eprintln!("room {index}: not joined: {error:#}");
                joins.push(format!("not joined: {error:#}"));
            }
        }
    }

    // Which rooms still have the app: each `b` says a marker, and once `a`
    // has it, `a` has read everything said about the app before it (a leave
    // when the app joined the next room happened seconds earlier).
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (index, room) in rooms.iter_mut().enumerate() {
        let Some(app_id) = room.app_id.clone() else {
            continue;
        };
        let marker = format!("marker {index}");
        room.b.say(&marker).await;
        room.a.wait_event("message", Some(("text", &marker))).await;
        room.held = still_connected(&room.a.seen, &app_id);
    }
    let held = rooms.iter().filter(|room| room.held).count();
    eprintln!("the app holds {held} of {ROOMS} rooms");

    // Messages: each peer of a held room speaks; every message reaches the
    // app, which acknowledges it.
    for (index, room) in rooms.iter_mut().enumerate().filter(|(_, r)| r.held) {
        for n in 0..MESSAGES {
            room.a
                .say(&format!("room {index}: message {n} from a"))
                .await;
            room.b
                .say(&format!("room {index}: message {n} from b"))
                .await;
        }
    }
    let mut acknowledged = 0;
    for room in rooms.iter_mut().filter(|r| r.held) {
        let app_id = room.app_id.clone().unwrap_or_default();
        for peer in [&mut room.a, &mut room.b] {
            for _ in 0..MESSAGES {
                peer.wait_for("the app's acknowledgement", |e| {
                    e["event"] == "delivered" && e["to"] == app_id.as_str()
                })
                .await;
                acknowledged += 1;
            }
        }
    }
    // And the app speaks in the room its window shows.
    let app_spoke = app_speaks(&app, &mut rooms).await;
    eprintln!("messages acknowledged by the app: {acknowledged}; the app's own: {app_spoke}");

    tokio::time::sleep(SETTLE).await;
    let busy = TreeMemory::of(&app.app_pids())?;
    eprintln!(
        "in {held} rooms: {:.0} / {:.0} MiB ({})",
        busy.rss_mib(),
        busy.pss_mib(),
        busy.breakdown()
    );
    app.close().await;
    drop(rooms);
    signal.stop().await;
    Ok(RoomsOutcome {
        idle,
        busy,
        held,
        joins,
        acknowledged,
        app_spoke,
    })
}

/// Joins `link` through the window (the Join field and the dialog that
/// shows where the link leads); if the window offers no way to (a window
/// that holds one room at a time shows no Join field in a room), through
/// the app's `join_room` command, as the window would call it.
async fn join(app: &AppWindow, link: &str, index: usize) -> anyhow::Result<&'static str> {
    // The Join field keeps the last link joined through it, and the helper
    // types after what is there: empty it, as a person pasting over it would.
    app.eval(
        "const field = document.getElementById('join-link'); if (field) field.value = '';",
        vec![],
    )
    .await?;
    match tokio::time::timeout(JOIN_THROUGH_WINDOW_LIMIT, app.join_room(link)).await {
        Ok(Ok(())) => return Ok("window"),
        Ok(Err(error)) => eprintln!("room {index}: the window did not join ({error:#})"),
        Err(_) => eprintln!("room {index}: the window did not join within the limit"),
    }
    app.eval(
        "window.__benchJoins = window.__benchJoins || {};
         const index = arguments[1];
         window.__TAURI__.core.invoke('join_room', { link: arguments[0] }).then(
           () => { window.__benchJoins[index] = 'ok'; },
           (error) => { window.__benchJoins[index] = JSON.stringify(error); });
         return true;",
        vec![json!(link), json!(index)],
    )
    .await?;
    app.wait_until(&format!(
        "window.__benchJoins && window.__benchJoins[{index}] !== undefined"
    ))
    .await?;
    let result = app
        .eval(&format!("return window.__benchJoins[{index}]"), vec![])
        .await?;
    match result.as_str() {
        Some("ok") => Ok("command"),
        _ => bail!("join_room answered {result}"),
    }
}

/// Whether the last thing `seen` says about `peer` is that it is connected.
fn still_connected(seen: &[Value], peer: &str) -> bool {
    seen.iter()
        .filter(|e| e["peer"] == peer)
        .filter_map(|e| e["event"].as_str())
        .rfind(|event| {
            matches!(
                *event,
                "peer-connected" | "peer-left" | "peer-reconnecting" | "peer-unreachable"
            )
        })
        == Some("peer-connected")
}

/// The room of a link (`parlor://join/<room>?server=…`).
fn room_of(link: &str) -> &str {
    let rest = link.strip_prefix("parlor://join/").unwrap_or(link);
    rest.split(['?', '#']).next().unwrap_or(rest)
}

/// The app sends [`MESSAGES`] messages through its composer into the room
/// its window shows, and both peers there must get them. Says what happened.
async fn app_speaks(app: &AppWindow, rooms: &mut [BenchRoom]) -> String {
    let shown = app
        .eval(
            "const field = document.getElementById('room-link'); return field ? field.value : '';",
            vec![],
        )
        .await
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let Some((index, room)) = rooms
        .iter_mut()
        .enumerate()
        .find(|(_, room)| room.held && room_of(&room.a.link) == room_of(&shown))
    else {
        return format!("not sent (the window shows {shown:?}, not a room the app holds)");
    };
    for n in 0..MESSAGES {
        let text = format!("room {index}: message {n} from the app");
        if let Err(error) = app.send(&text).await {
            return format!("not sent ({error:#})");
        }
        for peer in [&mut room.a, &mut room.b] {
            peer.wait_event("message", Some(("text", &text))).await;
        }
    }
    format!("{MESSAGES} sent in room {index}, received by both peers")
}

// ---------------------------------------------------------------- report

fn ms(value: Option<Duration>) -> String {
    value.map_or_else(
        || "—".to_owned(),
        |d| format!("{:.0} ms", d.as_secs_f64() * 1e3),
    )
}

/// p50 and max of some launches' figure, in ms; how many launches had it.
fn spread(runs: &Runs, figure: impl Fn(&Launch) -> Option<Duration>) -> Option<(f64, f64, usize)> {
    let values: Vec<f64> = runs
        .launches
        .iter()
        .filter_map(&figure)
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    if values.is_empty() {
        return None;
    }
    Some((
        percentile(&values, 0.5),
        percentile(&values, 1.0),
        values.len(),
    ))
}

fn spread_cell(spread: Option<(f64, f64, usize)>, of: usize, missing: &str) -> String {
    match spread {
        None => missing.to_owned(),
        Some((p50, max, n)) if n == of => format!("{p50:.0} / {max:.0} ms"),
        Some((p50, max, n)) => format!("{p50:.0} / {max:.0} ms ({n} of {of} launches)"),
    }
}

/// The idle launch whose RSS is the median, with its figures.
fn median_memory(runs: &Runs) -> Option<&TreeMemory> {
    let mut memories: Vec<&TreeMemory> = runs
        .launches
        .iter()
        .filter_map(|l| l.memory.as_ref())
        .collect();
    memories.sort_by(|a, b| a.rss_mib().total_cmp(&b.rss_mib()));
    memories.get(memories.len().saturating_sub(1) / 2).copied()
}

fn memory_range(runs: &Runs) -> String {
    let rss: Vec<f64> = runs
        .launches
        .iter()
        .filter_map(|l| l.memory.as_ref().map(TreeMemory::rss_mib))
        .collect();
    if rss.is_empty() {
        return "—".to_owned();
    }
    format!("{:.0}–{:.0}", percentile(&rss, 0.0), percentile(&rss, 1.0))
}

fn report(
    profile: &str,
    parlor: &Runs,
    reference: &Runs,
    rooms: &anyhow::Result<RoomsOutcome>,
    machine: &str,
) -> Section {
    let mut section = Section::new(SECTION);
    section.paragraph(format!(
        "Command: `cargo build --release --bins && xvfb-run -a --server-args=\"-screen 0 1280x800x24\" cargo bench -p parlor-e2e --bench startup` (these figures: the **{profile}** binaries; `PARLOR_BENCH_PROFILE=debug` measures those of `cargo build --bins`). Reference: `tests/benches/minimal-window`, the smallest Tauri 2 app (one window of Parlor's size with a trivial page, the workspace's Tauri), built by the same `cargo build`. Display: Xvfb 1280×800×24, no window manager. WebKitGTK {}.",
        webkit_version()
    ));
    section.paragraph(format!(
        "Launch: each app started directly, as a person would (Parlor with `--profile` in a fresh directory and the loopback switches of the window tests; both with fresh XDG directories, so WebKit's caches are cold each time), one untimed warm-up each, then {} of each, alternating. Visible: spawn → X reports the app's top-level window mapped (`MapNotify` on the root window, the window's `_NET_WM_PID` naming the app; event-driven, nothing polls while the app starts). Interactive: spawn → Parlor's `start view interactive` log line (`parlor_app::startup`, INFO, logged when the page has built its start view) / the reference's `minimal-window: page interactive` (printed when its page has loaded and called the app). Memory: {} s after interactive, RSS and PSS from `/proc/<pid>/smaps_rollup` summed over the app and every process it started (WebKitWebProcess, WebKitNetworkProcess); RSS counts pages shared between them once per process, PSS shares them out.",
        parlor.launches.len(),
        SETTLE.as_secs()
    ));

    section.table(&[
        "app",
        "visible p50 / max",
        "interactive p50 / max",
        "idle RSS p50 (min–max)",
        "idle PSS p50",
        "idle, per process (RSS / PSS)",
    ]);
    for (name, runs) in [("Parlor", parlor), ("minimal-window", reference)] {
        let memory = median_memory(runs);
        section.row(&[
            name.to_owned(),
            spread_cell(spread(runs, |l| l.visible), runs.launches.len(), "never"),
            spread_cell(
                spread(runs, |l| l.interactive),
                runs.launches.len(),
                "not reported (no interactive line)",
            ),
            memory.map_or_else(
                || "—".to_owned(),
                |m| format!("{:.0} MiB ({})", m.rss_mib(), memory_range(runs)),
            ),
            memory.map_or_else(|| "—".to_owned(), |m| format!("{:.0} MiB", m.pss_mib())),
            memory.map_or_else(|| "—".to_owned(), TreeMemory::breakdown),
        ]);
    }
    let difference = |figure: fn(&Launch) -> Option<Duration>| match (
        spread(parlor, figure),
        spread(reference, figure),
    ) {
        (Some((p, _, _)), Some((r, _, _))) => format!("{:+.0} ms ({:.2}×)", p - r, p / r),
        _ => "—".to_owned(),
    };
    let memory_difference = match (median_memory(parlor), median_memory(reference)) {
        (Some(p), Some(r)) => (
            format!(
                "{:+.0} MiB ({:.2}×)",
                p.rss_mib() - r.rss_mib(),
                p.rss_mib() / r.rss_mib()
            ),
            format!("{:+.0} MiB", p.pss_mib() - r.pss_mib()),
        ),
        _ => ("—".to_owned(), "—".to_owned()),
    };
    section.row(&[
        "**Parlor − reference** (p50)".to_owned(),
        difference(|l| l.visible),
        difference(|l| l.interactive),
        memory_difference.0,
        memory_difference.1,
        String::new(),
    ]);

    let first = |runs: &Runs| {
        runs.warm_up.as_ref().map_or_else(
            || "—".to_owned(),
            |l| {
                format!(
                    "visible {}, interactive {}",
                    ms(l.visible),
                    ms(l.interactive)
                )
            },
        )
    };
    section.paragraph(format!(
        "The warm-up launches, not in the table: Parlor {}, minimal-window {} (Parlor's comes first). The first launch pays for what the later ones find ready: on a fresh display it starts the D-Bus session bus and the accessibility bus (`dbus-launch --autolaunch`, `at-spi-bus-launcher`: there is no session bus under `xvfb-run`; on a desktop they are running already), and right after a build it is the new binary's first run.",
        first(parlor),
        first(reference)
    ));

    section.paragraph(format!(
        "{ROOMS} rooms: a `parlor-signal` on loopback; each room made by a `parlor-peer` and joined by a second; then the app, launched under `tauri-driver` as the window tests run it (fresh profile, WebRTC on loopback), joins every room (through its window: the Join field and the dialog that shows where a link leads; where the window offers no way, through the app's `join_room` command, as the window calls it), holding them at once: 3 peers per room counting the app. Once both peers of every room have the app connected (`peer-connected`), each peer says {MESSAGES} messages (each acknowledged by the app) and the app says {MESSAGES} in the room its window shows; {} s later the app's tree is measured (the app and its WebKit processes, not tauri-driver and WebKitWebDriver, which started it). The idle row is the same app under WebDriver on its start view before the first join.",
        SETTLE.as_secs()
    ));
    section.table(&[
        "Parlor under WebDriver",
        "RSS",
        "PSS",
        "per process (RSS / PSS)",
        "notes",
    ]);
    match rooms {
        Ok(outcome) => {
            section.row(&[
                "idle, start view".to_owned(),
                format!("{:.0} MiB", outcome.idle.rss_mib()),
                format!("{:.0} MiB", outcome.idle.pss_mib()),
                outcome.idle.breakdown(),
                String::new(),
            ]);
            let mut joins: Vec<(String, usize)> = Vec::new();
            for how in &outcome.joins {
                match joins.iter_mut().find(|(h, _)| h == how) {
                    Some((_, n)) => *n += 1,
                    None => joins.push((how.clone(), 1)),
                }
            }
            let joins = joins
                .iter()
                .map(|(how, n)| format!("{how} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            section.row(&[
                format!("in {ROOMS} rooms of 3 peers, connected in {} of them", outcome.held),
                format!(
                    "{:.0} MiB ({:+.0})",
                    outcome.busy.rss_mib(),
                    outcome.busy.rss_mib() - outcome.idle.rss_mib()
                ),
                format!(
                    "{:.0} MiB ({:+.0})",
                    outcome.busy.pss_mib(),
                    outcome.busy.pss_mib() - outcome.idle.pss_mib()
                ),
                outcome.busy.breakdown(),
                format!(
                    "joined: {joins}; {} messages from peers acknowledged by the app; the app's own: {}",
                    outcome.acknowledged, outcome.app_spoke
                ),
            ]);
        }
        Err(error) => {
            section.row(&[
                "—".to_owned(),
                "—".to_owned(),
                "—".to_owned(),
                "—".to_owned(),
                format!("failed: {error:#}"),
            ]);
        }
    }

    // Goals.
    section.table(&["goal (issue)", "measured", "met"]);
    let yes_no = |met: bool| if met { "yes" } else { "**no**" }.to_owned();
    match spread(parlor, |l| l.visible) {
        Some((p50, max, n)) => {
            let goal = VISIBLE_GOAL.as_secs_f64() * 1e3;
            let every = max < goal && n == parlor.launches.len();
            section.row(&[
                format!("visible in under {goal:.0} ms"),
                format!("p50 {p50:.0} ms, slowest of {n} {max:.0} ms"),
                if every {
                    "yes (every launch)".to_owned()
                } else if p50 < goal {
                    "at p50 only: **not** every launch".to_owned()
                } else {
                    yes_no(false)
                },
            ]);
        }
        None => section.row(&["visible in under 500 ms", "no window seen", "**no**"]),
    }
    match rooms {
        Ok(outcome) => {
            let rss = outcome.busy.rss_mib();
            let met = rss < ROOMS_RSS_GOAL_MIB;
            let verdict = if outcome.held == ROOMS {
                yes_no(met)
            } else {
                format!(
                    "not measurable as asked: the app held {} of {ROOMS} rooms at once ({} within the goal for those)",
                    outcome.held,
                    if met { "RSS" } else { "RSS **not**" }
                )
            };
            section.row(&[
                format!("app + WebKit processes under {ROOMS_RSS_GOAL_MIB:.0} MiB RSS in {ROOMS} rooms of 3"),
                format!("{rss:.0} MiB RSS ({:.0} MiB PSS)", outcome.busy.pss_mib()),
                verdict,
            ]);
        }
        Err(_) => section.row(&[
            format!(
                "app + WebKit processes under {ROOMS_RSS_GOAL_MIB:.0} MiB RSS in {ROOMS} rooms of 3"
            ),
            "not measured (the rooms part failed)".to_owned(),
            "—".to_owned(),
        ]),
    }
    if let (Some(blank), Some(idle), Ok(outcome)) =
        (median_memory(reference), median_memory(parlor), rooms)
    {
        let blank_app = blank
            .processes
            .first()
            .map_or(0.0, |p| p.rss_kib as f64 / 1024.0);
        section.paragraph(format!(
            "Reading the memory: {}the reference, a blank page, holds {:.0} MiB RSS ({:.0} MiB PSS) idle, {:.0} MiB of it in WebKitGTK's web and network processes. Parlor idle is {:+.0} MiB RSS above it; the {ROOMS} rooms add {:+.0} MiB RSS to Parlor idle under WebDriver ({}). RSS sums count the pages the processes share (libwebkit2gtk and the other libraries they all map) once per process; PSS shares them out, so it also depends on what else on the machine maps the same libraries (other WebKit processes lower it).",
            if blank.rss_mib() >= ROOMS_RSS_GOAL_MIB {
                format!(
                    "the goal of {ROOMS_RSS_GOAL_MIB:.0} MiB RSS is below what any Tauri 2 window takes on this machine: "
                )
            } else {
                String::new()
            },
            blank.rss_mib(),
            blank.pss_mib(),
            blank.rss_mib() - blank_app,
            idle.rss_mib() - blank.rss_mib(),
            outcome.busy.rss_mib() - outcome.idle.rss_mib(),
            growth(&outcome.idle, &outcome.busy),
        ));
    }
    section.paragraph(machine.to_owned());
    section
}

/// How each kind of process grew from `before` to `after`, in RSS:
/// `WebKitWebProcess +80 MiB, parlor +10 MiB`.
fn growth(before: &TreeMemory, after: &TreeMemory) -> String {
    let before = before.by_name();
    after
        .by_name()
        .iter()
        .map(|(name, _, rss, _)| {
            let was = before
                .iter()
                .find(|(n, _, _, _)| n == name)
                .map_or(0.0, |(_, _, rss, _)| *rss);
            format!("{name} {:+.0} MiB", rss - was)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The installed WebKitGTK (Debian's package version), or "(version unknown)".
fn webkit_version() -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"])
        .output()
        .ok()
        .filter(|output| output.status.success() && !output.stdout.is_empty())
        .map_or_else(
            || "(version unknown)".to_owned(),
            |output| String::from_utf8_lossy(&output.stdout).into_owned(),
        )
}
