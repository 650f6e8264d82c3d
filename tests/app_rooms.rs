//! The app as a window people keep open all day, end to end through its
//! real window (WebKitGTK under Xvfb, driven by tauri-driver): several
//! rooms at once, each with its own `parlor-peer`; unread counts in the
//! room list and the window's title; desktop notifications (read off a
//! private D-Bus session bus with `dbus-monitor`); the window and its rooms
//! back where they were after a restart; the dark theme. Screenshots of the
//! room list, the notification setting and the dark theme go to
//! `tests/artifacts/`.

use std::time::Duration;

use parlor_e2e::PATIENCE;
use parlor_e2e::app::{AppWindow, ENTER, Isolation, SessionBus, one_at_a_time};
use parlor_e2e::notifications::{NotificationServer, NotificationWatch};
use parlor_e2e::peer::PeerProcess;
use parlor_e2e::scratch::Scratch;
use serde_json::Value;

/// The WebDriver "Shift" key: pressed, then released by the next one.
const SHIFT: &str = "\u{E008}";

/// The WebDriver "ArrowDown" key.
const ARROW_DOWN: &str = "\u{E015}";

/// The room list's entry for the `n`th room joined (from 1).
fn nav_item(n: usize) -> String {
    format!("#room-list li:nth-child({n}) .room-item")
}

/// A JavaScript expression: the unread count the room list shows for the `n`th room.
fn unread_of(n: usize) -> String {
    format!("document.querySelector('{}').dataset.unread", nav_item(n))
}

/// Waits until the app's window (the X window, as the desktop shows it)
/// has exactly the title `title`.
async fn wait_window_title(title: &str) -> anyhow::Result<()> {
    let pattern = format!("^{}$", regex_escape(title));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = tokio::process::Command::new("xdotool")
            .args(["search", "--name", &pattern])
            .output()
            .await?;
        if found.status.success() && !found.stdout.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no window titled {title:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `text` as a literal in xdotool's (POSIX extended) regular expressions.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "()[]{}.*+?^$|\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Starts `label` as a `parlor-peer` in the room `link` and waits until it
/// is connected to the app; returns it with the app's peer id in that room.
async fn peer_in(label: &str, link: &str) -> (PeerProcess, String) {
    let mut peer = PeerProcess::join(label, link);
    let app_id = peer
        .wait_event("peer-joined", None)
        .await
        .get("peer")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    peer.wait_connected_to(&app_id).await;
    (peer, app_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_at_once_count_unread_notify_and_leaving_one_keeps_the_other()
-> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let profile = Scratch::new("app-two-rooms")?;
    let bus = SessionBus::start()?;
    let notifications = NotificationWatch::start(&bus).await?;
    let app =
        AppWindow::launch_with("rooms", Isolation::ProfileOnBus(profile.path(), &bus)).await?;

    let first = app.create_room().await?;
    let (mut bob, _) = peer_in("bob", &first).await;
    app.wait_peers_connected(1).await?;
    let second = app.create_room().await?;
    let (mut carol, app_in_second) = peer_in("carol", &second).await;
    app.wait_peers_connected(1).await?;
    app.wait_until(&format!(
        "document.querySelectorAll('#room-list .room-item').length === 2 && \
         document.querySelector('{}').getAttribute('aria-current') === 'true'",
        nav_item(2)
    ))
    .await?;

    // A message in the room on screen is shown, and raises no notification.
    carol.say("right here").await;
    app.wait_message("right here").await?;
    // One in the other room: its unread count, the title's total, a notification.
    bob.say("over in the first room").await;
    app.wait_until(&format!("{} === '1'", unread_of(1))).await?;
    wait_window_title("Parlor (1)").await?;
    notifications.wait_for("bob in ").await?;
    notifications.wait_for("over in the first room").await?;
    assert!(
        !notifications.seen().contains("carol in "),
        "the room on screen notified:\n{}",
        notifications.seen()
    );
    assert_eq!(
        app.eval(&format!("return {}", unread_of(2)), vec![])
            .await?,
        "0"
    );

    // Switching to it shows the message and clears both counts.
    app.click(&nav_item(1)).await?;
    app.wait_message("over in the first room").await?;
    app.wait_until(&format!("{} === '0'", unread_of(1))).await?;
    wait_window_title("Parlor").await?;

    // Named on this computer: the list and the header say so.
    app.click("#rename-room").await?;
    app.wait_until("document.getElementById('rename-dialog').open")
        .await?;
    app.type_into("#rename-input", &format!("Book club{ENTER}"))
        .await?;
    app.wait_until(&format!(
        "document.querySelector('{} .room-item-name').textContent === 'Book club' && \
         document.getElementById('room-title').textContent === 'Book club'",
        nav_item(1)
    ))
    .await?;
    carol.say("are you there?").await;
    app.wait_until(&format!("{} === '1'", unread_of(2))).await?;
    app.screenshot("room-list").await?;

    // The settings: notifications, and the dark theme.
    app.click("#open-settings").await?;
    app.wait_until("document.getElementById('settings-dialog').open")
        .await?;
    app.eval(
        "document.getElementById('theme').value = 'dark';
         document.getElementById('notifications').scrollIntoView()",
        vec![],
    )
    .await?;
    app.screenshot("settings-notifications").await?;
    app.click("#settings-save").await?;
    app.wait_until(
        "!document.getElementById('settings-dialog').open && document.documentElement.dataset.theme === 'dark'",
    )
    .await?;
    app.screenshot("room-list-dark").await?;

    // The arrow keys move along the room list.
    app.eval(
        &format!("document.querySelector('{}').focus()", nav_item(1)),
        vec![],
    )
    .await?;
    app.press(ARROW_DOWN).await?;
    app.wait_until(&format!(
        "document.activeElement === document.querySelector('{}')",
        nav_item(2)
    ))
    .await?;

    // What is typed stays with its room; Shift+Enter is a new line.
    app.click(&nav_item(1)).await?;
    app.type_into("#message-input", "half a thought").await?;
    app.click(&nav_item(2)).await?;
    app.wait_message("are you there?").await?;
    assert_eq!(
        app.eval(
            "return document.getElementById('message-input').value",
            vec![]
        )
        .await?,
        ""
    );
    app.click(&nav_item(1)).await?;
    app.wait_until("document.getElementById('message-input').value === 'half a thought'")
        .await?;
    app.type_into(
        "#message-input",
        &format!(", finished{SHIFT}{ENTER}{SHIFT}on two lines{ENTER}"),
    )
    .await?;
    bob.wait_event(
        "message",
        Some(("text", "half a thought, finished\non two lines")),
    )
    .await;
    app.wait_until(
        "[...document.querySelectorAll('#message-log .message.mine .text')].some(e => \
           e.textContent === 'half a thought, finished\\non two lines' && e.getClientRects().length === 1 && \
           e.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(e).lineHeight))",
    )
    .await?;

    // Leaving the second room leaves only it: the first one still chats.
    app.click(&nav_item(2)).await?;
    app.click("#leave-room").await?;
    carol
        .wait_event("peer-left", Some(("peer", &app_in_second)))
        .await;
    app.wait_until("document.querySelectorAll('#room-list .room-item').length === 1")
        .await?;
    app.wait_until("document.body.dataset.view === 'room'")
        .await?;
    bob.say("still connected?").await;
    app.wait_message("still connected?").await?;
    app.send("yes, still here").await?;
    bob.wait_event("message", Some(("text", "yes, still here")))
        .await;
    app.close().await;
    Ok(())
}

/// The size of the window's page, `[innerWidth, innerHeight]`.
async fn page_size(app: &AppWindow) -> anyhow::Result<Value> {
    app.eval("return [window.innerWidth, window.innerHeight]", vec![])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_reopens_at_its_size_with_its_rooms_and_the_one_on_screen() -> anyhow::Result<()>
{
    let _turn = one_at_a_time().await;
    let profile = Scratch::new("app-window-state")?;
    let app = AppWindow::launch_with("placed", Isolation::ProfileAt(profile.path())).await?;
    let first = app.create_room().await?;
    let second = app.create_room().await?;
    app.click(&nav_item(1)).await?;
    app.wait_until(&format!(
        "document.getElementById('room-link').value === {}",
        serde_json::to_string(&first)?
    ))
    .await?;

    // Resized as a window manager would (the X window itself).
    let windows = tokio::process::Command::new("xdotool")
        .args(["search", "--name", "^Parlor$"])
        .output()
        .await?;
    let window = String::from_utf8_lossy(&windows.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let resized = tokio::process::Command::new("xdotool")
        .args(["windowsize", &window, "900", "620"])
        .status()
        .await?;
    assert!(resized.success(), "xdotool windowsize {window}");
    app.wait_until("window.innerWidth === 900 && window.innerHeight === 620")
        .await?;
    let kept = profile.path().join("window.json");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&kept).is_ok_and(|json| json.contains("900")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "window.json never had the new size"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.close().await;

    let again =
        AppWindow::launch_with("placed-again", Isolation::ProfileAt(profile.path())).await?;
    again
        .wait_until(&format!(
            "document.querySelectorAll('#room-list .room-item').length === 2 && \
             document.body.dataset.view === 'room' && \
             document.getElementById('room-link').value === {}",
            serde_json::to_string(&first)?
        ))
        .await?;
    assert_eq!(page_size(&again).await?, serde_json::json!([900, 620]));
    let links = again
        .eval(
            "return [...document.querySelectorAll('#room-list .room-item')].map(b => b.title)",
            vec![],
        )
        .await?;
    assert_eq!(links, serde_json::json!([first, second]));
    again.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_a_notification_shows_its_room() -> anyhow::Result<()> {
    let _turn = one_at_a_time().await;
    let profile = Scratch::new("app-click-notification")?;
    let bus = SessionBus::start()?;
    let server = NotificationServer::start(&bus).await?;
    let notifications = NotificationWatch::start(&bus).await?;
    let app =
        AppWindow::launch_with("clicked", Isolation::ProfileOnBus(profile.path(), &bus)).await?;
    let first = app.create_room().await?;
    let (mut bob, _) = peer_in("bob", &first).await;
    let second = app.create_room().await?;

    // The other room is on screen when bob writes in the first.
    bob.say("look over here").await;
    notifications.wait_for("look over here").await?;
    assert_eq!(
        app.eval("return document.getElementById('room-link').value", vec![])
            .await?,
        second.as_str()
    );
    server.click_latest().await?;
    app.wait_until(&format!(
        "document.body.dataset.view === 'room' && document.getElementById('room-link').value === {}",
        serde_json::to_string(&first)?
    ))
    .await?;
    app.wait_message("look over here").await?;
    app.close().await;
    Ok(())
}
