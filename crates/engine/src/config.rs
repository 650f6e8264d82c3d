//! How to join a room.

use std::net::SocketAddr;
use std::path::PathBuf;

use parlor_protocol::{IceServer, PeerId};
use parlor_store::Store;
use parlor_transport::{Identity, Tuning};

use crate::link::RoomLink;

/// Everything [`crate::Room::join`] needs. Only the link is required.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// The room and its signaling server.
    pub link: RoomLink,
    /// Our id in the room. Kept across signaling reconnections so other
    /// members see the same peer come back. Random by default.
    pub peer_id: PeerId,
    /// The name other Parlor peers show for us.
    pub display_name: Option<String>,
    /// ICE servers to use besides the ones the signaling server hands out.
    pub extra_ice_servers: Vec<IceServer>,
    /// Whether to take ICE servers from the signaling server: those its
    /// `/turn` endpoint answers before the join, and those it sends us as a
    /// member (TURN credentials in our name, refreshed while we stay),
    /// which replace the former for connections made after they arrive.
    pub fetch_ice_servers: bool,
    /// Local addresses for WebRTC sockets. The default, `0.0.0.0:0`, means
    /// every interface but loopback; tests on one machine use `127.0.0.1:0`.
    pub bind_addrs: Vec<SocketAddr>,
    /// Connection-setup tuning; [`Tuning::Fast`] unless comparing with stock webrtc-rs.
    pub tuning: Tuning,
    /// Who we are: the certificate every connection proves, whose
    /// fingerprint other people verify. `None`: a fresh one for each
    /// connection (nothing to recognise us by).
    pub identity: Option<Identity>,
    /// The fingerprint a peer must have: a peer that presents any other is
    /// refused (`parlor-peer --verify`). `None`: anyone.
    pub expected_fingerprint: Option<String>,
    /// Most other members connected to: each is a WebRTC connection (sockets,
    /// memory, CPU), so a room of strangers cannot make us open thousands.
    /// Members past it, in join order, are left out and the person is told.
    pub max_members: usize,
    /// Where messages are kept: a profile's store keeps the history and
    /// delivers what was not acknowledged after any restart (ours or the
    /// peer's, with the same [`RoomConfig::identity`]). `None`: a store in
    /// memory, for as long as the room lasts.
    pub store: Option<Store>,
    /// Files offered by peers are taken at once into this directory
    /// (`parlor-peer --accept-files`). `None`: each offer waits for
    /// [`crate::Room::accept_files`].
    pub accept_files: Option<PathBuf>,
    /// Where files the person accepts go; an offer that already has a
    /// partial download here (accepted before an interruption or a
    /// restart) goes on without asking again.
    pub download_dir: Option<PathBuf>,
}

/// The default of [`RoomConfig::max_members`]: the signaling server's
/// default room size, less ourselves.
pub const DEFAULT_MAX_MEMBERS: usize = 31;

impl RoomConfig {
    /// Defaults for joining the room of `link`.
    pub fn new(link: RoomLink) -> Self {
        Self {
            link,
            peer_id: random_peer_id(),
            display_name: None,
            extra_ice_servers: Vec::new(),
            fetch_ice_servers: true,
            bind_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            tuning: Tuning::default(),
            identity: None,
            expected_fingerprint: None,
            max_members: DEFAULT_MAX_MEMBERS,
            store: None,
            accept_files: None,
            download_dir: None,
        }
    }
}

fn random_peer_id() -> PeerId {
    crate::random::token()
        .parse()
        .unwrap_or_else(|_| unreachable!("hex is a valid token"))
}
