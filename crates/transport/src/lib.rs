//! Builds the WebRTC peer connections Parlor talks over, configured to be fast.
//!
//! The engine calls [`build_peer_connection`], drives negotiation on the returned
//! [`PeerTransport::connection`], and tells [`PeerTransport::boost`] when the data
//! channel opened or an ICE restart starts. Everything webrtc-specific the engine needs
//! is re-exported here ([`webrtc`] itself and the common types), so the workspace
//! depends on one webrtc version through this crate.
//!
//! # What "fast" is ([`Tuning::Fast`])
//!
//! Stock webrtc-rs 0.21 takes ~600 ms to connect to itself and stalls on bulk
//! transfers over fast paths. Parlor fixes both through the extension points webrtc
//! offers, without forking it:
//!
//! - **Setup boost** ([`boost`]): a per-connection [`Runtime`](webrtc::runtime::Runtime)
//!   whose timer sleeps end early while the connection is being set up, so the handshake
//!   flights the driver only flushes on a timer go out in about a millisecond instead
//!   of on the next 200 ms ICE tick. Bounded to setup and ICE restarts.
//! - **Socket buffers sized with the SCTP window** ([`socket`]): big `SO_RCVBUF` /
//!   `SO_SNDBUF`, and an SCTP receive window no larger than what the granted receive
//!   buffer absorbs, so a burst is never dropped by the kernel.
//! - **Working pairs nominated without webrtc's waits**: webrtc waits, from the start of
//!   checks, 500 ms before it nominates a server-reflexive pair, 1 s for a peer-reflexive
//!   one and 2 s for a relayed one, in case a better pair succeeds meanwhile (RFC 8445
//!   §8.1.1 leaves when to stop checking to the controlling agent). Parlor nominates a
//!   working direct pair (host, server- or peer-reflexive) at once, and a relayed one
//!   after [`RELAY_WAIT`]: a direct pair through two NATs can lose its first check to
//!   the far NAT (the peer had not opened its side yet) and succeed a round trip later,
//!   and on a fast path the relayed pair may succeed first; nominating it would relay a
//!   conversation that could be direct. A relayed pair needs an allocation, a permission
//!   and a check through the TURN server, so waiting this long costs a relayed
//!   connection little or nothing. The stock waits cost every connection across a NAT
//!   half a second and every relayed one two (BENCHMARKS.md).
//! - **Checks repeated every [`CHECK_INTERVAL`] (50 ms), not 200 ms**: through two NATs
//!   the first check usually dies at the far NAT, and the retry is what connects.

pub mod boost;
mod config;
mod error;
mod handler;
mod identity;
mod mdns;
mod path;
mod runtime;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

pub use boost::SetupBoost;
pub use config::{TransportConfig, Tuning};
pub use error::TransportError;
pub use identity::{Identity, IdentityError};
pub use mdns::multicast_available;
/// The one ICE-server type of every layer, as the signaling server hands it out.
pub use parlor_protocol::IceServer;
pub use path::{PathEnd, Route, SelectedPair, selected_pair};
pub use socket::{SocketBuffers, granted_socket_buffers};

/// The webrtc crate this one is built on: depend on it through here.
pub use webrtc;
pub use webrtc::data_channel::{
    DataChannel, DataChannelEvent, RTCDataChannelInit, RTCDataChannelMessage, RTCDataChannelState,
};
pub use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceCandidateType,
    RTCIceConnectionState, RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSdpType, RTCSessionDescription, RTCSignalingState,
};

use webrtc::peer_connection::{
    PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceServer, SettingEngineBuilder,
};

use rtc::ice::mdns::MulticastDnsMode;

use crate::boost::BoostState;
use crate::config::BoostLimits;
use crate::handler::BoostHandler;
use crate::runtime::BoostRuntime;

/// How often ICE repeats a connectivity check while it looks for a path.
/// webrtc's 200 ms is what a connection through two NATs waits when its
/// first check is dropped by the far NAT (the peer had not sent yet), which
/// is most of the time: Parlor took 206 ms through NAT where Chromium took
/// 71 ms (BENCHMARKS.md). 50 ms is RFC 8445's default pacing (Ta); ICE only
/// runs this timer while checking, an idle connection keeps webrtc's pace.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Checks per candidate pair before it counts as failed: 28 × 50 ms keeps
/// webrtc's 1.4 s, long enough for a check across the world and back.
pub const CHECK_ATTEMPTS: u16 = 28;

/// How long after checks start a relayed pair may be nominated (see the crate
/// docs): long enough for a direct pair through two NATs to retry its first
/// check, short beside a TURN allocation across the internet.
pub const RELAY_WAIT: Duration = Duration::from_millis(100);

/// A built peer connection and the handle that ends its setup boost.
pub struct PeerTransport {
    connection: Arc<dyn PeerConnection>,
    boost: SetupBoost,
}

impl PeerTransport {
    /// The connection, to negotiate on and open channels with.
    pub fn connection(&self) -> &Arc<dyn PeerConnection> {
        &self.connection
    }

    /// Tell it when the data channel opened and when an ICE restart starts.
    pub fn boost(&self) -> &SetupBoost {
        &self.boost
    }

    /// Both parts, for callers that store them separately.
    pub fn into_parts(self) -> (Arc<dyn PeerConnection>, SetupBoost) {
        (self.connection, self.boost)
    }
}

/// Build a peer connection as `config` says, with `handler` receiving its events.
///
/// The connection's UDP sockets are bound before this returns; negotiation is the
/// caller's. With [`Tuning::Fast`] the setup boost is armed from here on: call
/// [`SetupBoost::channel_open`] once the data channel is open.
pub async fn build_peer_connection(
    config: &TransportConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<PeerTransport, TransportError> {
    if config.bind_addrs.is_empty() {
        return Err(TransportError::NoBindAddress);
    }
    let mut configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(config.ice_servers.iter().map(ice_server).collect());
    if let Some(identity) = &config.identity {
        configuration = configuration.with_certificates(vec![identity.certificate()]);
    }
    let configuration = configuration.build();
    let builder = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_udp_addrs(config.bind_addrs.clone());

    let mut settings = SettingEngineBuilder::new();
    if !multicast_available() {
        settings = settings.with_multicast_dns_mode(MulticastDnsMode::Disabled);
    }
    let (builder, boost) = match config.tuning {
        Tuning::Stock => (
            builder
                .with_setting_engine(settings.build())
                .with_handler(handler),
            Arc::new(BoostState::disarmed(BoostLimits::default())),
        ),
        Tuning::Fast => {
            let buffers = granted_socket_buffers().map_err(TransportError::SocketProbe)?;
            let settings = settings
                .with_sctp_max_receive_buffer_size(buffers.sctp_window())
                .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
                .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
                .with_relay_acceptance_min_wait(Some(RELAY_WAIT))
                .with_ice_connection_attempts(Some(CHECK_INTERVAL), Some(CHECK_ATTEMPTS))
                .build();
            let boost = Arc::new(BoostState::armed(BoostLimits::default()));
            let builder = builder
                .with_setting_engine(settings)
                .with_runtime(Arc::new(BoostRuntime::new(boost.clone())))
                .with_handler(Arc::new(BoostHandler {
                    inner: handler,
                    boost: boost.clone(),
                }));
            (builder, boost)
        }
    };

    let connection = builder.build().await.map_err(TransportError::Build)?;
    Ok(PeerTransport {
        connection: Arc::new(connection),
        boost: SetupBoost::new(boost),
    })
}

fn ice_server(server: &IceServer) -> RTCIceServer {
    RTCIceServer {
        urls: server.urls.clone(),
        username: server.username.clone().unwrap_or_default(),
        credential: server.credential.clone().unwrap_or_default(),
    }
}
