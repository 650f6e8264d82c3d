//! UDP socket buffers, and the SCTP receive window that fits in them.
//!
//! # Why
//!
//! SCTP lets the peer have a whole receive window (1 MiB by default) in flight. On a
//! fast path (loopback, LAN) that window arrives in one burst, and the kernel drops
//! whatever does not fit in the socket's receive buffer: 208 KiB by default, of which
//! only about half is payload because the kernel charges each ~1.2 KB datagram its
//! full buffer overhead. Every drop costs an SCTP retransmission timeout (200 ms–1 s),
//! which is what made stock webrtc-rs ↔ webrtc-rs transfers crawl.
//!
//! So we ask the kernel for big buffers, read back what it granted (it caps the
//! request at `net.core.rmem_max`; `SO_RCVBUFFORCE` would lift the cap but needs
//! `CAP_NET_ADMIN`, which a desktop app does not have) and advertise an SCTP window
//! that fits in what we got. Shrinking the window all the way down instead (64 KiB)
//! starves a browser sending 64 KiB messages, so the window stays at least twice that.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::OnceLock;

use socket2::SockRef;

/// What we ask for on each socket. Linux grants `min(request, rmem_max) * 2`; 2 MiB
/// holds the full default SCTP window with room for the kernel's overhead where the
/// system allows it, and is harmless where it does not.
const WANTED_BUFFER_BYTES: usize = 2 * 1024 * 1024;

/// Share of a granted receive buffer that is datagram payload. Measured on Linux
/// loopback with 1228-byte datagrams (an SCTP packet of the default 1191-byte MTU in a
/// DTLS record): 0.53. We use one half to leave room for STUN and SACK packets.
const PAYLOAD_SHARE_DIVISOR: usize = 2;

/// Smallest window we advertise: two 64 KiB messages (webrtc's default maximum message
/// size), so a sender of full-size messages always has one in flight while the other
/// is being read. A 64 KiB window cut Chromium → webrtc-rs to under 2 MB/s.
const MIN_SCTP_WINDOW: usize = 128 * 1024;

/// Largest window: webrtc-rs's default. More buys nothing on a LAN and costs memory
/// per connection.
const MAX_SCTP_WINDOW: usize = 1024 * 1024;

/// Socket buffer sizes as the kernel reports them after our request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketBuffers {
    /// `SO_RCVBUF` read back, in bytes (on Linux twice the effective request).
    pub receive: usize,
    /// `SO_SNDBUF` read back, in bytes.
    pub send: usize,
}

impl SocketBuffers {
    /// The SCTP receive window (`a_rwnd`) that this receive buffer can absorb in one
    /// burst without drops.
    pub fn sctp_window(&self) -> u32 {
        let fits = (self.receive / PAYLOAD_SHARE_DIVISOR).clamp(MIN_SCTP_WINDOW, MAX_SCTP_WINDOW);
        u32::try_from(fits).unwrap_or(u32::MAX)
    }
}

/// Ask for big buffers on `socket` and report what the kernel granted.
pub(crate) fn enlarge_buffers(socket: &UdpSocket) -> io::Result<SocketBuffers> {
    let sock = SockRef::from(socket);
    // Best effort: a refused request leaves the default, which we read back below and
    // size the window for. Only the read-back failing is an error.
    if let Err(error) = sock.set_recv_buffer_size(WANTED_BUFFER_BYTES) {
        tracing::debug!(%error, "SO_RCVBUF request refused");
    }
    if let Err(error) = sock.set_send_buffer_size(WANTED_BUFFER_BYTES) {
        tracing::debug!(%error, "SO_SNDBUF request refused");
    }
    Ok(SocketBuffers {
        receive: sock.recv_buffer_size()?,
        send: sock.send_buffer_size()?,
    })
}

/// What [`enlarge_buffers`] will get on this machine, probed once on a throwaway socket.
///
/// The SCTP window goes into the connection's settings before webrtc binds the real
/// sockets, so it is sized from this probe; every real socket then gets the same
/// request, and the same limit applies to it.
pub fn granted_socket_buffers() -> io::Result<SocketBuffers> {
    static PROBED: OnceLock<SocketBuffers> = OnceLock::new();
    if let Some(buffers) = PROBED.get() {
        return Ok(*buffers);
    }
    let probe = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let buffers = enlarge_buffers(&probe)?;
    Ok(*PROBED.get_or_init(|| buffers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_half_the_granted_buffer() {
        let buffers = SocketBuffers {
            receive: 425_984,
            send: 425_984,
        };
        assert_eq!(buffers.sctp_window(), 212_992);
    }

    #[test]
    fn a_tiny_buffer_still_gets_a_window_for_two_full_messages() {
        let buffers = SocketBuffers {
            receive: 8192,
            send: 8192,
        };
        assert_eq!(buffers.sctp_window(), 128 * 1024);
    }

    #[test]
    fn a_huge_buffer_keeps_the_stock_window() {
        let buffers = SocketBuffers {
            receive: 64 << 20,
            send: 64 << 20,
        };
        assert_eq!(buffers.sctp_window(), 1024 * 1024);
    }
}
