//! Which kind of network path a connection ended up on, for the UI.

use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateType, RTCStatsReport, RTCStatsReportEntry, StatsSelector,
};

/// How the selected candidate pair reaches the peer, coarsest first: what a person
/// can act on ("you are relayed, calls may lag") rather than ICE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Host (or peer-reflexive) addresses at both ends: same LAN or same
    /// machine, no NAT between.
    Direct,
    /// A server-reflexive candidate: the path crosses a NAT, still peer to peer.
    ThroughNat,
    /// A TURN relay carries the traffic.
    Relayed,
}

/// The candidate types of the pair ICE selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedPair {
    /// Our end: host, srflx, prflx or relay.
    pub local: RTCIceCandidateType,
    /// The peer's end.
    pub remote: RTCIceCandidateType,
}

impl SelectedPair {
    /// The route this pair means for the user.
    ///
    /// A peer-reflexive candidate counts as direct: it is an address learned
    /// from the peer's connectivity checks, which on a LAN routinely arrive
    /// before the peer's signaled host candidate (Parlor accepts such pairs at
    /// once) and always do from a browser that hides its host address behind
    /// an mDNS name. Crossing a NAT shows as a server-reflexive candidate.
    pub fn route(&self) -> Route {
        let types = [self.local, self.remote];
        if types.contains(&RTCIceCandidateType::Relay) {
            Route::Relayed
        } else if types.contains(&RTCIceCandidateType::Srflx) {
            Route::ThroughNat
        } else {
            Route::Direct
        }
    }
}

/// The selected candidate pair, read from `get_stats`; `None` until ICE has selected
/// one (or after the connection closed).
pub async fn selected_pair(connection: &dyn PeerConnection) -> Option<SelectedPair> {
    let report = connection
        .get_stats(std::time::Instant::now(), StatsSelector::None)
        .await;
    selected_pair_in(&report)
}

fn selected_pair_in(report: &RTCStatsReport) -> Option<SelectedPair> {
    let pair_id = report.iter().find_map(|entry| match entry {
        RTCStatsReportEntry::Transport(transport)
            if !transport.selected_candidate_pair_id.is_empty() =>
        {
            Some(transport.selected_candidate_pair_id.clone())
        }
        _ => None,
    })?;
    let (local_id, remote_id) = match report.get(&pair_id)? {
        RTCStatsReportEntry::IceCandidatePair(pair) => (
            pair.local_candidate_id.clone(),
            pair.remote_candidate_id.clone(),
        ),
        _ => return None,
    };
    // The pair names its candidates by their own ids ("candidate:…") while
    // the report keys their entries with a type prefix
    // ("RTCLocalIceCandidate_candidate:…"), so match on the suffix.
    let local = candidate_type(report, &local_id, true)?;
    // A peer-reflexive remote is learned from the peer's checks rather than
    // from signaling and has no entry of its own.
    let remote = candidate_type(report, &remote_id, false).unwrap_or(RTCIceCandidateType::Prflx);
    Some(SelectedPair { local, remote })
}

/// The type of the local (or remote) candidate whose id is `id`.
fn candidate_type(report: &RTCStatsReport, id: &str, local: bool) -> Option<RTCIceCandidateType> {
    report.iter().find_map(|entry| match entry {
        RTCStatsReportEntry::LocalCandidate(c) if local && c.stats.id.ends_with(id) => {
            Some(c.candidate_type)
        }
        RTCStatsReportEntry::RemoteCandidate(c) if !local && c.stats.id.ends_with(id) => {
            Some(c.candidate_type)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use RTCIceCandidateType::{Host, Prflx, Relay, Srflx};

    fn route(local: RTCIceCandidateType, remote: RTCIceCandidateType) -> Route {
        SelectedPair { local, remote }.route()
    }

    #[test]
    fn host_and_peer_reflexive_pairs_are_direct() {
        assert_eq!(route(Host, Host), Route::Direct);
        assert_eq!(route(Host, Prflx), Route::Direct);
    }

    #[test]
    fn a_server_reflexive_end_means_through_nat() {
        assert_eq!(route(Srflx, Host), Route::ThroughNat);
        assert_eq!(route(Host, Srflx), Route::ThroughNat);
    }

    #[test]
    fn a_relay_at_either_end_means_relayed() {
        assert_eq!(route(Relay, Srflx), Route::Relayed);
        assert_eq!(route(Host, Relay), Route::Relayed);
    }
}
