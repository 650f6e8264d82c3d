//! What Parlor's benchmarks share.
//!
//! Each benchmark (`crates/transport/benches/pair.rs`, `tests/benches/connect.rs`)
//! measures Parlor and its Chromium reference in one run and rewrites its own
//! section of the workspace's `BENCHMARKS.md`. They used to carry a copy each
//! of the same plumbing; this crate is the one copy, a dev-dependency of both:
//!
//! - [`percentile`] of samples, and [`numbers`] / [`number`] to read what a
//!   page measured out of a WebDriver `execute` result;
//! - [`Load`] and [`machine_note`], the sentence every section carries about
//!   how busy the machine was while it ran (this is a shared 2-core machine);
//! - [`Section`], the Markdown section (paragraphs and tables) and the one
//!   writer that replaces it in [`benchmarks_md`] and leaves the other
//!   benchmarks' sections alone.
//!
//! What each benchmark drives (webrtc-rs transports, engine rooms, Chromium
//! pages) stays in the benchmark: those fixtures differ by layer.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

/// The `q` quantile (0.0 to 1.0) of `values`, nearest rank; NaN when empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((((n - 1) as f64) * q).round() as usize).min(n - 1)],
    }
}

/// The numbers of a JSON array, as a page's measurements come back over
/// WebDriver.
pub fn numbers(value: &Value) -> anyhow::Result<Vec<f64>> {
    value
        .as_array()
        .with_context(|| format!("expected an array of numbers, got {value}"))?
        .iter()
        .map(|v| v.as_f64().with_context(|| format!("{v} is not a number")))
        .collect()
}

/// `value` as a number; `what` names it in the error.
pub fn number(value: &Value, what: &str) -> anyhow::Result<f64> {
    value
        .as_f64()
        .with_context(|| format!("{what} is not a number: {value}"))
}

/// How busy the machine was at one moment, to judge how noisy a run was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// The 1-minute load average as `/proc/loadavg` gives it ("?" if unreadable).
    pub one_minute: String,
    /// Compilers (`rustc` processes) running: other people's builds, since
    /// a benchmark runs only once its own build is done.
    pub compilers: usize,
}

impl Load {
    /// Samples the load now.
    pub fn now() -> Self {
        let one_minute = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned());
        let compilers = std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        std::fs::read_to_string(entry.path().join("comm"))
                            .is_ok_and(|comm| comm.trim_end() == "rustc")
                    })
                    .count()
            })
            .unwrap_or(0);
        Self {
            one_minute,
            compilers,
        }
    }
}

/// The sentence a section carries about the machine: its cores, the load
/// average before and after the run, and whether other builds were running.
pub fn machine_note(before: &Load, after: &Load) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let builds = if before.compilers + after.compilers > 0 {
        format!(
            "other builds were compiling ({} / {} rustc processes at the start / end), so \
             absolute figures are low and noisy; rerun on a quiet machine before trusting \
             the tails",
            before.compilers, after.compilers
        )
    } else {
        "no other build was compiling at the start or the end".to_owned()
    };
    format!(
        "Load average (1 min) on this {cores}-core machine: {} before, {} after; {builds}.",
        before.one_minute, after.one_minute
    )
}

/// The workspace's `BENCHMARKS.md` (this crate is `crates/bench-support`).
pub fn benchmarks_md() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .nth(2)
        .unwrap_or(crate_dir)
        .join("BENCHMARKS.md")
}

/// One benchmark's section of `BENCHMARKS.md`: a `## ` heading, then
/// paragraphs and tables, each after a blank line.
#[derive(Debug, Clone)]
pub struct Section {
    lines: Vec<String>,
}

impl Section {
    /// A section under `heading`, which starts with `## ` and names the
    /// section uniquely: [`Section::write_into`] finds it again by it.
    pub fn new(heading: &str) -> Self {
        Self {
            lines: vec![heading.to_owned()],
        }
    }

    /// The heading line.
    pub fn heading(&self) -> &str {
        &self.lines[0]
    }

    /// Adds a paragraph.
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.lines.push(String::new());
        self.lines.push(text.into());
    }

    /// Starts a table with these column headings; [`Section::row`] fills it.
    pub fn table(&mut self, columns: &[&str]) {
        self.lines.push(String::new());
        self.row(columns);
        self.lines
            .push(format!("|{}", "---|".repeat(columns.len())));
    }

    /// Adds a row to the current table. A cell's `|` becomes `/` and line
    /// breaks become spaces, so an error message cannot break the table.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let mut line = "|".to_owned();
        for cell in cells {
            let cell = cell.as_ref().replace('|', "/").replace('\n', " ");
            if cell.is_empty() {
                line.push_str(" |");
            } else {
                line.push_str(&format!(" {cell} |"));
            }
        }
        self.lines.push(line);
    }

    /// Replaces this section in the file at `path` (from its heading up to the
    /// next `## ` heading), or appends it; the other sections belong to other
    /// benchmarks and are left as they are.
    pub fn write_into(&self, path: &Path) -> anyhow::Result<()> {
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                "# Benchmarks\n".to_owned()
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        std::fs::write(
            path,
            replace_section(&existing, self.heading(), &self.to_string()),
        )
        .with_context(|| format!("writing {}", path.display()))
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// `document` with the section under `heading` replaced by `section`, or with
/// `section` appended after a blank line.
fn replace_section(document: &str, heading: &str, section: &str) -> String {
    match document.find(heading) {
        Some(start) => {
            let after = start + heading.len();
            let end = document[after..]
                .find("\n## ")
                .map_or(document.len(), |offset| after + offset + 1);
            format!("{}{section}\n{}", &document[..start], &document[end..])
        }
        None => format!("{}\n\n{section}", document.trim_end_matches('\n')),
    }
}

/// Starts a server process (its stdout piped, killed when dropped) and
/// reads the address from its first line, `listening on HOST:PORT`, which
/// `parlor-signal` prints once it accepts connections.
pub async fn start_listening(
    mut command: tokio::process::Command,
    within: std::time::Duration,
) -> anyhow::Result<(tokio::process::Child, String)> {
    use anyhow::Context;
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start the server")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let line = tokio::time::timeout(
        within,
        tokio::io::BufReader::new(stdout).lines().next_line(),
    )
    .await
    .context("server prints its address in time")??
    .context("server printed nothing")?;
    let addr = line
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line {line:?}"))?
        .to_owned();
    Ok((child, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn benchmarks_md_is_at_the_workspace_root() {
        let path = benchmarks_md();
        let root = path.parent().unwrap();
        assert!(root.join("Cargo.toml").is_file(), "{}", path.display());
        assert!(
            root.join("crates/bench-support").is_dir(),
            "{}",
            path.display()
        );
    }

    #[test]
    fn percentile_is_the_nearest_rank() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 0.5), 3.0);
        assert_eq!(percentile(&values, 0.99), 5.0);
        assert_eq!(percentile(&values, 1.0), 5.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn numbers_read_a_json_array() {
        assert_eq!(numbers(&json!([1, 2.5])).unwrap(), vec![1.0, 2.5]);
        assert!(numbers(&json!({"a": 1})).is_err());
        assert!(numbers(&json!([1, "x"])).is_err());
        assert_eq!(number(&json!(9.5), "rate").unwrap(), 9.5);
        assert!(number(&json!(null), "rate").is_err());
    }

    fn sample() -> Section {
        let mut section = Section::new("## Mine");
        section.paragraph("Command: `x`.");
        section.table(&["pair", "connect", "RTT"]);
        section.row(&["a", "1.0 ms", "2 / 3 µs"]);
        section.row(&["b", "unavailable: x | y\nz", ""]);
        section
    }

    #[test]
    fn a_section_renders_paragraphs_and_tables() {
        assert_eq!(
            sample().to_string(),
            "## Mine\n\nCommand: `x`.\n\n| pair | connect | RTT |\n|---|---|---|\n\
             | a | 1.0 ms | 2 / 3 µs |\n| b | unavailable: x / y z | |\n"
        );
    }

    #[test]
    fn writing_replaces_only_our_section() {
        let document =
            "# Benchmarks\n\n## Other\n\nkeep\n\n## Mine\n\nold\n\n## Last\n\nkeep too\n";
        let updated = replace_section(document, "## Mine", "## Mine\n\nnew\n");
        assert_eq!(
            updated,
            "# Benchmarks\n\n## Other\n\nkeep\n\n## Mine\n\nnew\n\n## Last\n\nkeep too\n"
        );
        // Writing the same section again changes nothing.
        assert_eq!(
            replace_section(&updated, "## Mine", "## Mine\n\nnew\n"),
            updated
        );
        // Last in the file.
        assert_eq!(
            replace_section("# B\n\n## Mine\n\nold\n", "## Mine", "## Mine\n\nnew\n"),
            "# B\n\n## Mine\n\nnew\n\n"
        );
    }

    #[test]
    fn writing_appends_a_missing_section() {
        assert_eq!(
            replace_section("# Benchmarks\n", "## Mine", "## Mine\n\nnew\n"),
            "# Benchmarks\n\n## Mine\n\nnew\n"
        );
    }

    #[test]
    fn the_machine_note_says_whether_others_were_building() {
        let quiet = Load {
            one_minute: "0.10".to_owned(),
            compilers: 0,
        };
        let busy = Load {
            one_minute: "6.11".to_owned(),
            compilers: 2,
        };
        let note = machine_note(&quiet, &busy);
        assert!(note.contains("0.10 before, 6.11 after"), "{note}");
        assert!(note.contains("0 / 2 rustc processes"), "{note}");
        assert!(machine_note(&quiet, &quiet).contains("no other build"));
    }
}
