//! What the benches that run Parlor engines in process share.

// Each bench compiles this module for itself and uses part of it.
#![allow(dead_code)]

use anyhow::bail;
use parlor_engine::{Event, EventKind, RoomConfig, RoomLink};
use tokio::sync::mpsc::UnboundedReceiver;

/// The next event `matches` accepts, before `deadline`.
pub async fn next_event_until(
    events: &mut UnboundedReceiver<Event>,
    what: &str,
    deadline: tokio::time::Instant,
    matches: impl Fn(&EventKind) -> bool,
) -> anyhow::Result<EventKind> {
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if matches(&event.kind) => return Ok(event.kind),
            Ok(Some(_)) => {}
            Ok(None) => bail!("the room ended while waiting for {what}"),
            Err(_) => bail!("timed out waiting for {what}"),
        }
    }
}

/// The next event `matches` accepts, within `patience`.
pub async fn next_event(
    events: &mut UnboundedReceiver<Event>,
    what: &str,
    patience: std::time::Duration,
    matches: impl Fn(&EventKind) -> bool,
) -> anyhow::Result<EventKind> {
    let deadline = tokio::time::Instant::now() + patience;
    next_event_until(events, what, deadline, matches).await
}

/// A room config for `link` with WebRTC on loopback.
pub fn loopback_config(link: &RoomLink) -> anyhow::Result<RoomConfig> {
    let mut config = RoomConfig::new(link.clone());
    config.bind_addrs = vec!["127.0.0.1:0".parse()?];
    Ok(config)
}
