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
        Self::serving(server, host)
    }

    /// Starts the server on `port` exactly, or fails: a room made on the
    /// built-in server before a restart is only reachable again through the
    /// port its link names.
    pub async fn start_at(host: Option<IpAddr>, port: u16) -> Result<Self, AppError> {
        let listen_ip = host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let server = start_on(SocketAddr::new(listen_ip, port)).await?;
        Self::serving(server, host)
    }

    /// The started `server` and the address its links name.
    fn serving(server: parlor_signal::Server, host: Option<IpAddr>) -> Result<Self, AppError> {
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

    /// Whether `url` leads to this server (its own links, or this machine's
    /// address on its port).
    pub fn serves(&self, url: &ServerUrl) -> bool {
        url == &self.url || serves(self.server.local_addr(), url, &local_ips())
    }

    /// Closes every client connection and stops listening.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn start_on(listen: SocketAddr) -> Result<parlor_signal::Server, parlor_signal::StartError> {
    parlor_signal::Server::start(parlor_signal::Config {
        listen,
        // A few rooms on a LAN: one thread is plenty beside the app's own.
        connection_threads: 1,
        ..Default::default()
    })
    .await
}

/// Whether `url` reaches a server listening on `listen` on a machine whose
/// interfaces have `local_ips`: plain `ws`, no path prefix, the same port, and
/// an address of this machine that the server listens on.
pub fn serves(listen: SocketAddr, url: &ServerUrl, local_ips: &[IpAddr]) -> bool {
    let (host, secure) = crate::links::server_host(url);
    if secure || host.contains('/') {
        return false;
    }
    let Some((ip, port)) = host.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(listen.port()) {
        return false;
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = if ip.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        match ip.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return false,
        }
    };
    if listen.ip().is_unspecified() {
        ip.is_loopback() || local_ips.contains(&ip)
    } else {
        ip == listen.ip()
    }
}

/// The port a server started with `host` (as [`Embedded::start`] takes it)
/// would need to answer `url`, if `url` leads to this machine at all: the
/// port to start the built-in server on again for a room made on it before.
pub fn port_for(url: &ServerUrl, host: Option<IpAddr>) -> Option<u16> {
    let (address, _) = crate::links::server_host(url);
    let port = address.rsplit_once(':')?.1.parse::<u16>().ok()?;
    let listen_ip = host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    serves(SocketAddr::new(listen_ip, port), url, &local_ips()).then_some(port)
}

/// Every address of this machine's network interfaces.
fn local_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ServerUrl {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn links_to_this_machine_on_the_port_lead_to_the_embedded_server() {
        let everywhere = SocketAddr::from(([0, 0, 0, 0], 1999));
        let lan = [IpAddr::from([192, 168, 1, 20])];
        for ours in [
            "ws://192.168.1.20:1999",
            "ws://127.0.0.1:1999",
            "http://localhost:1999/",
        ] {
            assert!(serves(everywhere, &url(ours), &lan), "{ours}");
        }
        for theirs in [
            "ws://192.168.1.21:1999",
            "ws://192.168.1.20:2000",
            "wss://192.168.1.20:1999",
            "ws://192.168.1.20:1999/prefix",
            "ws://192.168.1.20",
            "ws://signal.example.org:1999",
        ] {
            assert!(!serves(everywhere, &url(theirs), &lan), "{theirs}");
        }
        assert_eq!(port_for(&url("ws://127.0.0.1:4000"), None), Some(4000));
        assert_eq!(
            port_for(&url("ws://127.0.0.1:4000"), Some([127, 0, 0, 1].into())),
            Some(4000)
        );
        assert_eq!(port_for(&url("ws://signal.example.org:4000"), None), None);
        assert_eq!(port_for(&url("wss://127.0.0.1:4000"), None), None);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 4000));
        assert!(serves(loopback, &url("ws://127.0.0.1:4000"), &lan));
        assert!(!serves(loopback, &url("ws://192.168.1.20:4000"), &lan));
    }
}
