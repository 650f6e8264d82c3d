//! A simulated internet made of network namespaces: a public segment with
//! the servers on it, and homes behind Linux NAT routers.
//!
//! ```text
//!            public segment 203.0.113.0/24 (a bridge in the "wan" namespace)
//!   servers 203.0.113.1 ── br0 ──┬── router 1 (203.0.113.11) ── home 1 192.168.1.0/24
//!                                └── router 2 (203.0.113.12) ── home 2 192.168.2.0/24
//! ```
//!
//! Each router masquerades its home behind its public address with nftables,
//! the way home routers do:
//!
//! - [`Nat::EndpointIndependent`]: Linux's plain masquerade keeps a mapping's
//!   port for every destination (endpoint-independent mapping) and lets in
//!   only replies from where the home sent to (address- and port-dependent
//!   filtering) — a typical home router, which ICE crosses by hole punching;
//! - [`Nat::Symmetric`]: `masquerade fully-random` picks a new random port
//!   for every destination (address- and port-dependent mapping), so the
//!   address a STUN server sees is useless to the other peer;
//! - [`Nat::UdpBlocked`]: a firewall that drops outgoing UDP except to the
//!   TURN server's port, as some offices and hotels do.
//!
//! Between each home and its router runs a wire that a test can make lossy
//! and slow ([`Home::degrade`]).
//!
//! Every address lives inside namespaces the test made; nothing touches the
//! machine's own network. Everything is removed when the [`Internet`] drops.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::process::Command;

use crate::impair::{BadLine, Impairment};
use crate::netns::Namespace;

/// Where the servers (signaling and TURN) sit on the public segment.
pub const SERVER_ADDR: &str = "203.0.113.1";

/// The TURN server's port, the only UDP port a [`Nat::UdpBlocked`] home may reach.
pub const TURN_PORT: u16 = 3478;

/// How a home's router treats traffic, see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// A typical home router: hole punching works.
    EndpointIndependent,
    /// A new port per destination: only a relay gets through.
    Symmetric,
    /// NAT as [`Nat::EndpointIndependent`], and no UDP out but to the TURN port.
    UdpBlocked,
}

/// The public segment and the servers' namespace.
pub struct Internet {
    wan: Namespace,
    homes: AtomicU8,
}

impl Internet {
    /// Makes the public segment, with [`SERVER_ADDR`] on it for servers.
    pub fn create() -> Self {
        let wan = Namespace::create("wan");
        wan.ip(&["link", "add", "br0", "type", "bridge"]);
        wan.ip(&["addr", "add", &format!("{SERVER_ADDR}/24"), "dev", "br0"]);
        wan.ip(&["link", "set", "br0", "up"]);
        // Like a server on the internet, it has a way to everywhere: a
        // packet to an address nobody on the segment has (a home's private
        // address) is sent and lost, not refused with "network unreachable".
        wan.ip(&["route", "add", "default", "dev", "br0"]);
        Self {
            wan,
            homes: AtomicU8::new(0),
        }
    }

    /// The namespace servers run in (they bind [`SERVER_ADDR`]).
    pub fn servers(&self) -> &Namespace {
        &self.wan
    }

    /// A command that runs `program` on the public segment.
    pub fn server_command(&self, program: &Path) -> Command {
        self.wan.command(program)
    }

    /// Adds a home network behind a router of kind `nat`: one host,
    /// `192.168.N.2`, whose default route leads through the router.
    pub fn home(&self, nat: Nat) -> Home {
        let n = self.homes.fetch_add(1, Ordering::Relaxed) + 1;
        let public = format!("203.0.113.{}", 10 + u16::from(n));
        let router = Namespace::create("router");
        let host = Namespace::create("home");

        // Router ↔ public segment.
        let uplink = format!("r{n}");
        router.veth("wan0", &self.wan, &uplink);
        self.wan.ip(&["link", "set", &uplink, "master", "br0"]);
        self.wan.ip(&["link", "set", &uplink, "up"]);
        router.ip(&["addr", "add", &format!("{public}/24"), "dev", "wan0"]);
        router.ip(&["link", "set", "wan0", "up"]);

        // Router ↔ wire ↔ home: the wire is a bridge until a test makes it
        // a bad line (see `impair`).
        let wire = Namespace::create("wire");
        router.veth("lan0", &wire, "w1");
        wire.ip(&["link", "add", "br0", "type", "bridge"]);
        wire.ip(&["link", "set", "w1", "master", "br0"]);
        wire.ip(&["link", "set", "w1", "up"]);
        wire.ip(&["link", "set", "br0", "up"]);
        whole_frames(&router, "lan0");
        router.ip(&["addr", "add", &format!("192.168.{n}.1/24"), "dev", "lan0"]);
        router.ip(&["link", "set", "lan0", "up"]);
        plug_in(&host, &wire, "w0", n, 2);

        router.run("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"]);
        let home = Home {
            bad_line: None,
            host,
            wire,
            router,
            public,
            subnet: n,
            hosts: 1,
        };
        home.load_rules(nat);
        home
    }
}

/// Plugs `host` into a home's `wire` (its bridge port `port`) as
/// `192.168.N.<last>`, with the router, `.1`, as its way out.
fn plug_in(host: &Namespace, wire: &Namespace, port: &str, n: u8, last: u8) {
    host.veth("eth0", wire, port);
    wire.ip(&["link", "set", port, "master", "br0"]);
    wire.ip(&["link", "set", port, "up"]);
    whole_frames(host, "eth0");
    host.ip(&[
        "addr",
        "add",
        &format!("192.168.{n}.{last}/24"),
        "dev",
        "eth0",
    ]);
    host.ip(&["link", "set", "eth0", "up"]);
    host.ip(&["route", "add", "default", "via", &format!("192.168.{n}.1")]);
}

/// The hardware address of `device` in `namespace`.
fn mac(namespace: &Namespace, device: &str) -> String {
    let output = std::process::Command::new("ip")
        .args(["-n", namespace.name(), "-o", "link", "show", "dev", device])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .skip_while(|word| *word != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no hardware address for {device}: {text}"))
        .to_owned()
}

/// Whole frames on the wire: a bad line moves frames as they are, so no
/// segmentation or checksum may be left for the far end to do.
fn whole_frames(namespace: &Namespace, device: &str) {
    namespace.run(
        "ethtool",
        &["-K", device, "tx", "off", "tso", "off", "gso", "off"],
    );
}

/// One home network: a host behind its router.
pub struct Home {
    // Stopped before its namespace goes.
    bad_line: Option<BadLine>,
    host: Namespace,
    wire: Namespace,
    router: Namespace,
    public: String,
    /// N of its 192.168.N.0/24.
    subnet: u8,
    /// Hosts on the home network so far ([`Self::add_host`]).
    hosts: u8,
}

impl Home {
    /// The namespace the home's host is in: run peers and browsers here.
    pub fn host(&self) -> &Namespace {
        &self.host
    }

    /// The router's public address, the one the internet sees the home as.
    pub fn public_addr(&self) -> &str {
        &self.public
    }

    /// Gives the home's host a new address (as a laptop that joins another
    /// network gets one): the old one, and every socket bound to it, is gone.
    pub fn renumber(&self) {
        let n = self.subnet;
        self.host
            .ip(&["addr", "del", &format!("192.168.{n}.2/24"), "dev", "eth0"]);
        self.host
            .ip(&["addr", "add", &format!("192.168.{n}.3/24"), "dev", "eth0"]);
        self.host.ip(&[
            "route",
            "replace",
            "default",
            "via",
            &format!("192.168.{n}.1"),
        ]);
    }

    /// Cuts the home's link (as if the cable were pulled at the router):
    /// packets stop both ways until [`Self::restore_link`].
    pub fn cut_link(&self) {
        self.router.ip(&["link", "set", "lan0", "down"]);
    }

    /// Plugs the home's link back in.
    pub fn restore_link(&self) {
        self.router.ip(&["link", "set", "lan0", "up"]);
    }

    /// Plugs another host into the home network, `192.168.N.10` (then
    /// `.11` …, clear of the addresses the first host takes), behind the
    /// same router: two peers on one LAN, who reach each other directly and
    /// the internet through the same NAT. It is the caller's, and goes when
    /// dropped.
    ///
    /// It hangs off the wire beside the router, so it shares the first
    /// host's line only while that line is a plain bridge: a home with more
    /// than one host cannot be [degraded](Self::degrade).
    pub fn add_host(&mut self) -> Namespace {
        assert!(
            self.bad_line.is_none(),
            "a degraded home cannot take another host"
        );
        let (n, k) = (self.subnet, self.hosts);
        self.hosts += 1;
        let host = Namespace::create("home");
        // w0 and w1 are the first host's and the router's ends.
        plug_in(&host, &self.wire, &format!("w{}", k + 1), n, 9 + k);
        host
    }

    /// Makes the home's line lossy and slow, both ways, from now on. Only
    /// for a home with one host (see [`Self::add_host`]).
    pub fn degrade(&mut self, impairment: Impairment) {
        assert_eq!(
            self.hosts, 1,
            "the bad line sits on the first host's cable: a home with more hosts cannot be degraded"
        );
        // The host and the router know each other's hardware address for
        // good: three lost ARP requests in a row would otherwise make the
        // host's first connection fail with "no route to host", which is
        // about ARP, not about the line the test is after.
        let n = self.subnet;
        let (host_mac, router_mac) = (mac(&self.host, "eth0"), mac(&self.router, "lan0"));
        let permanent = |namespace: &Namespace, ip: String, mac: &str, device: &str| {
            namespace.ip(&[
                "neigh",
                "replace",
                &ip,
                "lladdr",
                mac,
                "dev",
                device,
                "nud",
                "permanent",
            ]);
        };
        permanent(&self.host, format!("192.168.{n}.1"), &router_mac, "eth0");
        permanent(&self.router, format!("192.168.{n}.2"), &host_mac, "lan0");
        for port in ["w0", "w1"] {
            self.wire.ip(&["link", "set", port, "nomaster"]);
            self.wire.ip(&["link", "set", port, "promisc", "on"]);
        }
        self.bad_line = Some(BadLine::start(&self.wire, "w0", "w1", impairment));
    }

    fn load_rules(&self, nat: Nat) {
        let masquerade = match nat {
            Nat::Symmetric => "masquerade fully-random",
            Nat::EndpointIndependent | Nat::UdpBlocked => "masquerade",
        };
        let firewall = match nat {
            Nat::UdpBlocked => format!(
                "iifname \"lan0\" meta l4proto udp ip daddr != {SERVER_ADDR} drop\n\
                 iifname \"lan0\" udp dport != {TURN_PORT} drop"
            ),
            Nat::EndpointIndependent | Nat::Symmetric => String::new(),
        };
        // Like every home router, it drops what nobody inside asked for.
        // That matters beyond safety: a dropped packet leaves no connection
        // tracking entry behind, whereas one the router answered itself
        // (port unreachable) would hold the port a hole-punching peer's
        // mapping needs, and the NAT would pick another.
        let rules = format!(
            "table ip home {{\n\
               chain input {{ type filter hook input priority 0; policy accept;\n\
                 iifname \"wan0\" ct state new drop\n\
               }}\n\
               chain forward {{ type filter hook forward priority 0; policy accept;\n\
                 iifname \"wan0\" ct state new drop\n\
                 {firewall}\n\
               }}\n\
               chain postrouting {{ type nat hook postrouting priority 100;\n\
                 oifname \"wan0\" {masquerade}\n\
               }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("{}.nft", self.router.name()));
        std::fs::write(&file, rules).unwrap_or_else(|e| panic!("writing nft rules: {e}"));
        self.router.run("nft", &["-f", &file.display().to_string()]);
        let _ = std::fs::remove_file(file);
    }
}
