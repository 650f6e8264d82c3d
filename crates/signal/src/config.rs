//! Everything a server can be told at start, with defaults fit for a public
//! deployment. Tests shorten the timers; the binary maps its flags onto it.
//!
//! Every limit on what a stranger can make the server do is here too; for
//! the count and time limits, zero turns the limit off.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::cluster::RedisConfig;
use crate::tls::TlsConfig;

/// Default listen address: loopback, on the PartyKit dev port the old
/// library's clients expect (`partykit dev --port 1999`).
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 1999);

/// How a [`Server`](crate::Server) behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (read it back with
    /// [`Server::local_addr`](crate::Server::local_addr)).
    pub listen: SocketAddr,
    /// Threads that run the clients' WebSockets, each room's members on
    /// one; as many again read HTTP requests at the lowest CPU priority,
    /// so strangers' handshakes wait for members' frames. 0: one of each
    /// per CPU core.
    pub connection_threads: usize,
    /// Largest text frame relayed, in bytes (default 64 KiB, ample for an SDP
    /// offer). A larger frame is answered with `too-large` and the connection
    /// stays usable; only frames beyond [`Config::hard_frame_limit`] end it.
    pub max_message_size: usize,
    /// Most members a room can hold; one more is refused with `room-full`.
    pub max_peers_per_room: usize,
    /// How often the server pings each client to check it is alive.
    pub ping_interval: Duration,
    /// How long a client may stay silent (no frame at all, pongs included)
    /// before the server drops it and tells its room. Also bounds how long a
    /// write to a client that stopped reading may take.
    pub pong_timeout: Duration,
    /// How long the peer id of a Parlor client that left (or lost its
    /// connection) stays reserved for it: only the key it joined with takes
    /// the id in that time, so nobody who saw the id in a peer list can pose
    /// as it while it reconnects.
    pub id_reservation: Duration,
    /// How fast one client may send frames.
    pub rate_limit: RateLimit,
    /// How many bytes one client may send, on top of the frame rate.
    pub byte_rate_limit: ByteRateLimit,
    /// How many bytes one room may make the server send, every copy
    /// counted (a frame to 31 members costs 31 times its size); a rate of
    /// 0 for no limit. Per-client rates alone let a full room of senders
    /// cost 32 times one sender's rate, fanned out 31 times.
    pub room_fanout_limit: ByteRateLimit,
    /// How many errors a client may cause before it is disconnected.
    pub error_limit: ErrorLimit,
    /// How long a client has to send a complete HTTP request head, counted
    /// from the moment the server waits for one: when the connection opens
    /// (after the TLS handshake, which gets as long again), and again after
    /// each answered request on a keep-alive connection. A connection that
    /// dribbles its head (slowloris), sends nothing, or idles between
    /// requests is closed.
    pub header_read_timeout: Duration,
    /// How long a connection may stay plain HTTP: one that has not become a
    /// WebSocket this long after it was accepted is closed (after the answer
    /// in progress, if any). WebSocket connections are not affected.
    pub upgrade_timeout: Duration,
    /// Most TCP connections the server holds at once (WebSockets, plain HTTP
    /// and TLS handshakes alike). One more is answered `503 Service
    /// Unavailable` and closed.
    pub max_connections: usize,
    /// How fast the server takes new TCP connections, server-wide. Those
    /// over it wait in the kernel's listen queue for their turn (nothing is
    /// refused), so a storm of connections (thousands of handshakes at
    /// once, or joins and leaves in a loop) spends at most this share of the
    /// server on newcomers, and members already connected keep their
    /// latency.
    pub accept_rate: AcceptRate,
    /// The kernel's send buffer for each client's socket, in bytes, fixed
    /// (Linux doubles it for its own bookkeeping); 0 leaves it to the
    /// kernel, which grows it toward `net.ipv4.tcp_wmem`'s maximum: for a
    /// thousand members that stopped reading, about 800 KiB each, 2.2 GB of
    /// kernel memory no budget counted, and copying into it was most of
    /// what they cost the server. Frames beyond it wait in the member's
    /// outbox, within its byte budget.
    pub socket_send_buffer: usize,
    /// Most connections from one client address (an IPv4 address, or an
    /// IPv6 /64). One more is answered `429 Too Many Requests`. Without
    /// [`Config::trusted_proxy_header`] every TCP connection counts; with
    /// it, every WebSocket, by the address the proxy names.
    pub max_connections_per_address: usize,
    /// Joins (WebSocket upgrades) one client address may make per minute: a
    /// token bucket per address holding this many, refilled at this many per
    /// minute, so a reconnecting client cannot reset it. One more is answered
    /// `429 Too Many Requests`.
    pub joins_per_minute: u32,
    /// Requests to `/parties/main/<room>/turn` one client address may make
    /// per minute: a token bucket per address like
    /// [`Config::joins_per_minute`]. One more is answered `429 Too Many
    /// Requests`. An old client fetches once per peer list it receives, so
    /// a well-behaved one stays far below the default; a harvester of TURN
    /// credentials does not.
    pub turn_requests_per_minute: u32,
    /// Whether the per-address limits apply to loopback clients
    /// (127.0.0.0/8, `::1`) too. Off by default: local processes are not
    /// strangers, and a local reverse proxy should name its clients with
    /// [`Config::trusted_proxy_header`] instead.
    pub limit_loopback: bool,
    /// Most rooms at once (rooms that only hold reserved ids count). A join
    /// that would create one more is closed with 1013 ("try again later").
    pub max_rooms: usize,
    /// Bytes queued for one member, at most (each frame counts its length
    /// plus a small overhead). A member over it is not reading and is closed
    /// with 1008.
    pub outbox_bytes: usize,
    /// Bytes queued across all members, at most. A frame that would take the
    /// server past it is not queued and its recipient is closed with 1013.
    pub total_outbox_bytes: usize,
    /// Shortest time between two peer lists to one member. Lists that fall
    /// due sooner are merged into one, sent when the time is up; the last
    /// always goes out, and a member always gets a list naming a sender
    /// before that sender's first message.
    pub peer_list_interval: Duration,
    /// The request header a reverse proxy in front of the server writes the
    /// client's address into (`X-Forwarded-For`, `X-Real-IP`...). When set,
    /// the per-address limits count by its last entry (the address the proxy
    /// saw); when unset, the header is never read.
    pub trusted_proxy_header: Option<String>,
    /// The web pages allowed to open a WebSocket here, by the `Origin` their
    /// browser sends (`https://chat.example.org`); empty: any page. A client
    /// that sends no `Origin` is not a browser page (the app, `parlor-peer`)
    /// and is let through. Lets a server stop other sites' pages from using
    /// it with their visitors' browsers.
    pub allowed_origins: Vec<String>,
    /// Serve `/metrics` on this address instead of the main one. Without it,
    /// `/metrics` on the main address answers loopback clients only: what
    /// the server has relayed is no stranger's business.
    pub metrics_listen: Option<SocketAddr>,
    /// ICE servers handed out at `/parties/main/<room>/turn` and sent to
    /// Parlor members over their socket.
    pub ice: IceConfig,
    /// Serve `wss`/`https` instead of `ws`/`http`.
    pub tls: Option<TlsConfig>,
    /// Share rooms with the other nodes using this Redis: members of one
    /// room may then be connected to any node behind a load balancer (no
    /// sticky sessions). `None`: this process alone holds its rooms.
    pub redis: Option<RedisConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            connection_threads: 0,
            max_message_size: 64 * 1024,
            max_peers_per_room: 32,
            ping_interval: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(20),
            id_reservation: Duration::from_secs(30),
            rate_limit: RateLimit::default(),
            byte_rate_limit: ByteRateLimit::default(),
            room_fanout_limit: ByteRateLimit {
                bytes_per_second: 4 * 1024 * 1024,
                burst: 16 * 1024 * 1024,
            },
            error_limit: ErrorLimit::default(),
            header_read_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            accept_rate: AcceptRate::default(),
            socket_send_buffer: 64 * 1024,
            max_connections_per_address: 32,
            joins_per_minute: 60,
            turn_requests_per_minute: 60,
            limit_loopback: false,
            max_rooms: 10_000,
            outbox_bytes: 1024 * 1024,
            total_outbox_bytes: 256 * 1024 * 1024,
            peer_list_interval: Duration::from_millis(200),
            trusted_proxy_header: None,
            allowed_origins: Vec::new(),
            metrics_listen: None,
            ice: IceConfig::default(),
            tls: None,
            redis: None,
        }
    }
}

impl Config {
    /// The frame size at which the WebSocket library itself gives up (and
    /// the server closes with 1009): sixteen times `max_message_size`, at
    /// least 1 MiB. It is set well above `max_message_size` so that a frame
    /// that is merely too large can be read and answered with `too-large`.
    pub fn hard_frame_limit(&self) -> usize {
        self.max_message_size.saturating_mul(16).max(1024 * 1024)
    }
}

/// A token bucket for the whole server's new connections: `burst` at once,
/// refilled at `per_second` (see [`Config::accept_rate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptRate {
    /// Sustained new connections per second; 0 takes them as fast as they
    /// come.
    pub per_second: u32,
    /// New connections taken at once after a quiet period.
    pub burst: u32,
}

impl Default for AcceptRate {
    fn default() -> Self {
        Self {
            per_second: 1000,
            burst: 100,
        }
    }
}

/// A token bucket per connection: `burst` frames at once, refilled at
/// `messages_per_second`. Negotiation sends a burst of ICE candidates and
/// then almost nothing, so the burst is generous and the rate is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained frames per second.
    pub messages_per_second: u32,
    /// Frames that may arrive at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            messages_per_second: 50,
            burst: 200,
        }
    }
}

/// A second token bucket per connection, in bytes: frames are cheap to
/// count but not all the same size, and one 64 KiB frame broadcast to a full
/// room costs the server two megabytes. A frame that finds the bucket short
/// is answered `rate-limited`, like one over the frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRateLimit {
    /// Sustained bytes per second.
    pub bytes_per_second: u32,
    /// Bytes that may arrive at once after a quiet period; at least
    /// [`Config::max_message_size`], or the largest frames could never pass.
    pub burst: u32,
}

impl Default for ByteRateLimit {
    fn default() -> Self {
        Self {
            bytes_per_second: 64 * 1024,
            burst: 256 * 1024,
        }
    }
}

/// A client that causes more than `max_errors` error frames within `window`
/// is closed with 1008: one bad frame is a bug worth reporting, a stream of
/// them is a client that is not listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorLimit {
    /// Error frames tolerated within one window.
    pub max_errors: u32,
    /// Length of the window.
    pub window: Duration,
}

impl Default for ErrorLimit {
    fn default() -> Self {
        Self {
            max_errors: 20,
            window: Duration::from_secs(10),
        }
    }
}

/// The ICE servers the server hands out. The default (none) is a valid
/// answer: peers on one network connect without STUN or TURN.
///
/// TURN credentials reach clients two ways: every member that declared
/// itself a Parlor client gets its own in an `ice-servers` frame over its
/// socket (only members, only while they stay); and the open `/turn`
/// endpoint, which the old library's clients fetch before they have joined,
/// hands them to anyone who asks unless [`IceConfig::open_turn`] is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceConfig {
    /// STUN URLs, e.g. `stun:stun.l.google.com:19302`.
    pub stun_urls: Vec<String>,
    /// A TURN server, if any.
    pub turn: Option<TurnServer>,
    /// Whether `/turn` hands out the TURN server and credentials (on by
    /// default: the old library's browser clients only know this way). Off,
    /// it answers with the STUN servers alone, which is all an old client
    /// needs on a LAN or behind friendly NATs, and TURN is for members.
    pub open_turn: bool,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self {
            stun_urls: Vec::new(),
            turn: None,
            open_turn: true,
        }
    }
}

/// A TURN server and how clients authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// `turn:`/`turns:` URLs of the server.
    pub urls: Vec<String>,
    /// Credentials handed out with the URLs.
    pub auth: TurnAuth,
}

/// How TURN credentials are produced.
#[derive(Clone, PartialEq, Eq)]
pub enum TurnAuth {
    /// The same username and password for everyone.
    Static {
        /// TURN username.
        username: String,
        /// TURN password.
        credential: String,
    },
    /// Short-lived credentials minted per request from a secret shared with
    /// the TURN server (the TURN REST API form coturn's `use-auth-secret`
    /// accepts), so leaked credentials expire on their own.
    ///
    /// coturn checks the expiry only when an allocation is made: a relayed
    /// connection outlives its credentials, so short lifetimes cost nothing
    /// but a fresh credential for each new connection.
    SharedSecret {
        /// The secret configured as `static-auth-secret` in coturn.
        secret: String,
        /// How long credentials handed out at the open `/turn` endpoint stay
        /// valid (user name `<expiry>:parlor`).
        ttl: Duration,
        /// How long a member's own credentials stay valid (user name
        /// `<expiry>:<peer id>`). The server sends the member fresh ones
        /// after two thirds of it, for as long as it stays, so a member
        /// always holds credentials with a third of their life left. At
        /// least a second.
        member_ttl: Duration,
    },
}

/// Keeps secrets out of logs.
impl std::fmt::Debug for TurnAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TurnAuth::Static { username, .. } => f
                .debug_struct("Static")
                .field("username", username)
                .finish_non_exhaustive(),
            TurnAuth::SharedSecret {
                ttl, member_ttl, ..
            } => f
                .debug_struct("SharedSecret")
                .field("ttl", ttl)
                .field("member_ttl", member_ttl)
                .finish_non_exhaustive(),
        }
    }
}
