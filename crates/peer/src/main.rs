//! `parlor-peer`: the Parlor engine in a terminal.
//!
//! `parlor-peer create --server WS_URL` makes a room and prints its link as
//! the first line on stdout; `parlor-peer join LINK` joins one. Both read
//! chat messages from stdin, one per line (`/send PATH` offers a file or a
//! folder instead), and leave the room at end of
//! input. Every engine event is written to stdout as one JSON object per line
//! (with an `"event"` field), so scripts and tests can follow along; logs go
//! to stderr (`RUST_LOG`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use parlor_engine::{
    Event, EventKind, IceServer, Identity, JoinError, LogRateLimit, Recovered, Room, RoomConfig,
    RoomLink, ServerUrl, Store,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(
    version,
    about = "Parlor's headless peer: chat in a room from a terminal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Create a room with an unguessable name, print its link, and stay in it.
    Create {
        /// The signaling server, e.g. ws://127.0.0.1:1999.
        #[arg(long, env = "PARLOR_SERVER")]
        server: String,
    },
    /// Join the room of a link (parlor://join/<room>?server=...).
    Join {
        /// The room link.
        link: String,
    },
}

#[derive(Args)]
struct Options {
    /// Name shown to other Parlor peers.
    #[arg(long, global = true, env = "PARLOR_NAME")]
    name: Option<String>,
    /// Peer id to use in the room (default: random).
    #[arg(long, global = true, env = "PARLOR_PEER_ID")]
    peer_id: Option<String>,
    /// Local address for WebRTC sockets; repeat for several. The default
    /// binds every interface but loopback; use 127.0.0.1:0 on one machine.
    #[arg(
        long = "bind",
        global = true,
        env = "PARLOR_BIND",
        value_delimiter = ','
    )]
    bind: Vec<SocketAddr>,
    /// Extra STUN/TURN server URL; repeat for several.
    #[arg(
        long = "ice-server",
        global = true,
        env = "PARLOR_ICE_SERVERS",
        value_delimiter = ','
    )]
    ice_servers: Vec<String>,
    /// Take no ICE servers from the signaling server (neither its /turn
    /// answer nor those it sends members): only the --ice-server ones.
    #[arg(long, global = true)]
    no_fetch_ice_servers: bool,
    /// Keep this peer's identity (its DTLS certificate) in FILE, made on
    /// first use; without it, every run is a new identity.
    #[arg(long, global = true, env = "PARLOR_IDENTITY")]
    identity: Option<PathBuf>,
    /// Keep messages in FILE (an SQLite database, made on first use): the
    /// history, and what a peer has not acknowledged, delivered when it is
    /// back, after either side restarts. Without --identity, the identity
    /// is kept beside it (FILE.identity.pem), since delivery after a restart
    /// recognises peers by identity.
    #[arg(long, global = true, env = "PARLOR_STORE")]
    store: Option<PathBuf>,
    /// Take every file a peer offers, into DIR (made if missing). Without
    /// it, offers are printed (`file-offered`) and declined.
    #[arg(long, global = true, env = "PARLOR_ACCEPT_FILES", value_name = "DIR")]
    accept_files: Option<PathBuf>,
    /// Refuse any peer whose identity (certificate fingerprint, as another
    /// parlor-peer prints it in its `identity` event) is not FINGERPRINT.
    #[arg(long, global = true, value_name = "FINGERPRINT")]
    verify: Option<String>,
}

/// A stdin line that starts with this offers a file or folder instead of
/// saying it.
const SEND_COMMAND: &str = "/send ";

#[tokio::main]
async fn main() -> ExitCode {
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(LogRateLimit::new(env)),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("parlor-peer: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = tokio::io::stdout();
    let link = match &cli.command {
        Command::Create { server } => {
            let server: ServerUrl = server.parse().context("bad --server")?;
            let link = RoomLink::new_room(server);
            stdout.write_all(format!("{link}\n").as_bytes()).await?;
            stdout.flush().await?;
            link
        }
        Command::Join { link } => link.parse().context("bad room link")?,
    };

    let mut config = RoomConfig::new(link);
    config.display_name = cli.options.name;
    if let Some(id) = cli.options.peer_id {
        config.peer_id = id.parse().context("bad --peer-id")?;
    }
    if !cli.options.bind.is_empty() {
        config.bind_addrs = cli.options.bind;
    }
    config.fetch_ice_servers = !cli.options.no_fetch_ice_servers;
    // The store first: a directory it cannot be written in says so
    // before an identity file is tried there.
    if let Some(path) = &cli.options.store {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let (store, recovered) = Store::open_or_recover(path, now)?;
        if let Some(Recovered { moved_to, why }) = recovered {
            let notice = EventKind::Error {
                peer: None,
                message: format!(
                    "{why}; it was moved to {} and a fresh store started",
                    moved_to.display()
                ),
            };
            print_event(&mut stdout, &Event::now(notice)).await?;
        }
        config.store = Some(store);
    }
    let identity = cli.options.identity.clone().or_else(|| {
        cli.options
            .store
            .as_ref()
            .map(|store| PathBuf::from(format!("{}.identity.pem", store.display())))
    });
    if let Some(path) = &identity {
        config.identity = Some(Identity::load_or_create(path)?);
    }
    config.expected_fingerprint = cli.options.verify;
    let takes_files = cli.options.accept_files.is_some();
    config.accept_files = cli.options.accept_files;
    config.extra_ice_servers = cli
        .options
        .ice_servers
        .into_iter()
        .map(|url| IceServer {
            urls: vec![url],
            ..IceServer::default()
        })
        .collect();

    let (room, mut events) = match Room::join(config).await {
        Ok(joined) => joined,
        Err(error) => {
            // Scripts read stdout: the refusal is an event there too.
            print_event(
                &mut stdout,
                &Event::now(EventKind::JoinRefused {
                    reason: error.to_string(),
                    room_full: matches!(error, JoinError::RoomFull { .. }),
                }),
            )
            .await?;
            return Err(error.into());
        }
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut rejected = false;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    let result = match line.strip_prefix(SEND_COMMAND) {
                        Some(path) => room
                            .send_files(vec![PathBuf::from(path.trim())], None)
                            .await
                            .map(drop)
                            .map_err(|e| format!("cannot send {}: {e}", path.trim())),
                        None => room.send(line).await.map(drop).map_err(|e| e.to_string()),
                    };
                    if let Err(message) = result {
                        let error = Event::now(EventKind::Error { peer: None, message });
                        print_event(&mut stdout, &error).await?;
                    }
                }
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    room.leave();
                }
            },
            event = events.recv() => {
                let Some(event) = event else { break };
                let done = matches!(event.kind, EventKind::Left);
                if let EventKind::FileOffered { peer, transfer, .. } = &event.kind {
                    if !takes_files {
                        if let Ok(peer) = peer.parse() {
                            room.decline_files(peer, transfer.clone());
                        }
                    }
                }
                rejected |= matches!(event.kind, EventKind::JoinRefused { .. });
                print_event(&mut stdout, &event).await?;
                if done {
                    break;
                }
            }
        }
    }
    Ok(if rejected {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes one event as a JSON line and flushes it, so a script sees it now.
async fn print_event(stdout: &mut tokio::io::Stdout, event: &Event) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(event)?;
    line.push('\n');
    stdout.write_all(line.as_bytes()).await?;
    stdout.flush().await?;
    Ok(())
}
