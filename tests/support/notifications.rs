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

/// A real notification server, dunst, on a private session bus (and the
/// test's X display): it shows the app's notifications and, like a person
/// clicking one, invokes a notification's default action on request.
pub struct NotificationServer {
    bus: String,
    _dunst: Child,
}

impl NotificationServer {
    /// Starts dunst on `bus` and waits until it answers as the desktop's
    /// notification server.
    pub async fn start(bus: &SessionBus) -> anyhow::Result<Self> {
        let dunst = Command::new("dunst")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting dunst (apt-get install dunst)")?;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let answered = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.Notifications",
                ])
                .args([
                    "/org/freedesktop/Notifications",
                    "org.freedesktop.Notifications.GetServerInformation",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await?;
            if answered.success() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("dunst never took the notification server's name");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            bus: bus.address.clone(),
            _dunst: dunst,
        })
    }

    /// Clicks the notification on top: its default action.
    pub async fn click_latest(&self) -> anyhow::Result<()> {
        let clicked = Command::new("dunstctl")
            .args(["action", "0"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .status()
            .await?;
        anyhow::ensure!(clicked.success(), "dunstctl action failed");
        Ok(())
    }
}
