//! Which kind of network path a connection ended up on, for the UI.

use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateType, RTCStatsReport, RTCStatsReportEntry, StatsSelector,
};

/// How the selected candidate pair reaches the peer, coarsest first: what a person
/// can act on ("you are relayed, calls may lag") rather than ICE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Both ends are host candidates: same LAN (or same machine), no NAT between.
    Direct,
    /// A server- or peer-reflexive candidate: the path crosses a NAT, still peer to peer.
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
    pub fn route(&self) -> Route {
        let types = [self.local, self.remote];
        if types.contains(&RTCIceCandidateType::Relay) {
            Route::Relayed
        } else if types.iter().all(|t| matches!(t, RTCIceCandidateType::Host)) {
            Route::Direct
        } else {
            Route::ThroughNat
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
    let local = match report.get(&local_id)? {
        RTCStatsReportEntry::LocalCandidate(candidate) => candidate.candidate_type,
        _ => return None,
    };
    let remote = match report.get(&remote_id)? {
        RTCStatsReportEntry::RemoteCandidate(candidate) => candidate.candidate_type,
        _ => return None,
    };
    Some(SelectedPair { local, remote })
}
