//! The app's commands through Tauri's mock runtime: no window, but the same
//! IPC path the UI takes (command name, JSON arguments, JSON result or
//! `{kind, message}` error).

use std::path::PathBuf;

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
        let profile =
            std::env::temp_dir().join(format!("parlor-app-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
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
        json!({"displayName": "", "signalingServer": "", "iceServers": []})
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
            .unwrap_or_else(|e| panic!("{e}"))["room"],
        Value::Null
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
    assert_eq!(state["room"]["link"], room["link"]);

    assert_eq!(
        app.error_kind("send_message", json!({"text": "  "})).0,
        "empty-message"
    );
    assert_eq!(
        app.error_kind("send_message", json!({"text": "anyone?"})).0,
        "nobody-here",
        "a message with no one to receive it is refused, not silently dropped"
    );
    assert_eq!(app.invoke("leave_room", json!({})), Ok(Value::Null));
    assert_eq!(app.error_kind("leave_room", json!({})).0, "not-in-room");
    assert_eq!(
        app.error_kind("send_message", json!({"text": "hi"})).0,
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
