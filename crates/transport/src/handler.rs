//! Forwards the engine's connection events, arming and disarming the setup boost.

use std::sync::Arc;

use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSignalingState,
};

use crate::boost::BoostState;

/// Wraps the engine's handler so the boost follows the connection by itself where
/// the connection says enough: ICE starting to check (first setup, or a restart either
/// side began) arms it; failing or closing disarms it. The engine still reports
/// "channel open", which only it sees.
///
/// Every method forwards: a method left to its default here would silently swallow
/// that event for the engine.
pub(crate) struct BoostHandler {
    pub(crate) inner: Arc<dyn PeerConnectionEventHandler>,
    pub(crate) boost: Arc<BoostState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for BoostHandler {
    async fn on_negotiation_needed(&self) {
        self.inner.on_negotiation_needed().await;
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.inner.on_ice_candidate(event).await;
    }

    async fn on_ice_candidate_error(&self, event: RTCPeerConnectionIceErrorEvent) {
        self.inner.on_ice_candidate_error(event).await;
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.inner.on_signaling_state_change(state).await;
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Checking {
            self.boost.arm();
        }
        self.inner.on_ice_connection_state_change(state).await;
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.inner.on_ice_gathering_state_change(state).await;
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            self.boost.disarm();
        }
        self.inner.on_connection_state_change(state).await;
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        self.inner.on_data_channel(data_channel).await;
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.inner.on_track(track).await;
    }
}
