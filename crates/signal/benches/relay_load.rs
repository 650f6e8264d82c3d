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
//!    The clients run on [`CLIENT_THREADS`] threads, each a current-thread
//!    runtime, so each is served in turn whichever server is measured;
//! 4. the server's CPU time over the load phase (`utime + stime` in
//!    `/proc/<pid>/stat`) divided by the messages relayed, and the part of
//!    it spent in the kernel (`stime`): on loopback that includes the
//!    receiving side's TCP work, which the kernel runs in the sender's
//!    system call, so it is the floor under any relay that makes one send
//!    per message.
//!
//! Environment: `PARLOR_BENCH_SIZES` (default `100,1000,10000`),
//! `PARLOR_BENCH_SECONDS` (load phase per run, default 5),
//! `PARLOR_BENCH_IN_FLIGHT` (messages in flight per pair, default 1),
//! `PARLOR_SIGNAL_BIN` (another `parlor-signal` binary to measure),
//! `PARLOR_BENCH_CLIENTS_PER_PROCESS` (fewer sockets per process than the
//! open-files limit allows, to try worker processes at small sizes).
//!
//! Cluster mode (`PARLOR_BENCH_CLUSTER=1`, or `bench/run.sh cluster`):
//! instead of the Node relay, three `parlor-signal --redis` nodes and a
//! `redis-server` the bench starts on loopback (free port, temporary
//! directory, no persistence; stopped after) against one node alone, the
//! same workload (default size 30000, or less when `RLIMIT_NOFILE`'s hard
//! limit cannot hold that many in one process). Client `i` connects to node
//! `i mod 3`, so the two members of every pair sit on different nodes and
//! every message crosses Redis (a node delivers same-node frames itself):
//! the worst case for the cluster. CPU per message is summed over every
//! node and `redis-server`; memory is reported per node.
//!
//! One process may hold only as many sockets as `RLIMIT_NOFILE`'s hard
//! limit allows (20 000 on the machine of BENCHMARKS.md, not raisable
//! there). Clients beyond what this process can hold run in worker
//! processes (this binary again, `PARLOR_BENCH_WORKER` set), whole pairs
//! each, started together with the local clients through their stdin and
//! reporting their latencies on stdout. A server is one process too: in
//! cluster mode the single node is measured at the largest size one
//! process holds, when the cluster's size is beyond it.
//!
//! Clients bind source addresses `127.0.0.2`–`127.0.0.9` in turn, because
//! one source address reaches one server port from at most ~28 000
//! ephemeral ports; all of `127/8` is loopback, so the per-address limits
//! stay off.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Handshakes in flight at once while opening connections.
const CONNECT_CONCURRENCY: usize = 200;

/// Bound on each wait of the setup phases.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Source addresses the clients take in turn (`127.0.0.2` onwards).
const SOURCE_ADDRESSES: u8 = 8;

/// Nodes in cluster mode.
const CLUSTER_NODES: usize = 3;

/// One server under test.
struct Target {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// Nodes started with these arguments plus `--redis URL` of a
    /// `redis-server` started for the run; 0 for one process without Redis.
    cluster_nodes: usize,
}

/// The processes of one run: the nodes the clients connect to, and
/// `redis-server` in cluster mode.
struct Deployment {
    nodes: Vec<(Child, String)>,
    redis: Option<BenchRedis>,
}

impl Deployment {
    /// Every process whose CPU time counts.
    fn pids(&self) -> anyhow::Result<Vec<u32>> {
        let mut pids = self
            .nodes
            .iter()
            .map(|(child, _)| child.id().context("server pid"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(redis) = &self.redis {
            pids.push(redis.child.id().context("redis pid")?);
        }
        Ok(pids)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        for (child, _) in &mut self.nodes {
            stop(child).await?;
        }
        if let Some(mut redis) = self.redis.take() {
            stop(&mut redis.child).await?;
            // Best effort: a temporary directory with nothing persisted.
            let _ = std::fs::remove_dir_all(&redis.dir);
        }
        Ok(())
    }
}

/// A `redis-server` started by the bench.
struct BenchRedis {
    child: Child,
    dir: PathBuf,
    port: u16,
}

/// Figures of one run.
struct Figures {
    /// Connections measured (in cluster mode the single node may hold
    /// fewer than the cluster).
    connections: usize,
    messages_per_second: f64,
    p50_us: f64,
    p99_us: f64,
    bytes_per_connection: f64,
    /// Server CPU time (user + system) per relayed message, all nodes and
    /// `redis-server` together.
    cpu_us_per_message: f64,
    /// Of which in the kernel (`stime`), every process together.
    kernel_cpu_us_per_message: f64,
    /// Of which `redis-server`'s (0 without Redis).
    redis_cpu_us_per_message: f64,
    /// Each node's RSS with every client connected and idle.
    node_rss_bytes: Vec<u64>,
}

fn main() -> anyhow::Result<()> {
    // Both servers are children and inherit the raised limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    if let Ok(job) = std::env::var(WORKER_ENV) {
        return worker(&job);
    }
    // Sockets one process may hold, with a margin for everything else it
    // opens: the most one server holds, and the most clients here.
    // `PARLOR_BENCH_CLIENTS_PER_PROCESS` lowers the second, to try the
    // split into worker processes at small sizes.
    let per_process = (limit.saturating_sub(1_000) / 1_000 * 1_000) as usize;
    let clients_per_process = std::env::var("PARLOR_BENCH_CLIENTS_PER_PROCESS")
        .map_or(Ok(per_process), |value| value.parse())
        .context("PARLOR_BENCH_CLIENTS_PER_PROCESS")?
        .min(per_process);
    let cluster = std::env::var("PARLOR_BENCH_CLUSTER").is_ok_and(|value| value == "1");
    let sizes: Vec<usize> = std::env::var("PARLOR_BENCH_SIZES")
        .unwrap_or_else(|_| {
            if cluster {
                "30000".to_owned()
            } else {
                "100,1000,10000".to_owned()
            }
        })
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
    // Each connection costs a descriptor in the server: one server holds
    // them all, unless it is the cluster.
    if let Some(&largest) = sizes.iter().max() {
        if !cluster && largest > per_process {
            bail!("open-files limit {limit} is too low for {largest} connections in one server");
        }
    }

    let relay_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference-relay");
    if !cluster && !relay_dir.join("node_modules/ws").is_dir() {
        bail!(
            "the reference relay's dependencies are missing: run `npm install` in {}, or use bench/run.sh",
            relay_dir.display()
        );
    }
    let ours = Target {
        name: "parlor-signal",
        // Another build can be measured in place of this one, to compare
        // two builds against the same reference.
        program: std::env::var_os("PARLOR_SIGNAL_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_parlor-signal")),
            PathBuf::from,
        ),
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
            "--accept-rate",
            "0",
            "--max-rooms",
            "0",
            "--peer-list-interval",
            "0",
        ]
        .map(String::from)
        .to_vec(),
        cluster_nodes: 0,
    };
    let targets = if cluster {
        let mut nodes = Target {
            name: "3 nodes + redis",
            program: ours.program.clone(),
            args: ours.args.clone(),
            cluster_nodes: CLUSTER_NODES,
        };
        // The joins-per-minute bucket lives in Redis; it is off for
        // loopback like the rest, this only keeps the run self-evident.
        nodes
            .args
            .extend(["--redis-node-timeout".into(), "5".into()]);
        let mut single = ours;
        single.name = "1 node";
        [nodes, single]
    } else {
        [
            ours,
            Target {
                name: "node ws",
                program: PathBuf::from("node"),
                args: vec![
                    relay_dir.join("relay.js").display().to_string(),
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                ],
                cluster_nodes: 0,
            },
        ]
    };

    let runtime = tokio::runtime::Runtime::new()?;
    let clients = ClientThreads::start(CLIENT_THREADS)?;
    let mut rows = Vec::new();
    for &size in &sizes {
        let mut figures = Vec::new();
        for target in &targets {
            // One node holds every connection: at most what one process may.
            let size = if target.cluster_nodes == 0 {
                size.min(per_process)
            } else {
                size
            };
            eprintln!("{}: {size} connections ...", target.name);
            let shape = Shape {
                size,
                load,
                in_flight,
                clients_per_process,
            };
            let result = runtime.block_on(run(target, &shape, &clients))?;
            eprintln!(
                "  {:.0} msg/s, p50 {:.0} µs, p99 {:.0} µs, {:.1} KiB/connection, {:.2} µs CPU/message ({:.2} µs redis), node RSS {:?} MiB",
                result.messages_per_second,
                result.p50_us,
                result.p99_us,
                result.bytes_per_connection / 1024.0,
                result.cpu_us_per_message,
                result.redis_cpu_us_per_message,
                result
                    .node_rss_bytes
                    .iter()
                    .map(|&b| b / (1 << 20))
                    .collect::<Vec<_>>()
            );
            figures.push(result);
        }
        rows.push((size, figures));
    }
    if cluster {
        print_cluster_table(&targets, &rows, seconds, in_flight);
    } else {
        print_table(&targets, &rows, seconds, in_flight);
    }
    Ok(())
}

/// What one run measures.
struct Shape {
    size: usize,
    load: Duration,
    in_flight: usize,
    /// The most clients this process runs; worker processes run the rest.
    clients_per_process: usize,
}

/// One server, one size: start, connect, measure memory, load, stop.
async fn run(target: &Target, shape: &Shape, threads: &ClientThreads) -> anyhow::Result<Figures> {
    let &Shape {
        size,
        load,
        in_flight,
        clients_per_process,
    } = shape;
    let deployment = deploy(target).await?;
    let pids = deployment.pids()?;
    let node_pids = &pids[..deployment.nodes.len()];
    let addrs: Vec<String> = deployment
        .nodes
        .iter()
        .map(|(_, addr)| addr.clone())
        .collect();
    let pairs = size / 2;

    let rss_before = total(node_pids, rss_bytes)?;
    let local_pairs = pairs.min(clients_per_process / 2);
    let mut local = LocalClients::spawn(&addrs, 0..local_pairs, in_flight, threads)?;
    let mut workers = Vec::new();
    let mut next = local_pairs;
    while next < pairs {
        let end = (next + clients_per_process / 2).min(pairs);
        workers.push(WorkerClients::spawn(&addrs, next..end, in_flight)?);
        next = end;
    }
    local.connected().await?;
    for worker in &mut workers {
        worker.connected().await?;
    }
    // Let the server finish whatever the last joins started, and
    // parlor-signal give back what the handshakes freed (it trims memory
    // 200 ms after connections stop coming, at most once a second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let node_rss_bytes = node_pids
        .iter()
        .map(|&pid| rss_bytes(pid))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rss_idle: u64 = node_rss_bytes.iter().sum();

    for worker in &mut workers {
        worker.start(START_NOTICE, load).await?;
    }
    let epoch = local.start(START_NOTICE, load);
    tokio::time::sleep_until(epoch).await;
    let cpu_before = pids
        .iter()
        .map(|&pid| cpu_seconds(pid))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut latencies = local.latencies().await?;
    for worker in workers {
        latencies.extend(worker.latencies().await?);
    }
    let cpu_after = pids
        .iter()
        .map(|&pid| cpu_seconds(pid))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cpu_used: Vec<CpuTime> = cpu_after
        .iter()
        .zip(&cpu_before)
        .map(|(after, before)| CpuTime {
            user: after.user - before.user,
            kernel: after.kernel - before.kernel,
        })
        .collect();
    let cpu: f64 = cpu_used.iter().map(CpuTime::total).sum();
    let kernel_cpu: f64 = cpu_used.iter().map(|used| used.kernel).sum();
    let redis_cpu = if deployment.redis.is_some() {
        cpu_used.last().map_or(0.0, CpuTime::total)
    } else {
        0.0
    };
    deployment.stop().await?;

    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(index)
            .map_or(f64::NAN, |&nanos| nanos as f64 / 1000.0)
    };
    Ok(Figures {
        connections: pairs * 2,
        messages_per_second: latencies.len() as f64 / load.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        bytes_per_connection: rss_idle.saturating_sub(rss_before) as f64 / (pairs * 2) as f64,
        cpu_us_per_message: cpu * 1e6 / latencies.len().max(1) as f64,
        kernel_cpu_us_per_message: kernel_cpu * 1e6 / latencies.len().max(1) as f64,
        redis_cpu_us_per_message: redis_cpu * 1e6 / latencies.len().max(1) as f64,
        node_rss_bytes,
    })
}

/// Sum of `measure` over `pids`.
fn total(pids: &[u32], measure: fn(u32) -> anyhow::Result<u64>) -> anyhow::Result<u64> {
    pids.iter().map(|&pid| measure(pid)).sum()
}

/// How long before the load phase its start is announced to the clients.
const START_NOTICE: Duration = Duration::from_millis(500);

/// Threads the clients run on.
const CLIENT_THREADS: usize = 2;

/// Threads of current-thread runtimes for the clients, which take turns on
/// each, first come first served. Not tokio's multi-threaded scheduler: it
/// serves tasks that overflow its local queues much later than the rest,
/// and once a fast server made the clients the bottleneck, that unfairness
/// was what the p99 measured (with 10 000 clients, one pair in ten made
/// 1.5x the round trips of another).
struct ClientThreads {
    handles: Vec<tokio::runtime::Handle>,
    /// Dropped to stop the threads.
    _stop: watch::Sender<()>,
}

impl ClientThreads {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(());
        let mut handles = Vec::new();
        for _ in 0..threads {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            std::thread::spawn(move || {
                runtime.block_on(async move { while stopped.changed().await.is_ok() {} })
            });
        }
        Ok(Self {
            handles,
            _stop: stop,
        })
    }

    /// Runs `task` on the thread of `pair`: both members of a pair on the
    /// same one, so they take their places in the connection queue one
    /// after the other (from two threads, every first member could take a
    /// place and wait for a partner still queued).
    fn spawn<F>(&self, pair: usize, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handles[pair % self.handles.len()].spawn(task)
    }
}

/// Set (to a job, see [`WorkerClients::spawn`]) in a worker process.
const WORKER_ENV: &str = "PARLOR_BENCH_WORKER";

/// When each client starts and stops its load, once announced.
type Window = Option<(Instant, Instant)>;

/// The clients of some pairs, on this process's client threads.
struct LocalClients {
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<u64>>>>,
    ready: mpsc::Receiver<()>,
    start: watch::Sender<Window>,
}

impl LocalClients {
    /// Starts connecting the clients of `pairs`: client `i` (two per pair)
    /// to node `i mod nodes`, so a pair spans two nodes of a cluster.
    fn spawn(
        addrs: &[String],
        pairs: Range<usize>,
        in_flight: usize,
        threads: &ClientThreads,
    ) -> anyhow::Result<Self> {
        let (start_tx, start) = watch::channel(None);
        let (ready_tx, ready) = mpsc::channel(pairs.len() * 2 + 1);
        let connecting = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
        let mut tasks = Vec::with_capacity(pairs.len() * 2);
        for pair in pairs {
            for (side, (me, partner, starts)) in [("a", "b", true), ("b", "a", false)]
                .into_iter()
                .enumerate()
            {
                let index = pair * 2 + side;
                let addr = &addrs[index % addrs.len()];
                let client = Client {
                    url: format!("ws://{addr}/parties/main/r{pair}?_pk={me}{pair}&parlor=1"),
                    server: addr.parse().context("server address")?,
                    source: Ipv4Addr::new(
                        127,
                        0,
                        0,
                        2 + (index % usize::from(SOURCE_ADDRESSES)) as u8,
                    ),
                    partner: format!("{partner}{pair}"),
                    starts: if starts { in_flight } else { 0 },
                };
                let permit = Arc::clone(&connecting);
                let (ready_tx, start) = (ready_tx.clone(), start.clone());
                tasks.push(threads.spawn(pair, async move {
                    client.run(permit, ready_tx, start).await
                }));
            }
        }
        Ok(Self {
            tasks,
            ready,
            start: start_tx,
        })
    }

    /// Waits until every client is connected and has its partner listed.
    async fn connected(&mut self) -> anyhow::Result<()> {
        for _ in 0..self.tasks.len() {
            if tokio::time::timeout(SETUP_TIMEOUT, self.ready.recv())
                .await
                .ok()
                .flatten()
                .is_none()
            {
                // Say why, from the first client that gave up.
                for task in self.tasks.iter_mut().filter(|task| task.is_finished()) {
                    task.await??;
                }
                bail!("clients did not all connect in time");
            }
        }
        Ok(())
    }

    /// Announces the load phase, `notice` from now, for `load`; returns
    /// when it starts.
    ///
    /// Announced ahead, each client waits for it on its own thread's
    /// timer: woken by the announcement itself, from this thread, clients
    /// queue for their thread's remote-wake queue, which is served one task
    /// in 31 while the clients already started keep it busy (at 10 000
    /// clients and 8 messages in flight, half of them started after the
    /// run was over).
    fn start(&self, notice: Duration, load: Duration) -> Instant {
        let epoch = Instant::now() + notice;
        self.start.send_replace(Some((epoch, epoch + load)));
        epoch
    }

    /// Every latency the clients measured, once the load phase is over.
    async fn latencies(self) -> anyhow::Result<Vec<u64>> {
        let mut latencies = Vec::new();
        for task in self.tasks {
            latencies.extend(task.await??);
        }
        Ok(latencies)
    }
}

/// Clients run by a worker process: this binary again, with
/// [`WORKER_ENV`] set, talking over its stdin and stdout.
struct WorkerClients {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl WorkerClients {
    /// Starts a worker for the clients of `pairs` (see
    /// [`LocalClients::spawn`]).
    fn spawn(addrs: &[String], pairs: Range<usize>, in_flight: usize) -> anyhow::Result<Self> {
        let job = format!(
            "{};{};{};{in_flight}",
            addrs.join(","),
            pairs.start,
            pairs.end
        );
        let mut child = Command::new(std::env::current_exe()?)
            .env(WORKER_ENV, job)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start a worker")?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        Ok(Self {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// The worker's next line, which must start with `word`; the rest.
    async fn line(&mut self, word: &str) -> anyhow::Result<String> {
        let line = self
            .stdout
            .next_line()
            .await?
            .with_context(|| format!("the worker ended before saying {word:?}"))?;
        line.strip_prefix(word)
            .map(|rest| rest.trim().to_owned())
            .with_context(|| format!("the worker said {line:.80?}, not {word:?}"))
    }

    async fn connected(&mut self) -> anyhow::Result<()> {
        tokio::time::timeout(SETUP_TIMEOUT, self.line("ready"))
            .await
            .context("the worker's clients did not all connect in time")?
            .map(drop)
    }

    async fn start(&mut self, notice: Duration, load: Duration) -> anyhow::Result<()> {
        let line = format!("start {} {}\n", notice.as_micros(), load.as_micros());
        self.stdin.write_all(line.as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    async fn latencies(mut self) -> anyhow::Result<Vec<u64>> {
        let line = self.line("latencies").await?;
        let latencies = line
            .split_whitespace()
            .map(|value| value.parse().context("a latency"))
            .collect::<anyhow::Result<_>>()?;
        let status = self.child.wait().await?;
        if !status.success() {
            bail!("the worker ended with {status}");
        }
        Ok(latencies)
    }
}

/// A worker process: runs the clients of its job (nodes, first pair, end
/// pair, messages in flight), says `ready` once all are connected, starts
/// on `start NOTICE_US LOAD_US`, and answers with its latencies.
fn worker(job: &str) -> anyhow::Result<()> {
    let [addrs, first, end, in_flight] = job.split(';').collect::<Vec<_>>()[..] else {
        bail!("a worker's job is NODES;FIRST;END;IN_FLIGHT, not {job:?}");
    };
    let addrs: Vec<String> = addrs.split(',').map(str::to_owned).collect();
    let pairs = first.parse()?..end.parse()?;
    let in_flight = in_flight.parse()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let threads = ClientThreads::start(CLIENT_THREADS)?;
    runtime.block_on(async {
        let mut clients = LocalClients::spawn(&addrs, pairs, in_flight, &threads)?;
        clients.connected().await?;
        println!("ready");
        let mut line = String::new();
        BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await?;
        let times: Vec<u64> = line
            .strip_prefix("start")
            .context("expected `start`")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let [notice, load] = times[..] else {
            bail!("expected `start NOTICE_US LOAD_US`, not {line:?}");
        };
        clients.start(Duration::from_micros(notice), Duration::from_micros(load));
        let latencies = clients.latencies().await?;
        let text: Vec<String> = latencies.iter().map(u64::to_string).collect();
        println!("latencies {}", text.join(" "));
        Ok(())
    })
}

/// One load-generating client.
struct Client {
    url: String,
    /// Where `url` points, for the socket bound to `source`.
    server: SocketAddr,
    source: Ipv4Addr,
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
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((self.source, 0)))?;
        let stream = socket
            .connect(self.server)
            .await
            .with_context(|| format!("connect {} from {}", self.server, self.source))?;
        // As browsers do for WebSockets: with several messages in flight,
        // Nagle's algorithm would hold each behind the server's delayed ack.
        stream.set_nodelay(true)?;
        let (mut ws, _) = tokio_tungstenite::client_async(self.url.as_str(), stream)
            .await
            .with_context(|| format!("handshake {}", self.url))?;
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

        // Keep reading while idle so pings are answered, until the start
        // announced comes. The partner may start first: its first messages
        // are kept for the load phase (dropped, they would stall the pair
        // for the whole run). Timestamps count from a shared epoch, so a
        // receiver can subtract its sender's.
        let mut early = Vec::new();
        let mut announced: Option<(Instant, Instant)> = None;
        let (epoch, deadline) = loop {
            let starting = async {
                match announced {
                    Some((epoch, _)) => tokio::time::sleep_until(epoch).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = start.changed(), if announced.is_none() => {
                    changed?;
                    announced = *start.borrow();
                }
                () = starting => break announced.context("start announced")?,
                frame = ws.next() => {
                    if let Message::Text(text) = frame.context("closed while idle")?? {
                        early.extend(sent_at(&text)?);
                    }
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
        let mut receipts = VecDeque::from(early);
        loop {
            let sent = match receipts.pop_front() {
                Some(sent) => sent,
                None => {
                    let frame = tokio::select! {
                        frame = ws.next() => frame.context("closed under load")??,
                        () = tokio::time::sleep_until(deadline) => break,
                    };
                    let Message::Text(text) = frame else { continue };
                    let Some(sent) = sent_at(&text)? else {
                        continue;
                    };
                    sent
                }
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

/// The send time a bench message carries; `None` for other frames (peer
/// lists).
fn sent_at(text: &str) -> anyhow::Result<Option<u64>> {
    let value: Value = serde_json::from_str(text)?;
    Ok(value["t"].as_u64())
}

/// Starts a target's processes: one server, or `redis-server` and the
/// nodes pointed at it.
async fn deploy(target: &Target) -> anyhow::Result<Deployment> {
    if target.cluster_nodes == 0 {
        return Ok(Deployment {
            nodes: vec![spawn(target, &[]).await?],
            redis: None,
        });
    }
    let redis = start_redis().await?;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut deployment = Deployment {
        nodes: Vec::new(),
        redis: Some(redis),
    };
    for _ in 0..target.cluster_nodes {
        match spawn(target, &["--redis".to_owned(), url.clone()]).await {
            Ok(node) => deployment.nodes.push(node),
            Err(error) => {
                deployment.stop().await?;
                return Err(error);
            }
        }
    }
    Ok(deployment)
}

/// `redis-server` on a free loopback port, in a temporary directory,
/// without persistence (the run needs nothing kept, and a save would cost
/// CPU that is not Redis's per message).
async fn start_redis() -> anyhow::Result<BenchRedis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir =
        std::env::temp_dir().join(format!("parlor-bench-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(&dir)
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .args(["--loglevel", "warning", "--maxclients", "1000"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("start redis-server (apt-get install redis-server)")?;
    let redis = BenchRedis { child, dir, port };
    let deadline = Instant::now() + SETUP_TIMEOUT;
    loop {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut answer = [0u8; 7];
            if stream.write_all(b"PING\r\n").await.is_ok()
                && stream.read_exact(&mut answer).await.is_ok()
                && &answer == b"+PONG\r\n"
            {
                return Ok(redis);
            }
        }
        if Instant::now() > deadline {
            bail!("redis-server on port {port} did not answer in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a server and reads its address from the first stdout line.
async fn spawn(target: &Target, extra: &[String]) -> anyhow::Result<(Child, String)> {
    let mut command = Command::new(&target.program);
    command
        .args(&target.args)
        .args(extra)
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
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

/// CPU time a process has used, in seconds.
struct CpuTime {
    user: f64,
    kernel: f64,
}

impl CpuTime {
    fn total(&self) -> f64 {
        self.user + self.kernel
    }
}

/// CPU time (user and system) a process has used, from `/proc/<pid>/stat`
/// (fields 14 and 15, in clock ticks).
fn cpu_seconds(pid: u32) -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; count from after it.
    let after_name = stat.rsplit_once(')').context("no command name")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields.get(index).context("short stat")?.parse::<f64>()?)
    };
    // Fields 14 and 15 of the line are 12 and 13 after the name.
    let per_second = clock_ticks_per_second();
    Ok(CpuTime {
        user: ticks(11)? / per_second,
        kernel: ticks(12)? / per_second,
    })
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
        "| connections | server | messages/s | p50 latency | p99 latency | memory per idle connection | server CPU per message | of which kernel |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for (size, figures) in rows {
        for (target, f) in targets.iter().zip(figures) {
            println!(
                "| {size} | {} | {:.0} | {:.0} µs | {:.0} µs | {:.1} KiB | {:.2} µs | {:.2} µs |",
                target.name,
                f.messages_per_second,
                f.p50_us,
                f.p99_us,
                f.bytes_per_connection / 1024.0,
                f.cpu_us_per_message,
                f.kernel_cpu_us_per_message
            );
        }
        if let [ours, reference] = figures.as_slice() {
            println!(
                "| {size} | **ratio** parlor / node | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                ours.messages_per_second / reference.messages_per_second,
                ours.p50_us / reference.p50_us,
                ours.p99_us / reference.p99_us,
                ours.bytes_per_connection / reference.bytes_per_connection,
                ours.cpu_us_per_message / reference.cpu_us_per_message,
                ours.kernel_cpu_us_per_message / reference.kernel_cpu_us_per_message
            );
        }
    }
    println!();
    println!(
        "Ratios: messages/s above 1 means parlor-signal relays more; latency and memory below 1 mean parlor-signal is lower."
    );
    println!();
    for (size, figures) in rows {
        if let [ours, reference] = figures.as_slice() {
            println!(
                "Floor at {size}: parlor-signal's kernel time alone is {:.2}× Node's whole CPU per message.",
                ours.kernel_cpu_us_per_message / reference.cpu_us_per_message
            );
        }
    }
}

/// The cluster-mode table: the cluster row, the single-node row, and what
/// the cluster costs per message over one node.
fn print_cluster_table(
    targets: &[Target],
    rows: &[(usize, Vec<Figures>)],
    seconds: u64,
    in_flight: usize,
) {
    println!(
        "Rooms of two, ping-pong with `to`, {in_flight} message(s) in flight per pair, {seconds} s per run; in the cluster every pair spans two nodes."
    );
    println!();
    println!(
        "| connections | deployment | messages/s | p50 latency | p99 latency | RSS per node (idle, all connected) | CPU per message (all processes) | of which redis-server |"
    );
    println!("|---:|---|---:|---:|---:|---|---:|---:|");
    for (_, figures) in rows {
        for (target, f) in targets.iter().zip(figures) {
            let rss: Vec<String> = f
                .node_rss_bytes
                .iter()
                .map(|&bytes| format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20)))
                .collect();
            println!(
                "| {} | {} | {:.0} | {:.0} µs | {:.0} µs | {} | {:.2} µs | {} |",
                f.connections,
                target.name,
                f.messages_per_second,
                f.p50_us,
                f.p99_us,
                rss.join(" / "),
                f.cpu_us_per_message,
                if target.cluster_nodes == 0 {
                    "—".to_owned()
                } else {
                    format!("{:.2} µs", f.redis_cpu_us_per_message)
                }
            );
        }
        if let [cluster, single] = figures.as_slice() {
            println!(
                "| {} / {} | **ratio** cluster / 1 node | {:.2}× | {:.2}× | {:.2}× | | {:.2}× (+{:.2} µs) | |",
                cluster.connections,
                single.connections,
                cluster.messages_per_second / single.messages_per_second,
                cluster.p50_us / single.p50_us,
                cluster.p99_us / single.p99_us,
                cluster.cpu_us_per_message / single.cpu_us_per_message,
                cluster.cpu_us_per_message - single.cpu_us_per_message
            );
        }
    }
}
