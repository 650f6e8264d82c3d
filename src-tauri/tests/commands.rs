//! The app's commands through Tauri's mock runtime: no window, but the same
//! IPC path the UI takes (command name, JSON arguments, JSON result or
//! `{kind, message}` error).

use std::path::{Path, PathBuf};

use parlor_app::cli::Launch;
use serde_json::{Value, json};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

/// An app with its own profile directory, the embedded server and WebRTC on loopback.
struct TestApp {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    profile: PathBuf,
}

impl TestApp {
    fn new(name: &str) -> Self {
        Self::with_profile(name, |_| {})
    }

    /// An app whose profile directory `prepare` fills first (it exists, empty).
    fn with_profile(name: &str, prepare: impl FnOnce(&Path)) -> Self {
        let profile =
            std::env::temp_dir().join(format!("parlor-app-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("{e}"));
        prepare(&profile);
        let launch = Launch {
            profile: Some(profile.clone()),
            bind: vec!["127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"))],
            embedded_host: Some([127, 0, 0, 1].into()),
            ..Default::default()
        };
        let app = parlor_app::build(mock_builder(), mock_context(noop_assets()), launch)
            .unwrap_or_else(|e| panic!("cannot build the app: {e}"));
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap_or_else(|e| panic!("cannot open a mock window: {e}"));
        Self {
            _app: app,
            window,
            profile,
        }
    }

    /// Invokes `cmd` with `args` as the UI does (from the app's own
    /// `tauri://localhost` origin).
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.invoke_from("tauri://localhost", cmd, args)
    }

    /// Invokes `cmd` as a page loaded from `origin` would.
    fn invoke_from(&self, origin: &str, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: origin.parse().unwrap_or_else(|e| panic!("{e}")),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|body| {
            body.deserialize::<Value>()
                .unwrap_or_else(|e| panic!("{cmd}: response is not JSON: {e}"))
        })
    }

    fn error_kind(&self, cmd: &str, args: Value) -> (String, String) {
        match self.invoke(cmd, args) {
            Ok(value) => panic!("{cmd} succeeded with {value}; expected an error"),
            Err(error) => (
                error["kind"].as_str().unwrap_or_default().to_owned(),
                error["message"].as_str().unwrap_or_default().to_owned(),
            ),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[test]
fn settings_are_validated_saved_and_read_back() {
    let app = TestApp::new("settings");
    let defaults = app
        .invoke("get_settings", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        defaults,
        json!({"displayName": "", "signalingServer": "", "iceServers": [],
               "theme": "system", "notifications": true})
    );

    let saved = app
        .invoke(
            "save_settings",
            json!({"settings": {
                "displayName": "  Ada  ",
                "signalingServer": "wss://signal.example.org",
                "iceServers": [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]
            }}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved["displayName"], "Ada");
    assert!(app.profile.join("settings.json").is_file());
    assert_eq!(app.invoke("get_settings", json!({})), Ok(saved));

    let (kind, message) = app.error_kind(
        "save_settings",
        json!({"settings": {"signalingServer": "ftp://nope"}}),
    );
    assert_eq!(kind, "invalid-settings");
    assert!(message.contains("signaling server"), "{message}");
}

#[test]
fn remote_pages_cannot_call_the_commands() {
    let app = TestApp::new("remote");
    let refused = app.invoke_from("https://evil.example", "get_settings", json!({}));
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_malformed_link_says_what_is_wrong() {
    let app = TestApp::new("bad-link");
    let (kind, message) = app.error_kind("join_room", json!({"link": "hello"}));
    assert_eq!(kind, "bad-link");
    assert!(message.contains("not a link"), "{message}");
    let (kind, message) = app.error_kind("join_room", json!({"link": "parlor://join/abc"}));
    assert_eq!(kind, "bad-link");
    assert!(message.contains("signaling server"), "{message}");
}

#[test]
fn a_link_with_a_space_is_quoted_as_typed_in_its_error() {
    let app = TestApp::new("space-link");
    let (kind, message) = app.error_kind(
        "inspect_link",
        json!({"link": " parlor://join/my room?server=ws%3A%2F%2F127.0.0.1%3A1 "}),
    );
    assert_eq!(kind, "bad-link");
    assert!(
        message.contains("“parlor://join/my room?server=") && message.contains("\"my room\""),
        "{message}"
    );
    assert!(!message.contains("%20"), "{message}");
}

#[test]
fn an_unreachable_server_is_reported_not_retried_forever() {
    let app = TestApp::new("unreachable");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let link = format!("parlor://join/abc?server=ws%3A%2F%2F127.0.0.1%3A{port}");
    let (kind, message) = app.error_kind("join_room", json!({ "link": link }));
    assert_eq!(kind, "server-unreachable");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert_eq!(
        app.invoke("get_state", json!({}))
            .unwrap_or_else(|e| panic!("{e}"))["rooms"],
        json!([])
    );
}

#[test]
fn create_room_starts_the_embedded_server_and_leaving_ends_the_room() {
    let app = TestApp::new("create");
    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let link = room["link"].as_str().unwrap_or_default();
    assert!(
        link.starts_with("parlor://join/") && link.contains("127.0.0.1"),
        "{room}"
    );
    assert!(
        room["qrSvg"]
            .as_str()
            .is_some_and(|svg| svg.contains("<svg")),
        "{room}"
    );
    let state = app
        .invoke("get_state", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state["rooms"][0]["link"], room["link"]);
    let session = room["session"].clone();

    assert_eq!(
        app.error_kind("send_message", json!({"session": session, "text": "  "}))
            .0,
        "empty-message"
    );
    // A message with no one to receive it is kept for whoever comes.
    let id = app
        .invoke(
            "send_message",
            json!({"session": session, "text": "anyone?"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(id.as_str().is_some_and(|id| !id.is_empty()), "{id}");
    assert_eq!(
        app.invoke("leave_room", json!({ "session": session })),
        Ok(Value::Null)
    );
    assert_eq!(
        app.error_kind("leave_room", json!({ "session": session }))
            .0,
        "not-in-room"
    );
    assert_eq!(
        app.error_kind("send_message", json!({"session": session, "text": "hi"}))
            .0,
        "not-in-room"
    );

    // A second room reuses the embedded server that is already running.
    let again = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let server = |link: &Value| {
        link.as_str()
            .and_then(|l| l.split_once("?server="))
            .map(|(_, s)| s.to_owned())
    };
    assert_eq!(server(&again["link"]), server(&room["link"]));
    assert_ne!(again["link"], room["link"]);
}

#[test]
fn a_full_room_is_refused_with_a_readable_error() {
    let server =
        tauri::async_runtime::block_on(parlor_signal::Server::start(parlor_signal::Config {
            listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            max_peers_per_room: 1,
            ..Default::default()
        }))
        .unwrap_or_else(|e| panic!("cannot start the signaling server: {e}"));
    let first = TestApp::new("full-first");
    let second = TestApp::new("full-second");
    let link = format!(
        "parlor://join/fullroom?server={}",
        server.url().replace(':', "%3A").replace('/', "%2F")
    );
    first
        .invoke("join_room", json!({ "link": link }))
        .unwrap_or_else(|e| panic!("{e}"));
    let (kind, message) = second.error_kind("join_room", json!({ "link": link }));
    assert_eq!(kind, "room-full", "{message}");
    assert!(message.contains("full"), "{message}");
    tauri::async_runtime::block_on(server.shutdown());
}

#[test]
fn rooms_joined_one_after_another_are_all_kept_and_leaving_one_keeps_the_other() {
    let app = TestApp::new("two-rooms");
    let first = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let second = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(first["session"], second["session"]);
    let sessions = |app: &TestApp| {
        app.invoke("get_state", json!({}))
            .unwrap_or_else(|e| panic!("{e}"))["rooms"]
            .as_array()
            .map(|rooms| {
                rooms
                    .iter()
                    .map(|r| r["session"].clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        sessions(&app),
        [first["session"].clone(), second["session"].clone()]
    );

    // Joining a room already open gives it back rather than joining twice.
    let again = app
        .invoke("join_room", json!({"link": first["link"]}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again["session"], first["session"]);

    assert_eq!(
        app.invoke("leave_room", json!({"session": first["session"]})),
        Ok(Value::Null)
    );
    assert_eq!(sessions(&app), [second["session"].clone()]);
    let sent = app.invoke(
        "send_message",
        json!({"session": second["session"], "text": "still here"}),
    );
    assert!(sent.is_ok(), "{sent:?}");
}

#[test]
fn one_room_more_than_the_bound_is_refused_and_the_others_stay() {
    let app = TestApp::new("too-many-rooms");
    for _ in 0..parlor_app::state::MAX_OPEN_ROOMS {
        app.invoke("create_room", json!({}))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (kind, message) = app.error_kind("create_room", json!({}));
    assert_eq!(kind, "too-many-rooms", "{message}");
    assert!(message.contains("leave one"), "{message}");
    let open = app
        .invoke("get_state", json!({}))
        .unwrap_or_else(|e| panic!("{e}"))["rooms"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert_eq!(open, parlor_app::state::MAX_OPEN_ROOMS);
}

#[test]
fn a_room_renamed_and_muted_keeps_both_after_a_restart() {
    let app = TestApp::new("rename");
    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let session = room["session"].clone();
    assert_eq!(room["label"], Value::Null);
    let renamed = app
        .invoke(
            "rename_room",
            json!({"session": session, "name": "  Book club "}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(renamed["label"], "Book club");
    let muted = app
        .invoke("mute_room", json!({"session": session, "muted": true}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(muted["muted"], true);
    assert_eq!(muted["label"], "Book club");
    let (kind, _) = app.error_kind("rename_room", json!({"session": 999, "name": "x"}));
    assert_eq!(kind, "not-in-room");

    // Left and joined again, it has the name and the switch it had.
    assert_eq!(
        app.invoke("leave_room", json!({ "session": session })),
        Ok(Value::Null)
    );
    let rejoined = app
        .invoke("join_room", json!({"link": room["link"]}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(rejoined["session"], session);
    assert_eq!(rejoined["label"], "Book club");
    assert_eq!(rejoined["muted"], true);
}

#[test]
fn the_rooms_open_and_the_one_on_screen_are_kept_for_the_next_start() {
    let app = TestApp::new("window-state");
    let first = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let second = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        app.invoke("show_room", json!({"session": first["session"]})),
        Ok(Value::Null)
    );
    let kept: Value = std::fs::read(app.profile.join("window.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    assert_eq!(
        kept["rooms"],
        json!([first["link"], second["link"]]),
        "{kept}"
    );
    assert_eq!(kept["shown"], first["link"], "{kept}");
    assert_eq!(
        app.invoke("get_state", json!({}))
            .unwrap_or_else(|e| panic!("{e}"))["shown"],
        first["session"]
    );
}

/// A well-formed fingerprint made of one repeated byte.
fn fingerprint(byte: u8) -> String {
    vec![format!("{byte:02x}"); 32].join(":")
}

#[test]
fn verified_contacts_are_saved_read_back_and_checked() {
    let app = TestApp::new("contacts");
    assert_eq!(app.invoke("get_contacts", json!({})), Ok(json!({})));

    let saved = app
        .invoke(
            "mark_verified",
            json!({"fingerprint": fingerprint(0xb0).to_uppercase(), "name": "Bob"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved["fingerprint"], fingerprint(0xb0));
    assert_eq!(saved["name"], "Bob");
    assert!(
        saved["verifiedAt"].as_u64().is_some_and(|t| t > 0),
        "{saved}"
    );
    assert!(app.profile.join("contacts.json").is_file());

    let contacts = app
        .invoke("get_contacts", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(contacts[fingerprint(0xb0)]["name"], "Bob", "{contacts}");
    assert_eq!(
        contacts[fingerprint(0xb0)]["verifiedAt"],
        saved["verifiedAt"]
    );

    // The same identity is verified under any name; another identity under
    // the verified name is an impostor; a stranger is neither.
    let check = |fp: String, name: &str| {
        app.invoke("check_peer", json!({"fingerprint": fp, "name": name}))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let bob = check(fingerprint(0xb0), "Bob");
    assert_eq!(bob["verified"]["name"], "Bob", "{bob}");
    assert_eq!(bob["impersonates"], Value::Null, "{bob}");
    assert_eq!(bob["short"], "b0:b0:b0:b0");
    let impostor = check(fingerprint(0xee), "bob");
    assert_eq!(impostor["verified"], Value::Null, "{impostor}");
    assert_eq!(impostor["impersonates"], "Bob", "{impostor}");
    let stranger = check(fingerprint(0xcc), "Carol");
    assert_eq!(stranger["verified"], Value::Null, "{stranger}");
    assert_eq!(stranger["impersonates"], Value::Null, "{stranger}");

    let (kind, message) = app.error_kind(
        "mark_verified",
        json!({"fingerprint": "ab:cd", "name": "Bob"}),
    );
    assert_eq!(kind, "bad-fingerprint", "{message}");

    assert_eq!(
        app.invoke("unmark_verified", json!({"fingerprint": fingerprint(0xb0)})),
        Ok(json!(true))
    );
    assert_eq!(app.invoke("get_contacts", json!({})), Ok(json!({})));
    assert_eq!(check(fingerprint(0xee), "Bob")["impersonates"], Value::Null);
}

#[test]
fn a_corrupt_contacts_file_is_a_clear_error_and_is_kept() {
    let app = TestApp::new("contacts-corrupt");
    std::fs::create_dir_all(&app.profile).unwrap_or_else(|e| panic!("{e}"));
    let file = app.profile.join("contacts.json");
    std::fs::write(&file, "{\"ab\": ").unwrap_or_else(|e| panic!("{e}"));

    for (cmd, args) in [
        ("get_contacts", json!({})),
        (
            "mark_verified",
            json!({"fingerprint": fingerprint(1), "name": "Bob"}),
        ),
        (
            "check_peer",
            json!({"fingerprint": fingerprint(1), "name": "Bob"}),
        ),
    ] {
        let (kind, message) = app.error_kind(cmd, args);
        assert_eq!(kind, "contacts-corrupt", "{cmd}: {message}");
        assert!(
            message.contains(&file.display().to_string()) && message.contains("damaged"),
            "{cmd}: {message}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some("{\"ab\": "),
        "the damaged file is left for the person to look at"
    );
}

#[test]
fn inspect_link_tells_the_embedded_server_from_another() {
    let app = TestApp::new("inspect");
    let remote = app
        .invoke(
            "inspect_link",
            json!({"link": "parlor://join/abc?server=wss%3A%2F%2Fsignal.example.org"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(remote["host"], "signal.example.org", "{remote}");
    assert_eq!(remote["encrypted"], true, "{remote}");
    assert_eq!(remote["embedded"], false, "{remote}");
    assert_eq!(remote["room"], "abc", "{remote}");

    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(room["server"]["embedded"], true, "{room}");
    let link = room["link"].as_str().unwrap_or_default();
    let ours = app
        .invoke("inspect_link", json!({ "link": link }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ours["embedded"], true, "{ours}");
    assert_eq!(ours["encrypted"], false, "{ours}");
    assert!(
        ours["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")),
        "{ours}"
    );
    // Same host, another port: not ours.
    let port: u16 = link
        .rsplit_once("%3A")
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {link}"));
    let other_port = link.replace(
        &format!("%3A{port}"),
        &format!("%3A{}", port.wrapping_add(1).max(1)),
    );
    let theirs = app
        .invoke("inspect_link", json!({ "link": other_port }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(theirs["embedded"], false, "{theirs}");

    let (kind, _) = app.error_kind("inspect_link", json!({"link": "https://example.org"}));
    assert_eq!(kind, "bad-link");
    // Inspecting joins nothing: we are in the room we created, only.
    let state = app
        .invoke("get_state", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state["rooms"], json!([room]));
}

#[test]
fn the_identity_is_made_once_and_kept() {
    let app = TestApp::new("identity");
    let first = app
        .invoke("get_identity", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let fingerprint = first["fingerprint"].as_str().unwrap_or_default();
    assert_eq!(fingerprint.split(':').count(), 32, "{first}");
    assert_eq!(first["short"], fingerprint[..11], "{first}");
    assert!(app.profile.join("identity.pem").is_file());
    assert_eq!(app.invoke("get_identity", json!({})), Ok(first));
}

#[test]
fn a_message_sent_to_nobody_is_kept_listed_and_counted() {
    let app = TestApp::new("kept");
    assert_eq!(app.invoke("recent_rooms", json!({})), Ok(json!([])));
    assert_eq!(app.invoke("undelivered_count", json!({})), Ok(json!(0)));
    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let link = room["link"].clone();
    let session = room["session"].clone();
    let id = app
        .invoke(
            "send_message",
            json!({"session": session, "text": "for whoever comes"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.invoke("undelivered_count", json!({})), Ok(json!(1)));
    assert!(
        app.profile.join("messages.db").is_file(),
        "the store is in the profile"
    );

    let history = app
        .invoke("room_history", json!({"link": link, "beforeSeq": null}))
        .unwrap_or_else(|e| panic!("{e}"));
    let messages = history.as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{history}");
    let message = &messages[0];
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["outgoing"], true, "{message}");
    assert_eq!(message["text"], "for whoever comes", "{message}");
    assert_eq!(
        message["recipients"],
        json!([]),
        "waiting for someone: {message}"
    );
    let identity = app
        .invoke("get_identity", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(message["sender"], identity["short"], "{message}");
    assert!(message["atMs"].as_u64().is_some_and(|t| t > 0), "{message}");
    // Nothing before the first message.
    let seq = message["seq"].as_i64().unwrap_or_default();
    assert_eq!(
        app.invoke("room_history", json!({"link": link, "beforeSeq": seq})),
        Ok(json!([]))
    );

    let recent = app
        .invoke("recent_rooms", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recent[0]["link"], link, "{recent}");
    assert_eq!(recent[0]["host"], room["server"]["host"], "{recent}");
    assert_eq!(recent[0]["embedded"], true, "{recent}");
    assert!(
        recent[0]["lastActiveMs"].as_u64().is_some_and(|t| t > 0),
        "{recent}"
    );
    assert_eq!(
        app.error_kind("room_history", json!({"link": "hello"})).0,
        "bad-link"
    );
    // Retrying a message that failed nowhere sends it to nobody.
    assert_eq!(
        app.invoke("retry_message", json!({ "session": session, "id": id })),
        Ok(json!(0))
    );
}

/// The store notice `get_state` reports.
fn store_notice(app: &TestApp) -> String {
    let state = app
        .invoke("get_state", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    state["storeNotice"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_damaged_message_store_is_moved_aside_and_a_fresh_one_started() {
    let damaged = b"this is not a database, whatever it was".repeat(200);
    let app = TestApp::with_profile("store-damaged", |profile| {
        std::fs::write(profile.join("messages.db"), &damaged).unwrap_or_else(|e| panic!("{e}"));
    });
    let moved: Vec<PathBuf> = std::fs::read_dir(&app.profile)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("messages.db.damaged-"))
        })
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        std::fs::read(&moved[0]).ok().as_deref(),
        Some(damaged.as_slice()),
        "the damaged file is kept as it was"
    );
    let notice = store_notice(&app);
    assert!(
        notice.contains("was damaged")
            && notice.contains("fresh one started")
            && notice.contains(&moved[0].display().to_string()),
        "{notice}"
    );
    // The fresh store works.
    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    app.invoke(
        "send_message",
        json!({"session": room["session"], "text": "kept again"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.invoke("undelivered_count", json!({})), Ok(json!(1)));
}

#[test]
fn a_message_store_that_cannot_be_opened_leaves_the_app_working_without_it() {
    // A directory where the file should be: SQLite cannot open it, whoever
    // runs the test (root ignores permissions).
    let app = TestApp::with_profile("store-unusable", |profile| {
        let dir = profile.join("messages.db");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("keep-me"), "x").unwrap_or_else(|e| panic!("{e}"));
    });
    let notice = store_notice(&app);
    assert!(
        notice.starts_with("Messages will not be kept:") && notice.contains("messages.db"),
        "{notice}"
    );
    assert!(
        app.profile.join("messages.db/keep-me").is_file(),
        "nothing was deleted"
    );
    // Rooms and messages still work, kept in memory.
    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    app.invoke(
        "send_message",
        json!({"session": room["session"], "text": "not kept"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let history = app
        .invoke("room_history", json!({"link": room["link"]}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history[0]["text"], "not kept", "{history}");
}

#[test]
fn a_healthy_profile_has_no_store_notice() {
    let app = TestApp::new("store-fine");
    let state = app
        .invoke("get_state", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state["storeNotice"], Value::Null, "{state}");
}

#[test]
fn a_room_made_on_the_built_in_server_is_rejoined_after_a_restart() {
    // The profile remembers a room made on this machine's built-in server
    // in an earlier run, on a port nothing listens on now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let link: parlor_engine::RoomLink =
        format!("parlor://join/earlier?server=ws%3A%2F%2F127.0.0.1%3A{port}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
    let link = link.to_string();
    let app = TestApp::with_profile("restart", |profile| {
        let store = parlor_engine::Store::open(&profile.join("messages.db"))
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .remember_room(&link, &format!("ws://127.0.0.1:{port}"), "earlier", 1_000)
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let recent = app
        .invoke("recent_rooms", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recent[0]["link"], link.as_str(), "{recent}");
    assert_eq!(recent[0]["name"], "earlier", "{recent}");
    assert_eq!(recent[0]["lastActiveMs"], 1_000, "{recent}");
    // A room this profile never was in, on this machine: not given a server.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let (kind, message) = app.error_kind(
        "join_room",
        json!({"link": format!("parlor://join/earlier?server=ws%3A%2F%2F127.0.0.1%3A{elsewhere}")}),
    );
    assert_eq!(kind, "server-unreachable", "{message}");
    // Joining it starts the built-in server again on the port its link names.
    let rejoined = app
        .invoke("join_room", json!({ "link": link }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rejoined["link"], link.as_str(), "{rejoined}");
    assert_eq!(rejoined["server"]["embedded"], true, "{rejoined}");
}

#[test]
fn open_file_and_show_in_folder_refuse_a_path_no_file_received_named() {
    let app = TestApp::new("open-refused");
    // A file that exists, but did not arrive through a transfer.
    let file = app.profile.join("settings.json");
    std::fs::write(&file, "{}").unwrap_or_else(|e| panic!("{e}"));
    for cmd in ["open_file", "show_in_folder"] {
        for path in [
            file.display().to_string(),
            "/etc/passwd".to_owned(),
            String::new(),
        ] {
            let (kind, message) = app.error_kind(cmd, json!({ "path": path }));
            assert_eq!(kind, "not-received", "{cmd} {path:?}: {message}");
            assert!(message.contains("not a file received"), "{cmd}: {message}");
        }
    }
}

#[test]
fn files_are_offered_in_a_room_and_transfer_commands_check_their_arguments() {
    let app = TestApp::new("send-files");
    let file = app.profile.join("report.txt");
    std::fs::write(&file, "twelve bytes").unwrap_or_else(|e| panic!("{e}"));
    let path = file.display().to_string();
    assert_eq!(
        app.error_kind("send_files", json!({ "session": 1, "paths": [path] }))
            .0,
        "not-in-room"
    );
    assert_eq!(
        app.error_kind(
            "accept_files",
            json!({"session": 1, "peer": "not a peer id!", "transfer": "t"})
        )
        .0,
        "bad-peer"
    );

    let room = app
        .invoke("create_room", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    let session = room["session"].clone();
    // Offered to everyone (nobody is here yet: it waits for whoever comes).
    let offer = app
        .invoke("send_files", json!({ "session": session, "paths": [path] }))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        offer["transfer"].as_str().is_some_and(|t| !t.is_empty()),
        "{offer}"
    );
    assert_eq!(offer["files"], json!([["report.txt", 12]]), "{offer}");
    assert_eq!(offer["totalBytes"], 12, "{offer}");

    let missing = app.profile.join("gone.txt").display().to_string();
    let (kind, message) = app.error_kind(
        "send_files",
        json!({ "session": session, "paths": [missing] }),
    );
    assert_eq!(kind, "files", "{message}");
    assert!(message.contains("gone.txt"), "{message}");
    assert_eq!(
        app.error_kind("send_files", json!({ "session": session, "paths": [] }))
            .0,
        "files"
    );
    // A transfer nobody offered: the engine ignores it, nothing fails.
    assert_eq!(
        app.invoke(
            "cancel_transfer",
            json!({"session": session, "peer": "somebody", "transfer": "none"})
        ),
        Ok(Value::Null)
    );
}
