//! Whether this machine can take part in multicast DNS at all.
//!
//! webrtc-rs opens an mDNS socket for every peer connection (to resolve the
//! `.local` names browsers hide their addresses behind) and joins the mDNS
//! group on "any interface". On a machine with no interface that can carry
//! multicast — only loopback: an offline laptop, a container — that join
//! fails with `ENODEV`, and with it the whole peer connection. There is
//! nobody to resolve a `.local` name for on such a machine, so Parlor
//! turns mDNS off there instead of failing.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use socket2::{Domain, Protocol, Socket, Type};

/// The mDNS group webrtc-rs joins.
const MDNS_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

/// Whether joining the mDNS group works here; probed once per process (an
/// interface that appears later is picked up by the next process).
pub fn multicast_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let probe = || -> std::io::Result<()> {
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
            socket.join_multicast_v4(&MDNS_GROUP, &Ipv4Addr::UNSPECIFIED)
        };
        match probe() {
            Ok(()) => true,
            Err(error) => {
                tracing::info!(%error, "no interface carries multicast: mDNS is off");
                false
            }
        }
    })
}
