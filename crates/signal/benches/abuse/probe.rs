//! What the abuse bench reads about the server process: memory and CPU time
//! from `/proc/<pid>`, and its counters and gauges from `GET /metrics`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Samples of `/metrics` by series (`name{labels}`).
pub(crate) type Metrics = BTreeMap<String, f64>;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub(crate) fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let prefix = format!("{field}:");
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(value.trim().trim_end_matches("kB").trim().parse()?)
}

/// User plus system CPU time of the process so far, in seconds (`utime` and
/// `stime` of `/proc/<pid>/stat`, in clock ticks).
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // the fields after it start with field 3, the state.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(number - 3)
            .with_context(|| format!("no field {number} in /proc/<pid>/stat"))?
            .parse::<u64>()? as f64)
    };
    Ok((field(14)? + field(15)?) / clock_ticks())
}

/// `sysconf(_SC_CLK_TCK)`, as `getconf` says (100 almost everywhere).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks: &f64| ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// `GET /metrics` over a fresh connection: every sample, by series.
pub(crate) async fn scrape(addr: &str) -> anyhow::Result<Metrics> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("/metrics answers in time")??;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("no end of the HTTP head from /metrics")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        bail!("/metrics answered {status:?}");
    }
    Ok(body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.trim().parse().ok()?))
        })
        .collect())
}

/// Whether a series is a counter, by the Prometheus naming convention.
pub(crate) fn is_counter(series: &str) -> bool {
    series
        .split('{')
        .next()
        .is_some_and(|name| name.ends_with("_total"))
}

/// Changed counters and by how much, by short name.
pub(crate) type Changes = Vec<(String, f64)>;

/// Counters that count traffic (or the server's housekeeping) rather than
/// refusals.
const TRAFFIC: [&str; 5] = [
    "parlor_signal_connections_total",
    "parlor_signal_messages_relayed_total",
    "parlor_signal_bytes_relayed_total",
    "parlor_signal_peer_lists_sent_total",
    "parlor_signal_memory_trims_total",
];

/// Every counter that changed from `before` to `after`, with its change;
/// the first list holds what the server refused or closed (every counter
/// that is not plain traffic, so counters added later show up too), the
/// second the traffic counters.
pub(crate) fn changed_counters(before: &Metrics, after: &Metrics) -> (Changes, Changes) {
    let mut refusals = Vec::new();
    let mut traffic = Vec::new();
    for (series, &value) in after.iter().filter(|(series, _)| is_counter(series)) {
        let delta = value - before.get(series).copied().unwrap_or(0.0);
        if delta == 0.0 {
            continue;
        }
        let name = series.split('{').next().unwrap_or(series);
        if TRAFFIC.contains(&name) {
            traffic.push((short_name(series), delta));
        } else {
            refusals.push((short_name(series), delta));
        }
    }
    (refusals, traffic)
}

/// `parlor_signal_limit_exceeded_total{limit="outbox"}` → `limit_exceeded[outbox]`.
pub(crate) fn short_name(series: &str) -> String {
    let (name, labels) = series.split_once('{').unwrap_or((series, ""));
    let name = name.trim_start_matches("parlor_signal_");
    let name = name.strip_suffix("_total").unwrap_or(name);
    let values: Vec<&str> = labels
        .trim_end_matches('}')
        .split(',')
        .filter_map(|label| label.split_once('='))
        .map(|(_, value)| value.trim_matches('"'))
        .collect();
    if values.is_empty() {
        name.to_owned()
    } else {
        format!("{name}[{}]", values.join(","))
    }
}

/// The peaks a [`Sampler`] saw.
#[derive(Debug, Default)]
pub(crate) struct Peaks {
    /// Highest `VmRSS` sampled, KiB.
    pub(crate) rss_kib: u64,
    /// Highest value of each gauge of `/metrics`.
    pub(crate) gauges: Metrics,
    /// Scrapes of `/metrics` that failed (refused, timed out).
    pub(crate) failed_scrapes: usize,
}

/// Samples the server while an attack runs: `VmRSS` every 200 ms, the
/// gauges of `/metrics` every second.
pub(crate) struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Peaks>,
}

impl Sampler {
    pub(crate) fn start(pid: u32, addr: String) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peaks = Peaks::default();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            for round in 0u64.. {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                if let Ok(rss) = status_kib(pid, "VmRSS") {
                    peaks.rss_kib = peaks.rss_kib.max(rss);
                }
                if round % 5 == 0 {
                    match scrape(&addr).await {
                        Ok(metrics) => {
                            for (series, value) in metrics {
                                if !is_counter(&series) {
                                    let peak = peaks.gauges.entry(series).or_insert(value);
                                    *peak = peak.max(value);
                                }
                            }
                        }
                        Err(_) => peaks.failed_scrapes += 1,
                    }
                }
            }
            peaks
        });
        Self { stop, task }
    }

    pub(crate) async fn finish(self) -> Peaks {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
