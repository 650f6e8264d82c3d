//! A `parlor-signal` process on loopback.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::netns::Namespace;
use crate::{PATIENCE, binary};

/// A running signaling server; killed when dropped.
pub struct SignalProcess {
    child: Child,
    addr: String,
}

impl SignalProcess {
    /// Starts a server on a free loopback port.
    pub async fn start(extra_args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", extra_args).await
    }

    /// Starts a server on `listen` (used to restart one on the same port).
    pub async fn start_on(listen: &str, extra_args: &[&str]) -> Self {
        Self::start_with(Command::new(binary("parlor-signal")), listen, extra_args).await
    }

    /// Starts a server on `listen` inside a namespace.
    pub async fn start_in(namespace: &Namespace, listen: &str, extra_args: &[&str]) -> Self {
        let command = namespace.command(&binary("parlor-signal"));
        Self::start_with(command, listen, extra_args).await
    }

    async fn start_with(mut command: Command, listen: &str, extra_args: &[&str]) -> Self {
        let mut child = command
            .arg("--listen")
            .arg(listen)
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start parlor-signal: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("parlor-signal printed nothing"))
            .unwrap_or_else(|e| panic!("reading parlor-signal's stdout: {e}"))
            .unwrap_or_else(|| panic!("parlor-signal exited before listening"));
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    /// `HOST:PORT` it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The server URL clients use.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops it the way an operator does (SIGTERM) and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
    }
}
