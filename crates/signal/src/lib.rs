//! Parlor's signaling server: the relay through which the members of a room
//! find each other and pass offers, answers and ICE candidates.
//!
//! It replaces the PartyKit server of the JS library `substrate-system/webrtc`
//! and speaks its protocol, so old browser clients (`partysocket`) keep
//! working, plus Parlor's additions. The same library serves the
//! `parlor-signal` binary, the desktop app's embedded server and the tests:
//!
//! ```no_run
//! # async fn run() -> Result<(), parlor_signal::StartError> {
//! let server = parlor_signal::Server::start(parlor_signal::Config::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Protocol
//!
//! The wire types are in [`parlor_protocol`]; these are the server's rules.
//!
//! - **URL.** `ws[s]://HOST[:PORT]/parties/main/<room>?_pk=<peer-id>`, the
//!   layout `partysocket` builds. A client declares itself a Parlor client
//!   with the extra parameter `parlor=1`. Without `_pk` the server assigns a
//!   random UUID, as lenient as PartyKit toward odd clients. Room names and
//!   peer ids are tokens of 1–64 ASCII letters, digits, `-` or `_`.
//! - **HTTP.** `GET`/`HEAD /parties/main/<room>` answers 200 (health check).
//!   `GET /parties/main/<room>/turn` answers `{"iceServers":[...]}` with
//!   `Access-Control-Allow-Origin: *` (old clients fetch it cross-origin
//!   before building a peer connection), and `OPTIONS` answers the CORS
//!   preflight. One client address may ask it
//!   [`Config::turn_requests_per_minute`] times a minute (`429` beyond), and
//!   with [`IceConfig::open_turn`] off it names the STUN servers only.
//!   `GET /metrics` is the Prometheus text exposition.
//! - **ICE servers for members.** With a TURN server configured, every
//!   member that declared `parlor=1` gets
//!   `{"type":"ice-servers","iceServers":[...],"expires":...}` before its
//!   first peer list, with TURN credentials in its own name
//!   (`<expiry>:<peer id>`), and a fresh one after two thirds of their
//!   lifetime for as long as it stays. Nobody else does.
//! - **Peer lists.** On every join and leave, every member receives
//!   `{"type":"info:peerlist","peers":[...],"parlor":[...]}`: the *other*
//!   members in join order, oldest first, and the subset that declared
//!   `parlor=1` (old clients ignore the extra field). A member gets at most
//!   one list per [`Config::peer_list_interval`]; changes in between are
//!   merged into the next, the last always arrives, a newcomer gets its own
//!   at once, and a list naming a sender always precedes its first message.
//! - **Relay.** Any JSON object a member sends is relayed, unknown types
//!   included, with `"from":"<sender id>"` written by the server over
//!   whatever the client put there. Without `to` (or with `"to":null`) it goes
//!   to every other member; with `"to":"<id>"` only to that member.
//! - **Errors.** A frame that is not relayed gets
//!   `{"type":"error","code":...,"message":...}` back, with code `not-json`,
//!   `not-object`, `too-large` (over [`Config::max_message_size`], 64 KiB by
//!   default), `binary-frame`, `unknown-peer` (`to` names no other member)
//!   or `rate-limited`. The connection stays usable; a client causing more
//!   than [`ErrorLimit::max_errors`] errors within [`ErrorLimit::window`] is
//!   closed with 1008. A frame beyond [`Config::hard_frame_limit`] cannot
//!   even be read and closes the connection with 1009.
//! - **Join rejections.** Browsers cannot read the HTTP status of a failed
//!   upgrade, so the server accepts it, sends an error frame (`invalid-room`,
//!   `invalid-peer-id`, `duplicate-peer-id`, `room-full`), then closes with
//!   4400 (invalid room or id), 4409 (duplicate id: the *first* connection
//!   keeps it) or 4429 (room full), with a reason text.
//! - **Liveness.** The server pings every [`Config::ping_interval`]; a client
//!   silent for [`Config::pong_timeout`] is dropped and its room gets a new
//!   peer list. A client that stops reading until its outbox overflows is
//!   closed with 1008.
//! - **Limits.** Everything a stranger can make the server do is bounded
//!   (see [`Config`]): the time to send a request head and to upgrade,
//!   connections in total and per address, joins per address per minute,
//!   rooms, frames and bytes per second, and bytes queued per member and in
//!   total. Connections over a limit that protects the server are refused
//!   before the upgrade (`503`, or `429` per address); rate limits answer
//!   `rate-limited`; too many rooms, or full send buffers server-wide, close
//!   with 1013; a member over its queue budget closes with 1008. Each is
//!   counted in `/metrics` as `parlor_signal_limit_exceeded_total{limit=...}`.
//! - **Cluster.** With [`Config::redis`], several servers share their rooms
//!   through Redis: a room's members may be connected to any of them, peer
//!   lists are the same everywhere, ids are unique cluster-wide, and frames
//!   reach members on other nodes through Redis pub/sub. A node that dies
//!   leaves every peer list within [`RedisConfig::node_timeout`] and a
//!   quarter of it. Without it nothing changes: one process, no Redis.
//! - **Shutdown.** [`Server::shutdown`] (and SIGINT/SIGTERM in the binary)
//!   sends every client a close frame with code 1001, then stops.

mod admission;
mod cluster;
mod config;
mod connection;
mod deadlines;
mod http;
mod limits;
mod listener;
mod memory;
mod metrics;
mod outbox;
mod relay;
mod room;
mod server;
mod shards;
mod socket;
mod tls;
mod turn;
mod upgrade;

pub use cluster::{ClusterError, RedisConfig};
pub use config::{
    AcceptRate, ByteRateLimit, Config, DEFAULT_LISTEN, ErrorLimit, IceConfig, RateLimit, TurnAuth,
    TurnServer,
};
pub use server::{Server, StartError};
pub use tls::{TlsConfig, TlsError};
