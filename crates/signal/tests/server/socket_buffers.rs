//! The kernel's send buffer of each client socket is fixed at the
//! configured size, so a client that stops reading cannot make the kernel
//! grow it (kernel memory no outbox budget counts). Read back with
//! iproute2's `ss`, which the set-up installs.

use std::process::Command;

use parlor_signal::Config;
use tokio::net::TcpStream;

use crate::support::{config, start};

/// The send buffer (`skmem`'s `tb`) of the server's side of each connection
/// on `port`.
fn server_send_buffers(port: u16) -> Vec<u64> {
    let output = Command::new("ss")
        .args([
            "-tmnH",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{port}"),
        ])
        .output()
        .expect("iproute2's ss runs (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&output.stdout)
        .split("skmem:(")
        .skip(1)
        .filter_map(|fields| {
            fields
                .split([',', ')'])
                .find_map(|field| field.strip_prefix("tb")?.parse().ok())
        })
        .collect()
}

#[tokio::test]
async fn client_sockets_get_the_configured_send_buffer() {
    let server = start(Config {
        socket_send_buffer: 32 * 1024,
        ..config()
    })
    .await;
    let port = server.local_addr().port();
    let _client = TcpStream::connect(server.local_addr())
        .await
        .expect("connects");
    let deadline = std::time::Instant::now() + crate::support::GUARD;
    let buffers = loop {
        let buffers = server_send_buffers(port);
        if !buffers.is_empty() || std::time::Instant::now() > deadline {
            break buffers;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // Linux doubles what it is given, for its own bookkeeping.
    assert_eq!(buffers, vec![64 * 1024]);
}
