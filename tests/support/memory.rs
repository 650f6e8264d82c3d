//! The memory a process tree holds: an app and every process it started
//! (the Tauri app's WebKitWebProcess and WebKitNetworkProcess, through
//! bubblewrap when WebKit sandboxes them), summed from each process's
//! `/proc/<pid>/smaps_rollup`.
//!
//! RSS counts every page a process has resident, so pages shared between the
//! processes (libraries, WebKit's shared memory) are counted once per
//! process: the sum overstates what the tree costs the machine. PSS divides
//! each shared page among the processes sharing it: the sum is the tree's
//! fair share. Both are given, as `top` and `smem` would show them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;

/// One process's resident memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Its id.
    pub pid: u32,
    /// Its program's file name (`WebKitWebProcess`), from its command line.
    pub name: String,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Proportional set size, KiB.
    pub pss_kib: u64,
}

/// The memory of every process of a tree, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeMemory {
    /// Each process, roots first, then by id.
    pub processes: Vec<ProcessMemory>,
}

impl TreeMemory {
    /// Reads the memory of `roots` and all their descendants now. Processes
    /// that exit while being read are left out.
    pub fn of(roots: &[u32]) -> anyhow::Result<Self> {
        let mut processes = Vec::new();
        for pid in tree(roots)? {
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue;
            };
            let name = name_of(pid);
            processes.push(ProcessMemory {
                pid,
                name,
                rss_kib: field_kib(&rollup, "Rss:")
                    .with_context(|| format!("no Rss in /proc/{pid}/smaps_rollup"))?,
                pss_kib: field_kib(&rollup, "Pss:")
                    .with_context(|| format!("no Pss in /proc/{pid}/smaps_rollup"))?,
            });
        }
        Ok(Self { processes })
    }

    /// Summed RSS, MiB.
    pub fn rss_mib(&self) -> f64 {
        self.processes.iter().map(|p| p.rss_kib).sum::<u64>() as f64 / 1024.0
    }

    /// Summed PSS, MiB.
    pub fn pss_mib(&self) -> f64 {
        self.processes.iter().map(|p| p.pss_kib).sum::<u64>() as f64 / 1024.0
    }

    /// Per command name: how many processes, their RSS and PSS in MiB;
    /// sorted by name.
    pub fn by_name(&self) -> Vec<(String, usize, f64, f64)> {
        let mut names: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
        for process in &self.processes {
            let entry = names.entry(&process.name).or_default();
            entry.0 += 1;
            entry.1 += process.rss_kib;
            entry.2 += process.pss_kib;
        }
        names
            .into_iter()
            .map(|(name, (count, rss, pss))| {
                (
                    name.to_owned(),
                    count,
                    rss as f64 / 1024.0,
                    pss as f64 / 1024.0,
                )
            })
            .collect()
    }

    /// One line for people: `parlor 40 / 30 MiB, WebKitWebProces 120 / 80 MiB`
    /// (RSS / PSS per command name; `×n` when several processes share it).
    pub fn breakdown(&self) -> String {
        self.by_name()
            .iter()
            .map(|(name, count, rss, pss)| {
                let times = if *count > 1 {
                    format!(" ×{count}")
                } else {
                    String::new()
                };
                format!("{name}{times} {rss:.0} / {pss:.0} MiB")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `roots` and every live descendant of them (found through each process's
/// parent in `/proc/<pid>/stat`), roots first, then by id.
pub fn tree(roots: &[u32]) -> anyhow::Result<Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(parent) = parent_of(pid) {
            children.entry(parent).or_default().push(pid);
        }
    }
    let mut found = BTreeSet::new();
    let mut queue: Vec<u32> = roots.to_vec();
    while let Some(pid) = queue.pop() {
        if found.insert(pid) {
            queue.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    let mut ordered: Vec<u32> = roots
        .iter()
        .copied()
        .filter(|p| found.contains(p))
        .collect();
    ordered.extend(found.iter().copied().filter(|p| !roots.contains(p)));
    ordered.dedup();
    Ok(ordered)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the command name in it is
/// in parentheses and may hold spaces or parentheses: read after the last).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: state, then the parent's id.
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The file name of the program `pid` runs, from the first word of its
/// command line (`/proc/<pid>/comm` cuts names at 15 bytes:
/// `WebKitNetworkPr`); its `comm` if it has no command line.
fn name_of(pid: u32) -> String {
    let from_command_line = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|line| {
            let program = line.split(|byte| *byte == 0).next()?;
            let program = String::from_utf8_lossy(program);
            let name = program.rsplit('/').next()?.to_owned();
            (!name.is_empty()).then_some(name)
        });
    from_command_line.unwrap_or_else(|| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|comm| comm.trim_end().to_owned())
            .unwrap_or_default()
    })
}

/// The value in kB of the `smaps_rollup` line starting with `field`.
fn field_kib(rollup: &str, field: &str) -> Option<u64> {
    rollup
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_rollup_fields_are_read_in_kib() {
        let rollup = "55d0a8a00000-7ffd1b5ff000 ---p 00000000 00:00 0    [rollup]\n\
                      Rss:              204800 kB\nPss:              102400 kB\n\
                      Pss_Anon:          51200 kB\n";
        assert_eq!(field_kib(rollup, "Rss:"), Some(204_800));
        assert_eq!(field_kib(rollup, "Pss:"), Some(102_400));
        assert_eq!(field_kib(rollup, "Swap:"), None);
    }

    #[test]
    fn this_process_and_a_child_are_one_tree() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let pids = tree(&[me]).unwrap();
        assert_eq!(pids[0], me);
        assert!(pids.contains(&child.id()), "{pids:?}");
        let memory = TreeMemory::of(&[me]).unwrap();
        assert!(memory.rss_mib() > 0.0 && memory.pss_mib() > 0.0);
        assert!(memory.rss_mib() >= memory.pss_mib());
        assert!(
            memory.breakdown().contains("sleep"),
            "{}",
            memory.breakdown()
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
