//! The desktop app end to end through its real window (WebKitGTK under Xvfb,
//! driven by tauri-driver): create a room, share the link with a headless
//! `parlor-peer` or a second app instance, watch the connection come up and
//! chat both ways. Screenshots of the room view go to `tests/artifacts/`.

use parlor_e2e::app::{AppWindow, Isolation, SessionBus, one_at_a_time};
use parlor_e2e::peer::PeerProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_creates_a_room_and_chats_with_a_peer() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;

    let mut bob = PeerProcess::join("bob", &link);
    let app_peer_id = bob
        .wait_event("peer-joined", None)
        .await
        .get("peer")
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_owned();
    bob.wait_connected_to(&app_peer_id).await;

    // The peer list shows bob connected, with the steps it took and the path.
    app.wait_peers_connected(1).await?;
    app.wait_until(
        "document.querySelector('#peer-list .peer .peer-name').textContent === 'bob' && \
         document.querySelectorAll('#peer-list .peer .timeline .step').length >= 4 && \
         document.querySelector('#peer-list .peer .peer-path').textContent.startsWith('Direct on the LAN')",
    )
    .await?;

    app.send("hello from the app").await?;
    bob.wait_event("message", Some(("text", "hello from the app")))
        .await;
    app.wait_until(
        "document.querySelector('#message-log .message.mine').dataset.delivery === 'delivered'",
    )
    .await?;

    bob.say("hello from bob").await;
    app.wait_message("hello from bob").await?;
    app.wait_until(
        "[...document.querySelectorAll('#message-log .message:not(.mine) .sender')].some(e => e.textContent === 'bob')",
    )
    .await?;
    app.screenshot("room-with-peer").await?;

    // Leaving takes the window back to the start view and bob sees us go.
    app.click("#leave-room").await?;
    app.wait_until("document.body.dataset.view === 'start'")
        .await?;
    bob.wait_event("peer-left", Some(("peer", &app_peer_id)))
        .await;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_app_instances_chat_in_one_room() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let alice = AppWindow::launch("alice").await?;
    let bob = AppWindow::launch("bob").await?;
    alice.set_display_name("Alice").await?;
    bob.set_display_name("Bob").await?;
    let link = alice.create_room().await?;
    bob.join_room(&link).await?;

    alice.wait_peers_connected(1).await?;
    bob.wait_peers_connected(1).await?;
    alice
        .wait_until("document.querySelector('#peer-list .peer-name').textContent === 'Bob'")
        .await?;
    bob.wait_until("document.querySelector('#peer-list .peer-name').textContent === 'Alice'")
        .await?;

    alice.send("hi bob, this is alice").await?;
    bob.wait_message("hi bob, this is alice").await?;
    bob.send("hi alice!").await?;
    alice.wait_message("hi alice!").await?;
    for window in [&alice, &bob] {
        window
            .wait_until(
                "[...document.querySelectorAll('#message-log .message.mine')].every(m => m.dataset.delivery === 'delivered')",
            )
            .await?;
    }
    alice.screenshot("two-instances-alice").await?;
    bob.screenshot("two-instances-bob").await?;
    alice.close().await;
    bob.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_from_a_peer_is_shown_as_text_and_never_runs() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut mallory = PeerProcess::join(
        "<b>mallory</b><img src=x onerror=\"window.__pwned='name'\">",
        &link,
    );
    mallory.wait_event("peer-connected", None).await;
    app.wait_peers_connected(1).await?;

    let hostile = "<img src=x onerror=\"window.__pwned='img'\"><script>window.__pwned='script'</script><b>bold?</b>";
    mallory.say(hostile).await;
    app.wait_message(hostile).await?;

    let verdict = app
        .eval(
            "const texts = [...document.querySelectorAll('#message-log .message .text, #peer-list .peer-name, #message-log .sender')];
             return {
               pwned: window.__pwned === undefined ? null : String(window.__pwned),
               childElements: texts.reduce((n, e) => n + e.childElementCount, 0),
               injected: document.querySelectorAll('#message-log img, #message-log script, #message-log b, #peer-list b, #peer-list img').length,
               name: document.querySelector('#peer-list .peer-name').textContent,
             };",
            vec![],
        )
        .await?;
    // An injected `<img src=x onerror=…>` would have fired its handler by
    // the time a control image with the same broken source reports its own
    // error: wait for that signal rather than a fixed time.
    app.eval(
        "window.__control = false;
         const control = new Image();
         control.onerror = control.onload = () => { window.__control = true; };
         control.src = 'x';",
        vec![],
    )
    .await?;
    app.wait_until("window.__control === true").await?;
    let pwned = app
        .eval(
            "return window.__pwned === undefined ? null : String(window.__pwned)",
            vec![],
        )
        .await?;
    // Still the same page, in the room, with the message shown.
    app.wait_message(hostile).await?;
    app.screenshot("html-shown-as-text").await?;
    assert_eq!(verdict["pwned"], serde_json::Value::Null, "{verdict}");
    assert_eq!(pwned, serde_json::Value::Null);
    assert_eq!(verdict["childElements"], 0, "{verdict}");
    assert_eq!(verdict["injected"], 0, "{verdict}");
    assert_eq!(
        verdict["name"], "<b>mallory</b><img src=x onerror=\"window.__pwned='name'\">",
        "{verdict}"
    );
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_hands_its_link_to_the_running_window() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let bus = SessionBus::start()?;
    let host = AppWindow::launch("host").await?;
    let running = AppWindow::launch_with("running", Isolation::SingleInstance(&bus)).await?;
    let link = host.create_room().await?;

    // `parlor LINK` while Parlor runs: the new process hands the link over
    // and exits; the running window joins the room.
    let status = running.launch_again(&[&link]).await?;
    assert!(status.success(), "second launch: {status}");
    running
        .wait_until(&format!(
            "document.body.dataset.view === 'room' && document.getElementById('room-link').value === {}",
            serde_json::to_string(&link)?
        ))
        .await?;
    running.wait_peers_connected(1).await?;
    host.wait_peers_connected(1).await?;
    running.screenshot("handed-over-link").await?;
    host.close().await;
    running.close().await;
    Ok(())
}
