//! Which kind of network path a connection ended up on, for the UI.
//!
//! The path is read from the pair ICE selected (its two candidates, with
//! their addresses), never guessed from what was gathered: a person acts on
//! it ("you are relayed", "this peer is on your network").

use std::net::IpAddr;

use webrtc::peer_connection::{PeerConnection, RTCIceCandidate, RTCIceCandidateType};

/// How the selected candidate pair reaches the peer, coarsest first: what a person
/// can act on ("you are relayed, calls may lag") rather than ICE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// No NAT between the two ends: same LAN, same machine, or both on
    /// public addresses.
    Direct,
    /// Peer to peer, across at least one NAT.
    ThroughNat,
    /// A TURN relay carries the traffic.
    Relayed,
}

/// One end of the selected pair: its candidate type and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEnd {
    /// host, srflx, prflx or relay.
    pub kind: RTCIceCandidateType,
    /// The candidate's IP address; `None` for a name (a browser's `.local`).
    pub ip: Option<IpAddr>,
    /// The local interface address the candidate's packets leave from: its
    /// own address for a host candidate, the related address of a
    /// reflexive or relayed one. `None` when unknown.
    pub base: Option<IpAddr>,
}

impl PathEnd {
    fn of(candidate: &RTCIceCandidate) -> Self {
        let ip = candidate.address.parse().ok();
        let base = match candidate.typ {
            RTCIceCandidateType::Host => ip,
            _ => candidate.related_address.parse().ok(),
        };
        Self {
            kind: candidate.typ,
            ip,
            base,
        }
    }
}

/// The pair ICE selected, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPair {
    /// Our end.
    pub local: PathEnd,
    /// The peer's end.
    pub remote: PathEnd,
    /// The route this pair takes.
    pub route: Route,
    /// For a relayed route, the relay's address (ours if we relay, else the peer's).
    pub relay: Option<IpAddr>,
}

/// The pair ICE selected, read from the ICE transport; `None` until ICE has
/// selected one (or after the connection closed).
pub async fn selected_pair(connection: &dyn PeerConnection) -> Option<SelectedPair> {
    let ice = connection.sctp().await?.transport().ice_transport();
    let pair = ice.get_selected_candidate_pair().await.ok()??;
    let signaled: Vec<PathEnd> = ice
        .get_remote_candidates()
        .await
        .unwrap_or_default()
        .iter()
        .map(PathEnd::of)
        .collect();
    Some(classify(
        PathEnd::of(pair.local()),
        PathEnd::of(pair.remote()),
        &signaled,
    ))
}

/// What a pair means, given the remote candidates the peer signaled.
///
/// A peer-reflexive remote is an address learned from the peer's checks, not
/// from signaling: it is the peer's host address on a LAN (browsers hide
/// theirs behind mDNS names, and checks often beat the signaled candidate),
/// its NAT's address across the internet (a symmetric NAT maps a new port for
/// us, so the address matches its server-reflexive candidate's IP but not its
/// port), or a relay's. It is resolved by the IP of a signaled candidate, and
/// failing that by whether the address is private.
fn classify(local: PathEnd, remote: PathEnd, signaled: &[PathEnd]) -> SelectedPair {
    let remote_kind = match remote.kind {
        RTCIceCandidateType::Prflx => remote
            .ip
            .and_then(|ip| {
                signaled
                    .iter()
                    .filter(|end| end.ip == Some(ip))
                    .map(|end| end.kind)
                    .max_by_key(|kind| specificity(*kind))
            })
            .unwrap_or(RTCIceCandidateType::Prflx),
        kind => kind,
    };
    let (route, relay) = if local.kind == RTCIceCandidateType::Relay {
        (Route::Relayed, local.ip)
    } else if remote_kind == RTCIceCandidateType::Relay {
        (Route::Relayed, remote.ip)
    } else if [local.kind, remote_kind].iter().any(|kind| {
        matches!(
            kind,
            RTCIceCandidateType::Srflx | RTCIceCandidateType::Prflx
        )
    }) && !(remote_kind == RTCIceCandidateType::Prflx && both_private(&local, &remote))
    {
        (Route::ThroughNat, None)
    } else if is_private(local.ip) != is_private(remote.ip) {
        // A private address talking to a public one: a NAT sits between.
        (Route::ThroughNat, None)
    } else {
        (Route::Direct, None)
    };
    SelectedPair {
        local,
        remote,
        route,
        relay,
    }
}

/// Among signaled candidates sharing an IP, the one that says most about the
/// path: a relay's address is only ever a relay's.
fn specificity(kind: RTCIceCandidateType) -> u8 {
    match kind {
        RTCIceCandidateType::Relay => 3,
        RTCIceCandidateType::Srflx => 2,
        RTCIceCandidateType::Host => 1,
        _ => 0,
    }
}

fn both_private(local: &PathEnd, remote: &PathEnd) -> bool {
    is_private(local.ip) && is_private(remote.ip)
}

/// An address no NAT would put on the internet: private, loopback,
/// link-local or unique-local. An unknown address (a name) counts as private:
/// only browsers on a LAN hide their addresses behind `.local` names.
fn is_private(ip: Option<IpAddr>) -> bool {
    match ip {
        None => true,
        Some(IpAddr::V4(ip)) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        Some(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RTCIceCandidateType::{Host, Prflx, Relay, Srflx};

    fn end(kind: RTCIceCandidateType, ip: &str) -> PathEnd {
        PathEnd {
            kind,
            ip: ip.parse().ok(),
            base: None,
        }
    }

    fn route(local: PathEnd, remote: PathEnd, signaled: &[PathEnd]) -> Route {
        classify(local, remote, signaled).route
    }

    #[test]
    fn host_to_host_on_one_network_is_direct() {
        let local = end(Host, "192.168.1.2");
        assert_eq!(route(local, end(Host, "192.168.1.3"), &[]), Route::Direct);
    }

    #[test]
    fn a_browser_hiding_its_lan_address_is_still_direct() {
        let local = end(Host, "192.168.1.2");
        let signaled = [end(Host, "b4c1.local")];
        assert_eq!(
            route(local, end(Prflx, "192.168.1.3"), &signaled),
            Route::Direct
        );
    }

    #[test]
    fn a_server_reflexive_end_means_through_nat() {
        assert_eq!(
            route(end(Host, "192.168.1.2"), end(Srflx, "203.0.113.12"), &[]),
            Route::ThroughNat
        );
        assert_eq!(
            route(end(Srflx, "203.0.113.11"), end(Host, "10.0.0.2"), &[]),
            Route::ThroughNat
        );
    }

    #[test]
    fn a_peer_reflexive_address_of_the_peers_nat_is_through_nat() {
        // A symmetric NAT maps a new port toward us: the address is its
        // server-reflexive candidate's IP on another port.
        let signaled = [end(Host, "192.168.2.2"), end(Srflx, "203.0.113.12")];
        assert_eq!(
            route(
                end(Host, "192.168.1.2"),
                end(Prflx, "203.0.113.12"),
                &signaled
            ),
            Route::ThroughNat
        );
    }

    #[test]
    fn an_unsignaled_public_peer_reflexive_address_is_through_nat() {
        assert_eq!(
            route(end(Host, "192.168.1.2"), end(Prflx, "198.51.100.7"), &[]),
            Route::ThroughNat
        );
    }

    #[test]
    fn a_peer_reflexive_address_of_a_relay_is_relayed_via_that_relay() {
        let signaled = [end(Relay, "203.0.113.1")];
        let pair = classify(
            end(Host, "192.168.1.2"),
            end(Prflx, "203.0.113.1"),
            &signaled,
        );
        assert_eq!(pair.route, Route::Relayed);
        assert_eq!(pair.relay, "203.0.113.1".parse().ok());
    }

    #[test]
    fn a_relay_at_either_end_means_relayed() {
        assert_eq!(
            route(end(Relay, "203.0.113.1"), end(Srflx, "203.0.113.12"), &[]),
            Route::Relayed
        );
        assert_eq!(
            route(end(Host, "192.168.1.2"), end(Relay, "203.0.113.1"), &[]),
            Route::Relayed
        );
    }

    #[test]
    fn a_lan_host_talking_to_a_public_host_crosses_a_nat() {
        assert_eq!(
            route(end(Host, "192.168.1.2"), end(Host, "203.0.113.5"), &[]),
            Route::ThroughNat
        );
    }

    #[test]
    fn loopback_is_direct() {
        assert_eq!(
            route(end(Host, "127.0.0.1"), end(Prflx, "127.0.0.1"), &[]),
            Route::Direct
        );
    }
}
