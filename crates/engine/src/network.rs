//! Noticing that this machine's network changed: an address gone (the
//! laptop left its Wi-Fi, a cable came out) or a new one (it joined
//! another).
//!
//! Nothing else tells the engine in time. A WebSocket whose address is gone
//! stays silently open until the ping silence limit (25 s); a peer
//! connection's sockets are bound to the addresses there were when it was
//! built, so an ICE restart on it gathers nothing new, and ICE itself only
//! notices after seconds without consent. Polling the interface list every
//! couple of seconds is portable and costs one system call.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info};

/// How often the interface addresses are read.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What changed since the last look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkChange {
    /// Addresses this machine no longer has.
    pub removed: Vec<IpAddr>,
    /// Addresses it has now and did not before.
    pub added: Vec<IpAddr>,
}

/// Watches the interface addresses until `changes` is closed.
pub(crate) fn spawn_watcher(changes: mpsc::UnboundedSender<NetworkChange>) {
    tokio::spawn(async move {
        let mut known = addresses();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.tick().await;
        loop {
            tokio::select! {
                _ = poll.tick() => {}
                () = changes.closed() => return,
            }
            let now = addresses();
            if let Some(change) = compare(&known, &now) {
                info!(removed = ?change.removed, added = ?change.added, "the network changed");
                if changes.send(change).is_err() {
                    return;
                }
            }
            known = now;
        }
    });
}

/// The machine's addresses, loopback aside; empty if they cannot be read
/// (then nothing is ever reported as changed).
fn addresses() -> HashSet<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .iter()
            .filter(|interface| !interface.is_loopback())
            .map(if_addrs::Interface::ip)
            .collect(),
        Err(error) => {
            debug!(%error, "cannot read the interface addresses");
            HashSet::new()
        }
    }
}

/// The change from `before` to `after`, if any.
fn compare(before: &HashSet<IpAddr>, after: &HashSet<IpAddr>) -> Option<NetworkChange> {
    let mut removed: Vec<IpAddr> = before.difference(after).copied().collect();
    let mut added: Vec<IpAddr> = after.difference(before).copied().collect();
    if removed.is_empty() && added.is_empty() {
        return None;
    }
    removed.sort();
    added.sort();
    Some(NetworkChange { removed, added })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addresses: &[&str]) -> HashSet<IpAddr> {
        addresses.iter().filter_map(|a| a.parse().ok()).collect()
    }

    #[test]
    fn the_same_addresses_are_no_change() {
        let now = set(&["192.168.1.2", "fe80::1"]);
        assert_eq!(compare(&now, &now), None);
    }

    #[test]
    fn a_new_address_in_place_of_the_old_is_one_removed_and_one_added() {
        let change = compare(&set(&["192.168.1.2"]), &set(&["192.168.1.3"]));
        assert_eq!(
            change,
            Some(NetworkChange {
                removed: vec!["192.168.1.2".parse().unwrap_or(IpAddr::from([0; 4]))],
                added: vec!["192.168.1.3".parse().unwrap_or(IpAddr::from([0; 4]))],
            })
        );
    }
}
