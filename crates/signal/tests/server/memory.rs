//! Memory freed by connections that came and went goes back to the
//! operating system.

use crate::support::{Client, config, start, wait_for_metric};

#[tokio::test]
async fn memory_freed_by_connections_that_came_and_went_is_given_back() {
    let server = start(config()).await;
    let server = &server;
    let joins =
        (0..20).map(|n| async move { Client::parlor(server, "burst", &format!("peer-{n}")).await });
    let clients = futures_util::future::join_all(joins).await;
    drop(clients);
    wait_for_metric(
        server.local_addr(),
        "parlor_signal_memory_trims_total",
        |trims| trims > 0,
    )
    .await;
}
