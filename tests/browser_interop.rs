//! A `parlor-peer` process and a real browser running the old JavaScript
//! client (`tests/browser/old-client.js`, modelled on substrate-system/webrtc)
//! in one room of a real `parlor-signal`: Parlor must connect to it whoever
//! offers first, and chat with it in plain text (protocol.md §4–5).
//!
//! Chromium runs with its default settings, so it announces its host
//! addresses as mDNS `.local` names (docs/mdns.md).

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
