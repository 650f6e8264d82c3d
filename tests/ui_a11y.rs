//! The window's page (`ui/`) in headless Chromium, without Tauri: a tiny
//! HTTP server on loopback serves `ui/` and `tests/ui/`, and puts
//! `tests/ui/bridge.js` (a stand-in for the Tauri bridge with canned
//! replies) and `tests/ui/scenes.js` (the views, each reached through the
//! page's own controls) before the page's scripts.
//!
//! - Every view passes axe-core's WCAG 2.0/2.1 A and AA rules in the light
//!   and the dark theme, and every control it shows draws a focus ring that
//!   stands out (3:1) from what is behind it; the page logs no error.
//! - Replaying every engine event of `tests/ui/events.json` into a room
//!   shows something for each, and no error.
//! - The theme follows the system unless the page chooses one.
//! - Text follows the person's default font size.
//! - `tests/ui/events.json` has every `EventKind` variant, each with the
//!   fields the engine writes.
//!
//! axe-core comes from npm (`scripts/setup.sh` installs it into
//! `/var/cache/parlor/npm`); `PARLOR_AXE_JS` may name another `axe.min.js`,
//! and `PARLOR_UI_DIR` another copy of `ui/` to check. Screenshots of every
//! view in both themes go to `tests/artifacts/ui/`; `--nocapture` lists
//! the views checked and the regions that scroll (axe-core checks the
//! contrast of the text that shows only, hence the tall window).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use parlor_e2e::PATIENCE;
use parlor_e2e::process::{ProcessGroup, free_port};
use parlor_e2e::webdriver;
use parlor_engine::{
    Event, EventKind, IceConnectionState, MessageId, PathKind, SafetyCode, Step, TransferDirection,
};
use serde_json::{Value, json};

/// The axe-core rule tags the views are held to.
const WCAG_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// Where `scripts/setup.sh` installs axe-core, and where a local
/// `npm install axe-core@4` in `tests/ui` would put it (gitignored).
const AXE_PLACES: [&str; 2] = [
    "/var/cache/parlor/npm/node_modules/axe-core/axe.min.js",
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ui/node_modules/axe-core/axe.min.js"
    ),
];

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn test_ui_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ui")
        .join(relative)
}

/// The axe-core script to inject, or a clear word on how to get it.
fn axe_script() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PARLOR_AXE_JS") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "PARLOR_AXE_JS names {}, which is not a file",
            path.display()
        );
    }
    AXE_PLACES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "axe-core is missing: run `bash scripts/setup.sh` (it installs axe-core@4 with npm \
                 into /var/cache/parlor/npm), or `npm install --prefix /var/cache/parlor/npm axe-core@4`, \
                 or set PARLOR_AXE_JS to an axe.min.js (looked in {})",
                AXE_PLACES.join(", ")
            )
        })
}

// ---------------------------------------------------------------- the site

/// What the test server serves: `ui/` at `/`, `tests/ui/` at `/test/`, and
/// axe-core at `/axe/axe.min.js`.
struct Site {
    ui: PathBuf,
    test: PathBuf,
    axe: Option<PathBuf>,
}

/// The page's HTML with the test's scripts before its own.
fn with_bridge(html: &str) -> String {
    const SCRIPTS: &str = "<script src=\"/test/bridge.js\"></script>\n  <script src=\"/test/scenes.js\"></script>\n  ";
    let at = html
        .find("<script")
        .or_else(|| html.find("</head>"))
        .unwrap_or(0);
    format!("{}{SCRIPTS}{}", &html[..at], &html[at..])
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// A path under `root` for the URL path `rest`, refusing anything that
/// would leave it.
fn under(root: &Path, rest: &str) -> Option<PathBuf> {
    let relative = Path::new(rest);
    let plain = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)));
    (plain && !rest.is_empty()).then(|| root.join(relative))
}

async fn serve(State(site): State<Arc<Site>>, uri: Uri) -> Response {
    let path = uri.path();
    let file = match path {
        "/" | "/index.html" => Some(site.ui.join("index.html")),
        "/axe/axe.min.js" => site.axe.clone(),
        _ => match path.strip_prefix("/test/") {
            Some(rest) => under(&site.test, rest),
            None => under(&site.ui, path.trim_start_matches('/')),
        },
    };
    let Some(file) = file else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return (StatusCode::NOT_FOUND, format!("no file {}", file.display())).into_response();
    };
    let body = if file.ends_with("index.html") && file.starts_with(&site.ui) {
        with_bridge(&String::from_utf8_lossy(&bytes)).into_bytes()
    } else {
        bytes
    };
    (
        [
            (header::CONTENT_TYPE, content_type(&file)),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Starts the server on a free loopback port; returns its base URL. It
/// runs until the test's runtime ends.
async fn start_site(axe: Option<PathBuf>) -> anyhow::Result<String> {
    // PARLOR_UI_DIR: another copy of ui/ (an older version, say) to check.
    let ui = std::env::var_os("PARLOR_UI_DIR").map_or_else(|| repo_path("ui"), PathBuf::from);
    let site = Arc::new(Site {
        ui,
        test: test_ui_path(""),
        axe,
    });
    let app = Router::new().fallback(serve).with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{address}"))
}

// ---------------------------------------------------------------- the browser

/// One headless Chromium with one WebDriver session (chromedriver in its
/// own process group, ended on drop).
struct Browser {
    client: fantoccini::Client,
    _driver: ProcessGroup,
}

impl Browser {
    /// Starts chromedriver and a Chromium with a fresh profile, its window
    /// `size` (width, height) big; `extra` are more Chromium arguments.
    async fn launch(size: (u32, u32), extra: &[&str]) -> anyhow::Result<Self> {
        Self::launch_with(size, extra, json!({})).await
    }

    /// Like [`Self::launch`], with Chromium preferences `prefs`.
    async fn launch_with(size: (u32, u32), extra: &[&str], prefs: Value) -> anyhow::Result<Self> {
        let port = free_port()?;
        let profile =
            std::env::temp_dir().join(format!("parlor-ui-a11y-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile)?;
        let driver = parlor_e2e::chromium::chromedriver(port, &profile)?;
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={},{}", size.0, size.1),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": "/usr/bin/chromium", "args": args, "prefs": prefs }),
        );
        let client = webdriver::session(port, capabilities, PATIENCE)
            .await
            .context("chromedriver did not accept a session")?;
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(120)),
                Some(Duration::from_secs(60)),
                None,
            ))
            .await?;
        Ok(Self {
            client,
            _driver: driver,
        })
    }

    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("loading {url}"))
    }

    /// Runs `script` as a function body (`arguments[i]` are `args`); a
    /// returned promise is awaited.
    async fn eval(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client.execute(script, args).await.with_context(|| {
            let start: String = script.chars().take(120).collect();
            format!("running {start:?}…")
        })
    }

    /// Saves a screenshot as `tests/artifacts/ui/<name>.png` (gitignored).
    async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/ui");
        std::fs::create_dir_all(&dir)?;
        let png = self.client.screenshot().await?;
        std::fs::write(dir.join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

// ---------------------------------------------------------------- page scripts

/// Loads the view `arguments[0]`'s driving part; resolves to null, or to
/// the error that stopped it.
const RUN_VIEW: &str = r#"
return window.__scenes.run(arguments[0]).then(
  () => null,
  (error) => String((error && error.stack) || error),
);
"#;

/// Sets the theme and waits until every transition it started is over.
const SET_THEME: &str = r#"
document.documentElement.dataset.theme = arguments[0];
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
await frame();
await Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)));
await frame();
"#;

/// Runs axe-core (loaded from the test server on first use) over the
/// document; returns its violations.
const RUN_AXE: &str = r#"
if (!window.axe) {
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/axe/axe.min.js";
    script.onload = resolve;
    script.onerror = () => reject(new Error("cannot load /axe/axe.min.js"));
    document.head.append(script);
  });
}
const results = await window.axe.run(document, {
  runOnly: { type: "tag", values: arguments[0] },
  resultTypes: ["violations"],
});
const selector = (target) => (Array.isArray(target) ? target.join(" >>> ") : String(target));
return results.violations.map((v) => ({
  id: v.id,
  impact: v.impact,
  help: v.help,
  nodes: v.nodes.map((n) => ({ target: n.target.map(selector).join(", "), summary: n.failureSummary || "" })),
}));
"#;

/// Focuses every control the view shows (inside the open modal dialog, if
/// any) and returns how many it checked and those whose focus is not drawn:
/// no outline of at least 2px, or one under 3:1 against what is behind it.
/// Scroll positions are put back afterwards.
const CHECK_FOCUS: &str = r#"
const parse = (text) => {
  const m = /rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\)/.exec(text);
  if (!m) return null;
  let alpha = m[4] === undefined ? 1 : parseFloat(m[4]);
  if (m[4] && m[4].endsWith("%")) alpha /= 100;
  return [parseFloat(m[1]), parseFloat(m[2]), parseFloat(m[3]), alpha];
};
const over = (top, below) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1);
};
const luminance = (c) => {
  const f = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const contrast = (a, b) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};
const behind = (node) => {
  const layers = [];
  for (let n = node; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c && c[3] > 0) {
      layers.push(c);
      if (c[3] >= 1) break;
    }
  }
  let color = [255, 255, 255, 1];
  for (const layer of layers.reverse()) color = over(layer, color);
  return color;
};
const describe = (el) => {
  const name = el.id
    ? `#${el.id}`
    : el.tagName.toLowerCase() + [...el.classList].map((c) => `.${c}`).join("");
  const text = (el.getAttribute("aria-label") || el.textContent || el.value || "").trim().replace(/\s+/g, " ");
  return text ? `${name} "${text.slice(0, 40)}"` : name;
};
const scrolled = [...document.querySelectorAll("*")]
  .filter((el) => el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth)
  .map((el) => [el, el.scrollTop, el.scrollLeft]);
const scope = document.querySelector("dialog:modal") || document;
const controls = [...scope.querySelectorAll("a[href], button, input, textarea, select, summary, [tabindex]")]
  .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0)
  .filter((el) => getComputedStyle(el).visibility !== "hidden" && !el.closest("[inert]"));
const problems = [];
for (const el of controls) {
  el.focus();
  if (document.activeElement !== el) continue;
  if (!el.matches(":focus-visible")) {
    problems.push(`${describe(el)}: focus() did not make it :focus-visible, so its ring could not be checked`);
    continue;
  }
  const style = getComputedStyle(el);
  const width = parseFloat(style.outlineWidth) || 0;
  if (style.outlineStyle === "none" || width < 2) {
    problems.push(`${describe(el)}: no focus ring (outline ${style.outlineStyle} ${style.outlineWidth})`);
    continue;
  }
  const ring = parse(style.outlineColor);
  const offset = parseFloat(style.outlineOffset) || 0;
  const ground = behind(offset < 0 ? el : el.parentElement || el);
  const ratio = ring ? contrast(over(ring, ground), ground) : 0;
  if (ratio < 3) {
    problems.push(
      `${describe(el)}: focus ring ${style.outlineColor} is ${ratio.toFixed(2)}:1 against rgb(${ground.slice(0, 3).map(Math.round).join(", ")}) (3:1 needed)`,
    );
  }
}
if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
for (const [el, top, left] of scrolled) {
  el.scrollTop = top;
  el.scrollLeft = left;
}
return { checked: controls.length, problems };
"#;

/// Regions of the view that scroll, with how much of them is out of view.
const OUT_OF_VIEW: &str = r#"
return [...document.querySelectorAll("body *")]
  .filter((el) => !["TEXTAREA", "INPUT", "SELECT"].includes(el.tagName))
  .filter((el) => el.getClientRects().length > 0 && el.scrollHeight > el.clientHeight + 1)
  .filter((el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowY))
  .map((el) => `${el.id ? `#${el.id}` : el.className} scrolls: ${el.scrollHeight - el.clientHeight}px of it out of view`);
"#;

/// What the page logged as errors, and commands the bridge had no reply for.
const PAGE_TROUBLE: &str = r#"
const bridge = window.__bridge;
return {
  errors: bridge.errors.map((e) => `${e.type}: ${e.message}`),
  unknown: [...new Set(bridge.unknown)],
};
"#;

/// The page's errors and unknown commands, as lines of a report.
async fn page_trouble(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let trouble = browser.eval(PAGE_TROUBLE, vec![]).await?;
    let mut lines = Vec::new();
    for error in trouble["errors"].as_array().into_iter().flatten() {
        lines.push(format!(
            "page error: {}",
            error.as_str().unwrap_or_default()
        ));
    }
    for command in trouble["unknown"].as_array().into_iter().flatten() {
        lines.push(format!(
            "the page invoked `{}`, which tests/ui/bridge.js has no reply for: add one",
            command.as_str().unwrap_or_default()
        ));
    }
    Ok(lines)
}

/// axe-core's violations as report lines: rule, impact, what it wants, and
/// each element with its failure summary.
fn violation_lines(violations: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for violation in violations.as_array().into_iter().flatten() {
        lines.push(format!(
            "{} ({}): {}",
            violation["id"].as_str().unwrap_or("?"),
            violation["impact"].as_str().unwrap_or("?"),
            violation["help"].as_str().unwrap_or(""),
        ));
        for node in violation["nodes"].as_array().into_iter().flatten() {
            let summary = node["summary"]
                .as_str()
                .unwrap_or("")
                .replace('\n', "\n        ");
            lines.push(format!(
                "    {}\n        {summary}",
                node["target"].as_str().unwrap_or("?")
            ));
        }
    }
    lines
}

/// Each view of tests/ui/scenes.js, in light and dark: axe-core's
/// violations, focus rings, page errors. Returns the report, one block per
/// view and theme with trouble.
async fn check_views(browser: &Browser, base: &str) -> anyhow::Result<Vec<String>> {
    browser.goto(&format!("{base}/")).await?;
    let names: Vec<String> = serde_json::from_value(
        browser
            .eval("return window.__scenes.names;", vec![])
            .await?,
    )
    .context("window.__scenes.names is not a list of names: is tests/ui/scenes.js loaded?")?;
    if names.is_empty() {
        bail!("tests/ui/scenes.js has no views");
    }
    let mut report = Vec::new();
    for name in &names {
        browser.goto(&format!("{base}/?scene={name}")).await?;
        let outcome = browser.eval(RUN_VIEW, vec![json!(name)]).await?;
        if let Some(error) = outcome.as_str() {
            report.push(format!("view `{name}` could not be reached: {error}"));
            report.extend(page_trouble(browser).await?);
            continue;
        }
        for theme in ["light", "dark"] {
            browser.eval(SET_THEME, vec![json!(theme)]).await?;
            let violations = browser.eval(RUN_AXE, vec![json!(WCAG_TAGS)]).await?;
            let mut lines = violation_lines(&violations);
            browser.screenshot(&format!("{name}-{theme}")).await?;
            if theme == "light" {
                for region in browser
                    .eval(OUT_OF_VIEW, vec![])
                    .await?
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    eprintln!(
                        "view `{name}`: {} (axe-core checks the contrast of what shows only)",
                        region.as_str().unwrap_or_default()
                    );
                }
            }
            let focus = browser.eval(CHECK_FOCUS, vec![]).await?;
            lines.extend(
                focus["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|problem| format!("focus: {}", problem.as_str().unwrap_or_default())),
            );
            eprintln!(
                "view `{name}`, {theme}: {} axe violations, {} controls' focus rings checked",
                violations.as_array().map_or(0, Vec::len),
                focus["checked"]
            );
            if !lines.is_empty() {
                report.push(format!(
                    "view `{name}`, {theme} theme:\n  {}",
                    lines.join("\n  ")
                ));
            }
        }
        let trouble = page_trouble(browser).await?;
        if !trouble.is_empty() {
            report.push(format!("view `{name}`:\n  {}", trouble.join("\n  ")));
        }
    }
    Ok(report)
}

/// The window the views are checked in: tall, because axe-core checks
/// the contrast of text it can see, and the peer list and the message log
/// scroll; at this height all of a busy room shows.
const VIEW_WINDOW: (u32, u32) = (1280, 3200);

/// The window for tests that only read the page.
const SMALL_WINDOW: (u32, u32) = (1280, 900);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_passes_axe_in_both_themes() -> anyhow::Result<()> {
    let axe = axe_script()?;
    let base = start_site(Some(axe)).await?;
    let browser = Browser::launch(VIEW_WINDOW, &[]).await?;
    let report = check_views(&browser, &base).await;
    browser.close().await;
    let report = report?;
    assert!(
        report.is_empty(),
        "accessibility problems in ui/ ({} blocks):\n\n{}",
        report.len(),
        report.join("\n\n")
    );
    Ok(())
}

// ---------------------------------------------------------------- replaying events

/// Text the page shows, with runs of white space made one space.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the room's events say as a whole, for what each must show.
#[derive(Default)]
struct RoomFacts {
    /// The names peers connected with, by peer id.
    names: BTreeMap<String, String>,
    /// Peers that left the room: their cards are gone, a note names them.
    left: BTreeSet<String>,
    /// Our messages' texts, by the id bridge.js answered send_message with.
    ours: BTreeMap<String, String>,
    /// Files that arrived (peer, transfer, index): their cards show the
    /// name they got on this disk instead of the offered one.
    received: BTreeSet<(String, String, u64)>,
}

impl RoomFacts {
    fn new(room: &[&Value], ours: BTreeMap<String, String>) -> Self {
        let text =
            |event: &Value, field: &str| event[field].as_str().unwrap_or_default().to_owned();
        let mut facts = Self {
            ours,
            ..Self::default()
        };
        for event in room {
            match event["event"].as_str().unwrap_or_default() {
                "peer-connected" => {
                    if let Some(name) = event["name"].as_str() {
                        facts.names.insert(text(event, "peer"), name.to_owned());
                    }
                }
                "peer-left" => {
                    facts.left.insert(text(event, "peer"));
                }
                "file-received" => {
                    let file = event["file"].as_u64().unwrap_or_default();
                    facts
                        .received
                        .insert((text(event, "peer"), text(event, "transfer"), file));
                }
                _ => {}
            }
        }
        facts
    }

    /// How the page names a peer: its name, or (in "Peer 1a2b3c4d") its id's start.
    fn label(&self, peer: &str) -> String {
        self.names
            .get(peer)
            .cloned()
            .unwrap_or_else(|| peer.chars().take(8).collect())
    }

    /// What the page must show for `event` of the room: mostly the event's
    /// own data (texts, names, reasons, file names); for the few that carry
    /// none a person reads, the words the window uses for them (`labels`
    /// are labels.js's tables, read from the page).
    fn expected(&self, event: &Value, labels: &Value) -> Vec<String> {
        let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
        let short =
            |fingerprint: String| fingerprint.split(':').take(4).collect::<Vec<_>>().join(":");
        let peer = field("peer");
        if !peer.is_empty() && self.left.contains(&peer) {
            return vec![self.label(&peer)];
        }
        let ours = |id: String| self.ours.get(&id).cloned().into_iter().collect::<Vec<_>>();
        let with = |mut texts: Vec<String>, words: &str| {
            texts.push(words.to_owned());
            texts
        };
        match event["event"].as_str().unwrap_or_default() {
            "identity" => vec![short(field("fingerprint"))],
            "signaling-connected" => vec!["Signaling server connected".to_owned()],
            "signaling-disconnected" | "peer-unreachable" | "peer-reconnecting" => {
                vec![field("reason")]
            }
            "peer-joined" | "peer-left" => vec![self.label(&peer)],
            "negotiation" => {
                let step = field("step");
                let label = labels["step"][&step].as_str().unwrap_or(&step).to_owned();
                [
                    vec![label],
                    event["detail"]
                        .as_str()
                        .map(str::to_owned)
                        .into_iter()
                        .collect(),
                ]
                .concat()
            }
            "ice" => {
                let state = field("state");
                vec![labels["ice"][&state].as_str().unwrap_or(&state).to_owned()]
            }
            "path-selected" => {
                let relay = event["relay"].as_str().map(str::to_owned);
                [
                    vec![field("local"), field("remote")],
                    relay.into_iter().collect(),
                ]
                .concat()
            }
            "dtls-connected" => vec!["Encrypted".to_owned()],
            "peer-connected" => {
                let mut texts = vec![self.label(&peer), short(field("fingerprint"))];
                if event["parlor"] == true {
                    let digits = event["safety_code"]["digits"].as_str().unwrap_or_default();
                    texts.push(digits.to_owned());
                }
                texts
            }
            "message" => vec![field("text")],
            "queued" => ours(field("id")),
            "waiting" => with(ours(field("id")), "Waiting for someone"),
            "delivered" => with(ours(field("id")), "Delivered to"),
            "send-failed" => with(ours(field("id")), "Failed to reach"),
            "file-offered" => {
                let transfer = field("transfer");
                event["files"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(20)
                    .enumerate()
                    .filter(|(index, _)| {
                        let key = (peer.clone(), transfer.clone(), *index as u64);
                        !self.received.contains(&key)
                    })
                    .filter_map(|(_, file)| file[0].as_str().map(str::to_owned))
                    .collect()
            }
            "file-received" => vec![
                field("path")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ],
            "error" => vec![field("message")],
            // file-progress, file-sent and file-failed are checked by their
            // cards (data-transfer); join-refused and left once the room ends.
            _ => Vec::new(),
        }
    }
}

/// What the page shows, for the replay test.
const PAGE_TEXT: &str = r#"
return {
  text: document.body.innerText,
  transfers: [...document.querySelectorAll("[data-transfer]")].map((el) => el.dataset.transfer),
  labels: {
    step: typeof STEP_LABELS === "object" ? STEP_LABELS : {},
    ice: typeof ICE_LABELS === "object" ? ICE_LABELS : {},
  },
  pwned: window.__pwned === true,
  markup: [...document.querySelectorAll("b, img[onerror], script:not([src])")].some(
    (el) => el.textContent.includes("not bold") || el.hasAttribute("onerror") || el.textContent.includes("__pwned"),
  ),
  calls: window.__bridge.calls.map((call) => call.cmd),
};
"#;

/// Runs a function of tests/ui/scenes.js; its error, if any, fails.
async fn scene_step(browser: &Browser, call: &str) -> anyhow::Result<()> {
    let script = format!("return {call}.then(() => null, (e) => String((e && e.stack) || e));");
    let outcome = browser.eval(&script, vec![]).await?;
    match outcome.as_str() {
        Some(error) => bail!("{call} failed: {error}"),
        None => Ok(()),
    }
}

async fn replay_events(browser: &Browser, base: &str) -> anyhow::Result<Vec<String>> {
    let events = read_events()?;
    browser.goto(&format!("{base}/?scene=replay")).await?;
    scene_step(browser, "window.__scenes.replayRoom()").await?;
    let ours: Vec<String> = serde_json::from_value(
        browser
            .eval("return window.__scenes.OUR_MESSAGES;", vec![])
            .await?,
    )?;
    let ours = ours
        .into_iter()
        .enumerate()
        .map(|(at, text)| (format!("out-{}", at + 1), text))
        .collect();
    let room: Vec<&Value> = events.iter().filter(|e| e["room_session"] == 1).collect();
    let facts = RoomFacts::new(&room, ours);

    let page = browser.eval(PAGE_TEXT, vec![]).await?;
    let text = squeeze(page["text"].as_str().unwrap_or_default());
    let transfers: BTreeSet<&str> = page["transfers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut problems = page_trouble(browser).await?;
    let ends = ["join-refused", "left"];
    for event in room
        .iter()
        .take_while(|e| !ends.iter().any(|end| e["event"] == *end))
    {
        for wanted in facts.expected(event, &page["labels"]) {
            if !text.contains(&squeeze(&wanted)) {
                problems.push(format!("nothing shows {wanted:?} for {event}"));
            }
        }
        let kind = event["event"].as_str().unwrap_or_default();
        let transfer = event["transfer"].as_str().unwrap_or_default();
        if kind.starts_with("file-") && !transfers.contains(transfer) {
            problems.push(format!("no card (data-transfer) for {event}"));
        }
    }
    for stale in events.iter().filter(|e| e["room_session"] != 1) {
        let stale_text = stale["text"].as_str().unwrap_or_default();
        if !stale_text.is_empty() && text.contains(&squeeze(stale_text)) {
            problems.push(format!("an event of another room shows: {stale}"));
        }
    }
    if page["pwned"] == true || page["markup"] == true {
        problems.push("a message's HTML-looking text became HTML on the page".to_owned());
    }

    // The end of the room: the refusal's reason shows and the room is left;
    // `left`, the engine's last word after leaving, shows nothing.
    scene_step(browser, "window.__scenes.replayEnd()").await?;
    let page = browser.eval(PAGE_TEXT, vec![]).await?;
    let text = squeeze(page["text"].as_str().unwrap_or_default());
    for event in room.iter().filter(|e| e["event"] == "join-refused") {
        let reason = event["reason"].as_str().unwrap_or_default();
        if !text.contains(reason) {
            problems.push(format!("nothing shows {reason:?} for {event}"));
        }
    }
    let calls = page["calls"].as_array().cloned().unwrap_or_default();
    if !calls.iter().any(|call| call == "leave_room") {
        problems.push("join-refused did not leave the room (no leave_room)".to_owned());
    }
    problems.extend(page_trouble(browser).await?);
    problems.dedup();
    Ok(problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_replayed_into_a_room_shows_without_errors() -> anyhow::Result<()> {
    let base = start_site(None).await?;
    let browser = Browser::launch(SMALL_WINDOW, &[]).await?;
    let problems = replay_events(&browser, &base).await;
    browser.close().await;
    let problems = problems?;
    assert!(
        problems.is_empty(),
        "replaying tests/ui/events.json:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

// ---------------------------------------------------------------- themes

/// The theme's variables (every `--name` the style sheets set on `:root`)
/// and `color-scheme`, with no data-theme (the system's), then with
/// data-theme="light" and "dark".
const THEMES: &str = r#"
const names = new Set();
const visit = (rules) => {
  for (const rule of rules) {
    if (rule.cssRules) visit(rule.cssRules);
    if (rule.selectorText && rule.selectorText.includes(":root")) {
      for (const property of rule.style) if (property.startsWith("--")) names.add(property);
    }
  }
};
for (const sheet of document.styleSheets) visit(sheet.cssRules);
const root = document.documentElement;
const read = () => {
  const style = getComputedStyle(root);
  const values = { "color-scheme": style.colorScheme };
  for (const name of names) values[name] = style.getPropertyValue(name).trim();
  return values;
};
delete root.dataset.theme;
const system = read();
root.dataset.theme = "light";
const light = read();
root.dataset.theme = "dark";
const dark = read();
delete root.dataset.theme;
return { system, light, dark, systemDark: matchMedia("(prefers-color-scheme: dark)").matches };
"#;

/// The variables that differ between two themes' readings.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["not readings".to_owned()];
    };
    a.iter()
        .filter(|(name, value)| b.get(*name) != Some(value))
        .map(|(name, value)| format!("{name}: {value} vs {}", b.get(name).unwrap_or(&Value::Null)))
        .collect()
}

async fn theme_readings(base: &str, extra: &[&str]) -> anyhow::Result<Value> {
    let browser = Browser::launch(SMALL_WINDOW, extra).await?;
    let readings = async {
        browser.goto(&format!("{base}/?scene=themes")).await?;
        browser.eval(THEMES, vec![]).await
    }
    .await;
    browser.close().await;
    readings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_follows_the_system_unless_the_page_chooses_one() -> anyhow::Result<()> {
    let base = start_site(None).await?;
    let mut chosen: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (system, extra) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let readings = theme_readings(&base, extra).await?;
        for theme in ["light", "dark"] {
            chosen
                .entry(theme)
                .or_default()
                .push(readings[theme].clone());
        }
        assert_eq!(
            readings["systemDark"],
            system == "dark",
            "Chromium's system theme is not {system}"
        );
        assert_eq!(readings["light"]["color-scheme"], "light", "{readings}");
        assert_eq!(readings["dark"]["color-scheme"], "dark", "{readings}");
        assert!(
            readings["light"]["--bg"] != readings["dark"]["--bg"],
            "the dark theme looks like the light one: {readings}"
        );
        let same = differences(&readings["system"], &readings[system]);
        assert!(
            same.is_empty(),
            "with no data-theme and a {system} system, the page does not look like data-theme=\"{system}\" \
             (are the two dark blocks of ui/styles.css the same?):\n  {}",
            same.join("\n  ")
        );
    }
    // A chosen theme is the same whatever the system's.
    for (theme, readings) in &chosen {
        let apart = differences(&readings[0], &readings[1]);
        assert!(
            apart.is_empty(),
            "data-theme=\"{theme}\" differs between a light and a dark system:\n  {}",
            apart.join("\n  ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- text size

/// The root's font size, then that of every element with text of its own,
/// in document order.
const FONT_SIZES: &str = r#"
const root = ["html", parseFloat(getComputedStyle(document.documentElement).fontSize)];
return [root].concat([...document.querySelectorAll("body *")]
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()))
  .map((el) => [
    el.id ? `#${el.id}` : el.tagName.toLowerCase() + [...el.classList].map((c) => `.${c}`).join(""),
    parseFloat(getComputedStyle(el).fontSize),
  ]));
"#;

/// The font sizes of the views `views` (each drawn afresh) in a Chromium
/// whose default font size is `default_px`.
async fn font_sizes(base: &str, default_px: u32, views: &[&str]) -> anyhow::Result<Vec<Value>> {
    let prefs = json!({ "webkit": { "webprefs": { "default_font_size": default_px } } });
    let browser = Browser::launch_with(SMALL_WINDOW, &[], prefs).await?;
    let sizes = async {
        let mut sizes = Vec::new();
        for view in views {
            browser.goto(&format!("{base}/?scene={view}")).await?;
            let outcome = browser.eval(RUN_VIEW, vec![json!(view)]).await?;
            if let Some(error) = outcome.as_str() {
                bail!("view `{view}` could not be reached: {error}");
            }
            sizes.push(browser.eval(FONT_SIZES, vec![]).await?);
        }
        Ok(sizes)
    }
    .await;
    browser.close().await;
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_scales_with_the_default_font_size() -> anyhow::Result<()> {
    let base = start_site(None).await?;
    let views = ["start", "messages", "settings"];
    let usual = font_sizes(&base, 16, &views).await?;
    let larger = font_sizes(&base, 20, &views).await?;
    let mut fixed = Vec::new();
    for ((view, usual), larger) in views.iter().zip(&usual).zip(&larger) {
        let (Some(usual), Some(larger)) = (usual.as_array(), larger.as_array()) else {
            bail!("no font sizes for `{view}`");
        };
        assert_eq!(
            usual.len(),
            larger.len(),
            "`{view}` differs beyond its text size"
        );
        for (a, b) in usual.iter().zip(larger) {
            let (Some(a_px), Some(b_px)) = (a[1].as_f64(), b[1].as_f64()) else {
                continue;
            };
            if (b_px / a_px - 1.25).abs() > 0.02 {
                fixed.push(format!(
                    "`{view}` {}: {a_px}px at 16px, {b_px}px at 20px",
                    a[0]
                ));
            }
        }
    }
    fixed.dedup();
    assert!(
        fixed.is_empty(),
        "text that does not follow the default font size (sized in px?):\n  {}",
        fixed.join("\n  ")
    );
    // At the usual default the window is drawn as it always was: 14px text.
    assert_eq!(usual[0][0][1].as_f64(), Some(14.0), "the root's font size");
    Ok(())
}

// ---------------------------------------------------------------- events.json

/// The events of tests/ui/events.json.
fn read_events() -> anyhow::Result<Vec<Value>> {
    let path = test_ui_path("events.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    document["events"]
        .as_array()
        .cloned()
        .with_context(|| format!("{} has no \"events\" list", path.display()))
}

/// One value of every `EventKind` variant, its optional fields all set
/// (`full`) or all left out. Built here, because the engine can only make
/// them by running; [`variant_number`] keeps this list whole.
fn every_variant(full: bool) -> Vec<EventKind> {
    let text = |value: &str| value.to_owned();
    let maybe = |value: &str| full.then(|| value.to_owned());
    vec![
        EventKind::Identity {
            fingerprint: text("ab:cd"),
        },
        EventKind::SignalingConnected {
            link: text("parlor://join/r?server=ws%3A%2F%2Fh"),
            peer_id: text("me"),
        },
        EventKind::SignalingDisconnected {
            reason: text("closed"),
            retry_in_ms: 1000,
        },
        EventKind::PeerJoined {
            peer: text("p"),
            parlor: true,
        },
        EventKind::Negotiation {
            peer: text("p"),
            step: Step::OfferSent,
            detail: maybe("detail"),
        },
        EventKind::Ice {
            peer: text("p"),
            state: IceConnectionState::Checking,
        },
        EventKind::PathSelected {
            peer: text("p"),
            path: PathKind::Lan,
            local: text("host"),
            remote: text("host"),
            relay: maybe("203.0.113.7:3478"),
        },
        EventKind::PeerUnreachable {
            peer: text("p"),
            reason: text("no path"),
            retry_in_ms: 30_000,
        },
        EventKind::DtlsConnected { peer: text("p") },
        EventKind::PeerConnected {
            peer: text("p"),
            parlor: true,
            name: maybe("Alice"),
            fingerprint: text("ab:cd"),
            safety_code: SafetyCode {
                emoji: text("🐶 🐱"),
                digits: text("12345 67890 12345"),
            },
        },
        EventKind::Message {
            from: text("p"),
            name: maybe("Alice"),
            text: text("hi"),
            id: full.then(|| MessageId::new("m")),
        },
        EventKind::Queued {
            id: MessageId::new("m"),
            to: text("p"),
        },
        EventKind::Waiting {
            id: MessageId::new("m"),
            owed_to: 0,
        },
        EventKind::Delivered {
            id: MessageId::new("m"),
            to: text("p"),
        },
        EventKind::SendFailed {
            id: MessageId::new("m"),
            to: text("p"),
            reason: text("closed"),
        },
        EventKind::FileOffered {
            peer: text("p"),
            transfer: text("t"),
            files: vec![(text("a.txt"), 3)],
            total_bytes: 3,
        },
        EventKind::FileProgress {
            peer: text("p"),
            transfer: text("t"),
            direction: TransferDirection::Send,
            bytes: 1,
            total: 3,
        },
        EventKind::FileReceived {
            peer: text("p"),
            transfer: text("t"),
            file: 0,
            path: text("/tmp/a.txt"),
            size: 3,
            hash: text("af13"),
        },
        EventKind::FileSent {
            peer: text("p"),
            transfer: text("t"),
        },
        EventKind::FileFailed {
            peer: text("p"),
            transfer: text("t"),
            reason: text("cancelled"),
        },
        EventKind::PeerReconnecting {
            peer: text("p"),
            reason: text("lost"),
        },
        EventKind::PeerLeft { peer: text("p") },
        EventKind::Error {
            peer: maybe("p"),
            message: text("failed"),
        },
        EventKind::JoinRefused {
            reason: text("full"),
            room_full: true,
        },
        EventKind::Left,
    ]
}

/// How many variants `EventKind` has: the arms of [`variant_number`].
const VARIANTS: usize = 25;

/// Which variant `kind` is. The match has no catch-all arm, so a variant
/// added to `EventKind` stops this test from compiling until it gets an
/// arm here (and VARIANTS grows); `every_variant_has_a_sample` then fails
/// until [`every_variant`] has a value of it, and
/// `events_json_has_every_event_kind` until tests/ui/events.json has one.
/// The names themselves come from serializing those values, as the window
/// receives them, so none is written by hand.
fn variant_number(kind: &EventKind) -> usize {
    match kind {
        EventKind::Identity { .. } => 0,
        EventKind::SignalingConnected { .. } => 1,
        EventKind::SignalingDisconnected { .. } => 2,
        EventKind::PeerJoined { .. } => 3,
        EventKind::Negotiation { .. } => 4,
        EventKind::Ice { .. } => 5,
        EventKind::PathSelected { .. } => 6,
        EventKind::PeerUnreachable { .. } => 7,
        EventKind::DtlsConnected { .. } => 8,
        EventKind::PeerConnected { .. } => 9,
        EventKind::Message { .. } => 10,
        EventKind::Queued { .. } => 11,
        EventKind::Waiting { .. } => 12,
        EventKind::Delivered { .. } => 13,
        EventKind::SendFailed { .. } => 14,
        EventKind::FileOffered { .. } => 15,
        EventKind::FileProgress { .. } => 16,
        EventKind::FileReceived { .. } => 17,
        EventKind::FileSent { .. } => 18,
        EventKind::FileFailed { .. } => 19,
        EventKind::PeerReconnecting { .. } => 20,
        EventKind::PeerLeft { .. } => 21,
        EventKind::Error { .. } => 22,
        EventKind::JoinRefused { .. } => 23,
        EventKind::Left => 24,
    }
}

/// Each variant's serialized form (as an `Event`), by its `event` name.
fn serialized_variants(full: bool) -> anyhow::Result<BTreeMap<String, Value>> {
    every_variant(full)
        .into_iter()
        .map(|kind| {
            let value = serde_json::to_value(Event { at_ms: 1, kind })?;
            let name = value["event"]
                .as_str()
                .context("an event without a name")?
                .to_owned();
            Ok((name, value))
        })
        .collect()
}

/// Where `value` is not shaped as `sample` is: JSON types, object keys,
/// list items and tuple members.
fn shape_problems(at: &str, value: &Value, sample: &Value, out: &mut Vec<String>) {
    match (value, sample) {
        (Value::Object(value), Value::Object(sample)) => {
            for key in value.keys().filter(|k| !sample.contains_key(*k)) {
                out.push(format!("{at}.{key} is not a field the engine writes"));
            }
            for (key, expected) in sample {
                match value.get(key) {
                    Some(inner) => shape_problems(&format!("{at}.{key}"), inner, expected, out),
                    None => out.push(format!("{at}.{key} is missing")),
                }
            }
        }
        // A sample of one item is a list (each item like it); of more, a
        // tuple (`files`' [name, size]: item by item).
        (Value::Array(items), Value::Array(sample)) if sample.len() == 1 => {
            for (index, item) in items.iter().enumerate() {
                shape_problems(&format!("{at}[{index}]"), item, &sample[0], out);
            }
        }
        (Value::Array(items), Value::Array(sample)) => {
            if items.len() != sample.len() {
                out.push(format!(
                    "{at} has {} items, not {}",
                    items.len(),
                    sample.len()
                ));
            }
            for (index, (item, expected)) in items.iter().zip(sample).enumerate() {
                shape_problems(&format!("{at}[{index}]"), item, expected, out);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        (Value::Number(a), Value::Number(b)) if a.is_u64() == b.is_u64() => {}
        _ => out.push(format!("{at} is {value}, not like {sample}")),
    }
}

/// The names a serialized enum value takes, for checking `step`, `state`…
fn names(values: impl IntoIterator<Item = serde_json::Result<Value>>) -> BTreeSet<String> {
    values
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_variant_has_a_sample() {
    let numbers: Vec<usize> = every_variant(true).iter().map(variant_number).collect();
    let expected: Vec<usize> = (0..VARIANTS).collect();
    assert_eq!(
        numbers, expected,
        "every_variant must hold one value of each EventKind variant, in variant_number's order"
    );
    let full = serialized_variants(true).unwrap();
    let minimal = serialized_variants(false).unwrap();
    assert_eq!(full.len(), VARIANTS, "two variants share a name: {full:?}");
    assert_eq!(
        full.keys().collect::<Vec<_>>(),
        minimal.keys().collect::<Vec<_>>()
    );
}

#[test]
fn events_json_has_every_event_kind() {
    let events = read_events().unwrap();
    let full = serialized_variants(true).unwrap();
    let minimal = serialized_variants(false).unwrap();
    let steps = names(Step::all().map(serde_json::to_value));
    let ice_states = names(IceConnectionState::ALL.map(serde_json::to_value));
    let paths = names([PathKind::Lan, PathKind::Nat, PathKind::Relay].map(serde_json::to_value));
    let directions =
        names([TransferDirection::Send, TransferDirection::Receive].map(serde_json::to_value));

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, event) in events.iter().enumerate() {
        let at = format!("events[{index}]");
        let mut event = event.clone();
        let Some(object) = event.as_object_mut() else {
            problems.push(format!("{at} is not an object"));
            continue;
        };
        if !object.remove("room_session").is_some_and(|s| s.is_u64()) {
            problems.push(format!("{at} has no room_session number"));
        }
        let name = object
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (Some(sample), Some(required)) = (full.get(&name), minimal.get(&name)) else {
            problems.push(format!("{at}: {name:?} is not an EventKind"));
            continue;
        };
        seen.insert(name.clone());
        // Optional fields may be left out, as the engine leaves out None.
        let mut shape = sample.clone();
        if let (Some(shape), Some(required)) = (shape.as_object_mut(), required.as_object()) {
            shape.retain(|key, _| required.contains_key(key) || object.contains_key(key));
        }
        shape_problems(&at, &event, &shape, &mut problems);
        for (kind, field, allowed) in [
            ("negotiation", "step", &steps),
            ("ice", "state", &ice_states),
            ("path-selected", "path", &paths),
            ("file-progress", "direction", &directions),
        ] {
            if name != kind {
                continue;
            }
            let value = event.get(field).and_then(Value::as_str);
            if value.is_some_and(|value| !allowed.contains(value)) {
                problems.push(format!("{at}.{field}: {value:?} is not one of {allowed:?}"));
            }
        }
    }
    let missing: Vec<&String> = full.keys().filter(|name| !seen.contains(*name)).collect();
    assert!(
        missing.is_empty(),
        "tests/ui/events.json has no event of: {missing:?}"
    );
    assert!(
        problems.is_empty(),
        "tests/ui/events.json is not what the engine writes:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_bridge_goes_before_the_pages_scripts() {
    let html = "<head>\n  <link rel=\"stylesheet\" href=\"styles.css\">\n  <script src=\"app.js\" defer></script>\n</head>";
    let served = with_bridge(html);
    let bridge = served.find("/test/bridge.js").unwrap();
    let app = served.find("app.js").unwrap();
    assert!(bridge < app, "{served}");
    assert!(with_bridge("<head></head>").contains("/test/bridge.js"));
    assert!(under(Path::new("/ui"), "../etc/passwd").is_none());
    assert!(under(Path::new("/ui"), "/etc/passwd").is_none());
    assert_eq!(
        under(Path::new("/ui"), "app.js"),
        Some(PathBuf::from("/ui/app.js"))
    );
}
