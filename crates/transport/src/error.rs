//! The one error type this crate hands to its callers.

use std::io;

/// Why a peer connection could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// [`TransportConfig::bind_addrs`](crate::TransportConfig::bind_addrs) was empty:
    /// webrtc would build a connection that can never gather a candidate.
    #[error("no local UDP address to bind")]
    NoBindAddress,
    /// The throwaway socket that measures the granted socket buffers could not be
    /// opened or read; no real socket would fare better.
    #[error("could not probe UDP socket buffer sizes")]
    SocketProbe(#[source] io::Error),
    /// webrtc refused the configuration or could not bind its sockets.
    #[error("webrtc could not build the peer connection")]
    Build(#[source] webrtc::error::Error),
}
