//! Opening a WebDriver session on a driver that was just started
//! (chromedriver, tauri-driver): it refuses connections for a moment, and a
//! session request can also hang (a window that never appears), so attempts
//! are retried and the whole wait is bounded.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value};

/// Connects to the driver on loopback `port` with `capabilities`, retrying
/// until it accepts a session or `within` has passed.
pub async fn session(
    port: u16,
    capabilities: Map<String, Value>,
    within: Duration,
) -> anyhow::Result<fantoccini::Client> {
    let url = format!("http://127.0.0.1:{port}");
    let attempts = async {
        loop {
            let attempt = fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
            match attempt {
                Ok(client) => return client,
                // The driver is not listening yet.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    tokio::time::timeout(within, attempts)
        .await
        .with_context(|| format!("the WebDriver on port {port} gave no session within {within:?}"))
}
