//! Headless Chromium as a peer: one chromedriver process per browser (in its
//! own process group, so killing the group also ends the Chromium it
//! started), driven over WebDriver with fantoccini, and the old JavaScript
//! client page (`tests/browser/old-client.html`) on top of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::PATIENCE;
use crate::netns::Namespace;
use crate::process::{ProcessGroup, free_port};
use crate::webdriver;

/// How Chromium publishes its host candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mdns {
    /// Chromium's default: host addresses hidden behind random `<uuid>.local` names.
    Hide,
    /// `--disable-features=WebRtcHideLocalIpsWithMdns`: plain IP addresses.
    Expose,
}

/// Starts `chromedriver` on loopback port `port`, in its own process group
/// (killed on drop, with the Chromium it started) kept in `dir`.
pub fn chromedriver(port: u16, dir: &Path) -> anyhow::Result<ProcessGroup> {
    ProcessGroup::spawn(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        dir.to_path_buf(),
    )
    .context("starting chromedriver (apt-get install chromium chromium-driver)")
}

/// One headless Chromium with one WebDriver session.
pub struct Chromium {
    client: fantoccini::Client,
    // Dropped before the driver: nothing reaches a driver that is going.
    _bridge: Option<ProcessGroup>,
    _driver: ProcessGroup,
}

impl Chromium {
    /// Starts chromedriver on a free loopback port and opens a session with a
    /// fresh profile.
    pub async fn launch(mdns: Mdns) -> anyhow::Result<Self> {
        let port = free_port()?;
        let profile = profile_dir(port)?;
        let driver = chromedriver(port, &profile)?;
        Self::session(port, driver, None, profile, mdns).await
    }

    /// Like [`Self::launch`], with chromedriver and Chromium inside
    /// `namespace` (a home of the simulated internet): the browser's network
    /// is the namespace's. The test reaches chromedriver through a socat
    /// bridge from a loopback port of its own into the namespace's loopback.
    pub async fn launch_in(namespace: &Namespace, mdns: Mdns) -> anyhow::Result<Self> {
        const INNER_PORT: u16 = 9515;
        let port = free_port()?;
        let profile = profile_dir(port)?;
        let driver = ProcessGroup::spawn(
            Command::new("ip")
                .args(["netns", "exec", namespace.name(), "chromedriver"])
                .arg(format!("--port={INNER_PORT}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            profile.clone(),
        )
        .context("starting chromedriver in the namespace")?;
        let bridge = ProcessGroup::spawn(
            Command::new("socat")
                .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
                .arg(format!(
                    "EXEC:ip netns exec {} socat STDIO TCP\\:127.0.0.1\\:{INNER_PORT}",
                    namespace.name()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            profile.join("bridge"),
        )
        .context("starting socat (apt-get install socat)")?;
        Self::session(port, driver, Some(bridge), profile, mdns).await
    }

    async fn session(
        port: u16,
        driver: ProcessGroup,
        bridge: Option<ProcessGroup>,
        profile: PathBuf,
        mdns: Mdns,
    ) -> anyhow::Result<Self> {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if mdns == Mdns::Expose {
            args.push("--disable-features=WebRtcHideLocalIpsWithMdns".to_owned());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );

        let client = webdriver::session(port, capabilities, PATIENCE)
            .await
            .context("chromedriver did not accept a session")?;
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(300)),
                None,
                None,
            ))
            .await?;
        Ok(Self {
            client,
            _bridge: bridge,
            _driver: driver,
        })
    }

    /// Opens a local file.
    pub async fn open(&self, page: &Path) -> anyhow::Result<()> {
        let page = page
            .canonicalize()
            .with_context(|| format!("{} is missing", page.display()))?;
        self.client
            .goto(&format!("file://{}", page.display()))
            .await?;
        Ok(())
    }

    /// Runs `script` as a function body (`arguments[i]` are `args`); a
    /// returned promise is awaited.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(script, args)
            .await
            .with_context(|| format!("running {script:?}"))
    }

    /// Polls the JavaScript expression `condition` until it is true.
    pub async fn wait_until(&self, condition: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let script = format!("return Boolean({condition});");
        while self.eval(&script, vec![]).await? != Value::Bool(true) {
            if tokio::time::Instant::now() > deadline {
                bail!("timed out after {PATIENCE:?} waiting for {condition}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Ends the WebDriver session (the process group ends on drop).
    pub async fn close(self) {
        let Self {
            client,
            _bridge,
            _driver,
        } = self;
        let _ = client.close().await;
    }
}

/// A file of `tests/browser/`.
pub fn browser_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(name)
}

/// The old JavaScript client (`tests/browser/old-client.js`) in its own
/// Chromium. Failures carry the page's log.
pub struct OldClient {
    /// The browser the page runs in, for scripts of one's own.
    pub browser: Chromium,
    /// Its peer id, once started.
    pub id: String,
}

impl OldClient {
    /// Starts a browser and loads the page.
    pub async fn launch(mdns: Mdns) -> anyhow::Result<Self> {
        Self::with_browser(Chromium::launch(mdns).await?).await
    }

    /// Starts a browser inside `namespace` and loads the page.
    pub async fn launch_in(namespace: &Namespace, mdns: Mdns) -> anyhow::Result<Self> {
        Self::with_browser(Chromium::launch_in(namespace, mdns).await?).await
    }

    async fn with_browser(browser: Chromium) -> anyhow::Result<Self> {
        browser.open(&browser_file("old-client.html")).await?;
        Ok(Self {
            browser,
            id: String::new(),
        })
    }

    /// Joins `room` on the signaling server at `server_host` (`HOST:PORT`);
    /// returns once the socket is open.
    pub async fn start(&mut self, server_host: &str, room: &str) -> anyhow::Result<String> {
        self.start_with(server_host, room, json!({})).await
    }

    /// Like [`Self::start`], and the page clicks "Connect" by itself `after`
    /// joining, whatever state it is in by then, as the old library's own
    /// tests do after a fixed wait. `Duration::ZERO` clicks as soon as the
    /// page has a peer connection, with no WebDriver round trip in between.
    pub async fn start_and_click_connect_after(
        &mut self,
        server_host: &str,
        room: &str,
        after: Duration,
    ) -> anyhow::Result<String> {
        let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let options = json!({ "connectAfterMs": after_ms });
        self.start_with(server_host, room, options).await
    }

    async fn start_with(
        &mut self,
        server_host: &str,
        room: &str,
        options: Value,
    ) -> anyhow::Result<String> {
        let id = self
            .browser
            .eval(
                "return oldClient.start(arguments[0], arguments[1], arguments[2]);",
                vec![json!(server_host), json!(room), options],
            )
            .await?;
        self.id = id.as_str().context("start() returned no id")?.to_owned();
        Ok(self.id.clone())
    }

    /// Clicks "Connect": creates the chat channel (and so makes an offer).
    pub async fn connect(&self) -> anyhow::Result<()> {
        self.browser
            .eval("return oldClient.connect();", vec![])
            .await?;
        Ok(())
    }

    /// Waits until the channel is open and our `info` has been sent.
    pub async fn wait_open(&self) -> anyhow::Result<()> {
        self.wait_until("oldClient.state === 'open'").await
    }

    /// Waits until `condition` holds, with the page's log on failure.
    pub async fn wait_until(&self, condition: &str) -> anyhow::Result<()> {
        match self.browser.wait_until(condition).await {
            Ok(()) => Ok(()),
            Err(error) => bail!("{error}\nold client's log:\n{}", self.log().await),
        }
    }

    /// Waits for the chat text `text`.
    pub async fn wait_message(&self, text: &str) -> anyhow::Result<()> {
        let literal = serde_json::to_string(text)?;
        self.wait_until(&format!("oldClient.messages.includes({literal})"))
            .await
    }

    /// Waits until the channel `send` writes to is open (after a second
    /// "Connect", the old client writes to the newest channel).
    pub async fn wait_can_send(&self) -> anyhow::Result<()> {
        self.wait_until("oldClient.canSend()").await
    }

    /// Sends chat text on the open channel.
    pub async fn send(&self, text: &str) -> anyhow::Result<()> {
        let sent = self
            .browser
            .eval("return oldClient.send(arguments[0]);", vec![json!(text)])
            .await?;
        if sent != Value::Bool(true) {
            bail!("the channel is not open\n{}", self.log().await);
        }
        Ok(())
    }

    /// The other side's `info` message (Null until it arrived).
    pub async fn remote_info(&self) -> anyhow::Result<Value> {
        self.browser
            .eval("return oldClient.remoteInfo;", vec![])
            .await
    }

    /// Every chat message received so far, in order, with the sender the
    /// old library would report for it (`None`: no sender).
    pub async fn received(&self) -> anyhow::Result<Vec<(String, Option<String>)>> {
        let received = self
            .browser
            .eval("return oldClient.received;", vec![])
            .await?;
        let entries = received
            .as_array()
            .with_context(|| format!("oldClient.received is not an array: {received}"))?;
        entries
            .iter()
            .map(|entry| {
                let text = entry["text"]
                    .as_str()
                    .with_context(|| format!("a received message has no text: {entry}"))?;
                Ok((text.to_owned(), entry["peer"].as_str().map(str::to_owned)))
            })
            .collect()
    }

    /// The page's log, one line per step.
    pub async fn log(&self) -> String {
        match self
            .browser
            .eval("return oldClient.log.join('\\n');", vec![])
            .await
        {
            Ok(Value::String(log)) => log,
            Ok(other) => other.to_string(),
            Err(error) => format!("(log unavailable: {error})"),
        }
    }
}

/// A fresh, empty Chromium profile directory, named after `port`.
fn profile_dir(port: u16) -> anyhow::Result<PathBuf> {
    let profile =
        std::env::temp_dir().join(format!("parlor-chromium-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&profile)?;
    Ok(profile)
}

/// Chat between two connected old clients, timed in the pages with the
/// benches' helpers (`tests/benches/connect.js`): `pings` sequential
/// round trips from `a` (microseconds each), then `bulk_count` messages of
/// `bulk_size` bytes from `a` until `b` has them all (MB/s).
pub async fn chat_figures(
    a: &OldClient,
    b: &OldClient,
    pings: usize,
    bulk_count: usize,
    bulk_size: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let helpers = include_str!("../benches/connect.js");
    a.browser.eval(helpers, vec![]).await?;
    b.browser.eval(helpers, vec![]).await?;
    b.browser
        .eval("bench.responder(arguments[0]);", vec![json!(bulk_count)])
        .await?;
    let rtts = parlor_bench::numbers(
        &a.browser
            .eval("return bench.roundTrips(arguments[0]);", vec![json!(pings)])
            .await?,
    )?;
    let throughput = a
        .browser
        .eval(
            "return bench.throughput(arguments[0], arguments[1]);",
            vec![json!(bulk_count), json!(bulk_size)],
        )
        .await?;
    Ok((rtts, parlor_bench::number(&throughput, "throughput")?))
}

/// Two old clients in `room` on the server at `host`, their chat channel
/// open: A waits alone, B joins and clicks "Connect" once A rebuilt its
/// connection for B's arrival (an old client drops offers that come
/// earlier and never re-sends them).
pub async fn connected_old_pair(host: &str, room: &str) -> anyhow::Result<(OldClient, OldClient)> {
    let (a, b) = tokio::join!(OldClient::launch(Mdns::Hide), OldClient::launch(Mdns::Hide));
    let (mut a, mut b) = (a?, b?);
    a.start(host, room).await?;
    a.wait_until("oldClient.connections === 1").await?;
    b.start(host, room).await?;
    a.wait_until("oldClient.connections === 2").await?;
    b.connect().await?;
    a.wait_open().await?;
    b.wait_open().await?;
    Ok((a, b))
}

/// `total` bytes in binary messages of `chunk` bytes from `a` to `b`, with
/// the back-pressure Parlor's file sender uses (`tests/benches/connect.js`):
/// MB/s until `b` has them all.
pub async fn file_figures(
    a: &OldClient,
    b: &OldClient,
    total: u64,
    chunk: usize,
) -> anyhow::Result<f64> {
    let helpers = include_str!("../benches/connect.js");
    a.browser.eval(helpers, vec![]).await?;
    b.browser.eval(helpers, vec![]).await?;
    b.browser
        .eval("bench.fileResponder(arguments[0]);", vec![json!(total)])
        .await?;
    let rate = a
        .browser
        .eval(
            "return bench.fileThroughput(arguments[0], arguments[1]);",
            vec![json!(total), json!(chunk)],
        )
        .await?;
    parlor_bench::number(&rate, "file throughput")
}
