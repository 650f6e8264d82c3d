//! A `parlor-peer` process and a real browser running the old JavaScript
//! client (`tests/browser/old-client.js`, modelled on substrate-system/webrtc)
//! in one room of a real `parlor-signal`: Parlor must connect to it whoever
//! offers first, and chat with it in plain text (protocol.md §4–5).
//!
//! Chromium runs with its default settings, so it announces its host
//! addresses as mDNS `.local` names (docs/mdns.md).
//!
//! The old client knows who sent a message the way the real library does: it
//! believes the first `info` it gets on a connection and shows every later
//! one as chat. So Parlor must introduce itself once per connection, however
//! many channels the two sides end up with (see `old-client.js`).

use std::time::Duration;

use parlor_e2e::chromium::{Mdns, OldClient};
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::signal::SignalProcess;
use serde_json::Value;

/// The room link for `room` on `server`, as `parlor-peer create` prints it.
fn link(server: &SignalProcess, room: &str) -> String {
    let server = server.url().replace(':', "%3A").replace('/', "%2F");
    format!("parlor://join/{room}?server={server}")
}

/// The room part of a link.
fn room_of(link: &str) -> &str {
    let rest = link.strip_prefix("parlor://join/").unwrap_or_default();
    rest.split('?').next().unwrap_or_default()
}

async fn old_client() -> OldClient {
    OldClient::launch(Mdns::Hide)
        .await
        .unwrap_or_else(|e| panic!("cannot start the browser: {e:#}"))
}

fn check(result: anyhow::Result<()>) {
    if let Err(error) = result {
        panic!("old client: {error:#}");
    }
}

/// Both directions of plain-text chat once both sides are connected.
async fn chat_both_ways(parlor: &mut PeerProcess, browser: &OldClient) {
    parlor.say("hello from parlor").await;
    check(browser.wait_message("hello from parlor").await);

    check(browser.send("hello from the browser").await);
    let got = parlor
        .wait_event("message", Some(("from", &browser.id)))
        .await;
    assert_eq!(got["text"], "hello from the browser");
}

/// Parlor recognised the browser as an old client, and the browser got
/// Parlor's `info` with its peer id.
async fn check_introductions(parlor: &mut PeerProcess, browser: &OldClient) {
    let parlor_id = parlor.peer_id().await;
    let connected = parlor
        .seen
        .iter()
        .find(|e| e["event"] == "peer-connected" && e["peer"] == browser.id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(connected["parlor"], false, "{connected}");
    let path = parlor
        .seen_or_wait("path-selected", Some(("peer", browser.id.as_str())))
        .await;
    assert_eq!(
        path["path"], "lan",
        "a browser on the same machine is direct: {path}"
    );

    check(browser.wait_until("oldClient.remoteInfo !== null").await);
    let info = browser
        .remote_info()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(info["type"], "info");
    assert_eq!(info["peerId"], parlor_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parlor_peer_and_old_browser_client_chat_when_parlor_offers_first() {
    let server = SignalProcess::start(&[]).await;
    let mut browser = old_client().await;
    // The browser is alone in the room: it waits, without a channel of its own.
    let browser_id = browser
        .start(server.addr(), "interop-parlor-offers")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    // Parlor sees the browser in its first peer list and offers.
    let mut parlor = PeerProcess::join("parlor", &link(&server, "interop-parlor-offers"));
    parlor.wait_connected_to(&browser_id).await;
    check(browser.wait_open().await);

    check_introductions(&mut parlor, &browser).await;
    chat_both_ways(&mut parlor, &browser).await;
    browser.browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parlor_peer_and_old_browser_client_chat_when_the_browser_offers_first() {
    let server = SignalProcess::start(&[]).await;
    let mut parlor = PeerProcess::create("parlor", &server.url()).await;
    let room = room_of(&parlor.link).to_owned();
    parlor.peer_id().await;

    // The browser joins second, rebuilds its peer connection on the peer
    // list (dropping whatever Parlor sent before that), and "Connect" makes
    // it offer; Parlor is the polite side of any collision.
    let mut browser = old_client().await;
    let browser_id = browser
        .start(server.addr(), &room)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    check(browser.connect().await);

    parlor.wait_connected_to(&browser_id).await;
    check(browser.wait_open().await);

    check_introductions(&mut parlor, &browser).await;
    chat_both_ways(&mut parlor, &browser).await;
    browser.browser.close().await;
}

/// Lines each side says in the conversations below.
const PARLOR_LINES: usize = 5;
const BROWSER_LINES: usize = 3;

/// When the old library's users and tests click "Connect": a fixed wait
/// after joining, connected or not.
const CONNECT_CLICK_AFTER: Duration = Duration::from_millis(1500);

/// Parlor says [`PARLOR_LINES`] lines and the browser [`BROWSER_LINES`];
/// then the browser must have shown each of Parlor's lines once, from Parlor,
/// and no `info` as chat, and Parlor must have received each of the
/// browser's lines once (counted after it left, so nothing can come later).
async fn one_conversation(mut parlor: PeerProcess, browser: &OldClient) {
    let parlor_id = parlor.peer_id().await;
    let parlor_lines: Vec<String> = (0..PARLOR_LINES)
        .map(|n| format!("parlor says {n}"))
        .collect();
    let browser_lines: Vec<String> = (0..BROWSER_LINES)
        .map(|n| format!("the browser says {n}"))
        .collect();

    for line in &parlor_lines {
        parlor.say(line).await;
    }
    check(browser.wait_can_send().await);
    for line in &browser_lines {
        check(browser.send(line).await);
    }
    for line in &parlor_lines {
        check(browser.wait_message(line).await);
    }
    for line in &browser_lines {
        let wanted = |e: &Value| {
            e["event"] == "message"
                && e["from"] == browser.id.as_str()
                && e["text"] == line.as_str()
        };
        if !parlor.seen.iter().any(wanted) {
            parlor
                .wait_for(&format!("message {line:?} from the browser"), wanted)
                .await;
        }
    }
    let events = parlor.finish_with_events().await;

    let received = browser.received().await.unwrap_or_else(|e| panic!("{e:#}"));
    let seen = || async {
        format!(
            "the browser received (text, sender):\n{received:#?}\nParlor is {parlor_id}; the browser's log:\n{}",
            browser.log().await
        )
    };
    let infos: Vec<&String> = received
        .iter()
        .map(|(text, _)| text)
        .filter(|text| serde_json::from_str::<Value>(text).is_ok_and(|v| v["type"] == "info"))
        .collect();
    assert!(
        infos.is_empty(),
        "the browser showed an info message as chat: {infos:?}\n{}",
        seen().await
    );
    for line in &parlor_lines {
        let copies: Vec<&Option<String>> = received
            .iter()
            .filter(|(text, _)| text == line)
            .map(|(_, from)| from)
            .collect();
        assert_eq!(
            copies,
            vec![&Some(parlor_id.clone())],
            "senders the browser showed for {line:?}\n{}",
            seen().await
        );
    }

    let mut from_browser: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "message" && e["from"] == browser.id.as_str())
        .map(|e| e["text"].as_str().unwrap_or_default())
        .collect();
    from_browser.sort_unstable();
    assert_eq!(
        from_browser, browser_lines,
        "the chat messages Parlor received from the browser, by the time it left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_client_that_clicks_connect_after_it_is_connected_still_sees_every_parlor_message_from_parlor()
 {
    let server = SignalProcess::start(&[]).await;
    let room = "interop-connect-again";
    let mut browser = old_client().await;
    let browser_id = browser
        .start_and_click_connect_after(server.addr(), room, CONNECT_CLICK_AFTER)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    // Parlor sees the browser in its first peer list and offers; they
    // connect well before the click.
    let mut parlor = PeerProcess::join("parlor", &link(&server, room));
    parlor.wait_connected_to(&browser_id).await;
    check(browser.wait_open().await);

    // The click comes anyway: a second `chat` channel on the same
    // connection, which the browser then writes to.
    check(
        browser
            .wait_until("oldClient.connectClicks.length === 1 && oldClient.channelsOpened >= 2")
            .await,
    );
    let was_open = browser
        .browser
        .eval("return oldClient.connectClicks[0].wasOpen;", vec![])
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        was_open,
        Value::Bool(true),
        "the click came before the browser was connected, so this run did not test a click \
         after connecting; the browser's log:\n{}",
        browser.log().await
    );

    one_conversation(parlor, &browser).await;
    browser.browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_client_and_parlor_opening_channels_at_once_see_one_conversation() {
    let server = SignalProcess::start(&[]).await;
    let mut parlor = PeerProcess::create("parlor", &server.url()).await;
    let room = room_of(&parlor.link).to_owned();
    parlor.peer_id().await;

    // Parlor offers as soon as the browser is in its peer list; the browser
    // clicks "Connect" in the page the moment it has a peer connection, so
    // its offer (and its channel) is made while Parlor's is on the way.
    let mut browser = old_client().await;
    let browser_id = browser
        .start_and_click_connect_after(server.addr(), &room, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    parlor.wait_connected_to(&browser_id).await;
    check(browser.wait_open().await);

    one_conversation(parlor, &browser).await;
    browser.browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_offered_to_an_old_client_are_never_sent_and_the_sender_is_told_why() {
    let server = SignalProcess::start(&[]).await;
    let mut browser = old_client().await;
    let browser_id = browser
        .start(server.addr(), "interop-files")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut parlor = PeerProcess::join("parlor", &link(&server, "interop-files"));
    parlor.wait_connected_to(&browser_id).await;
    check(browser.wait_open().await);

    let file = std::env::temp_dir().join(format!("parlor-interop-file-{}", std::process::id()));
    std::fs::write(&file, "for a new app only").unwrap_or_else(|e| panic!("{e}"));
    parlor.say(&format!("/send {}", file.display())).await;
    let failed = parlor
        .wait_for("the refusal", |e| e["event"] == "file-failed")
        .await;
    let _ = std::fs::remove_file(&file);
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("can't receive files")),
        "{failed}"
    );
    // The browser's user saw nothing of it: no offer shown as a message.
    parlor.say("and a plain message").await;
    check(browser.wait_message("and a plain message").await);
    let shown = browser.received().await.unwrap_or_default();
    assert!(
        shown.iter().all(|(text, _)| !text.contains("file-offer")),
        "{shown:?}"
    );
    browser.browser.close().await;
}
