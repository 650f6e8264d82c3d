//! One WebSocket connection, from upgrade to close: join checks, reading and
//! relaying frames, liveness, and the close handshake.
//!
//! Each connection runs two tasks. This one reads; a writer task owns the
//! socket's sending half and drains the member's outbox. Splitting them means
//! a client that stops reading can stall only its own writer, never the
//! reader that watches its liveness or other members' deliveries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use parlor_protocol::{
    ErrorCode, IdKey, JoinRejection, PeerId, RoomName, ServerMessage, TokenError, close_code,
};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::Instrument;

use crate::admission::AddressPermit;
use crate::deadlines::Deadlines;
use crate::limits::{ErrorCounter, TokenBucket};
use crate::listener::ConnectionSlot;
use crate::metrics::Limit;
use crate::outbox::{End, Outbox, OutboxReceiver};
use crate::relay::{self, Refusal};
use crate::room::{JoinRefusal, Membership, RelayRefusal};
use crate::server::Shared;
use crate::socket::ClientIo;
use crate::turn;

/// How long the server waits for a client to answer its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// RFC 6455 "try again later": the server is at a capacity limit.
pub(crate) const TRY_AGAIN_LATER: u16 = 1013;

/// What a client asked for in its upgrade request, checked or not.
pub(crate) struct JoinRequest {
    /// The room, or why its name is invalid.
    pub(crate) room: Result<RoomName, String>,
    pub(crate) peer: Result<PeerId, TokenError>,
    pub(crate) parlor: bool,
    /// The proof that the id is the client's own (Parlor clients).
    pub(crate) key: Result<Option<IdKey>, TokenError>,
    pub(crate) remote: SocketAddr,
    /// The address the per-address limits counted (the proxy's word for
    /// it, behind a trusted proxy).
    pub(crate) client: std::net::IpAddr,
    /// Its place in the connection count, given back when it ends.
    pub(crate) slot: ConnectionSlot,
    /// Its place in its address's count, behind a trusted proxy.
    pub(crate) address: Option<AddressPermit>,
}

/// Why the read loop ended.
enum Ending {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// The client stopped answering pings.
    Silent,
    /// The server ends the connection with this close code and reason.
    Close(u16, &'static str),
}

/// Counts the connection in [`Shared::connections`] while it lives, so
/// shutdown can wait for every connection to finish. Its start (the
/// handshake's buffers are gone) and its end free memory in bulk: both ask
/// for a trim ([`crate::memory`]).
struct OpenConnection<'a>(&'a Shared);

impl<'a> OpenConnection<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.connections.send_modify(|open| *open += 1);
        shared.memory.freed();
        Self(shared)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0
            .connections
            .send_modify(|open| *open = open.saturating_sub(1));
        self.0.memory.freed();
    }
}

type Socket = WebSocketStream<ClientIo>;
type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;

/// Runs a freshly upgraded connection to its end, on its room's connection
/// thread (see [`crate::shards`]); `early` is what the client sent past its
/// request.
pub(crate) fn spawn(
    socket: ClientIo,
    early: Bytes,
    config: WebSocketConfig,
    request: JoinRequest,
    shared: Arc<Shared>,
) {
    let id = shared.next_connection_id();
    let span = if request.client == request.remote.ip() {
        tracing::info_span!("conn", id, remote = %request.remote)
    } else {
        tracing::info_span!("conn", id, remote = %request.remote, client = %request.client)
    };
    // Copied: `early` is a view into hyper's whole 8 KiB read buffer, which
    // would otherwise stay allocated for as long as the connection lives.
    let early = early.to_vec();
    let room = request.room.as_ref().ok().cloned();
    let threads = Arc::clone(&shared);
    // `serve` itself is the task, not a block around it: what a block
    // captures stays in the task for the connection's whole life (about
    // 0.4 KiB per idle connection). Its arguments would too, so they come
    // boxed, and the box goes once they are unpacked.
    let start = Box::new(Start {
        socket,
        early,
        config,
        request,
        shared,
    });
    let run = serve(start).instrument(span);
    match room {
        Some(room) => threads.shards.spawn_for(&room, run),
        // Refused at once: any thread will do.
        None => threads.shards.spawn(run),
    };
}

/// What [`serve`] starts from.
struct Start {
    socket: ClientIo,
    /// What the client sent past its request.
    early: Vec<u8>,
    config: WebSocketConfig,
    request: JoinRequest,
    shared: Arc<Shared>,
}

/// Serves one connection. Every idle connection holds this future whole,
/// and a future is as large as its largest await: the awaits off the idle
/// path (refusals, a cluster join, the close) are boxed so that the read
/// loop's is the largest (2.1 KiB before, 1.5 KiB after).
async fn serve(start: Box<Start>) {
    let Start {
        mut socket,
        early,
        config,
        mut request,
        shared,
    } = *start;
    if let Err(error) = socket.rehome() {
        tracing::debug!(%error, "socket lost moving to its connection thread");
        return;
    }
    let socket = WebSocketStream::from_partially_read(socket, early, Role::Server, Some(config));
    let (mut sink, mut stream) = socket.await.split();
    let shared = &*shared;
    let _open = OpenConnection::new(shared);
    let _slot = request.slot.clone();
    let _address = request.address.take();
    shared.metrics.connection_opened();
    let (room, peer, key) = match valid(request.room, request.peer, request.key) {
        Ok(valid) => valid,
        Err((rejection, message)) => {
            return Box::pin(reject(sink, stream, rejection, message, shared)).await;
        }
    };
    let (outbox, frames) = Outbox::new(Arc::clone(&shared.outbox_budget));
    // After the outbox is registered: a shutdown from now on reaches it
    // (see `OutboxBudget::shut_down_all`), one before is seen here.
    if *shared.shutdown.borrow() {
        let reason = "server shutting down";
        return Box::pin(close_and_drain(
            &mut sink,
            &mut stream,
            close_code::GOING_AWAY,
            reason,
        ))
        .await;
    }
    // Only Parlor clients get their ICE servers over the socket: the old
    // library's clients take theirs from `/turn` (and would ignore it).
    let ice = request
        .parlor
        .then(|| turn::member_ice_servers(&shared.config.ice, &peer, SystemTime::now()))
        .flatten();
    let (first, ice_refresh) = match ice {
        Some(ice) => (Some(ice.frame.into()), ice.refresh_in),
        None => (None, None),
    };
    let joined = match &shared.cluster {
        Some(cluster) => {
            Box::pin(cluster.join(
                &shared.rooms,
                room,
                peer.clone(),
                request.parlor,
                key,
                outbox.clone(),
                first,
            ))
            .await
        }
        None => shared.rooms.join(
            room,
            peer.clone(),
            request.parlor,
            key,
            outbox.clone(),
            first,
        ),
    };
    let membership = match joined {
        Ok(membership) => membership,
        Err(refusal) => {
            let message = match refusal {
                JoinRefusal::Taken => format!("peer id {peer} is already taken in this room"),
                JoinRefusal::Reserved => format!(
                    "peer id {peer} belongs to a member who is reconnecting; only it can take it back"
                ),
                JoinRefusal::Full => format!(
                    "room is full ({} members at most)",
                    shared.config.max_peers_per_room
                ),
                JoinRefusal::TooManyRooms | JoinRefusal::Unavailable => {
                    let reason = if refusal == JoinRefusal::TooManyRooms {
                        shared.limit_exceeded(
                            Limit::Rooms,
                            request.client,
                            "join refused: too many rooms",
                        );
                        "server has too many rooms; try again later"
                    } else {
                        "the cluster's store is unreachable; try again later"
                    };
                    return Box::pin(close_and_drain(
                        &mut sink,
                        &mut stream,
                        TRY_AGAIN_LATER,
                        reason,
                    ))
                    .await;
                }
            };
            match refusal.rejection() {
                Some(rejection) => {
                    return Box::pin(reject(sink, stream, rejection, message, shared)).await;
                }
                None => return,
            }
        }
    };
    tracing::info!(%peer, parlor = request.parlor, "joined");

    let write_timeout = shared.config.pong_timeout;
    let mut writer = tokio::spawn(write_frames(sink, frames, write_timeout).in_current_span());
    // A client that reconnects gets the rate buckets its address left, not
    // a fresh burst.
    let address = shared.address_key(request.client);
    let now = std::time::Instant::now();
    let (rate, bytes) = address
        .and_then(|key| shared.rate_memory.recall(key))
        .unwrap_or_else(|| {
            (
                TokenBucket::new(shared.config.rate_limit, now),
                TokenBucket::bytes(shared.config.byte_rate_limit, now),
            )
        });
    let mut reader = Reader {
        shared,
        peer: &peer,
        membership: &membership,
        outbox: &outbox,
        client: request.client,
        rate,
        bytes,
        errors: ErrorCounter::new(shared.config.error_limit, now),
        deadlines: Deadlines::new(
            now,
            shared.config.ping_interval,
            shared.config.pong_timeout,
            ice_refresh,
        ),
    };
    let ending = reader.read(&mut stream, &writer).await;
    if let Some(key) = address {
        let Reader { rate, bytes, .. } = reader;
        shared
            .rate_memory
            .remember(key, rate, bytes, std::time::Instant::now());
    }
    // Leave before the close handshake so the room hears of it at once.
    drop(membership);

    match ending {
        Ending::Close(code, reason) => {
            // Closes for misbehaviour are sampled like refusals: a flood of
            // them must not flood the log.
            let routine = matches!(code, close_code::GOING_AWAY | close_code::DUPLICATE_PEER_ID);
            if routine {
                tracing::info!(%peer, code, reason, "closing");
            } else if let Some(suppressed) = shared.refusal_log.sample(std::time::Instant::now()) {
                tracing::info!(%peer, code, reason, suppressed, "closing");
            }
            // The writer sends what is queued, then the close frame; then the
            // client's close frame (or the grace period) ends the read side.
            outbox.close(code, reason);
            let finish = async {
                if !writer.is_finished() {
                    let _ = (&mut writer).await;
                    drain_until_closed(&mut stream).await;
                }
            };
            let _ = Box::pin(timeout(CLOSE_GRACE, finish)).await;
        }
        Ending::Silent => tracing::info!(%peer, "dropped: no answer to pings"),
        Ending::Gone => tracing::info!(%peer, "left"),
    }
    writer.abort();
}

/// The room, peer id and key a client asked for, or why its join is
/// refused.
fn valid(
    room: Result<RoomName, String>,
    peer: Result<PeerId, TokenError>,
    key: Result<Option<IdKey>, TokenError>,
) -> Result<(RoomName, PeerId, Option<IdKey>), (JoinRejection, String)> {
    let room = room.map_err(|error| {
        let message = format!("invalid room name: {error}");
        (JoinRejection::InvalidRoom, message)
    })?;
    let peer = peer.map_err(|error| {
        let message = format!("invalid peer id (_pk): {error}");
        (JoinRejection::InvalidPeerId, message)
    })?;
    let key = key.map_err(|error| {
        let message = format!("invalid id key (key): {error}");
        (JoinRejection::InvalidPeerId, message)
    })?;
    Ok((room, peer, key))
}

/// Refuses a join: an error frame first (browsers cannot read the HTTP
/// status of an upgrade), then the close code for the rejection.
async fn reject(
    mut sink: Sink,
    mut stream: Stream,
    rejection: JoinRejection,
    message: String,
    shared: &Shared,
) {
    if let Some(suppressed) = shared.refusal_log.sample(std::time::Instant::now()) {
        tracing::info!(code = %rejection.error_code(), %message, suppressed, "join refused");
    }
    shared.metrics.error(rejection.error_code());
    let frame = ServerMessage::error(rejection.error_code(), message).to_json();
    if timeout(CLOSE_GRACE, sink.send(Message::Text(frame.into())))
        .await
        .is_ok_and(|sent| sent.is_ok())
    {
        let reason = match rejection {
            JoinRejection::InvalidRoom => "invalid room name",
            JoinRejection::InvalidPeerId => "invalid peer id",
            JoinRejection::DuplicatePeerId => "duplicate peer id",
            JoinRejection::RoomFull => "room full",
        };
        close_and_drain(&mut sink, &mut stream, rejection.close_code(), reason).await;
    }
}

/// The longest a connection over its rate goes unread (see
/// [`Reader::pause_after_refusal`]); well below the pong timeout.
const MAX_READ_PAUSE: Duration = Duration::from_secs(2);

/// Frames read after our close frame while waiting for the client's; a
/// flooder that ignores the close is cut off after these instead of being
/// read at line rate for the whole grace period.
const MAX_FRAMES_AFTER_CLOSE: usize = 16;

/// Reads (and discards) until the client's close frame, the end of the
/// stream, or [`MAX_FRAMES_AFTER_CLOSE`] other frames.
async fn drain_until_closed(stream: &mut Stream) {
    for _ in 0..MAX_FRAMES_AFTER_CLOSE {
        match stream.next().await {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
            Some(Ok(_)) => {}
        }
    }
}

/// Sends a close frame and waits, briefly, for the client's.
async fn close_and_drain(sink: &mut Sink, stream: &mut Stream, code: u16, reason: &'static str) {
    let handshake = async {
        if sink.send(close_message(code, reason)).await.is_ok() {
            drain_until_closed(stream).await;
        }
    };
    let _ = timeout(CLOSE_GRACE, handshake).await;
}

fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// The reading half of a member's connection.
struct Reader<'a> {
    shared: &'a Shared,
    peer: &'a PeerId,
    membership: &'a Membership,
    /// The member's own outbox, for error frames.
    outbox: &'a Outbox,
    /// Its address, for logs of refusals.
    client: std::net::IpAddr,
    /// Frames per second.
    rate: TokenBucket,
    /// Bytes per second.
    bytes: TokenBucket,
    errors: ErrorCounter,
    /// Pings, silence, fresh ICE servers (its TURN credentials would
    /// otherwise run out while it stays) and the pause after a frame
    /// refused for its rate (see [`Reader::pause_after_refusal`]).
    deadlines: Deadlines,
}

impl Reader<'_> {
    /// Reads until the connection should end, and says why.
    ///
    /// This loop runs once per relayed frame, so what it waits on is made
    /// once, not per frame, and is small, as every idle connection holds
    /// it: one timer for every deadline (see [`crate::deadlines`]), and one
    /// wait for the server to end the connection (made in the `select!`, a
    /// wait registered with its `Notify` and left it again on every frame).
    async fn read(&mut self, stream: &mut Stream, writer: &JoinHandle<()>) -> Ending {
        let timer = tokio::time::sleep_until(self.deadlines.next().into());
        tokio::pin!(timer);
        let outbox = self.outbox;
        let ended = outbox.ended();
        tokio::pin!(ended);

        loop {
            tokio::select! {
                incoming = stream.next(), if !self.deadlines.paused() => {
                    let message = match incoming {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => return ending_for(error),
                        None => return Ending::Gone,
                    };
                    // The one clock reading for this frame, rates and relay
                    // included.
                    let now = std::time::Instant::now();
                    self.deadlines.heard(now);
                    if let Some(ending) = self.handle(message, now) {
                        return ending;
                    }
                    // A pause is the one deadline a frame can bring closer.
                    if self.deadlines.paused() {
                        timer.as_mut().reset(self.deadlines.next().into());
                    }
                }
                () = &mut timer => {
                    let due = self.deadlines.due(std::time::Instant::now());
                    if due.silent {
                        return Ending::Silent;
                    }
                    if due.ping {
                        if writer.is_finished() {
                            // The writer gave up on this client.
                            return Ending::Gone;
                        }
                        outbox.ping();
                    }
                    if due.refresh {
                        self.send_ice_servers();
                    }
                    timer.as_mut().reset(self.deadlines.next().into());
                }
                end = &mut ended => return self.ending_for(end),
            }
        }
    }

    /// How the connection ends when the server ends it.
    fn ending_for(&self, end: End) -> Ending {
        match end {
            End::Overflow(limit) => {
                self.shared
                    .limit_exceeded(limit, self.client, "closed: outbox over its budget");
                match limit {
                    Limit::OutboxTotal => {
                        Ending::Close(TRY_AGAIN_LATER, "server send buffers are full")
                    }
                    _ => Ending::Close(close_code::POLICY_VIOLATION, "not reading fast enough"),
                }
            }
            End::Replaced => Ending::Close(
                close_code::DUPLICATE_PEER_ID,
                "replaced by a newer connection of the same peer",
            ),
            End::ShuttingDown => Ending::Close(close_code::GOING_AWAY, "server shutting down"),
        }
    }

    /// Queues fresh ICE servers (new TURN credentials) for the member.
    fn send_ice_servers(&self) {
        let ice = turn::member_ice_servers(&self.shared.config.ice, self.peer, SystemTime::now());
        if let Some(ice) = ice {
            self.outbox.push(ice.frame.into());
        }
    }

    /// Handles one frame; `Some` ends the connection.
    fn handle(&mut self, message: Message, now: std::time::Instant) -> Option<Ending> {
        let refusal = match message {
            Message::Text(text) => {
                if !self.rate.try_take(now) {
                    self.shared
                        .limit_exceeded(Limit::FrameRate, self.client, "frame refused");
                    self.pause_after_refusal(self.rate.time_until(1.0, now), now);
                    Refusal::new(ErrorCode::RateLimited, "sending too fast; frame dropped")
                } else if !self.bytes.try_take_n(text.len() as f64, now) {
                    self.shared
                        .limit_exceeded(Limit::ByteRate, self.client, "frame refused");
                    let largest = self.shared.config.max_message_size as f64;
                    self.pause_after_refusal(self.bytes.time_until(largest, now), now);
                    Refusal::new(
                        ErrorCode::RateLimited,
                        "sending too many bytes per second; frame dropped",
                    )
                } else {
                    self.relay(&text, now).err()?
                }
            }
            Message::Binary(_) => Refusal::new(
                ErrorCode::BinaryFrame,
                "binary frames are not relayed; send JSON text",
            ),
            // Pongs only prove liveness (already noted); pings are answered
            // by the WebSocket library; a close is answered on the next read;
            // raw frames are only ever written, never read.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {
                return None;
            }
        };
        tracing::debug!(code = %refusal.code, message = %refusal.message, "frame refused");
        self.shared.metrics.error(refusal.code);
        self.outbox.push(
            ServerMessage::error(refusal.code, refusal.message)
                .to_json()
                .into(),
        );
        self.errors.record(now).then_some(Ending::Close(
            close_code::POLICY_VIOLATION,
            "too many errors",
        ))
    }

    /// After a frame refused for its rate, reads nothing more from the
    /// client until its budget could take a frame again (`wait`; at most
    /// [`MAX_READ_PAUSE`], also when it never refills). What it sends
    /// meanwhile waits in the socket, so TCP slows the sender down: a
    /// flooder costs the server one refusal per refill instead of reading,
    /// parsing and refusing every frame it can push.
    fn pause_after_refusal(&mut self, wait: Option<Duration>, now: std::time::Instant) {
        let wait = wait.unwrap_or(MAX_READ_PAUSE).min(MAX_READ_PAUSE);
        if !wait.is_zero() {
            self.deadlines.pause(now + wait);
        }
    }

    fn relay(&self, text: &str, now: std::time::Instant) -> Result<(), Refusal> {
        let relay = relay::prepare(text, self.peer, self.shared.config.max_message_size)?;
        match self.membership.relay(relay.to.as_deref(), relay.text, now) {
            Ok(_) => Ok(()),
            Err(RelayRefusal::UnknownPeer) => Err(Refusal::new(
                ErrorCode::UnknownPeer,
                format!(
                    "no other member {:?} in this room",
                    relay.to.unwrap_or_default()
                ),
            )),
            Err(RelayRefusal::RoomFanout) => {
                self.shared
                    .limit_exceeded(Limit::RoomFanout, self.client, "frame refused");
                Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "this room is relaying more bytes per second than the server allows; frame dropped",
                ))
            }
        }
    }
}

/// A read error ends the connection; a frame beyond the hard limit gets a
/// 1009 close, anything else (reset, protocol violation) just ends it.
fn ending_for(error: WsError) -> Ending {
    match error {
        WsError::Capacity(_) => Ending::Close(close_code::MESSAGE_TOO_BIG, "frame too large"),
        error => {
            tracing::debug!(%error, "read failed");
            Ending::Gone
        }
    }
}

/// The writing half: sends what the outbox holds (pings first, then frames,
/// all in one flush) until told to close, or a write takes longer than
/// `write_timeout`.
async fn write_frames(mut sink: Sink, mut outbox: OutboxReceiver, write_timeout: Duration) {
    loop {
        let work = outbox.ready().await;
        let batch = async {
            if work.ping {
                sink.feed(Message::Ping(Bytes::new())).await?;
            }
            while let Some(frame) = outbox.next_frame() {
                sink.feed(Message::Text(frame)).await?;
            }
            match work.close {
                Some((code, reason)) => sink.send(close_message(code, reason)).await,
                None => sink.flush().await,
            }
        };
        tokio::pin!(batch);
        // Most batches go out at once: the timer (a clock reading and a
        // timer-wheel entry per batch) is only set for one the socket
        // holds back.
        let first = std::future::poll_fn(|cx| Poll::Ready(batch.as_mut().poll(cx))).await;
        let result = match first {
            Poll::Ready(result) => Ok(result),
            Poll::Pending => timeout(write_timeout, batch).await,
        };
        match result {
            Ok(Ok(())) if work.close.is_none() => {}
            Ok(Ok(())) => return,
            Ok(Err(error)) => {
                tracing::debug!(%error, "write failed");
                return;
            }
            Err(_) => {
                tracing::info!("write timed out; client is not reading");
                return;
            }
        }
    }
}
