//! WebDriver servers (chromedriver, tauri-driver) start browsers and apps of
//! their own, which outlive them if only the driver is killed. Each driver runs
//! in its own process group, and this guard ends the whole group, then removes
//! the scratch directory the test gave it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// A process group led by a spawned driver; ended on drop.
pub struct ProcessGroup {
    leader: Child,
    scratch: PathBuf,
}

impl ProcessGroup {
    /// Spawns `command` as the leader of a new process group; `scratch` (a
    /// temporary profile or home directory) is removed with the group.
    pub fn spawn(command: &mut Command, scratch: PathBuf) -> std::io::Result<Self> {
        let leader = command.process_group(0).spawn()?;
        Ok(Self { leader, scratch })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.leader.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.leader.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A loopback port that was free a moment ago, for a driver to listen on.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
