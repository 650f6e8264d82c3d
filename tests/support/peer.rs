//! A `parlor-peer` process, driven through stdin and observed through the
//! JSON events it prints on stdout.

use std::process::{ExitStatus, Stdio};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::netns::Namespace;
use crate::{PATIENCE, binary};

/// Where peers bind WebRTC unless a test says otherwise: two peers on one
/// machine meet on loopback.
pub const LOOPBACK: &str = "127.0.0.1:0";

/// Every interface but loopback, as a peer on a real network binds.
pub const EVERY_INTERFACE: &str = "0.0.0.0:0";

/// A running headless peer; killed when dropped.
pub struct PeerProcess {
    /// A name for failure messages.
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every event seen so far, for failure messages and later checks.
    pub seen: Vec<Value>,
    /// The room link (the first line of `create`, or the joined link).
    pub link: String,
}

impl PeerProcess {
    /// `parlor-peer create --server URL`: reads the link from the first line.
    pub async fn create(label: &str, server_url: &str) -> Self {
        Self::create_with(label, server_url, &[]).await
    }

    /// `create` with more options (`--store FILE`...).
    pub async fn create_with(label: &str, server_url: &str, options: &[&str]) -> Self {
        Self::create_with_env(label, server_url, options, &[]).await
    }

    /// `create` with more options and environment variables (test hooks).
    pub async fn create_with_env(
        label: &str,
        server_url: &str,
        options: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let args = [&["create", "--server", server_url], options].concat();
        let mut command = Command::new(binary("parlor-peer"));
        command.envs(env.iter().copied());
        Self::spawn_with(command, LOOPBACK, label, &args)
            .read_link()
            .await
    }

    /// `create`, inside a namespace, WebRTC bound to `bind`.
    pub async fn create_in(
        namespace: &Namespace,
        bind: &str,
        label: &str,
        server_url: &str,
    ) -> Self {
        let command = namespace.command(&binary("parlor-peer"));
        Self::spawn_with(command, bind, label, &["create", "--server", server_url])
            .read_link()
            .await
    }

    /// `join`, inside a namespace, WebRTC bound to `bind`.
    pub fn join_in(namespace: &Namespace, bind: &str, label: &str, link: &str) -> Self {
        Self::join_in_with(namespace, bind, label, link, &[])
    }

    /// `join_in` with more options (`--accept-files DIR`...).
    pub fn join_in_with(
        namespace: &Namespace,
        bind: &str,
        label: &str,
        link: &str,
        options: &[&str],
    ) -> Self {
        let command = namespace.command(&binary("parlor-peer"));
        let args = [&["join", link], options].concat();
        let mut peer = Self::spawn_with(command, bind, label, &args);
        peer.link = link.to_owned();
        peer
    }

    /// Reads the link `create` prints first.
    async fn read_link(mut self) -> Self {
        let first = self.next_line().await;
        assert!(
            first.starts_with("parlor://join/"),
            "{}: first line is not a link: {first:?}",
            self.label
        );
        self.link = first;
        self
    }

    /// `parlor-peer join LINK`.
    pub fn join(label: &str, link: &str) -> Self {
        Self::join_with(label, link, &[])
    }

    /// `join` with more options (`--store FILE`...).
    pub fn join_with(label: &str, link: &str, options: &[&str]) -> Self {
        let args = [&["join", link], options].concat();
        let mut peer = Self::spawn(label, &args);
        peer.link = link.to_owned();
        peer
    }

    /// Starts `parlor-peer` with `args`, WebRTC bound to loopback, named
    /// `label` unless `args` name it.
    pub fn spawn(label: &str, args: &[&str]) -> Self {
        Self::spawn_with(Command::new(binary("parlor-peer")), LOOPBACK, label, args)
    }

    fn spawn_with(mut command: Command, bind: &str, label: &str, args: &[&str]) -> Self {
        if !args.contains(&"--name") {
            command.args(["--name", label]);
        }
        let mut child = command
            .args(args)
            .args(["--bind", bind])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start parlor-peer: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            label: label.to_owned(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
            link: String::new(),
        }
    }

    async fn next_line(&mut self) -> String {
        match tokio::time::timeout(PATIENCE, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{}: stdout closed; saw {:#?}", self.label, self.seen),
            Err(_) => panic!(
                "{}: no output for {PATIENCE:?}; saw {:#?}",
                self.label, self.seen
            ),
        }
    }

    /// Waits for the next event that `matches` accepts and returns it.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_until(what, tokio::time::Instant::now() + PATIENCE, matches)
            .await
    }

    /// Like [`Self::wait_for`], but gives up at `deadline`: for the steps a
    /// test holds to a time limit of its own, tighter than [`PATIENCE`].
    pub async fn wait_for_until(
        &mut self,
        what: &str,
        deadline: tokio::time::Instant,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!(
                    "{}: exited while waiting for {what}; saw {:#?}",
                    self.label, self.seen
                ),
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; saw {:#?}",
                    self.label, self.seen
                ),
            };
            let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("{}: stdout line is not JSON ({e}): {line}", self.label)
            });
            self.seen.push(event.clone());
            if matches(&event) {
                return event;
            }
        }
    }

    /// Waits for an event named `name` (and, if given, with `field == value`).
    pub async fn wait_event(&mut self, name: &str, field: Option<(&str, &str)>) -> Value {
        self.wait_for(&format!("{name} {field:?}"), |e| {
            e["event"] == name && field.is_none_or(|(k, v)| e[k] == v)
        })
        .await
    }

    /// Our peer id, from the `signaling-connected` event.
    pub async fn peer_id(&mut self) -> String {
        if let Some(id) = self
            .seen
            .iter()
            .find(|e| e["event"] == "signaling-connected")
        {
            return id["peer_id"].as_str().unwrap_or_default().to_owned();
        }
        let event = self.wait_event("signaling-connected", None).await;
        event["peer_id"].as_str().unwrap_or_default().to_owned()
    }

    /// Returns the first event named `name` (with `field == value`, if
    /// given) seen so far, or waits for one.
    pub async fn seen_or_wait(&mut self, name: &str, field: Option<(&str, &str)>) -> Value {
        let wanted = |e: &Value| e["event"] == name && field.is_none_or(|(k, v)| e[k] == v);
        match self.seen.iter().find(|e| wanted(e)) {
            Some(event) => event.clone(),
            None => self.wait_for(&format!("{name} {field:?}"), wanted).await,
        }
    }

    /// Waits until the chat channel to `peer` is open (or returns at once if
    /// it opened while we waited for something else).
    pub async fn wait_connected_to(&mut self, peer: &str) {
        self.seen_or_wait("peer-connected", Some(("peer", peer)))
            .await;
    }

    /// Like [`Self::wait_connected_to`], but fails unless the channel is
    /// open within `limit` of `since` (a moment the test chose, such as when
    /// both peers were in the room).
    pub async fn wait_connected_to_within(
        &mut self,
        peer: &str,
        since: tokio::time::Instant,
        limit: std::time::Duration,
    ) {
        let wanted = |e: &Value| e["event"] == "peer-connected" && e["peer"] == peer;
        if !self.seen.iter().any(wanted) {
            let what = format!("peer-connected to {peer} (limit: {limit:?})");
            self.wait_for_until(&what, since + limit, wanted).await;
        }
    }

    /// Types a chat line.
    pub async fn say(&mut self, text: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: stdin already closed", self.label));
        stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot write stdin: {e}", self.label));
        let _ = stdin.flush().await;
    }

    /// Types many chat lines at once, as fast as the peer reads them: one
    /// write of all of them (a peer that floods the room).
    pub async fn say_all(&mut self, lines: &[String]) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: stdin already closed", self.label));
        let mut block = String::new();
        for line in lines {
            block.push_str(line);
            block.push('\n');
        }
        stdin
            .write_all(block.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot write stdin: {e}", self.label));
        let _ = stdin.flush().await;
    }

    /// Ends input (the peer leaves the room) and waits for the exit status.
    pub async fn finish(mut self) -> ExitStatus {
        self.stdin.take();
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit after end of input", self.label))
            .unwrap_or_else(|e| panic!("{}: wait failed: {e}", self.label))
    }

    /// Ends input (the peer leaves the room), reads every event it prints
    /// until it exits, and returns all its events. Checks that something
    /// happened *at most* once look at this: nothing can arrive later.
    pub async fn finish_with_events(mut self) -> Vec<Value> {
        self.stdin.take();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                        panic!("{}: stdout line is not JSON ({e}): {line}", self.label)
                    });
                    self.seen.push(event);
                }
                Ok(None) => break,
                Err(_) => panic!(
                    "{}: did not exit within {PATIENCE:?} after end of input; saw {:#?}",
                    self.label, self.seen
                ),
            }
        }
        let _ = tokio::time::timeout_at(deadline, self.child.wait()).await;
        self.seen
    }

    /// Freezes the process (SIGSTOP): it reads, answers and acknowledges
    /// nothing until [`Self::resume`].
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self
            .child
            .id()
            .and_then(|pid| libc::pid_t::try_from(pid).ok())
            .unwrap_or_else(|| panic!("{}: already exited", self.label));
        // SAFETY: kill(2) on our own child's pid, with a valid signal number.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "{}: cannot signal {signal}", self.label);
    }

    /// Kills the process without letting it say goodbye (SIGKILL).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
