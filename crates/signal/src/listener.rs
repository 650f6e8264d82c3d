//! Accepting connections: the connection limits, TLS, and HTTP/1.1 with its
//! timeouts, until a connection becomes a WebSocket or ends.
//!
//! `axum::serve` takes no settings, so connections are served with hyper
//! directly: its header read timeout closes a connection that does not send
//! a complete request head in time (slowloris, silent, or idle between
//! requests), and an upgrade deadline closes one that stays plain HTTP too
//! long. Each connection takes its places in the connection counts before
//! anything else; one over a limit is answered with a short HTTP error by a
//! bounded set of tasks, and simply closed when even those are busy.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::socket::{ClientIo, Portable};
use crate::tls::TlsConfig;

use crate::admission::ConnectionPermit;
use crate::config::AcceptRate;
use crate::limits::TokenBucket;
use crate::metrics::Limit;
use crate::server::{Shared, stopping};

/// Connections over a limit that are being answered at once, at most;
/// beyond it they are closed without an answer.
const REFUSING_AT_ONCE: usize = 64;

/// How long a refused connection has to send its request and take the
/// answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest request head read from a refused connection.
const REFUSAL_HEAD_LIMIT: usize = 8 * 1024;

/// A TLS handshake must finish within this when the header read timeout
/// is off.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's socket address, for handlers and logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

/// The connection's place in the connection counts, handed to each of its
/// requests so that a WebSocket keeps it for as long as it lives.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSlot {
    _permit: Arc<ConnectionPermit>,
}

/// Accepts on `tcp` until the server stops, then waits for the plain HTTP
/// connections to finish (WebSockets end through their own tasks).
pub(crate) fn spawn(
    tcp: TcpListener,
    tls: Option<TlsConfig>,
    router: Router,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(tcp, tls, router, shared))
}

async fn accept_loop(
    tcp: TcpListener,
    tls: Option<TlsConfig>,
    router: Router,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    // Every connection task holds a receiver; the sender learns when the
    // last one is gone.
    let (tasks_done, tasks) = watch::channel(());
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let mut pace = AcceptPace::new(shared.config.accept_rate);
    loop {
        if let Some(wait) = pace.wait(std::time::Instant::now()) {
            shared.metrics.limit_exceeded(Limit::AcceptRate);
            if let Some(suppressed) = shared.refusal_log.sample(std::time::Instant::now()) {
                tracing::info!(
                    suppressed,
                    "new connections over the accept rate wait their turn"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => continue,
                () = stopping(&mut shutdown) => break,
            }
        }
        let (stream, remote) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    // Out of file descriptors, typically: back off instead
                    // of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        // Signaling frames are small and latency-bound. Best effort: the
        // connection works without it.
        let _ = stream.set_nodelay(true);
        // Behind a trusted proxy the socket's address is the proxy's: the
        // per-address limits are applied per request instead.
        let address = match shared.proxy_header {
            None => shared.address_key(remote.ip()),
            Some(_) => None,
        };
        match shared.admission.admit(address) {
            Ok(mut permit) => {
                // A handshake thread watches its socket until it becomes a
                // WebSocket: handed over unregistered, registered there.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%remote, %error, "accepted socket unusable");
                        continue;
                    }
                };
                let handshakes = &shared.handshakes;
                // The certificate as it is now: a reload serves the next
                // handshake.
                let tls = tls.as_ref().map(TlsConfig::acceptor);
                let task = tasks.clone();
                let router = router.clone();
                let shared = Arc::clone(&shared);
                let refusing = Arc::clone(&refusing);
                handshakes.spawn(async move {
                    let stream = match TcpStream::from_std(stream) {
                        Ok(stream) => stream,
                        Err(error) => {
                            tracing::debug!(%remote, %error, "accepted socket unusable");
                            return;
                        }
                    };
                    // With `--redis` the address's connections are counted
                    // across the nodes too; awaited here, not in the accept
                    // loop, so a slow Redis delays this connection only.
                    if let (Some(cluster), Some(address)) = (&shared.cluster, permit.address_mut())
                    {
                        if !cluster.admit_address(address).await {
                            drop(permit);
                            let limit = Limit::ConnectionsPerAddress;
                            shared.limit_exceeded(limit, remote.ip(), "connection refused");
                            if let Ok(_permit) = refusing.try_acquire_owned() {
                                refuse(
                                    stream,
                                    tls,
                                    StatusCode::TOO_MANY_REQUESTS,
                                    PER_ADDRESS_REFUSAL,
                                )
                                .await;
                            }
                            drop(task);
                            return;
                        }
                    }
                    let connection = Connection {
                        remote,
                        accepted: Instant::now(),
                        slot: ConnectionSlot {
                            _permit: Arc::new(permit),
                        },
                        router,
                        shared,
                    };
                    connection.run(stream, tls).await;
                    drop(task);
                });
            }
            Err(limit) => {
                let (status, body) = match limit {
                    Limit::ConnectionsPerAddress => {
                        (StatusCode::TOO_MANY_REQUESTS, PER_ADDRESS_REFUSAL)
                    }
                    _ => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the server has as many connections as it takes; try again later\n",
                    ),
                };
                shared.limit_exceeded(limit, remote.ip(), "connection refused");
                if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                    let tls = tls.as_ref().map(TlsConfig::acceptor);
                    tokio::spawn(async move {
                        refuse(stream, tls, status, body).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    // Stop listening at once: a stopped server accepts nothing.
    drop(tcp);
    drop(tasks);
    tasks_done.closed().await;
}

/// [`Config::accept_rate`](crate::Config::accept_rate) as the accept loop
/// applies it.
struct AcceptPace {
    bucket: Option<TokenBucket>,
}

impl AcceptPace {
    fn new(rate: AcceptRate) -> Self {
        let bucket = (rate.per_second > 0).then(|| {
            TokenBucket::with(
                f64::from(rate.per_second),
                f64::from(rate.burst.max(1)),
                std::time::Instant::now(),
            )
        });
        Self { bucket }
    }

    /// `None` when the next connection may be taken now (and counts it);
    /// otherwise how long to wait before asking again.
    fn wait(&mut self, now: std::time::Instant) -> Option<Duration> {
        let bucket = self.bucket.as_mut()?;
        if bucket.try_take(now) {
            return None;
        }
        bucket.time_until(1.0, now)
    }
}

/// One accepted connection, until it ends or becomes a WebSocket.
struct Connection {
    remote: SocketAddr,
    accepted: Instant,
    slot: ConnectionSlot,
    router: Router,
    shared: Arc<Shared>,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let stream = Portable::new(stream);
        match tls {
            None => self.serve(ClientIo::Plain(stream)).await,
            Some(acceptor) => {
                let limit = nonzero(self.shared.config.header_read_timeout)
                    .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
                match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => self.serve(ClientIo::Tls(Box::new(stream))).await,
                    Ok(Err(error)) => {
                        tracing::debug!(remote = %self.remote, %error, "TLS handshake failed");
                    }
                    Err(_) => self.shared.limit_exceeded(
                        Limit::HeaderReadTimeout,
                        self.remote.ip(),
                        "closed: no TLS handshake in time",
                    ),
                }
            }
        }
    }

    /// HTTP/1.1 until the connection ends or is upgraded.
    async fn serve(self, io: ClientIo) {
        let config = &self.shared.config;
        let service = PerConnection {
            router: TowerToHyperService::new(self.router.clone()),
            remote: self.remote,
            slot: self.slot.clone(),
        };
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(nonzero(config.header_read_timeout));
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);

        let far = Duration::from_secs(365 * 24 * 3600);
        let upgrade_timeout = nonzero(config.upgrade_timeout);
        let deadline = tokio::time::sleep_until(self.accepted + upgrade_timeout.unwrap_or(far));
        tokio::pin!(deadline);
        // After a graceful shutdown starts, the answer in progress gets this
        // long to finish before the connection is dropped.
        let grace = nonzero(config.header_read_timeout).unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
        let mut closing = false;
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        if error.is_timeout() {
                            self.shared.limit_exceeded(
                                Limit::HeaderReadTimeout,
                                self.remote.ip(),
                                "closed: no complete request head in time",
                            );
                        } else {
                            tracing::debug!(remote = %self.remote, %error, "HTTP connection failed");
                        }
                    }
                    return;
                }
                () = &mut deadline => {
                    if closing {
                        return;
                    }
                    if upgrade_timeout.is_some() {
                        self.shared.limit_exceeded(
                            Limit::UpgradeTimeout,
                            self.remote.ip(),
                            "closed: no WebSocket upgrade in time",
                        );
                    }
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                    deadline.as_mut().reset(Instant::now() + grace);
                }
                () = stopping(&mut shutdown), if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                    deadline.as_mut().reset(Instant::now() + grace);
                }
            }
        }
    }
}

/// The router, with the client's address and the connection's slot added
/// to every request.
#[derive(Clone)]
struct PerConnection {
    router: TowerToHyperService<Router>,
    remote: SocketAddr,
    slot: ConnectionSlot,
}

impl hyper::service::Service<Request<Incoming>> for PerConnection {
    type Response =
        <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Response;
    type Error = Infallible;
    type Future =
        <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Future;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(ClientAddr(self.remote)));
        extensions.insert(self.slot.clone());
        self.router.call(request)
    }
}

/// Answers a connection over a limit: its TLS handshake if any, then reads
/// its request head and sends `status` with `body`, all within
/// [`REFUSAL_TIMEOUT`].
/// The body of the `429` for an address over
/// `--max-connections-per-address`, on one node or across the cluster.
const PER_ADDRESS_REFUSAL: &str = "too many connections from your address\n";

async fn refuse(stream: TcpStream, tls: Option<TlsAcceptor>, status: StatusCode, body: &str) {
    let answer = async {
        match tls {
            None => answer_with(stream, status, body).await,
            Some(acceptor) => {
                let stream = acceptor.accept(stream).await?;
                answer_with(stream, status, body).await
            }
        }
    };
    if let Ok(Err(error)) = tokio::time::timeout(REFUSAL_TIMEOUT, answer).await {
        tracing::debug!(%error, "could not answer a refused connection");
    }
}

async fn answer_with<I>(mut io: I, status: StatusCode, body: &str) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    // Read the head first, so that closing does not reset the connection
    // (unread data turns a close into a reset) before the client reads.
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < REFUSAL_HEAD_LIMIT {
        let read = io.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 10\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    io.write_all(response.as_bytes()).await?;
    io.shutdown().await
}

/// `Some(duration)` unless it is zero, which turns a timeout off.
pub(crate) fn nonzero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}
