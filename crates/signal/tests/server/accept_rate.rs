//! The accept rate: new connections over it wait their turn in the listen
//! queue (none is refused), and the waits are counted.

use parlor_signal::{AcceptRate, Config};

use crate::support::{Client, config, limit_metric, start, wait_for_metric};

fn two_per_second() -> Config {
    Config {
        accept_rate: AcceptRate {
            per_second: 2,
            burst: 2,
        },
        metrics_listen: Some("127.0.0.1:0".parse().expect("literal address")),
        ..config()
    }
}

#[tokio::test]
async fn connections_over_the_accept_rate_wait_their_turn_and_all_join() {
    let server = start(two_per_second()).await;
    let server = &server;
    let clients = (0..6).map(|n| async move {
        let mut client = Client::parlor(server, &format!("room-{n}"), &format!("peer-{n}")).await;
        client.recv_peer_list().await
    });
    let lists = futures_util::future::join_all(clients).await;
    assert_eq!(lists.len(), 6, "every connection joined");

    let addr = server.metrics_addr().expect("metrics served");
    wait_for_metric(addr, &limit_metric("accept-rate"), |waits| waits > 0).await;
}
