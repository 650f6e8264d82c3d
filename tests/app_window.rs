//! The desktop app end to end through its real window (WebKitGTK under Xvfb,
//! driven by tauri-driver): create a room, share the link with a headless
//! `parlor-peer` or a second app instance, watch the connection come up and
//! chat both ways; compare safety codes, verify a peer and recognise it after
//! a restart, flag an impostor; be asked before a link takes us elsewhere;
//! stay usable, and bounded, while a peer floods the room; keep what is
//! written (a message to an empty room waits for whoever comes, a room
//! from before a restart is listed and rejoined with its history, closing
//! with a message undelivered asks first); send files and take them (offer
//! cards with Accept and Decline, progress, Cancel, Open and Show in folder).
//! Screenshots of the room view go to `tests/artifacts/`.

use std::path::Path;

use parlor_e2e::app::{AppWindow, ENTER, ESCAPE, Isolation, SessionBus, one_at_a_time};
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::scratch::{Scratch, write_random_file};
use parlor_e2e::signal::SignalProcess;
use serde_json::{Value, json};

/// The first four byte pairs of a fingerprint, as the window shows them.
fn short(fingerprint: &str) -> String {
    fingerprint.split(':').take(4).collect::<Vec<_>>().join(":")
}

/// A JavaScript expression for the card of the peer whose short identity is `short`.
fn card(short: &str) -> String {
    format!(
        "[...document.querySelectorAll('#peer-list .peer')].find(p => p.querySelector('.peer-id').textContent === {})",
        serde_json::to_string(short).unwrap_or_default()
    )
}

/// A room link on the server at `url` (`ws://HOST:PORT`).
fn link_on(server_url: &str, room: &str) -> String {
    let encoded = server_url.replace(':', "%3A").replace('/', "%2F");
    format!("parlor://join/{room}?server={encoded}")
}

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

    // Both cards show the safety code of the connection, the same on both
    // sides, and each side's label carries the other's identity as that
    // other side shows it to its person.
    let code = "document.querySelector('#peer-list .safety-emoji').textContent + ' / ' + \
                document.querySelector('#peer-list .safety-digits').textContent";
    for window in [&alice, &bob] {
        window
            .wait_until(&format!(
                "document.querySelector('#peer-list .safety-emoji').textContent.split(' ').length === 7 && \
                 /^\\d{{5}} \\d{{5}} \\d{{5}}$/.test(document.querySelector('#peer-list .safety-digits').textContent) && \
                 !document.querySelector('#peer-list .verify').hidden && ({code}).length > 0"
            ))
            .await?;
    }
    let alice_code = alice.eval(&format!("return {code}"), vec![]).await?;
    let bob_code = bob.eval(&format!("return {code}"), vec![]).await?;
    assert_eq!(
        alice_code, bob_code,
        "the two sides see different safety codes"
    );
    let alice_identity = alice.text("#room-identity").await?;
    let bob_identity = bob.text("#room-identity").await?;
    assert_eq!(alice_identity.len(), 11, "{alice_identity:?}");
    assert_ne!(alice_identity, bob_identity);
    assert_eq!(alice.text("#peer-list .peer-id").await?, bob_identity);
    assert_eq!(bob.text("#peer-list .peer-id").await?, alice_identity);
    // Each person can read their whole identity in the settings.
    bob.click("#open-settings").await?;
    bob.wait_until(
        "document.getElementById('settings-dialog').open && \
         document.getElementById('identity-fingerprint').textContent.length === 95",
    )
    .await?;
    assert_eq!(bob.text("#identity-short").await?, bob_identity);
    assert!(
        bob.text("#identity-fingerprint")
            .await?
            .starts_with(&bob_identity)
    );
    bob.screenshot("settings-identity").await?;
    bob.press(ESCAPE).await?;
    bob.wait_until("!document.getElementById('settings-dialog').open")
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
    running.launch_again(&[&link]).await?;
    // The window says where the link leads and starts on Cancel, so keys
    // meant for another app cannot join a room; Join joins.
    running.wait_link_dialog().await?;
    running
        .wait_until("document.activeElement === document.getElementById('link-cancel')")
        .await?;
    let server = running.text("#link-host").await?;
    assert!(
        server.starts_with("127.0.0.1:") && link.contains(&server.replace(':', "%3A")),
        "{server:?} for {link}"
    );
    assert_eq!(
        running
            .eval(
                "return document.getElementById('link-dialog').dataset.embedded",
                vec![]
            )
            .await?,
        "false",
        "another instance's server is not this one's"
    );
    running.click("#link-join").await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_peer_stays_verified_after_a_restart_and_an_impostor_is_flagged()
-> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("verify")?;
    let profile = scratch.path().join("alice-profile");
    let bob_identity = scratch.path().join("bob-identity.pem");
    let bob_identity = bob_identity.to_str().unwrap_or_default();

    // Alice meets Bob (a parlor-peer with a lasting identity) and compares
    // the safety code: the same as Bob's side of the connection has.
    let alice = AppWindow::launch_with("alice", Isolation::ProfileAt(&profile)).await?;
    let link = alice.create_room().await?;
    let mut bob = PeerProcess::spawn("Bob", &["join", &link, "--identity", bob_identity]);
    let bob_fingerprint = bob.wait_event("identity", None).await["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let connected = bob.wait_event("peer-connected", None).await;
    let bob_card = card(&short(&bob_fingerprint));
    alice.wait_peers_connected(1).await?;
    alice
        .wait_until(&format!(
            "{bob_card} && !{bob_card}.querySelector('.verify').hidden"
        ))
        .await?;
    let shown = alice
        .eval(
            &format!(
                "const c = {bob_card}; return [c.querySelector('.safety-emoji').textContent, c.querySelector('.safety-digits').textContent];"
            ),
            vec![],
        )
        .await?;
    assert_eq!(shown[0], connected["safety_code"]["emoji"], "{connected}");
    assert_eq!(shown[1], connected["safety_code"]["digits"], "{connected}");

    // Mark as verified, with the keyboard: Tab reaches it, Enter presses it.
    alice
        .eval("document.getElementById('copy-link').focus()", vec![])
        .await?;
    alice.tab_to("#peer-list .verify", 5).await?;
    alice.press(ENTER).await?;
    alice
        .wait_until(&format!(
            "{bob_card}.dataset.trust === 'verified' && \
             {bob_card}.querySelector('.verify').hidden && \
             !{bob_card}.querySelector('.verified-badge').hidden && \
             {bob_card}.querySelector('.verified-badge').textContent === '✓ Verified' && \
             document.activeElement === {bob_card}.querySelector('.unverify')"
        ))
        .await?;
    let contacts: Value = serde_json::from_slice(&std::fs::read(profile.join("contacts.json"))?)?;
    assert_eq!(contacts[&bob_fingerprint]["name"], "Bob", "{contacts}");
    bob.say("hello, it is really me").await;
    alice.wait_message("hello, it is really me").await?;
    alice
        .eval("document.getElementById('message-input').focus()", vec![])
        .await?;
    // docs/screenshot-verified.png is a copy of this one.
    alice.screenshot("verified-peer").await?;
    drop(bob);
    alice.close().await;

    // A restart with the same profile: Bob, back with the same identity in a
    // new room, shows as verified at once.
    let alice = AppWindow::launch_with("alice-again", Isolation::ProfileAt(&profile)).await?;
    let link = alice.create_room().await?;
    let mut bob = PeerProcess::spawn("Bob", &["join", &link, "--identity", bob_identity]);
    bob.wait_event("peer-connected", None).await;
    alice
        .wait_until(&format!(
            "{bob_card} && {bob_card}.dataset.trust === 'verified' && \
             !{bob_card}.querySelector('.verified-badge').hidden && \
             {bob_card}.querySelector('.impostor-warning').hidden"
        ))
        .await?;

    // Someone else (a new identity) calls itself Bob: its card carries a
    // warning nobody can miss, and the two Bobs are told apart by identity.
    let mut impostor = PeerProcess::join("Bob", &link);
    let impostor_fingerprint = impostor.wait_event("identity", None).await["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    impostor.wait_event("peer-connected", None).await;
    let impostor_card = card(&short(&impostor_fingerprint));
    assert_ne!(short(&impostor_fingerprint), short(&bob_fingerprint));
    alice.wait_peers_connected(2).await?;
    alice
        .wait_until(&format!(
            "{impostor_card} && {impostor_card}.dataset.trust === 'impostor' && \
             !{impostor_card}.querySelector('.impostor-warning').hidden && \
             {impostor_card}.querySelector('.impostor-warning').textContent === 'Not the Bob you verified — this is a different identity' && \
             {impostor_card}.querySelector('.verified-badge').hidden && \
             {impostor_card}.querySelector('.peer-name').textContent === 'Bob' && \
             {bob_card}.dataset.trust === 'verified'"
        ))
        .await?;
    // Its messages carry the warning too.
    impostor.say("it is me, Bob, trust me").await;
    alice.wait_message("it is me, Bob, trust me").await?;
    alice
        .wait_until(
            "[...document.querySelectorAll('#message-log .message.impostor .sender-warning')].some(e => e.textContent.startsWith('Not the Bob you verified'))",
        )
        .await?;
    alice.screenshot("impostor-flagged").await?;
    alice.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_hands_its_link_over_without_opening_a_display() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let bus = SessionBus::start()?;
    let running = AppWindow::launch_with("running", Isolation::SingleInstance(&bus)).await?;
    let link = link_on("ws://127.0.0.1:9", "elsewhere");

    // Handed over before any of the second process's own window starts
    // (GTK and WebKit at exit crashed it): it needs no display at all.
    running.launch_again_without_display(&[&link]).await?;
    running.wait_link_dialog().await?;
    running.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_another_server_asks_first_and_cancel_keeps_the_room() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let bus = SessionBus::start()?;
    let alice = AppWindow::launch_with("alice", Isolation::SingleInstance(&bus)).await?;
    let link = alice.create_room().await?;
    // The built-in server's own rooms say they are LAN only.
    alice
        .wait_until("!document.getElementById('room-lan').hidden")
        .await?;
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("peer-connected", None).await;
    alice.wait_peers_connected(1).await?;

    let elsewhere = SignalProcess::start(&[]).await;
    let other_link = link_on(&elsewhere.url(), "elsewhere");
    let still_in_the_room = format!(
        "document.body.dataset.view === 'room' && \
         document.getElementById('room-link').value === {} && \
         !document.getElementById('link-dialog').open",
        serde_json::to_string(&link)?
    );

    // A link from outside: the dialog names the server; Escape cancels.
    alice.launch_again(&[&other_link]).await?;
    alice.wait_link_dialog().await?;
    assert_eq!(alice.text("#link-host").await?, elsewhere.addr());
    let facts = alice
        .eval(
            "return [document.getElementById('link-encryption').dataset.encrypted,
                     document.getElementById('link-where').dataset.embedded,
                     document.getElementById('link-stay').hidden]",
            vec![],
        )
        .await?;
    assert_eq!(facts, serde_json::json!(["false", "false", false]));
    alice.screenshot("link-dialog").await?;
    alice.press(ESCAPE).await?;
    alice.wait_until(&still_in_the_room).await?;
    alice.wait_peers_connected(1).await?;
    alice.send("still here").await?;
    bob.wait_event("message", Some(("text", "still here")))
        .await;

    // A room on this app's own server is named as such; Cancel keeps the room.
    let own_server = link
        .split_once("?server=")
        .map(|(_, server)| server.to_owned())
        .unwrap_or_default();
    let own_other_room = format!("parlor://join/another?server={own_server}");
    alice.launch_again(&[&own_other_room]).await?;
    alice.wait_link_dialog().await?;
    alice
        .wait_until("document.getElementById('link-where').dataset.embedded === 'true'")
        .await?;
    alice.click("#link-cancel").await?;
    alice.wait_until(&still_in_the_room).await?;

    // Join a room whose server is gone: the join fails, the room stays.
    let port = parlor_e2e::process::free_port()?;
    let dead_link = link_on(&format!("ws://127.0.0.1:{port}"), "nowhere");
    alice.launch_again(&[&dead_link]).await?;
    alice.wait_link_dialog().await?;
    alice.click("#link-join").await?;
    alice
        .wait_until(&format!(
            "{still_in_the_room} && !document.getElementById('banner').hidden && \
             document.getElementById('banner-text').textContent.includes('Your rooms are as they were')"
        ))
        .await?;
    alice.wait_peers_connected(1).await?;
    alice.send("and still here").await?;
    bob.wait_event("message", Some(("text", "and still here")))
        .await;

    // Join the other server's room: the window shows it, and the first room
    // stays open beside it (bob still reaches us there).
    alice.launch_again(&[&other_link]).await?;
    alice.wait_link_dialog().await?;
    alice.click("#link-join").await?;
    alice
        .wait_until(&format!(
            "document.getElementById('room-link').value === {} && \
             document.getElementById('room-lan').hidden && \
             document.getElementById('room-server-text').textContent.includes({})",
            serde_json::to_string(&other_link)?,
            serde_json::to_string(elsewhere.addr())?
        ))
        .await?;
    alice
        .wait_until("document.querySelectorAll('#room-list .room-item').length === 2")
        .await?;
    alice.click("#room-list li:first-child .room-item").await?;
    alice.wait_until(&still_in_the_room).await?;
    alice.wait_peers_connected(1).await?;
    alice.send("from the first room").await?;
    bob.wait_event("message", Some(("text", "from the first room")))
        .await;
    alice.close().await;
    Ok(())
}

/// The most entries the message log keeps, its "older messages" line
/// included (`BOUNDS.logItems` in ui/app.js).
const LOG_BOUND: u64 = 500;

/// The most rows a peer's timeline shows, its "earlier steps" line not
/// included (`BOUNDS.steps` in ui/app.js).
const STEP_BOUND: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_stays_responsive_while_a_peer_floods_it() -> anyhow::Result<()> {
    const FLOOD: usize = 3000;
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    // Carol is calm and gets what we type; flo floods the room.
    let mut carol = PeerProcess::join("carol", &link);
    carol.wait_event("peer-connected", None).await;
    let mut flo = PeerProcess::join("flo", &link);
    // Flo's chat channels to the window and to carol are open.
    flo.wait_event("peer-connected", None).await;
    flo.wait_event("peer-connected", None).await;
    app.wait_peers_connected(2).await?;
    let carol_card = "[...document.querySelectorAll('#peer-list .peer')].find(p => p.querySelector('.peer-name').textContent === 'carol')";
    let carol_verify = format!("{carol_card}.querySelector('.verify')");
    app.wait_until(&format!(
        "{carol_card} && !{carol_verify}.hidden && \
         [...document.querySelectorAll('#peer-list .peer-name')].some(e => e.textContent === 'flo')"
    ))
    .await?;
    // The keyboard is on a control of carol's card while flo's messages
    // come in; the log's size is recorded after every change to it.
    app.eval(&format!("{carol_verify}.focus()"), vec![]).await?;
    app.eval(
        "const log = document.getElementById('message-log');
         window.__log = { most: 0, added: 0 };
         new MutationObserver((records) => {
           for (const record of records) {
             window.__log.added += [...record.addedNodes].filter((n) => n.classList && n.classList.contains('message')).length;
           }
           window.__log.most = Math.max(window.__log.most, log.querySelectorAll('li').length);
         }).observe(log, { childList: true });",
        vec![],
    )
    .await?;

    // Flo sends its lines as fast as it can: a burst of 500 (all the engine
    // takes at once), then a steady stream it lets through (40 a second)
    // for as long as we type, then all the rest at once, which gets flo
    // dropped. We type while the full log is trimmed under the stream.
    let lines: Vec<String> = (0..FLOOD)
        .map(|i| format!("flood {i:05} {}", "x".repeat(40)))
        .collect();
    let (burst, rest) = lines.split_at(500);
    let typed = "typed while flo floods the room: <b>not bold</b> & 0123456789";
    let typing_done = tokio::sync::Notify::new();
    let flooding = async {
        flo.say_all(burst).await;
        let mut rest = rest.iter();
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(25));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = typing_done.notified() => break,
                _ = tick.tick() => match rest.next() {
                    Some(line) => flo.say(line).await,
                    None => break,
                },
            }
        }
        flo.say_all(rest.as_slice()).await;
    };
    let typing = async {
        let typed_result = async {
            app.wait_until("document.querySelector('#message-log .log-trimmed') !== null")
                .await?;
            let focus_kept = app
                .eval(
                    &format!("return document.activeElement === {carol_verify}"),
                    vec![],
                )
                .await?;
            app.eval("document.getElementById('message-input').focus()", vec![])
                .await?;
            app.press(typed).await?;
            let value = app
                .eval(
                    "return document.getElementById('message-input').value",
                    vec![],
                )
                .await?;
            app.press(ENTER).await?;
            anyhow::Ok((focus_kept, value))
        }
        .await;
        typing_done.notify_one();
        typed_result
    };
    let ((), typed_result) = tokio::join!(flooding, typing);
    let (focus_kept, value) = typed_result?;
    assert_eq!(
        focus_kept, true,
        "the flood took the focus off carol's card"
    );
    assert_eq!(value, typed, "keys were lost while the peer flooded");
    carol.wait_event("message", Some(("text", typed))).await;

    // The window drops flo for sending more than 50 messages a second
    // beyond its burst, and says so on flo's card; carol stays.
    let flo_card = "[...document.querySelectorAll('#peer-list .peer')].find(p => p.querySelector('.peer-name').textContent === 'flo')";
    app.wait_until(&format!(
        "{flo_card}.dataset.state === 'failed' && \
         [...{flo_card}.querySelectorAll('.step.bad .step-label')].some(e => \
           e.textContent === 'disconnected from this peer: it sent more than 50 messages a second') && \
         {carol_card}.dataset.state === 'connected'"
    ))
    .await?;
    // Still usable: a message sent now reaches carol and is shown. (The
    // engine still counts flo, dropped, among those it is sent to, so the
    // window may say "Delivered to 1 of 2".)
    app.send("after the flood").await?;
    carol
        .wait_event("message", Some(("text", "after the flood")))
        .await;
    app.wait_until(
        "(() => { const mine = [...document.querySelectorAll('#message-log .message.mine')].pop();
                  return mine && mine.querySelector('.text').textContent === 'after the flood' &&
                         ['delivered', 'partial'].includes(mine.dataset.delivery); })()",
    )
    .await?;

    let page = app
        .eval(
            "const log = document.getElementById('message-log');
             const numbers = [...log.querySelectorAll('.message:not(.mine) .text')]
               .map((e) => e.textContent).filter((t) => t.startsWith('flood '))
               .map((t) => Number(t.split(' ')[1]));
             return {
               most: window.__log.most,
               added: window.__log.added,
               items: log.querySelectorAll('li').length,
               messages: log.querySelectorAll('.message').length,
               modelMessages: app.shown.messages.length,
               first: log.firstElementChild.className,
               trimmed: log.querySelectorAll('.log-trimmed').length,
               trimmedText: (log.querySelector('.log-trimmed') || {}).textContent || null,
               oldestShown: numbers[0],
               inOrder: numbers.every((n, i) => i === 0 || n > numbers[i - 1]),
               steps: Math.max(...[...document.querySelectorAll('#peer-list .timeline')].map((t) => t.querySelectorAll('.step').length)),
               focused: document.activeElement ? document.activeElement.id : null,
               elements: document.getElementsByTagName('*').length,
             };",
            vec![],
        )
        .await?;
    eprintln!("after the flood: {page}");
    app.screenshot("flooded-window").await?;
    let count = |key: &str| page[key].as_u64().unwrap_or(u64::MAX);
    // Flo got at least its burst of 500 into the log, which holds 500
    // entries with the line that says older ones are gone.
    assert!(count("added") > LOG_BOUND, "{page}");
    assert!(count("most") <= LOG_BOUND, "{page}");
    assert!(count("items") <= LOG_BOUND, "{page}");
    assert!(count("messages") < LOG_BOUND, "{page}");
    assert_eq!(count("modelMessages"), count("messages"), "{page}");
    assert_eq!(page["first"], "log-trimmed", "{page}");
    assert_eq!(page["trimmed"], 1, "{page}");
    assert_eq!(
        page["trimmedText"], "Older messages are not shown",
        "{page}"
    );
    // The oldest went, the latest stay, in order.
    assert!(count("oldestShown") > 0, "{page}");
    assert_eq!(page["inOrder"], true, "{page}");
    assert!(count("steps") <= STEP_BOUND, "{page}");
    assert_eq!(page["focused"], "message-input", "{page}");
    app.close().await;
    Ok(())
}

/// A JavaScript expression for our message with exactly `text` in the log.
fn mine(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#message-log .message.mine')].find(m => m.querySelector('.text').textContent === {})",
        serde_json::to_string(text).unwrap_or_default()
    )
}

/// A JavaScript condition: our message `text` is in the log, its delivery
/// state (`data-delivery`) is `state` and its words are `words`.
fn delivery_is(text: &str, state: &str, words: &str) -> String {
    let message = mine(text);
    format!(
        "(() => {{ const m = {message}; return !!m && m.dataset.delivery === {} && \
         m.querySelector('.delivery-text').textContent === {}; }})()",
        serde_json::to_string(state).unwrap_or_default(),
        serde_json::to_string(words).unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_to_an_empty_room_waits_and_is_delivered_when_someone_comes()
-> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;

    // Nobody is here: the message is not refused, it waits.
    app.send("is anyone there?").await?;
    app.wait_until(&delivery_is(
        "is anyone there?",
        "waiting",
        "Waiting for someone",
    ))
    .await?;
    assert_eq!(
        app.eval(
            "return [document.getElementById('banner').hidden, document.getElementById('message-input').value]",
            vec![]
        )
        .await?,
        serde_json::json!([true, ""]),
        "nothing refused, nothing put back in the box"
    );
    app.screenshot("message-waiting").await?;

    // Bob opens the link: he gets it, and the window says so, by name.
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("message", Some(("text", "is anyone there?")))
        .await;
    app.wait_until(&delivery_is(
        "is anyone there?",
        "delivered",
        "Delivered to bob",
    ))
    .await?;
    // Shown once, however it reached him.
    assert_eq!(
        app.eval(
            "return document.querySelectorAll('#message-log .message.mine').length",
            vec![]
        )
        .await?,
        1
    );
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_from_before_a_restart_is_listed_and_one_click_rejoins_it_with_its_history()
-> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("recent-rooms")?;
    let profile = scratch.path().join("alice-profile");

    // Alice and bob talk in a room; then alice leaves it and quits.
    let alice = AppWindow::launch_with("alice", Isolation::ProfileAt(&profile)).await?;
    let link = alice.create_room().await?;
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("peer-connected", None).await;
    alice.wait_peers_connected(1).await?;
    bob.say("hello from before the restart").await;
    alice.wait_message("hello from before the restart").await?;
    alice.send("see you after the restart").await?;
    bob.wait_event("message", Some(("text", "see you after the restart")))
        .await;
    alice
        .wait_until(&delivery_is(
            "see you after the restart",
            "delivered",
            "Delivered to bob",
        ))
        .await?;
    bob.kill().await;
    // Left before quitting, so it is not reopened at start: a recent room.
    alice.click("#leave-room").await?;
    alice
        .wait_until("document.body.dataset.view === 'start'")
        .await?;
    alice.close().await;

    // Started again: the start view lists the room, reachable by keyboard.
    let alice = AppWindow::launch_with("alice-again", Isolation::ProfileAt(&profile)).await?;
    let recent = "document.querySelector('#recent-list .recent-room')";
    alice
        .wait_until(&format!(
            "!document.getElementById('recent').hidden && \
             document.querySelectorAll('#recent-list .recent-room').length === 1 && \
             {recent}.dataset.link === {}",
            serde_json::to_string(&link)?
        ))
        .await?;
    let room = link
        .strip_prefix("parlor://join/")
        .and_then(|rest| rest.split_once('?'))
        .map(|(room, _)| room.to_owned())
        .unwrap_or_default();
    let shown = alice
        .eval(
            &format!(
                "const b = {recent}; return [b.querySelector('.recent-name').textContent, \
                 b.querySelector('.recent-host').textContent, b.querySelector('.recent-when').textContent]"
            ),
            vec![],
        )
        .await?;
    assert_eq!(shown[0], format!("{}…", &room[..8]), "{shown}");
    assert!(
        shown[1]
            .as_str()
            .is_some_and(|host| host.starts_with("127.0.0.1:") && host.ends_with("this computer")),
        "{shown}"
    );
    assert!(
        ["Last active just now", "Last active a minute ago"]
            .contains(&shown[2].as_str().unwrap_or_default()),
        "{shown}"
    );
    alice.screenshot("start-view-recent-rooms").await?;
    alice.tab_to("#recent-list .recent-room", 12).await?;

    // One click: back in the room, no link dialog, its history in the log.
    alice.click("#recent-list .recent-room").await?;
    alice
        .wait_until(&format!(
            "document.body.dataset.view === 'room' && \
             document.getElementById('room-link').value === {} && \
             !document.getElementById('link-dialog').open",
            serde_json::to_string(&link)?
        ))
        .await?;
    alice
        .wait_until(
            "document.querySelectorAll('#message-log .message.from-history').length === 2 && \
             document.querySelector('#message-log .history-separator') !== null",
        )
        .await?;
    let log = alice
        .eval(
            "return [...document.querySelectorAll('#message-log > li')].map(li => \
               li.classList.contains('history-separator') ? '--' : \
               li.classList.contains('message') ? \
                 `${li.querySelector('.sender').textContent}: ${li.querySelector('.text').textContent}` : null)\
             .filter(x => x !== null)",
            vec![],
        )
        .await?;
    assert_eq!(
        log,
        serde_json::json!([
            "bob: hello from before the restart",
            "You: see you after the restart",
            "--"
        ]),
        "{log}"
    );
    alice
        .wait_until(&delivery_is(
            "see you after the restart",
            "delivered",
            "Delivered to bob",
        ))
        .await?;
    alice.screenshot("room-history-after-restart").await?;
    alice.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_asks_first_while_a_message_has_not_reached_everyone() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    app.send("wait for me").await?;
    app.wait_until(&delivery_is(
        "wait for me",
        "waiting",
        "Waiting for someone",
    ))
    .await?;

    // Closing asks, with Keep open focused; Escape keeps the window.
    let dialog_asks = "document.getElementById('close-dialog').open && \
                       document.activeElement === document.getElementById('close-keep')";
    let still_open = "!document.getElementById('close-dialog').open && \
                      document.body.dataset.view === 'room'";
    app.request_close().await?;
    app.wait_until(dialog_asks).await?;
    assert_eq!(
        app.text("#close-text").await?,
        "1 message has not reached everyone yet. Parlor delivers them when you and they are both online again. Close anyway?"
    );
    app.screenshot("close-asks-first").await?;
    app.press(ESCAPE).await?;
    app.wait_until(still_open).await?;
    assert!(!app.app_pids().is_empty(), "Escape closed the app");

    // Keep open keeps it too, and the room goes on.
    app.request_close().await?;
    app.wait_until(dialog_asks).await?;
    app.click("#close-keep").await?;
    app.wait_until(still_open).await?;
    assert!(!app.app_pids().is_empty(), "Keep open closed the app");

    // Once bob has it, nothing is undelivered: closing closes at once.
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("message", Some(("text", "wait for me")))
        .await;
    app.wait_until(&delivery_is("wait for me", "delivered", "Delivered to bob"))
        .await?;
    // The app may be gone before WebDriver answers the key press.
    let _ = app.request_close().await;
    app.wait_exited().await?;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_confirms_and_ends_the_app_with_a_message_undelivered() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    app.create_room().await?;
    app.send("one").await?;
    app.send("two").await?;
    app.wait_until(&delivery_is("two", "waiting", "Waiting for someone"))
        .await?;
    app.request_close().await?;
    app.wait_until("document.getElementById('close-dialog').open")
        .await?;
    assert!(
        app.text("#close-text")
            .await?
            .starts_with("2 messages have not reached everyone yet."),
    );
    // The app may be gone before WebDriver answers the click.
    let _ = app.click("#close-confirm").await;
    app.wait_exited().await?;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_to_the_top_of_a_rejoined_room_loads_its_earlier_messages() -> anyhow::Result<()>
{
    const SAID: usize = 230;
    let _turn = one_at_a_time().await;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("peer-connected", None).await;
    let lines: Vec<String> = (0..SAID).map(|i| format!("line {i:03}")).collect();
    bob.say_all(&lines).await;
    app.wait_message(&lines[SAID - 1]).await?;

    // Out of the room and back in through the recent rooms list.
    app.click("#leave-room").await?;
    app.wait_until("document.querySelector('#recent-list .recent-room') !== null")
        .await?;
    app.click("#recent-list .recent-room").await?;
    app.wait_until("document.body.dataset.view === 'room'")
        .await?;
    // The latest page first, at the end of the log.
    app.wait_until(
        "document.querySelectorAll('#message-log .message.from-history').length === 200 && \
         document.querySelector('#message-log .history-more-button') !== null",
    )
    .await?;
    let texts = "return [...document.querySelectorAll('#message-log .message .text')].map(e => e.textContent)";
    let first_page = app.eval(texts, vec![]).await?;
    assert_eq!(first_page[0], format!("line {:03}", SAID - 200));
    assert_eq!(first_page[199], format!("line {:03}", SAID - 1));

    // Scrolling to the top brings the rest, above, in order, once each.
    app.wait_until(
        "(() => { const l = document.getElementById('message-log'); \
                  return l.scrollTop > 0 && l.scrollHeight - l.scrollTop - l.clientHeight < 5; })()",
    )
    .await?;
    app.eval(
        "document.getElementById('message-log').scrollTop = 0",
        vec![],
    )
    .await?;
    app.wait_until(&format!(
        "document.querySelectorAll('#message-log .message.from-history').length === {SAID}"
    ))
    .await?;
    let all = app.eval(texts, vec![]).await?;
    assert_eq!(
        all,
        serde_json::json!(lines),
        "the whole conversation, in order"
    );
    app.wait_until(
        "document.querySelector('#message-log .history-more').textContent === 'The beginning of this room on this computer'",
    )
    .await?;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_message_store_is_moved_aside_and_the_start_view_says_so() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("damaged-store")?;
    let profile = scratch.path().join("profile");
    std::fs::create_dir_all(&profile)?;
    std::fs::write(
        profile.join("messages.db"),
        "not a database at all".repeat(100),
    )?;
    let app = AppWindow::launch_with("alice", Isolation::ProfileAt(&profile)).await?;
    app.wait_until("!document.getElementById('store-notice').hidden")
        .await?;
    let notice = app.text("#store-notice-text").await?;
    assert!(
        notice.starts_with(&format!(
            "Your message store {} was damaged",
            profile.join("messages.db").display()
        )) && notice.ends_with("and a fresh one started."),
        "{notice}"
    );
    app.screenshot("store-notice").await?;
    // Dismissed, it goes; the app works with the fresh store.
    app.click("#store-notice-close").await?;
    app.wait_until("document.getElementById('store-notice').hidden")
        .await?;
    app.create_room().await?;
    app.send("kept in the fresh store").await?;
    app.wait_until(&delivery_is(
        "kept in the fresh store",
        "waiting",
        "Waiting for someone",
    ))
    .await?;
    app.close().await;
    Ok(())
}

const MIB: u64 = 1024 * 1024;

/// Whether two files hold the same bytes (read by the test, not by Parlor).
fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<bool> {
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

/// A JavaScript expression for the card of our offer in the log.
const OUR_OFFER: &str = "document.querySelector('#message-log .transfer[data-direction=\"send\"]')";

/// A JavaScript expression for the card of the offer from someone else.
const THEIR_OFFER: &str =
    "document.querySelector('#message-log .transfer[data-direction=\"receive\"]')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_on_the_window_reach_a_peer_identical() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("app-send-file")?;
    let source = scratch.path().join("holiday notes.bin");
    write_random_file(&source, 200 * MIB)?;
    let inbox = scratch.file("bob-inbox");
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut bob = PeerProcess::join_with("bob", &link, &["--accept-files", &inbox]);
    bob.wait_event("peer-connected", None).await;
    app.wait_peers_connected(1).await?;

    // "Send files…" (the desktop's file picker) is reachable with the
    // keyboard, right after Send.
    app.eval("document.getElementById('message-input').focus()", vec![])
        .await?;
    app.tab_to("#send-files", 3).await?;

    // Files dragged over the room show where they go; dropped, they are
    // offered (Tauri's drag-and-drop events, as the window gets them).
    let source_path = source.display().to_string();
    app.eval(
        "onDragDrop({ type: 'enter', paths: [arguments[0]], position: { x: 400, y: 300 } })",
        vec![json!(source_path)],
    )
    .await?;
    app.wait_until("!document.getElementById('drop-zone').hidden")
        .await?;
    app.eval(
        "onDragDrop({ type: 'drop', paths: [arguments[0]], position: { x: 400, y: 300 } })",
        vec![json!(source_path)],
    )
    .await?;
    app.wait_until(&format!(
        "document.getElementById('drop-zone').hidden && {OUR_OFFER} !== null && \
         {OUR_OFFER}.querySelector('.file-name').textContent === 'holiday notes.bin' && \
         {OUR_OFFER}.querySelector('.file-size').textContent === '210 MB'"
    ))
    .await?;

    // Bob takes it; the bytes he has are the bytes we sent.
    let received = bob
        .wait_for("file-received", |e| e["event"] == "file-received")
        .await;
    let path = received["path"].as_str().unwrap_or_default();
    assert_eq!(Path::new(path), Path::new(&inbox).join("holiday notes.bin"));
    assert!(same_bytes(&source, Path::new(path))?, "the bytes differ");

    // The window says it is done: a full bar, the size, to whom.
    let row = format!("{OUR_OFFER}.querySelector('.transfer-row')");
    app.wait_until(&format!(
        "{row}.dataset.state === 'done' && {OUR_OFFER}.dataset.state === 'done' && \
         {row}.querySelector('.row-status').textContent === 'Sent to bob' && \
         {row}.querySelector('.row-label').textContent === 'To bob' && \
         {row}.querySelector('progress').value === {row}.querySelector('progress').max && \
         {row}.querySelector('[data-action=\"cancel\"]').hidden"
    ))
    .await?;
    app.screenshot("file-sent").await?;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_from_a_peer_is_shown_accepted_and_received_into_downloads() -> anyhow::Result<()>
{
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("app-receive-file")?;
    // A name that is HTML: it must show as text and never run.
    let name = "<img src=x onerror=\"window.__pwned=1\">notes.bin";
    let source = scratch.path().join(name);
    write_random_file(&source, 32 * MIB)?;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut bob = PeerProcess::join("bob", &link);
    let bob_fingerprint = bob.wait_event("identity", None).await["fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bob.wait_event("peer-connected", None).await;
    app.wait_peers_connected(1).await?;

    // Bob offers a file: a card says who (name, short identity, not
    // verified) and what (name, size), with Accept and Decline.
    bob.say(&format!("/send {}", source.display())).await;
    let accept = format!("{THEIR_OFFER}.querySelector('[data-action=\"accept\"]')");
    app.wait_until(&format!(
        "{THEIR_OFFER} !== null && !{accept}.hidden && \
         !{THEIR_OFFER}.querySelector('[data-action=\"decline\"]').hidden && \
         {THEIR_OFFER}.querySelector('.transfer-trust').textContent === 'Not verified'"
    ))
    .await?;
    let card = app
        .eval(
            &format!(
                "const c = {THEIR_OFFER}; return {{
                   from: c.querySelector('.transfer-from').textContent,
                   id: c.querySelector('.sender-id').textContent,
                   what: c.querySelector('.transfer-what').textContent,
                   file: c.querySelector('.file-name').textContent,
                   size: c.querySelector('.file-size').textContent,
                   status: c.querySelector('.row-status').textContent,
                   cancelHidden: c.querySelector('[data-action=\"cancel\"]').hidden,
                   injected: document.querySelectorAll('#message-log img').length,
                 }};"
            ),
            vec![],
        )
        .await?;
    assert_eq!(card["from"], "bob", "{card}");
    assert_eq!(card["id"], short(&bob_fingerprint), "{card}");
    assert_eq!(card["what"], "offers 1 file · 34 MB", "{card}");
    assert_eq!(card["file"], name, "{card}");
    assert_eq!(card["size"], "34 MB", "{card}");
    assert_eq!(
        card["status"], "Waiting for you to accept or decline",
        "{card}"
    );
    assert_eq!(card["cancelHidden"], true, "{card}");
    assert_eq!(card["injected"], 0, "{card}");

    // Watch the card's bar move while it comes in.
    app.eval(
        &format!(
            "const row = {THEIR_OFFER}.querySelector('.transfer-row');
             window.__progress = {{ active: 0, stats: '' }};
             new MutationObserver(() => {{
               if (row.dataset.state === 'active') {{
                 window.__progress.active += 1;
                 window.__progress.stats = row.querySelector('.row-stats').textContent;
               }}
             }}).observe(row, {{ attributes: true, childList: true, subtree: true, characterData: true }});"
        ),
        vec![],
    )
    .await?;
    // Accept with the keyboard: Enter on the focused button.
    app.eval(&format!("{accept}.focus()"), vec![]).await?;
    app.press(ENTER).await?;
    let row = format!("{THEIR_OFFER}.querySelector('.transfer-row')");
    let open = format!("{THEIR_OFFER}.querySelector('[data-action=\"open\"]')");
    let reveal = format!("{THEIR_OFFER}.querySelector('[data-action=\"reveal\"]')");
    app.wait_until(&format!(
        "{row}.dataset.state === 'done' && {open} !== null && !{open}.hidden && {reveal} !== null && \
         {row}.querySelector('.row-status').textContent.startsWith('Received into ')"
    ))
    .await?;
    let done = app
        .eval(
            &format!(
                "return {{ path: {open}.dataset.path, progress: window.__progress,
                           status: {row}.querySelector('.row-status').textContent,
                           file: {THEIR_OFFER}.querySelector('.file-name').textContent,
                           pwned: window.__pwned === undefined ? null : window.__pwned,
                           focusOnCard: {THEIR_OFFER}.contains(document.activeElement) }};"
            ),
            vec![],
        )
        .await?;
    eprintln!("received: {done}");
    // The bar moved, with a rate and a time left, before it was done.
    assert!(
        done["progress"]["active"].as_u64().unwrap_or_default() > 0,
        "{done}"
    );
    assert!(
        done["progress"]["stats"]
            .as_str()
            .is_some_and(|s| s.contains(" of 34 MB")),
        "{done}"
    );
    assert_eq!(done["pwned"], Value::Null, "{done}");
    // Focus stayed on the card (the Accept button went; Cancel, then Open took it).
    assert_eq!(done["focusOnCard"], true, "{done}");
    assert_eq!(
        done["status"],
        format!("Received into {}", app.downloads.display()),
        "{done}"
    );
    // Received into the app's downloads folder, under its name made safe,
    // byte for byte what bob has.
    let path = done["path"].as_str().unwrap_or_default();
    assert_eq!(Path::new(path).parent(), Some(app.downloads.as_path()));
    assert_eq!(
        done["file"],
        Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    assert!(same_bytes(&source, Path::new(path))?, "the bytes differ");
    bob.wait_event("file-sent", None).await;

    // Show in folder takes the received file (the desktop may still have
    // no file manager to show it with); any other path is refused.
    let answer = |path: &str| {
        format!(
            "window.__answer = 'pending';
             window.__TAURI__.core.invoke('show_in_folder', {{ path: {} }})
               .then(() => {{ window.__answer = 'ok'; }}, (e) => {{ window.__answer = e.kind; }});",
            serde_json::to_string(path).unwrap_or_default()
        )
    };
    let elsewhere = source.display().to_string();
    for (asked, refused) in [(path, false), (elsewhere.as_str(), true)] {
        app.eval(&answer(asked), vec![]).await?;
        app.wait_until("window.__answer !== 'pending'").await?;
        let kind = app.eval("return window.__answer", vec![]).await?;
        assert_eq!(kind == "not-received", refused, "{asked}: {kind}");
    }
    app.eval("document.getElementById('message-input').focus()", vec![])
        .await?;
    app.screenshot("file-transfer").await?;
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cancelled_half_way_by_its_sender_stops_at_the_receiver() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("app-cancel-send")?;
    let big = scratch.path().join("big.bin");
    write_random_file(&big, 300 * MIB)?;
    let inbox = scratch.file("bob-inbox");
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut bob = PeerProcess::join_with("bob", &link, &["--accept-files", &inbox]);
    bob.wait_event("peer-connected", None).await;
    app.wait_peers_connected(1).await?;

    app.eval(
        "onDragDrop({ type: 'drop', paths: [arguments[0]], position: { x: 400, y: 300 } })",
        vec![json!(big.display().to_string())],
    )
    .await?;
    let row = format!("{OUR_OFFER}.querySelector('.transfer-row')");
    app.wait_until(&format!(
        "{OUR_OFFER} !== null && {row}.dataset.state === 'active'"
    ))
    .await?;
    // Bob is held still so the transfer cannot end before Cancel; he hears
    // of the cancel once he goes on.
    bob.pause();
    app.click("#message-log .transfer[data-direction=\"send\"] [data-action=\"cancel\"]")
        .await?;
    bob.resume();
    let failed = bob.wait_event("file-failed", None).await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cancelled")),
        "{failed}"
    );
    app.wait_until(&format!("{row}.dataset.state === 'failed'"))
        .await?;
    assert!(
        !bob.seen.iter().any(|e| e["event"] == "file-received"),
        "a cancelled file arrived"
    );
    app.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_declined_or_cancelled_half_way_stops_at_the_sender() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let scratch = Scratch::new("app-decline-file")?;
    let small = scratch.path().join("small.txt");
    std::fs::write(&small, "not wanted")?;
    let big = scratch.path().join("big.bin");
    write_random_file(&big, 300 * MIB)?;
    let app = AppWindow::launch("alice").await?;
    let link = app.create_room().await?;
    let mut bob = PeerProcess::join("bob", &link);
    bob.wait_event("peer-connected", None).await;
    app.wait_peers_connected(1).await?;

    // Declined: bob is told, the card says so.
    bob.say(&format!("/send {}", small.display())).await;
    let offer_of = |file: &str| {
        format!(
            "[...document.querySelectorAll('#message-log .transfer[data-direction=\"receive\"]')]\
             .find(c => c.querySelector('.file-name').textContent === {})",
            serde_json::to_string(file).unwrap_or_default()
        )
    };
    let small_card = offer_of("small.txt");
    app.wait_until(&format!(
        "{small_card} && !{small_card}.querySelector('[data-action=\"decline\"]').hidden"
    ))
    .await?;
    app.click("#message-log .transfer[data-state=\"offered\"] [data-action=\"decline\"]")
        .await?;
    let failed = bob.wait_event("file-failed", None).await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("declined")),
        "{failed}"
    );
    app.wait_until(&format!(
        "{small_card}.dataset.state === 'failed' && \
         {small_card}.querySelector('.row-status').textContent === 'You declined.' && \
         {small_card}.querySelector('[data-action=\"accept\"]').hidden"
    ))
    .await?;

    // Taken, then cancelled as soon as it moves: bob is told, and nothing
    // is left in the downloads folder but hidden partial files at most.
    bob.say(&format!("/send {}", big.display())).await;
    let big_card = offer_of("big.bin");
    app.wait_until(&format!(
        "{big_card} && !{big_card}.querySelector('[data-action=\"accept\"]').hidden"
    ))
    .await?;
    app.click("#message-log .transfer[data-state=\"offered\"] [data-action=\"accept\"]")
        .await?;
    app.wait_until(&format!(
        "{big_card}.dataset.state === 'active' && \
         {big_card}.querySelector('.row-stats').textContent.includes(' left')"
    ))
    .await?;
    // Bob is held still while the moving bar is pictured, so the transfer
    // cannot end before Cancel; he hears of the cancel once he goes on.
    bob.pause();
    app.screenshot("file-receiving").await?;
    app.click("#message-log .transfer[data-state=\"active\"] [data-action=\"cancel\"]")
        .await?;
    bob.resume();
    let failed = bob.wait_event("file-failed", None).await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cancelled")),
        "{failed}"
    );
    app.wait_until(&format!(
        "{big_card}.dataset.state === 'failed' && \
         {big_card}.querySelector('.row-status').textContent === 'You cancelled it.' && \
         {big_card}.querySelector('[data-action=\"cancel\"]').hidden && \
         {big_card}.querySelector('[data-action=\"open\"]') === null"
    ))
    .await?;
    let visible: Vec<String> = std::fs::read_dir(&app.downloads)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert!(visible.is_empty(), "{visible:?}");
    app.screenshot("file-declined-and-cancelled").await?;
    app.close().await;
    Ok(())
}
