//! The webrtc-rs side of a peer task: its callbacks forwarded as events,
//! one negotiation operation run on a peer connection, and webrtc-rs states
//! in the session's terms. Kept apart so that `peer` reads as the adapter it
//! is: session inputs in, session outputs carried out.

use std::sync::Arc;

use async_trait::async_trait;
use parlor_session::{
    ChannelId, ConnectionState, IceCandidate, IceConnectionState, SdpType, SessionDescription,
    StackOp,
};
use parlor_transport::webrtc::error::Error as WebrtcError;
use parlor_transport::{
    DataChannel, PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceConnectionState, RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription,
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// What one connection reports, in the order it happened.
pub(crate) enum StackEvent {
    NegotiationNeeded,
    Candidate(Option<IceCandidate>),
    Ice(RTCIceConnectionState),
    Connection(RTCPeerConnectionState),
    RemoteChannel(Arc<dyn DataChannel>),
    ChannelOpen(ChannelId),
    ChannelText(ChannelId, String),
    ChannelClosed(ChannelId),
}

pub(crate) type Tagged = (u64, StackEvent);

/// Forwards webrtc's callbacks into the peer task. Handlers run on the
/// connection's internal task and must not call back into the connection.
pub(crate) struct Forwarder {
    pub(crate) generation: u64,
    pub(crate) events: mpsc::UnboundedSender<Tagged>,
}

impl Forwarder {
    pub(crate) fn forward(&self, event: StackEvent) {
        let _ = self.events.send((self.generation, event));
    }
}

#[async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_negotiation_needed(&self) {
        self.forward(StackEvent::NegotiationNeeded);
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        debug!(candidate = %event.candidate, "gathered a local candidate");
        match event.candidate.to_json() {
            Ok(init) => self.forward(StackEvent::Candidate(Some(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            }))),
            Err(error) => warn!(%error, "cannot serialize a local ICE candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.forward(StackEvent::Candidate(None));
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.forward(StackEvent::Ice(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.forward(StackEvent::Connection(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.forward(StackEvent::RemoteChannel(channel));
    }
}

/// Runs one stack operation; a create returns the SDP it made.
pub(crate) async fn run_stack_op(
    pc: &dyn PeerConnection,
    op: StackOp,
) -> Result<Option<String>, String> {
    let done = |result: Result<(), WebrtcError>| result.map(|()| None).map_err(|e| e.to_string());
    match op {
        StackOp::CreateOffer { ice_restart } => {
            if ice_restart {
                pc.restart_ice().await.map_err(|e| e.to_string())?;
            }
            let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
            Ok(Some(offer.sdp))
        }
        StackOp::CreateAnswer => {
            let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
            Ok(Some(answer.sdp))
        }
        StackOp::SetLocalDescription(description) => match to_webrtc(description) {
            Ok(description) => done(pc.set_local_description(description).await),
            Err(error) => done(Err(error)),
        },
        StackOp::SetRemoteDescription(description) => match to_webrtc(description) {
            Ok(description) => done(pc.set_remote_description(description).await),
            Err(error) => done(Err(error)),
        },
        StackOp::RollbackLocalDescription => match RTCSessionDescription::rollback(None) {
            Ok(rollback) => done(pc.set_local_description(rollback).await),
            Err(error) => done(Err(error)),
        },
        StackOp::AddRemoteCandidate(candidate) => done(
            pc.add_ice_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_mline_index,
                username_fragment: candidate.username_fragment,
                ..Default::default()
            })
            .await,
        ),
        StackOp::RecreateConnection => Err("recreating is not a stack operation".into()),
    }
}

fn to_webrtc(description: SessionDescription) -> Result<RTCSessionDescription, WebrtcError> {
    match description.kind {
        SdpType::Offer => RTCSessionDescription::offer(description.sdp),
        SdpType::Answer => RTCSessionDescription::answer(description.sdp),
    }
}

pub(crate) fn ice_state(state: RTCIceConnectionState) -> Option<IceConnectionState> {
    Some(match state {
        RTCIceConnectionState::New => IceConnectionState::New,
        RTCIceConnectionState::Checking => IceConnectionState::Checking,
        RTCIceConnectionState::Connected => IceConnectionState::Connected,
        RTCIceConnectionState::Completed => IceConnectionState::Completed,
        RTCIceConnectionState::Disconnected => IceConnectionState::Disconnected,
        RTCIceConnectionState::Failed => IceConnectionState::Failed,
        RTCIceConnectionState::Closed => IceConnectionState::Closed,
        _ => return None,
    })
}

pub(crate) fn connection_state(state: RTCPeerConnectionState) -> Option<ConnectionState> {
    Some(match state {
        RTCPeerConnectionState::New => ConnectionState::New,
        RTCPeerConnectionState::Connecting => ConnectionState::Connecting,
        RTCPeerConnectionState::Connected => ConnectionState::Connected,
        RTCPeerConnectionState::Disconnected => ConnectionState::Disconnected,
        RTCPeerConnectionState::Failed => ConnectionState::Failed,
        RTCPeerConnectionState::Closed => ConnectionState::Closed,
        _ => return None,
    })
}
