//! The signaling server built into the app, so two machines on one network
//! can chat with no setup: "Create room" with no server configured starts it,
//! listening on every interface, and the room link points at this machine's
//! LAN address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use parlor_engine::ServerUrl;
use tracing::info;

use crate::error::AppError;

/// The port tried first, so links stay the same across restarts when it is free.
pub const DEFAULT_PORT: u16 = 1999;

/// A running embedded server and the address others reach it at.
pub struct Embedded {
    server: parlor_signal::Server,
    url: ServerUrl,
}

impl Embedded {
    /// Starts the server. `host` forces one address to listen on and to put
    /// in links (tests use 127.0.0.1); by default it listens everywhere and
    /// links name the first LAN IPv4 address.
    pub async fn start(host: Option<IpAddr>) -> Result<Self, AppError> {
        let listen_ip = host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let server = match start_on(SocketAddr::new(listen_ip, DEFAULT_PORT)).await {
            Ok(server) => server,
            Err(_) => start_on(SocketAddr::new(listen_ip, 0)).await?,
        };
        let advertised = host.unwrap_or_else(lan_ipv4);
        let url = format!(
            "ws://{}",
            SocketAddr::new(advertised, server.local_addr().port())
        )
        .parse::<ServerUrl>()
        .map_err(|e| AppError::InvalidSettings(format!("embedded server address: {e}")))?;
        info!(listen = %server.local_addr(), %url, "embedded signaling server started");
        Ok(Self { server, url })
    }

    /// The address to put in room links.
    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// Closes every client connection and stops listening.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn start_on(listen: SocketAddr) -> Result<parlor_signal::Server, parlor_signal::StartError> {
    parlor_signal::Server::start(parlor_signal::Config {
        listen,
        ..Default::default()
    })
    .await
}

/// The first IPv4 address of a network interface that is not loopback,
/// link-local or a virtual bridge (containers, VMs), or 127.0.0.1 on a
/// machine with no network (the room then works on this machine only).
pub fn lan_ipv4() -> IpAddr {
    const VIRTUAL: [&str; 4] = ["docker", "br-", "veth", "virbr"];
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|iface| !iface.is_loopback() && !iface.is_link_local())
        .filter(|iface| !VIRTUAL.iter().any(|prefix| iface.name.starts_with(prefix)))
        .map(|iface| iface.ip())
        .find(IpAddr::is_ipv4)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
