//! The connection threads of a server end when it shuts down (a process
//! that starts and stops servers, like the app, does not collect threads).
//! Its own test binary: it counts the threads of the process.

use std::time::{Duration, Instant};

use parlor_signal::{Config, Server};

/// Threads of this process whose name says they run connections.
fn connection_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("parlor-conn"))
        .count()
}

#[tokio::test]
async fn connection_threads_end_when_the_server_shuts_down() {
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        connection_threads: 3,
        ..Config::default()
    };
    let server = Server::start(config).await.expect("server starts");
    let url = format!("{}/parties/main/room?_pk=alice", server.url());
    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("client connects");
    assert_eq!(connection_threads(), 3);

    server.shutdown().await;
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while connection_threads() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connection_threads(), 0, "threads left after shutdown");
}
