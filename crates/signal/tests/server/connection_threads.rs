//! Connections spread over several connection threads: members of one room
//! on different threads hear each other, in order, as on one thread.

use parlor_signal::Config;

use crate::support::{config, join_all, numbered, start};

/// One connection thread per member, so every frame crosses threads.
fn three_threads() -> Config {
    Config {
        connection_threads: 3,
        ..config()
    }
}

#[tokio::test]
async fn members_on_different_threads_get_each_others_frames_in_order() {
    let server = start(three_threads()).await;
    let mut clients = join_all(&server, "room", &["alice", "bob", "carol"]).await;
    for n in 0..200 {
        clients[0].send_json(numbered(n)).await;
    }
    for client in &mut clients[1..] {
        for n in 0..200 {
            let message = client.recv_message().await;
            assert_eq!(message["n"], n, "{} hears alice in order", client.id);
            assert_eq!(message["from"], "alice");
        }
    }
}
