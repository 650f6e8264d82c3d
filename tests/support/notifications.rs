//! Desktop notifications as the app sends them: `dbus-monitor` on a private
//! session bus prints every `Notify` call made on it. No notification
//! server runs there, so nothing is shown; the call itself, with the title
//! and text the app chose, is what the tests read.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::PATIENCE;
use crate::app::SessionBus;

/// The `Notify` calls made on one bus, as `dbus-monitor` prints them.
pub struct NotificationWatch {
    output: Arc<Mutex<String>>,
    _monitor: Child,
}

impl NotificationWatch {
    /// Starts watching `bus` and returns once the monitor is attached.
    pub async fn start(bus: &SessionBus) -> anyhow::Result<Self> {
        let mut monitor = Command::new("dbus-monitor")
            .args(["--address", &bus.address])
            .arg("interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting dbus-monitor (apt-get install dbus)")?;
        let stdout = monitor
            .stdout
            .take()
            .context("dbus-monitor has no stdout")?;
        let output = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(stdout).lines();
        // It says it has become a monitor (a NameAcquired signal) first.
        tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .context("dbus-monitor did not attach")??;
        let sink = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut output) = sink.lock() {
                    output.push_str(&line);
                    output.push('\n');
                }
            }
        });
        Ok(Self {
            output,
            _monitor: monitor,
        })
    }

    /// Everything the monitor printed so far.
    pub fn seen(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// How many `Notify` calls were made so far.
    pub fn count(&self) -> usize {
        self.seen().matches("member=Notify").count()
    }

    /// Waits until a `Notify` call carried `text` (in its title or body).
    pub async fn wait_for(&self, text: &str) -> anyhow::Result<()> {
        let needle = format!("string \"{text}");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.seen().contains(&needle) {
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("no notification with {text:?}; seen:\n{}", self.seen());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
