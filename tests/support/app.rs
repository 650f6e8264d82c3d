//! The Parlor desktop app in a real window, driven over WebDriver:
//! `tauri-driver` (in its own process group, so killing the group also ends
//! the WebKitWebDriver and the app it started) with fantoccini as the client.
//!
//! Each instance gets its own XDG directories, WebRTC bound to loopback,
//! the embedded signaling server on 127.0.0.1 and a downloads folder of its
//! own (`PARLOR_DOWNLOAD_DIR`), so nothing leaves the machine and no test
//! writes to the real Downloads folder.
//! Usually it also gets its own profile (`PARLOR_PROFILE`, which turns the
//! single-instance hand-over off) so several run side by side, fresh or kept
//! by the test across a restart; the hand-over tests instead run one without
//! a profile on a private D-Bus session bus.
//!
//! Needs an X display: the test command runs everything under `xvfb-run`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::Locator;
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use crate::process::{ProcessGroup, free_port};
use crate::webdriver;
use crate::{PATIENCE, binary};

/// How long WebKitWebDriver may take to start the app and open a session.
/// With single-instance on and a running instance, session creation hangs
/// forever: this bounds it.
const SESSION_TIMEOUT: Duration = Duration::from_secs(90);

/// The WebDriver "Enter" key.
pub const ENTER: &str = "\u{E007}";

/// The WebDriver "Escape" key.
pub const ESCAPE: &str = "\u{E00C}";

/// The WebDriver "Tab" key.
pub const TAB: &str = "\u{E004}";

/// Ctrl+Q (the WebDriver Control key held, `q`, released): closes the
/// window the way its close button does.
pub const CTRL_Q: &str = "\u{E009}q\u{E000}";

/// How long ending the WebDriver session may take. The process group is
/// killed on drop either way, so a session that cannot end (the app gone
/// already, or holding its close) never stalls a test.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Window tests share two cores with everything else; one at a time keeps
/// their timings far from the limits.
static WINDOWS: Mutex<()> = Mutex::const_new(());

/// Holds the window tests of this process to one at a time.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
    WINDOWS.lock().await
}

/// Where tests save screenshots: `tests/artifacts/` (gitignored).
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A private D-Bus session bus (the single-instance plugin finds the running
/// instance through it); the daemon is killed on drop.
pub struct SessionBus {
    child: Child,
    /// The value for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

impl SessionBus {
    /// Starts `dbus-daemon --session` and reads its address.
    pub fn start() -> anyhow::Result<Self> {
        use std::io::BufRead;
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting dbus-daemon (apt-get install dbus)")?;
        let stdout = child.stdout.take().context("dbus-daemon has no stdout")?;
        let mut address = String::new();
        std::io::BufReader::new(stdout).read_line(&mut address)?;
        let address = address.trim().to_owned();
        if address.is_empty() {
            let _ = child.kill();
            bail!("dbus-daemon printed no address");
        }
        Ok(Self { child, address })
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How an instance is isolated from the others.
pub enum Isolation<'a> {
    /// Its own fresh `PARLOR_PROFILE`: no single-instance hand-over.
    Profile,
    /// `PARLOR_PROFILE` in this directory, which the test keeps (so a
    /// relaunch finds the same identity, settings and contacts).
    ProfileAt(&'a Path),
    /// No profile: the single-instance plugin is on, on this bus.
    SingleInstance(&'a SessionBus),
    /// `PARLOR_PROFILE` in this directory (kept by the test), on this
    /// session bus (where its notifications go).
    ProfileOnBus(&'a Path, &'a SessionBus),
}

/// One app instance with a WebDriver session on its window.
pub struct AppWindow {
    /// A name for failure messages and screenshot files.
    pub label: String,
    client: fantoccini::Client,
    /// The environment the app runs with, for a second launch.
    env: Vec<(String, String)>,
    /// Where the app receives the files it accepts (made by the app).
    pub downloads: PathBuf,
    _driver: ProcessGroup,
}

fn tauri_driver() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tauri-driver"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        Path::new(&home).join(".cargo/bin/tauri-driver")
    })
}

impl AppWindow {
    /// Starts the app (`$CARGO_TARGET_DIR/debug/parlor`) under tauri-driver
    /// with a fresh profile and waits until its page has loaded.
    pub async fn launch(label: &str) -> anyhow::Result<Self> {
        Self::launch_with(label, Isolation::Profile).await
    }

    /// Like [`AppWindow::launch`], isolated as `isolation` says.
    pub async fn launch_with(label: &str, isolation: Isolation<'_>) -> anyhow::Result<Self> {
        if std::env::var_os("DISPLAY").is_none() {
            bail!("window tests need an X display: run them under xvfb-run -a");
        }
        let app = binary("parlor");
        let port = free_port()?;
        let native_port = free_port()?;
        let home =
            std::env::temp_dir().join(format!("parlor-app-{label}-{}-{port}", std::process::id()));
        for dir in ["profile", "config", "data", "cache"] {
            std::fs::create_dir_all(home.join(dir))?;
        }
        let path = |dir: &str| home.join(dir).display().to_string();
        let downloads = home.join("downloads");
        let mut env = vec![
            ("PARLOR_DOWNLOAD_DIR".to_owned(), path("downloads")),
            ("PARLOR_BIND".to_owned(), "127.0.0.1:0".to_owned()),
            ("PARLOR_EMBEDDED_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("XDG_CONFIG_HOME".to_owned(), path("config")),
            ("XDG_DATA_HOME".to_owned(), path("data")),
            ("XDG_CACHE_HOME".to_owned(), path("cache")),
            (
                "RUST_LOG".to_owned(),
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ];
        match isolation {
            Isolation::Profile => env.push(("PARLOR_PROFILE".to_owned(), path("profile"))),
            Isolation::ProfileAt(dir) => {
                env.push(("PARLOR_PROFILE".to_owned(), dir.display().to_string()));
            }
            Isolation::SingleInstance(bus) => {
                env.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), bus.address.clone()));
            }
            Isolation::ProfileOnBus(dir, bus) => {
                env.push(("PARLOR_PROFILE".to_owned(), dir.display().to_string()));
                env.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), bus.address.clone()));
            }
        }
        let driver = ProcessGroup::spawn(
            Command::new(tauri_driver())
                .args(["--port", &port.to_string()])
                .args(["--native-port", &native_port.to_string()])
                .env_remove("PARLOR_PROFILE")
                .envs(env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            home.clone(),
        )
        .context("starting tauri-driver (bash scripts/setup.sh installs it)")?;

        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("wry"));
        capabilities.insert(
            "tauri:options".into(),
            json!({ "application": app.display().to_string() }),
        );
        let client = webdriver::session(port, capabilities, SESSION_TIMEOUT)
            .await
            .with_context(|| format!("{label}: no window"))?;
        let window = Self {
            label: label.to_owned(),
            client,
            env,
            downloads,
            _driver: driver,
        };
        // Loaded, and the rooms open at its last close rejoined.
        window
            .wait_until("document.body && document.body.dataset.ready === 'true'")
            .await?;
        Ok(window)
    }

    /// Launches the app binary again, outside WebDriver, with this
    /// instance's environment and `args` (`parlor LINK`), and waits for it to
    /// exit: with the single-instance hand-over it exits at once, and
    /// successfully. Anything else is an error naming how it ended (a
    /// signal included) and what it wrote to stderr.
    pub async fn launch_again(&self, args: &[&str]) -> anyhow::Result<()> {
        self.second_launch(args, &[]).await
    }

    /// As [`AppWindow::launch_again`], with no display to open: a launch
    /// that only hands its link over must not start a window of its own.
    pub async fn launch_again_without_display(&self, args: &[&str]) -> anyhow::Result<()> {
        self.second_launch(args, &["DISPLAY", "WAYLAND_DISPLAY"])
            .await
    }

    async fn second_launch(&self, args: &[&str], unset: &[&str]) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::new(binary("parlor"));
        command
            .args(args)
            .env_remove("PARLOR_PROFILE")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in unset {
            command.env_remove(name);
        }
        let second = command.spawn().context("starting a second parlor")?;
        let output = tokio::time::timeout(PATIENCE, second.wait_with_output())
            .await
            .with_context(|| format!("{}: the second launch did not exit", self.label))?
            .context("waiting for the second launch")?;
        if !output.status.success() {
            bail!(
                "{}: the second launch ended with {}; its stderr:\n{}",
                self.label,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Runs `script` as a function body (`arguments[i]` are `args`).
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(script, args)
            .await
            .with_context(|| format!("{}: running {script:?}", self.label))
    }

    /// Polls the JavaScript expression `condition` until it is true.
    pub async fn wait_until(&self, condition: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let script = format!("return Boolean({condition});");
        loop {
            // Page loads and reloads make single calls fail; only the
            // deadline decides.
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                let view = self
                    .eval(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await
                    .unwrap_or_default();
                bail!(
                    "{}: timed out after {PATIENCE:?} waiting for {condition}; the window shows:\n{}",
                    self.label,
                    view.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `keys` into whatever has the keyboard focus, as a person
    /// would (Tab, Enter, Escape...).
    pub async fn press(&self, keys: &str) -> anyhow::Result<()> {
        self.client
            .active_element()
            .await
            .with_context(|| format!("{}: nothing has the focus", self.label))?
            .send_keys(keys)
            .await
            .with_context(|| format!("{}: cannot press {keys:?}", self.label))
    }

    /// The text of the first element matching `css` (empty if none).
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let text = self
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                vec![json!(css)],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Presses Tab until the element matching `css` has the focus (at most
    /// `limit` times): proves a person can reach it with the keyboard.
    pub async fn tab_to(&self, css: &str, limit: usize) -> anyhow::Result<()> {
        let focused = format!(
            "return document.activeElement === document.querySelector({})",
            serde_json::to_string(css)?
        );
        for _ in 0..limit {
            if self.eval(&focused, vec![]).await? == Value::Bool(true) {
                return Ok(());
            }
            self.press(TAB).await?;
        }
        if self.eval(&focused, vec![]).await? == Value::Bool(true) {
            return Ok(());
        }
        bail!(
            "{}: {css} not reached with {limit} presses of Tab",
            self.label
        )
    }

    /// Waits for the dialog that shows where a link leads.
    pub async fn wait_link_dialog(&self) -> anyhow::Result<()> {
        self.wait_until("document.getElementById('link-dialog').open")
            .await
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("{}: no element {css}", self.label))?
            .click()
            .await
            .with_context(|| format!("{}: cannot click {css}", self.label))
    }

    /// Types `text` into the element matching `css`, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("{}: no element {css}", self.label))?
            .send_keys(text)
            .await
            .with_context(|| format!("{}: cannot type into {css}", self.label))
    }

    /// Sets the display name through the settings dialog (Enter saves).
    pub async fn set_display_name(&self, name: &str) -> anyhow::Result<()> {
        self.click("#open-settings").await?;
        self.wait_until("document.getElementById('settings-dialog').open")
            .await?;
        self.client
            .find(Locator::Css("#display-name"))
            .await?
            .clear()
            .await?;
        self.type_into("#display-name", &format!("{name}{ENTER}"))
            .await?;
        self.wait_until("!document.getElementById('settings-dialog').open")
            .await
    }

    /// Clicks "Create room" and returns the room link the window shows.
    pub async fn create_room(&self) -> anyhow::Result<String> {
        let before = self
            .eval("return document.getElementById('room-link').value", vec![])
            .await?;
        let before = serde_json::to_string(before.as_str().unwrap_or_default())?;
        // From a room, "New room or join" shows the button (the room stays open).
        self.eval(
            "if (document.body.dataset.view === 'room') document.getElementById('nav-home').click()",
            vec![],
        )
        .await?;
        self.click("#create-room").await?;
        self.wait_until(&format!(
            "document.body.dataset.view === 'room' && document.getElementById('room-link').value.startsWith('parlor://join/') \
             && document.getElementById('room-link').value !== {before}"
        ))
        .await?;
        let link = self
            .eval("return document.getElementById('room-link').value", vec![])
            .await?;
        Ok(link.as_str().unwrap_or_default().to_owned())
    }

    /// Pastes `link` into the join field and presses Enter; in the dialog
    /// that shows where the link leads (Join has the focus) presses Enter
    /// again, and waits for the room view.
    pub async fn join_room(&self, link: &str) -> anyhow::Result<()> {
        // From a room, "New room or join" shows the field (the room stays open).
        self.eval(
            "if (document.body.dataset.view === 'room') document.getElementById('nav-home').click()",
            vec![],
        )
        .await?;
        self.type_into("#join-link", &format!("{link}{ENTER}"))
            .await?;
        self.wait_link_dialog().await?;
        self.wait_until("document.activeElement === document.getElementById('link-join')")
            .await?;
        self.press(ENTER).await?;
        self.wait_until("document.body.dataset.view === 'room'")
            .await
    }

    /// Waits until the peer list shows `count` peers, all connected.
    pub async fn wait_peers_connected(&self, count: usize) -> anyhow::Result<()> {
        self.wait_until(&format!(
            "document.querySelectorAll('#peer-list .peer').length === {count} && \
             document.querySelectorAll('#peer-list .peer[data-state=\"connected\"]').length === {count}"
        ))
        .await
    }

    /// Types `text` in the composer and presses Enter.
    pub async fn send(&self, text: &str) -> anyhow::Result<()> {
        self.type_into("#message-input", &format!("{text}{ENTER}"))
            .await
    }

    /// Waits until a message from someone else with exactly `text` is in the log.
    pub async fn wait_message(&self, text: &str) -> anyhow::Result<()> {
        let text = serde_json::to_string(text)?;
        self.wait_until(&format!(
            "[...document.querySelectorAll('#message-log .message:not(.mine) .text')].some(e => e.textContent === {text})"
        ))
        .await
    }

    /// Saves a screenshot of the window as `tests/artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        // WebKit's snapshot can lag behind the DOM: let two frames paint first.
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .with_context(|| format!("{}: waiting for a paint", self.label))?;
        let png = self
            .client
            .screenshot()
            .await
            .with_context(|| format!("{}: screenshot", self.label))?;
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the WebDriver session, which closes the app; the process group
    /// ends on drop either way (the app's own close, which may ask first
    /// when messages are undelivered, is not what ends it).
    pub async fn close(self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.client.close()).await;
    }

    /// Asks the window to close as a person would (Ctrl+Q, the same path
    /// as its close button): it closes, or asks first.
    pub async fn request_close(&self) -> anyhow::Result<()> {
        self.press(CTRL_Q).await
    }

    /// The ids of this instance's app processes: `parlor` processes with
    /// this instance's own XDG config directory in their environment.
    pub fn app_pids(&self) -> Vec<u32> {
        let Some((_, config)) = self.env.iter().find(|(key, _)| key == "XDG_CONFIG_HOME") else {
            return Vec::new();
        };
        let ours = format!("XDG_CONFIG_HOME={config}");
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                comm.trim() == "parlor"
                    && environ
                        .split(|byte| *byte == 0)
                        .any(|var| var == ours.as_bytes())
            })
            .collect()
    }

    /// Waits until the app process has exited (the window closed).
    pub async fn wait_exited(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.app_pids().is_empty() {
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{}: the app is still running after {PATIENCE:?}",
                    self.label
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}
