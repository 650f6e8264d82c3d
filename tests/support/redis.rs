//! A real Redis: Debian's `redis-server`, started by the test on a free
//! loopback port with a scratch directory and no persistence, so that
//! killing it and starting it again is a Redis that lost everything.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::PATIENCE;
use crate::process::free_port;

/// A running `redis-server`; killed (and its directory removed) on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    scratch: PathBuf,
}

impl RedisServer {
    /// Starts one on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let port = free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "parlor-redis-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("scratch dir: {e}"));
        let child = Self::spawn(port, &scratch).await;
        Self {
            child,
            port,
            scratch,
        }
    }

    async fn spawn(port: u16, scratch: &PathBuf) -> Child {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(scratch)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (apt-get install redis-server): {e}")
            });
        let deadline = std::time::Instant::now() + PATIENCE;
        while !answers_ping(port) {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on port {port} did not answer in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: everything it held is lost) and starts a fresh
    /// one on the same port.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        self.child = Self::spawn(self.port, &self.scratch).await;
    }
}

/// Whether a Redis on `port` answers `PING` with `+PONG`.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
