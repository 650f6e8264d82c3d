//! A server's threads: handshake threads that yield to everything else,
//! and connection threads that run as usual; all of them end when it shuts
//! down (a process that starts and stops servers, like the app, does not
//! collect threads). Its own test binary: it looks at the threads of the
//! process.

// Test code: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use parlor_signal::{Config, Server};

/// The tests count every server thread of the process: one at a time.
static ONE_SERVER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Linux's scheduling policies, as `/proc/<tid>/stat` reports them.
const SCHED_OTHER: u32 = 0;
const SCHED_IDLE: u32 = 5;

/// The name and scheduling policy of every thread of this process whose
/// name starts with `prefix`.
fn threads(prefix: &str) -> Vec<(String, u32)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // Fields after the parenthesised name start at the third;
            // the policy is the 41st.
            let (_, after_name) = stat.rsplit_once(')')?;
            let policy = after_name.split_whitespace().nth(38)?.parse().ok()?;
            name.starts_with(prefix)
                .then(|| (name.trim().to_owned(), policy))
        })
        .collect()
}

async fn three_threads_each() -> Server {
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        connection_threads: 3,
        ..Config::default()
    };
    Server::start(config).await.expect("server starts")
}

#[tokio::test]
async fn handshake_threads_yield_and_connection_threads_do_not() {
    let _alone = ONE_SERVER_AT_A_TIME.lock().await;
    let server = three_threads_each().await;
    let handshakes = threads("parlor-http");
    let connections = threads("parlor-conn");
    assert_eq!(handshakes.len(), 3, "{handshakes:?}");
    assert_eq!(connections.len(), 3, "{connections:?}");
    assert!(
        handshakes.iter().all(|(_, policy)| *policy == SCHED_IDLE),
        "{handshakes:?}"
    );
    assert!(
        connections.iter().all(|(_, policy)| *policy == SCHED_OTHER),
        "{connections:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn server_threads_end_when_the_server_shuts_down() {
    let _alone = ONE_SERVER_AT_A_TIME.lock().await;
    let server = three_threads_each().await;
    let url = format!("{}/parties/main/room?_pk=alice", server.url());
    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("client connects");

    server.shutdown().await;
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = || threads("parlor-conn").len() + threads("parlor-http").len();
    while left() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left(), 0, "threads left after shutdown");
}
