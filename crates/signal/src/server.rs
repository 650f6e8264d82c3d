//! Starting and stopping a server.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderName;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admission::{
    AddressKey, AddressRateLimiter, Connections, RateMemory, TRACKED_ADDRESSES,
};
use crate::cluster::{self, Cluster, ClusterSettings};
use crate::config::{Config, TurnAuth, TurnServer};
use crate::limits::{LogSampler, REFUSAL_LOGS_PER_SECOND};
use crate::memory::MemoryTrim;
use crate::metrics::{Limit, Metrics};
use crate::outbox::OutboxBudget;
use crate::room::{RoomLimits, Rooms};
use crate::shards::{Priority, Shards};
use crate::{http, listener};

/// How long [`Server::shutdown`] waits for clients to finish their close
/// handshakes before it stops regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// `--redis` was given and the node could not join the cluster.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The listen address could not be bound (in use, no permission...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from [`Config::listen`].
        addr: SocketAddr,
        /// What went wrong.
        source: io::Error,
    },
    /// The threads for connections could not be started.
    #[error("cannot start the connection threads: {0}")]
    Threads(io::Error),
}

/// State shared by the HTTP handlers and every connection.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) rooms: Arc<Rooms>,
    /// With `--redis`: this node's part in the cluster.
    pub(crate) cluster: Option<Arc<Cluster>>,
    pub(crate) metrics: Arc<Metrics>,
    /// Turns true when the server starts shutting down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Number of open WebSocket connections.
    pub(crate) connections: watch::Sender<usize>,
    /// Asked for a trim when connections come and go.
    pub(crate) memory: Arc<MemoryTrim>,
    /// TCP connections, in total and per address.
    pub(crate) admission: Arc<Connections>,
    /// Joins per address.
    pub(crate) joins: AddressRateLimiter,
    /// `/turn` requests per address.
    pub(crate) turn_requests: AddressRateLimiter,
    /// Frame and byte buckets per address, across reconnections.
    pub(crate) rate_memory: RateMemory,
    /// The byte budgets of the members' outboxes.
    pub(crate) outbox_budget: Arc<OutboxBudget>,
    /// Keeps refusals from flooding the logs.
    pub(crate) refusal_log: LogSampler,
    /// [`Config::trusted_proxy_header`], parsed.
    pub(crate) proxy_header: Option<HeaderName>,
    /// Where connections read their HTTP request, yielding to everything
    /// else.
    pub(crate) handshakes: Shards,
    /// Where WebSockets run, each room's members on one thread.
    pub(crate) shards: Shards,
    next_connection_id: AtomicU64,
}

impl Shared {
    /// A number that tells connections apart in logs.
    pub(crate) fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// What the per-address limits count `ip` as, or `None` when they do
    /// not apply to it (loopback, unless [`Config::limit_loopback`]).
    pub(crate) fn address_key(&self, ip: IpAddr) -> Option<AddressKey> {
        (self.config.limit_loopback || !ip.to_canonical().is_loopback()).then(|| AddressKey::of(ip))
    }

    /// Counts a refusal (or a connection closed) by `limit`, and logs it
    /// if the log sampler lets it through.
    pub(crate) fn limit_exceeded(&self, limit: Limit, client: IpAddr, what: &str) {
        self.metrics.limit_exceeded(limit);
        if let Some(suppressed) = self.refusal_log.sample(Instant::now()) {
            tracing::info!(%limit, %client, suppressed, "{what}");
        }
    }
}

/// A running signaling server.
///
/// Dropping it stops the server too, but without waiting for clients; call
/// [`Server::shutdown`] to close every client cleanly first.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    /// Where `/metrics` is served, when not on the main address.
    metrics_addr: Option<SocketAddr>,
    /// The certificate served, shared with the listener so it can be replaced.
    tls: Option<crate::tls::TlsConfig>,
    shutdown: watch::Sender<bool>,
    /// Every member's outbox, told of the shutdown too.
    outboxes: Arc<OutboxBudget>,
    connections: watch::Receiver<usize>,
    serving: Option<JoinHandle<()>>,
    /// Told to forget this node once its clients are gone.
    cluster: Option<Arc<Cluster>>,
}

impl Server {
    /// Binds [`Config::listen`] and starts serving in the background on the
    /// current Tokio runtime.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        if config.ping_interval.is_zero() {
            return Err(StartError::InvalidConfig("ping_interval must not be zero"));
        }
        if config.pong_timeout <= config.ping_interval {
            return Err(StartError::InvalidConfig(
                "pong_timeout must be longer than ping_interval, or quiet clients would be dropped",
            ));
        }
        if (config.byte_rate_limit.burst as usize) < config.max_message_size {
            return Err(StartError::InvalidConfig(
                "the byte rate burst must be at least max_message_size, or the largest frames could never pass",
            ));
        }
        let fanout = config.room_fanout_limit;
        if fanout.bytes_per_second > 0 && (fanout.burst as usize) < config.max_message_size {
            return Err(StartError::InvalidConfig(
                "the room fan-out burst must be at least max_message_size, or the largest frames could never reach anyone",
            ));
        }
        if let Some(TurnServer {
            auth: TurnAuth::SharedSecret { member_ttl, .. },
            ..
        }) = &config.ice.turn
        {
            if *member_ttl < Duration::from_secs(1) {
                return Err(StartError::InvalidConfig(
                    "the TURN member ttl must be at least a second: members get fresh credentials every two thirds of it",
                ));
            }
        }
        let proxy_header = match &config.trusted_proxy_header {
            None => None,
            Some(name) => Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                StartError::InvalidConfig("trusted_proxy_header is not a valid header name")
            })?),
        };
        let addr = config.listen;
        let tcp = bind_clients_listener(addr, config.socket_send_buffer)
            .map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = tcp
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let (connections_tx, connections) = watch::channel(0);
        let metrics = Arc::new(Metrics::default());
        let tls = config.tls.clone();
        let (link, outgoing) = match config.redis {
            Some(_) => {
                let (link, outgoing) = cluster::link();
                (Some(link), Some(outgoing))
            }
            None => (None, None),
        };
        let rooms = Rooms::new(
            RoomLimits {
                max_peers_per_room: config.max_peers_per_room,
                max_rooms: config.max_rooms,
                id_reservation: config.id_reservation,
                peer_list_interval: config.peer_list_interval,
                fanout: config.room_fanout_limit,
            },
            Arc::clone(&metrics),
            link.clone(),
        );
        let admission =
            Connections::new(config.max_connections, config.max_connections_per_address);
        let cluster = match (&config.redis, link, outgoing) {
            (Some(redis), Some(link), Some(outgoing)) => {
                let settings = ClusterSettings {
                    redis: redis.clone(),
                    max_peers_per_room: config.max_peers_per_room,
                    id_reservation: config.id_reservation,
                    admission: Arc::clone(&admission),
                };
                let stop = shutdown_rx.clone();
                Some(Cluster::start(settings, link, outgoing, &rooms, stop).await?)
            }
            _ => None,
        };
        let threads = config.connection_threads;
        let shards =
            Shards::start(threads, "parlor-conn", Priority::Normal).map_err(StartError::Threads)?;
        let handshakes = Shards::start(threads, "parlor-http", Priority::Yielding)
            .map_err(StartError::Threads)?;
        let shared = Arc::new(Shared {
            rooms,
            cluster: cluster.clone(),
            admission,
            joins: AddressRateLimiter::new(config.joins_per_minute, TRACKED_ADDRESSES),
            turn_requests: AddressRateLimiter::new(
                config.turn_requests_per_minute,
                TRACKED_ADDRESSES,
            ),
            rate_memory: RateMemory::new(TRACKED_ADDRESSES),
            outbox_budget: OutboxBudget::new(config.outbox_bytes, config.total_outbox_bytes),
            refusal_log: LogSampler::new(REFUSAL_LOGS_PER_SECOND),
            proxy_header,
            handshakes,
            shards,
            config,
            metrics,
            shutdown: shutdown_rx,
            connections: connections_tx,
            next_connection_id: AtomicU64::new(1),
            memory: Arc::default(),
        });
        tokio::spawn(
            Arc::clone(&shared.memory).run(Arc::clone(&shared.metrics), shared.shutdown.clone()),
        );
        let metrics_addr = match shared.config.metrics_listen {
            Some(addr) => Some(serve_metrics(addr, &shared).await?),
            None => None,
        };
        let outboxes = Arc::clone(&shared.outbox_budget);
        let router = http::router(Arc::clone(&shared));
        let serving = listener::spawn(tcp, tls.clone(), router, shared);
        tracing::info!(%local_addr, tls = tls.is_some(), "listening");
        Ok(Server {
            local_addr,
            metrics_addr,
            tls,
            shutdown,
            outboxes,
            connections,
            serving: Some(serving),
            cluster,
        })
    }

    /// The address actually bound (the real port when
    /// [`Config::listen`] asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on when [`Config::metrics_listen`]
    /// moved it off the main address (the real port for port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The server's base URL, `ws://` or `wss://` with the bound address:
    /// what a client passes to [`parlor_protocol::ServerUrl`].
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Serves `fresh` (a renewed certificate) from the next handshake on;
    /// connections already open keep theirs. `false` when this server does
    /// not serve TLS.
    pub fn replace_tls(&self, fresh: &crate::tls::TlsConfig) -> bool {
        match &self.tls {
            Some(tls) => {
                tls.replace_with(fresh);
                true
            }
            None => false,
        }
    }

    /// Stops accepting, sends every client a close frame with code 1001
    /// ("going away"), and waits (a few seconds at most) for the close
    /// handshakes to finish.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        self.stop();
        let mut connections = self.connections.clone();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            // The value guard is dropped here: it must not live across an
            // `.await`, or this future could not be spawned.
            let _ = connections.wait_for(|&open| open == 0).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!("some clients did not finish closing in time");
        }
        if let Some(cluster) = self.cluster.take() {
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, cluster.retire()).await;
        }
        if let Some(serving) = self.serving.take() {
            // The HTTP side only has plain requests left to finish.
            let abort = serving.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, serving).await.is_err() {
                abort.abort();
            }
        }
        tracing::info!("stopped");
    }
}

impl Server {
    /// Tells every part of the server to stop: the flag first, then the
    /// members (a connection registers its outbox, then reads the flag).
    fn stop(&self) {
        self.shutdown.send_replace(true);
        self.outboxes.shut_down_all();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
///
/// Discards the value guard that `wait_for` returns, which must not be held
/// across an `.await` in a task.
pub(crate) async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Binds the clients' listener. The sockets it accepts inherit its send
/// buffer size, fixed (see [`Config::socket_send_buffer`]); 0 keeps the
/// kernel's own, growing one.
fn bind_clients_listener(addr: SocketAddr, send_buffer: usize) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server gets its port back
    // while the last run's connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    if send_buffer > 0 {
        socket.set_send_buffer_size(u32::try_from(send_buffer).unwrap_or(u32::MAX))?;
    }
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Connections the kernel holds for the accept loop (tokio's own default).
const LISTEN_BACKLOG: u32 = 1024;

/// Serves `/metrics` alone on `addr` until the server shuts down.
async fn serve_metrics(addr: SocketAddr, shared: &Arc<Shared>) -> Result<SocketAddr, StartError> {
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let bound = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let router = http::metrics_router(Arc::clone(shared));
    let mut shutdown = shared.shutdown.clone();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
        if let Err(error) = axum::serve(tcp, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    });
    tracing::info!(%bound, "metrics listening");
    Ok(bound)
}
