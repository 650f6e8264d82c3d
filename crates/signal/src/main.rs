//! `parlor-signal`: runs the signaling server until SIGINT or SIGTERM.
//!
//! The first line on stdout is `listening on HOST:PORT` with the real port,
//! so scripts and tests can start it with `--listen 127.0.0.1:0` and find it.
//! Logs go to stderr, filtered by `RUST_LOG` (default `info`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use parlor_signal::{
    AcceptRate, ByteRateLimit, Config, IceConfig, RateLimit, RedisConfig, Server, TlsConfig,
    TurnAuth, TurnServer,
};
use tracing_subscriber::EnvFilter;

/// Parlor's signaling server: peers of a room find each other here and pass
/// offers, answers and ICE candidates (PartyKit-compatible protocol).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "PARLOR_SIGNAL_LISTEN", default_value_t = parlor_signal::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Threads that run the clients' WebSockets, and as many that read
    /// HTTP requests at the lowest priority [default: one per CPU core].
    #[arg(long, env = "PARLOR_SIGNAL_THREADS")]
    threads: Option<usize>,

    /// Largest relayed frame in bytes [default: 65536].
    #[arg(long, env = "PARLOR_SIGNAL_MAX_MESSAGE_SIZE")]
    max_message_size: Option<usize>,

    /// Most members per room [default: 32].
    #[arg(long, env = "PARLOR_SIGNAL_MAX_PEERS_PER_ROOM")]
    max_peers_per_room: Option<usize>,

    /// Seconds between liveness pings [default: 10].
    #[arg(long, env = "PARLOR_SIGNAL_PING_INTERVAL")]
    ping_interval: Option<u64>,

    /// Seconds of silence after which a client is dropped [default: 20].
    #[arg(long, env = "PARLOR_SIGNAL_PONG_TIMEOUT")]
    pong_timeout: Option<u64>,

    /// Seconds a departed Parlor client's peer id stays reserved for it (only
    /// its key takes the id back) [default: 30].
    #[arg(long, env = "PARLOR_SIGNAL_ID_RESERVATION")]
    id_reservation: Option<u64>,

    /// Sustained frames per second one client may send [default: 50].
    #[arg(long, env = "PARLOR_SIGNAL_RATE_LIMIT")]
    rate_limit: Option<u32>,

    /// Frames one client may send at once after a quiet period [default: 200].
    #[arg(long, env = "PARLOR_SIGNAL_RATE_BURST")]
    rate_burst: Option<u32>,

    /// Sustained bytes per second one client may send [default: 65536].
    #[arg(long, env = "PARLOR_SIGNAL_BYTE_RATE_LIMIT")]
    byte_rate_limit: Option<u32>,

    /// Bytes one client may send at once after a quiet period; at least
    /// --max-message-size [default: 262144].
    #[arg(long, env = "PARLOR_SIGNAL_BYTE_RATE_BURST")]
    byte_rate_burst: Option<u32>,

    /// Sustained bytes per second one room may make the server send, every
    /// copy to every member counted; 0 for no limit [default: 4194304].
    #[arg(long, env = "PARLOR_SIGNAL_ROOM_FANOUT_RATE")]
    room_fanout_rate: Option<u32>,

    /// Bytes one room may make the server send at once after a quiet period
    /// [default: 16777216].
    #[arg(long, env = "PARLOR_SIGNAL_ROOM_FANOUT_BURST")]
    room_fanout_burst: Option<u32>,

    /// Seconds a client has to send a complete HTTP request head, from
    /// connecting or from its previous answer; 0 turns it off [default: 10].
    #[arg(long, env = "PARLOR_SIGNAL_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<u64>,

    /// Seconds a connection may stay plain HTTP before it is closed (it
    /// never became a WebSocket); 0 turns it off [default: 10].
    #[arg(long, env = "PARLOR_SIGNAL_UPGRADE_TIMEOUT")]
    upgrade_timeout: Option<u64>,

    /// Most TCP connections at once; more get 503; 0 for no limit
    /// [default: 10000].
    #[arg(long, env = "PARLOR_SIGNAL_MAX_CONNECTIONS")]
    max_connections: Option<usize>,

    /// New connections taken per second, server-wide; those over it wait
    /// their turn in the listen queue; 0 for no limit [default: 1000].
    #[arg(long, env = "PARLOR_SIGNAL_ACCEPT_RATE")]
    accept_rate: Option<u32>,

    /// New connections taken at once after a quiet period [default: 100].
    #[arg(long, env = "PARLOR_SIGNAL_ACCEPT_BURST")]
    accept_burst: Option<u32>,

    /// The kernel's send buffer per client socket, bytes; 0 lets the kernel
    /// grow it [default: 65536].
    #[arg(long, env = "PARLOR_SIGNAL_SOCKET_SEND_BUFFER")]
    socket_send_buffer: Option<usize>,

    /// Most connections per client address (IPv6: per /64); more get 429;
    /// 0 for no limit [default: 32].
    #[arg(long, env = "PARLOR_SIGNAL_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,

    /// Joins per client address per minute (a token bucket); more get 429;
    /// 0 for no limit [default: 60].
    #[arg(long, env = "PARLOR_SIGNAL_JOINS_PER_MINUTE")]
    joins_per_minute: Option<u32>,

    /// Requests to /turn per client address per minute (a token bucket);
    /// more get 429; 0 for no limit [default: 60].
    #[arg(long, env = "PARLOR_SIGNAL_TURN_REQUESTS_PER_MINUTE")]
    turn_requests_per_minute: Option<u32>,

    /// Apply the per-address limits to loopback clients too (off: local
    /// processes are trusted; a local proxy should use
    /// --trusted-proxy-header).
    #[arg(long, env = "PARLOR_SIGNAL_LIMIT_LOOPBACK")]
    limit_loopback: bool,

    /// Most rooms at once; a join that would create another is closed with
    /// 1013; 0 for no limit [default: 10000].
    #[arg(long, env = "PARLOR_SIGNAL_MAX_ROOMS")]
    max_rooms: Option<usize>,

    /// Bytes queued for one client at most; a client over it is closed with
    /// 1008; 0 for no limit [default: 1048576].
    #[arg(long, env = "PARLOR_SIGNAL_OUTBOX_BYTES")]
    outbox_bytes: Option<usize>,

    /// Bytes queued across all clients at most; the client a frame would
    /// take past it is closed with 1013; 0 for no limit [default: 268435456].
    #[arg(long, env = "PARLOR_SIGNAL_TOTAL_OUTBOX_BYTES")]
    total_outbox_bytes: Option<usize>,

    /// Milliseconds between two peer lists to one member, at least; lists
    /// due sooner are merged; 0 sends every one [default: 200].
    #[arg(long, env = "PARLOR_SIGNAL_PEER_LIST_INTERVAL")]
    peer_list_interval: Option<u64>,

    /// Header a reverse proxy writes the client's address into (e.g.
    /// X-Forwarded-For; the last entry counts). Only set it behind such a
    /// proxy: without it, the header is never read.
    #[arg(long, env = "PARLOR_SIGNAL_TRUSTED_PROXY_HEADER")]
    trusted_proxy_header: Option<String>,

    /// Web page origin allowed to open a WebSocket, e.g.
    /// https://chat.example.org (repeatable; comma-separated in the
    /// environment variable). Default: any. Clients that send no Origin
    /// (apps, parlor-peer) always pass.
    #[arg(
        long = "allowed-origin",
        env = "PARLOR_SIGNAL_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,

    /// Serve /metrics on this address instead (e.g. 127.0.0.1:9199).
    /// Default: /metrics on the main address, for loopback clients only.
    #[arg(long, env = "PARLOR_SIGNAL_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,

    /// STUN URL handed out at /turn, e.g. stun:stun.l.google.com:19302
    /// (repeatable; comma-separated in the environment variable).
    #[arg(long = "stun", env = "PARLOR_SIGNAL_STUN", value_delimiter = ',')]
    stun: Vec<String>,

    /// TURN URL handed out at /turn, e.g. turn:turn.example.org:3478
    /// (repeatable); needs --turn-username/--turn-credential or --turn-secret.
    #[arg(long = "turn", env = "PARLOR_SIGNAL_TURN", value_delimiter = ',')]
    turn: Vec<String>,

    /// Static TURN username.
    #[arg(
        long,
        env = "PARLOR_SIGNAL_TURN_USERNAME",
        requires = "turn_credential"
    )]
    turn_username: Option<String>,

    /// Static TURN password.
    #[arg(
        long,
        env = "PARLOR_SIGNAL_TURN_CREDENTIAL",
        requires = "turn_username"
    )]
    turn_credential: Option<String>,

    /// Secret shared with the TURN server (coturn `static-auth-secret`):
    /// hand out short-lived TURN REST API credentials instead of static ones.
    /// Visible to every local user in the process list; prefer
    /// --turn-secret-file.
    #[arg(
        long,
        env = "PARLOR_SIGNAL_TURN_SECRET",
        conflicts_with_all = ["turn_username", "turn_credential", "turn_secret_file"]
    )]
    turn_secret: Option<String>,

    /// File holding the --turn-secret (a trailing newline is ignored), so
    /// the secret never appears in the process list.
    #[arg(
        long,
        env = "PARLOR_SIGNAL_TURN_SECRET_FILE",
        conflicts_with_all = ["turn_username", "turn_credential"]
    )]
    turn_secret_file: Option<PathBuf>,

    /// Lifetime in seconds of the credentials /turn hands out (minted from
    /// the secret; coturn checks it only when a relay is allocated, so a
    /// relayed connection outlives it).
    #[arg(long, env = "PARLOR_SIGNAL_TURN_TTL", default_value_t = 600)]
    turn_ttl: u64,

    /// Lifetime in seconds of the credentials each Parlor member gets over
    /// its socket; it gets fresh ones after two thirds of it. At least 1.
    #[arg(long, env = "PARLOR_SIGNAL_TURN_MEMBER_TTL", default_value_t = 600)]
    turn_member_ttl: u64,

    /// Hand out no TURN server at /turn (only the STUN servers): TURN is
    /// then for Parlor members alone, who get it over their socket. The old
    /// library's browser clients still connect, without a relay.
    #[arg(long, env = "PARLOR_SIGNAL_NO_OPEN_TURN")]
    no_open_turn: bool,

    /// PEM certificate chain: serve wss/https (needs --tls-key).
    #[arg(long, env = "PARLOR_SIGNAL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "PARLOR_SIGNAL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Share rooms with other nodes through this Redis
    /// (redis://[user:password@]host[:port][/db]); members of a room may
    /// then use any node. Without it, this process alone holds its rooms.
    #[arg(long, env = "PARLOR_SIGNAL_REDIS")]
    redis: Option<String>,

    /// Seconds after its last heartbeat a node counts as dead and its
    /// members leave every room; nodes beat every quarter of it
    /// [default: 5].
    #[arg(long, env = "PARLOR_SIGNAL_REDIS_NODE_TIMEOUT", requires = "redis")]
    redis_node_timeout: Option<u64>,
}

impl Args {
    fn into_config(self) -> anyhow::Result<Config> {
        let defaults = Config::default();
        let turn_secret = match (self.turn_secret, &self.turn_secret_file) {
            (Some(secret), _) => Some(secret),
            (None, Some(path)) => Some(read_secret_file(path)?),
            (None, None) => None,
        };
        let turn = match (
            self.turn.is_empty(),
            self.turn_username,
            self.turn_credential,
        ) {
            (true, None, None) if turn_secret.is_none() => None,
            (true, _, _) => bail!("TURN credentials given without --turn URL"),
            (false, Some(username), Some(credential)) => Some(TurnServer {
                urls: self.turn,
                auth: TurnAuth::Static {
                    username,
                    credential,
                },
            }),
            (false, _, _) => match turn_secret {
                Some(secret) => Some(TurnServer {
                    urls: self.turn,
                    auth: TurnAuth::SharedSecret {
                        secret,
                        ttl: Duration::from_secs(self.turn_ttl),
                        member_ttl: Duration::from_secs(self.turn_member_ttl),
                    },
                }),
                None => bail!(
                    "--turn needs --turn-username and --turn-credential, or --turn-secret(-file)"
                ),
            },
        };
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsConfig::from_pem_files(&cert, &key).context("cannot use the TLS certificate")?,
            ),
            _ => None,
        };
        Ok(Config {
            listen: self.listen,
            connection_threads: self.threads.unwrap_or(defaults.connection_threads),
            max_message_size: self.max_message_size.unwrap_or(defaults.max_message_size),
            max_peers_per_room: self
                .max_peers_per_room
                .unwrap_or(defaults.max_peers_per_room),
            ping_interval: self
                .ping_interval
                .map_or(defaults.ping_interval, Duration::from_secs),
            pong_timeout: self
                .pong_timeout
                .map_or(defaults.pong_timeout, Duration::from_secs),
            id_reservation: self
                .id_reservation
                .map_or(defaults.id_reservation, Duration::from_secs),
            rate_limit: RateLimit {
                messages_per_second: self
                    .rate_limit
                    .unwrap_or(defaults.rate_limit.messages_per_second),
                burst: self.rate_burst.unwrap_or(defaults.rate_limit.burst),
            },
            byte_rate_limit: byte_rate(
                self.byte_rate_limit,
                self.byte_rate_burst,
                defaults.byte_rate_limit,
            ),
            room_fanout_limit: byte_rate(
                self.room_fanout_rate,
                self.room_fanout_burst,
                defaults.room_fanout_limit,
            ),
            error_limit: defaults.error_limit,
            header_read_timeout: self
                .header_read_timeout
                .map_or(defaults.header_read_timeout, Duration::from_secs),
            upgrade_timeout: self
                .upgrade_timeout
                .map_or(defaults.upgrade_timeout, Duration::from_secs),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            accept_rate: AcceptRate {
                per_second: self.accept_rate.unwrap_or(defaults.accept_rate.per_second),
                burst: self.accept_burst.unwrap_or(defaults.accept_rate.burst),
            },
            socket_send_buffer: self
                .socket_send_buffer
                .unwrap_or(defaults.socket_send_buffer),
            max_connections_per_address: self
                .max_connections_per_address
                .unwrap_or(defaults.max_connections_per_address),
            joins_per_minute: self.joins_per_minute.unwrap_or(defaults.joins_per_minute),
            turn_requests_per_minute: self
                .turn_requests_per_minute
                .unwrap_or(defaults.turn_requests_per_minute),
            limit_loopback: self.limit_loopback || defaults.limit_loopback,
            max_rooms: self.max_rooms.unwrap_or(defaults.max_rooms),
            outbox_bytes: self.outbox_bytes.unwrap_or(defaults.outbox_bytes),
            total_outbox_bytes: self
                .total_outbox_bytes
                .unwrap_or(defaults.total_outbox_bytes),
            peer_list_interval: self
                .peer_list_interval
                .map_or(defaults.peer_list_interval, Duration::from_millis),
            trusted_proxy_header: self.trusted_proxy_header,
            allowed_origins: self.allowed_origins,
            metrics_listen: self.metrics_listen,
            ice: IceConfig {
                stun_urls: self.stun,
                turn,
                open_turn: !self.no_open_turn,
            },
            tls,
            redis: self.redis.map(|url| {
                let mut redis = RedisConfig::new(url);
                if let Some(seconds) = self.redis_node_timeout {
                    redis.node_timeout = Duration::from_secs(seconds.max(1));
                }
                redis
            }),
        })
    }
}

/// The TURN secret kept in `path`: its whole content but a trailing line
/// break (what `echo secret > file` leaves), which is no part of the
/// secret coturn reads from its own configuration.
fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the TURN secret from {}", path.display()))?;
    let secret = content.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        bail!("the TURN secret file {} is empty", path.display());
    }
    Ok(secret.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let certificate = args.tls_cert.clone().zip(args.tls_key.clone());
    let config = args.into_config()?;

    // Every client is a file descriptor; the soft limit is often far below
    // what the system allows.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "cannot raise the open-files limit");
    }

    // Listened for before the address is printed: whoever reads it (a
    // service manager, a test) may send SIGTERM at once, and a signal that
    // came before its handler would kill the process without a goodbye.
    let signals = Signals::listen()?;
    let server = Server::start(config).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.local_addr())?;
    stdout.flush()?;
    drop(stdout);

    wait_for_signal(signals, &server, certificate.as_ref()).await;
    server.shutdown().await;
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (service managers, `kill`). On
/// SIGHUP, reads the TLS certificate and key again and serves them from the
/// next handshake on, so a renewed certificate needs no restart and drops no
/// one; a file that does not load leaves the current certificate in place.
async fn wait_for_signal(
    mut signals: Signals,
    server: &Server,
    certificate: Option<&(PathBuf, PathBuf)>,
) {
    loop {
        tokio::select! {
            _ = signals.interrupt.recv() => return,
            _ = signals.terminate.recv() => return,
            _ = signals.hangup.recv() => match certificate {
                Some((cert, key)) => match TlsConfig::from_pem_files(cert, key) {
                    Ok(fresh) => {
                        server.replace_tls(&fresh);
                        tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                    }
                    Err(error) => tracing::error!(
                        %error,
                        "cannot reload the TLS certificate; still serving the previous one"
                    ),
                },
                None => tracing::info!("SIGHUP: no TLS certificate to reload"),
            },
        }
    }
}

/// The signals the server answers: SIGINT (Ctrl-C) and SIGTERM stop it,
/// SIGHUP reloads the TLS certificate.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        })
    }
}

/// A byte rate from its two flags, each falling back to its default.
fn byte_rate(rate: Option<u32>, burst: Option<u32>, default: ByteRateLimit) -> ByteRateLimit {
    ByteRateLimit {
        bytes_per_second: rate.unwrap_or(default.bytes_per_second),
        burst: burst.unwrap_or(default.burst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file named for the test in a fresh directory, with `content`.
    fn secret_file(test: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("parlor-signal-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("turn-secret");
        std::fs::write(&path, content).unwrap();
        path
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("parlor-signal").chain(args.iter().copied()))
    }

    fn minted_secret(config: &Config) -> Option<&str> {
        match &config.ice.turn.as_ref()?.auth {
            TurnAuth::SharedSecret { secret, .. } => Some(secret),
            TurnAuth::Static { .. } => None,
        }
    }

    #[test]
    fn the_turn_secret_file_is_read_without_its_trailing_newline() {
        let path = secret_file("newline", "s3cret \n");
        let path = path.to_str().unwrap();
        let args = parse(&["--turn", "turn:t.example:3478", "--turn-secret-file", path]).unwrap();
        let config = args.into_config().unwrap();
        assert_eq!(minted_secret(&config), Some("s3cret "));
    }

    #[test]
    fn an_empty_turn_secret_file_is_refused() {
        let path = secret_file("empty", "\n");
        let error = read_secret_file(&path).unwrap_err();
        assert!(error.to_string().contains("is empty"), "{error}");
    }

    #[test]
    fn an_unreadable_turn_secret_file_is_refused_naming_it() {
        let path = std::env::temp_dir().join("parlor-signal-no-such-dir/turn-secret");
        let error = read_secret_file(&path).unwrap_err();
        assert!(error.to_string().contains("no-such-dir"), "{error}");
    }

    #[test]
    fn turn_secret_and_turn_secret_file_conflict() {
        let error = parse(&[
            "--turn",
            "turn:t.example:3478",
            "--turn-secret",
            "x",
            "--turn-secret-file",
            "/dev/null",
        ])
        .unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn room_fanout_flags_set_each_rooms_byte_budget() {
        let args = parse(&["--room-fanout-rate", "1000", "--room-fanout-burst", "70000"]).unwrap();
        let config = args.into_config().unwrap();
        let expected = ByteRateLimit {
            bytes_per_second: 1000,
            burst: 70_000,
        };
        assert_eq!(config.room_fanout_limit, expected);
    }

    #[test]
    fn turn_credentials_last_ten_minutes_by_default() {
        let args = parse(&["--turn", "turn:t.example:3478", "--turn-secret", "x"]).unwrap();
        let config = args.into_config().unwrap();
        let Some(TurnServer {
            auth: TurnAuth::SharedSecret {
                ttl, member_ttl, ..
            },
            ..
        }) = config.ice.turn
        else {
            panic!("no shared-secret TURN server in {:?}", config.ice);
        };
        assert_eq!(ttl, Duration::from_secs(600));
        assert_eq!(member_ttl, Duration::from_secs(600));
        assert!(config.ice.open_turn);
    }
}
