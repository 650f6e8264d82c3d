//! What the caller decides about a peer connection: servers, sockets, tuning.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use parlor_protocol::IceServer;

use crate::identity::Identity;

/// How a peer connection is set up.
///
/// [`Tuning::Fast`] is what Parlor ships; [`Tuning::Stock`] is webrtc-rs as it comes,
/// kept so the benchmark and the interop test can compare against it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tuning {
    /// Early timer wakes during setup, socket buffers sized for the SCTP window,
    /// working candidate pairs nominated at once. See the crate docs for why each.
    #[default]
    Fast,
    /// webrtc-rs defaults, on the stock tokio runtime.
    Stock,
}

/// Everything [`build_peer_connection`](crate::build_peer_connection) needs.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// STUN/TURN servers; empty for host candidates only.
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to bind. webrtc expands a wildcard (`0.0.0.0:0`) into one
    /// socket per interface address but skips loopback, so two peers on one machine
    /// that must meet on loopback (tests, benches) pass `127.0.0.1:0` explicitly.
    /// Bind the interface the remote peer uses: STUN replies that arrive on another
    /// local address are discarded and the connection falls back to a slower
    /// peer-reflexive path.
    pub bind_addrs: Vec<SocketAddr>,
    /// Fast (default) or stock webrtc-rs behaviour.
    pub tuning: Tuning,
    /// The certificate to prove who we are with; `None`: a fresh one per
    /// connection, as webrtc-rs does by default.
    pub identity: Option<Identity>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            bind_addrs: vec![SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))],
            tuning: Tuning::Fast,
            identity: None,
        }
    }
}

impl TransportConfig {
    /// A config that binds only `127.0.0.1`, for two peers in one process.
    pub fn loopback(tuning: Tuning) -> Self {
        Self {
            bind_addrs: vec![SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))],
            tuning,
            ..Self::default()
        }
    }
}

/// Knobs of the setup boost (see [`SetupBoost`](crate::SetupBoost)); the defaults are
/// what Parlor uses, the type exists so the reasoning lives in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoostLimits {
    /// Longest a boosted timer may sleep. The driver only flushes flights the rtc core
    /// queued without a timer (DTLS ClientHello, SCTP INIT, DCEP OPEN) when a timer
    /// fires, so this bounds how long each of those flights can wait.
    pub(crate) tick: Duration,
    /// A boost that nobody ends (the engine never reports the channel open, ICE hangs
    /// in checking) ends by itself this long after it was armed, so a stuck connection
    /// does not wake its driver every millisecond forever.
    pub(crate) max_duration: Duration,
}

impl Default for BoostLimits {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(1),
            // ICE gives up on a candidate pair after about 1.4 s of checks; TURN
            // allocation over a slow network takes a few round trips more.
            max_duration: Duration::from_secs(10),
        }
    }
}
