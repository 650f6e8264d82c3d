//! One task per remote member: the I/O around its [`PeerSession`].
//!
//! Every decision about the peer (negotiation, chat, channel policy,
//! timers) is the session's; this task only translates. webrtc-rs events and
//! room inputs become session inputs, stamped with the time they happened;
//! session outputs become webrtc-rs calls, signaling frames and engine
//! events. Events of a connection that was replaced are dropped by their
//! generation tag, so they cannot confuse the new one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parlor_files::Manifest;
use parlor_protocol::{CHANNEL_LABEL, MessageId, PeerId, RoomName, safety_code};
use parlor_session::{
    ChannelId, IceConnectionState, OperationOutcome, Output, PeerSession, SessionConfig,
    SessionEvent, StackOp,
};
use parlor_store::DeliveryState;
use parlor_transport::{
    DataChannel, DataChannelEvent, PeerConnection, RTCDataChannelState, Route, SetupBoost,
    TransportConfig, build_peer_connection, selected_pair,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, error, info, warn};

use crate::events::{Event, EventKind, PathKind};
use crate::ledger::Ledger;
use crate::signaling::SignalingSender;
use crate::stack::{Forwarder, StackEvent, Tagged, connection_state, ice_state, run_stack_op};
use crate::transfers::Transfers;

/// A stack operation that takes longer than this is treated as failed, so a
/// wedged connection cannot stall the peer task (and with it, leaving).
const STACK_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a connection may take when leaving.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a peer task needs from its room.
pub(crate) struct PeerContext {
    pub session: SessionConfig,
    /// The room, which the safety code covers.
    pub room: RoomName,
    /// Our certificate's fingerprint.
    pub local_fingerprint: String,
    /// Where messages to and from the peer are kept.
    pub ledger: Ledger,
    /// Where offered files are taken without asking, if anywhere.
    pub accept_files: Option<PathBuf>,
    /// Where accepted files go.
    pub download_dir: Option<PathBuf>,
    pub transport: TransportConfig,
    pub signaling: SignalingSender,
    pub events: mpsc::UnboundedSender<Event>,
    pub notices: mpsc::UnboundedSender<PeerNotice>,
}

impl PeerContext {
    fn remote(&self) -> &PeerId {
        &self.session.remote
    }
}

/// What the room tells a peer task.
pub(crate) enum PeerInput {
    /// A negotiation message from the remote.
    Signal(parlor_session::SignalMessage),
    /// The remote turned out to be a Parlor peer.
    RemoteIsParlor,
    /// A chat message to deliver.
    Chat { id: MessageId, text: String },
    /// Offer these files to the peer.
    OfferFiles(Arc<Manifest>),
    /// Take the peer's offer `transfer` into `dir`.
    AcceptFiles { transfer: String, dir: PathBuf },
    /// Turn the peer's offer `transfer` down.
    DeclineFiles { transfer: String },
    /// Stop transfer `transfer`, either way.
    CancelTransfer { transfer: String },
    /// This machine's addresses changed; `removed` are gone.
    NetworkChanged { removed: Vec<IpAddr> },
    /// Close the connection and stop.
    Close,
}

/// What a peer task tells its room.
pub(crate) enum PeerNotice {
    /// The peer connection came up or went down.
    Connected { peer: PeerId, connected: bool },
    /// The peer proved this identity (certificate fingerprint).
    Identified { peer: PeerId, fingerprint: String },
    /// The session dropped the peer (another identity than expected, or
    /// over a bound), for `reason`; its task has ended.
    Dropped { peer: PeerId, reason: String },
}

/// The room's handle on a peer task.
pub(crate) struct PeerHandle {
    inputs: mpsc::UnboundedSender<PeerInput>,
    task: JoinHandle<()>,
    unacked: Arc<AtomicUsize>,
}

impl PeerHandle {
    /// Bytes of our messages handed to the peer task and not yet let go of
    /// by its session (acknowledged, or sent to an old client).
    pub(crate) fn unacked_bytes(&self) -> usize {
        self.unacked.load(Ordering::Relaxed)
    }

    /// Hands the peer a chat message, counted as unacknowledged at once so
    /// that a burst of sends is bounded before the task's next turn.
    pub(crate) fn send_chat(&self, id: MessageId, text: String) {
        self.unacked.fetch_add(text.len(), Ordering::Relaxed);
        self.send(PeerInput::Chat { id, text });
    }

    pub(crate) fn send(&self, input: PeerInput) {
        let _ = self.inputs.send(input);
    }

    /// Closes the connection and waits (briefly) until it is closed.
    pub(crate) async fn close(self) {
        let _ = self.inputs.send(PeerInput::Close);
        let _ = timeout(CLOSE_TIMEOUT, self.task).await;
    }
}

pub(crate) fn spawn(context: PeerContext) -> PeerHandle {
    let (inputs, inputs_rx) = mpsc::unbounded_channel();
    let unacked = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(run(context, inputs_rx, unacked.clone()));
    PeerHandle {
        inputs,
        task,
        unacked,
    }
}

/// The current peer connection and its open channels.
struct Connection {
    pc: Arc<dyn PeerConnection>,
    boost: SetupBoost,
    channels: HashMap<ChannelId, Arc<dyn DataChannel>>,
    /// The path last reported, to report it again only when ICE moves to
    /// another (after an ICE restart, a network change).
    path: Option<EventKind>,
    /// The local address that path leaves from.
    path_base: Option<IpAddr>,
}

struct PeerTask {
    context: PeerContext,
    session: PeerSession,
    start: Instant,
    generation: u64,
    next_channel: u64,
    connection: Option<Connection>,
    stack: mpsc::UnboundedSender<Tagged>,
    deadline: Option<Instant>,
    /// The session refused the peer: stop.
    refused: bool,
    /// Bytes of our messages the room handed over, or the store owed, that
    /// the session has not let go of yet.
    unacked: Arc<AtomicUsize>,
    /// The identity the peer proved, and whether it is a Parlor peer, as
    /// last written to the ledger.
    identified: Option<(String, bool)>,
    /// File transfers with the peer, both ways.
    transfers: Transfers,
}

async fn run(
    context: PeerContext,
    mut inputs: mpsc::UnboundedReceiver<PeerInput>,
    unacked: Arc<AtomicUsize>,
) {
    info!(peer = %context.remote(), "connecting to peer");
    let (stack, mut stack_rx) = mpsc::unbounded_channel();
    let (transfer_notices, mut transfer_rx) = mpsc::unbounded_channel();
    let transfers = Transfers::new(
        context.remote().to_string(),
        context.events.clone(),
        transfer_notices,
        (context.accept_files.clone(), context.download_dir.clone()),
        context.ledger.clone(),
    );
    let mut task = PeerTask {
        session: PeerSession::new(context.session.clone()),
        context,
        start: Instant::now(),
        generation: 0,
        next_channel: 0,
        connection: None,
        stack,
        deadline: None,
        refused: false,
        unacked,
        identified: None,
        transfers,
    };
    if let Err(message) = task.connect().await {
        task.emit(EventKind::Error {
            peer: Some(task.peer()),
            message,
        });
        return;
    }
    let mut released_before = 0;
    loop {
        task.drive().await;
        // The room counted each message when it handed it over; what the
        // session let go of since (acknowledged, or sent to an old client,
        // which never acknowledges) comes off.
        let released = task.session.released_bytes();
        task.unacked
            .fetch_sub(released - released_before, Ordering::Relaxed);
        released_before = released;
        if task.refused {
            break;
        }
        tokio::select! {
            input = inputs.recv() => match input {
                Some(PeerInput::Signal(message)) => {
                    let now = task.now();
                    task.session.handle_signal(message, now);
                }
                Some(PeerInput::RemoteIsParlor) => task.session.handle_remote_is_parlor(),
                Some(PeerInput::Chat { id, text }) => {
                    let bytes = text.len();
                    if let Some((fingerprint, false)) = &task.identified {
                        // An old client is never owed anything by identity
                        // (the room does not remember it), so its state
                        // needs a row of its own.
                        task.context.ledger.identified(fingerprint, false, std::slice::from_ref(&id));
                    }
                    if !task.session.send_chat(id, text) {
                        // Already queued (the store owed it first): the
                        // room's count of it comes off again.
                        task.unacked.fetch_sub(bytes, Ordering::Relaxed);
                    }
                }
                Some(PeerInput::OfferFiles(manifest)) => {
                    task.transfers.offer(manifest, &mut task.session);
                }
                Some(PeerInput::AcceptFiles { transfer, dir }) => {
                    task.transfers.accept(&transfer, dir, &mut task.session);
                }
                Some(PeerInput::DeclineFiles { transfer }) => {
                    task.transfers.decline(&transfer, "declined".into(), &mut task.session);
                }
                Some(PeerInput::CancelTransfer { transfer }) => {
                    task.transfers.cancel(&transfer, &mut task.session);
                }
                Some(PeerInput::NetworkChanged { removed }) => {
                    let lost = task.path_uses(&removed);
                    let now = task.now();
                    task.session.handle_network_change(lost, now);
                }
                Some(PeerInput::Close) | None => break,
            },
            Some(notice) = transfer_rx.recv() => task.transfers.notice(notice, &mut task.session),
            Some((generation, event)) = stack_rx.recv() => {
                if generation == task.generation {
                    task.on_stack_event(event).await;
                }
            }
            () = sleep_until(task.deadline.unwrap_or_else(far_future)), if task.deadline.is_some() => {
                let now = task.now();
                task.session.handle_timeout(now);
            }
        }
    }
    task.transfers.close();
    task.disconnect().await;
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

impl PeerTask {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn peer(&self) -> String {
        self.context.remote().to_string()
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.context.events.send(Event::now(kind));
    }

    fn notify(&self, notice: PeerNotice) {
        let _ = self.context.notices.send(notice);
    }

    /// Carries out what the session asks, until it asks nothing.
    async fn drive(&mut self) {
        loop {
            match self.session.poll_output() {
                Output::Signal(message) => self
                    .context
                    .signaling
                    .send(Some(self.context.remote()), message.to_json()),
                Output::Stack(op) => self.execute(op).await,
                Output::Transmit {
                    channel,
                    text,
                    message,
                } => self.transmit(channel, &text, message).await,
                Output::Event(event) => self.report(event).await,
                Output::Wait(deadline) => {
                    self.deadline = deadline.map(|at| self.start + at);
                    return;
                }
            }
        }
    }

    /// Builds a fresh peer connection with our `chat` channel on it; the
    /// channel makes the stack ask for negotiation.
    async fn connect(&mut self) -> Result<(), String> {
        self.generation += 1;
        let handler = Arc::new(Forwarder {
            generation: self.generation,
            events: self.stack.clone(),
        });
        let transport = build_peer_connection(&self.context.transport, handler)
            .await
            .map_err(|e| format!("cannot create a peer connection: {e}"))?;
        let (pc, boost) = transport.into_parts();
        let channel = pc
            .create_data_channel(CHANNEL_LABEL, None)
            .await
            .map_err(|e| format!("cannot create the chat channel: {e}"))?;
        self.connection = Some(Connection {
            pc,
            boost,
            channels: HashMap::new(),
            path: None,
            path_base: None,
        });
        self.watch_channel(channel);
        Ok(())
    }

    async fn disconnect(&mut self) {
        if let Some(connection) = self.connection.take() {
            if let Err(error) = connection.pc.close().await {
                debug!(%error, "closing the peer connection");
            }
        }
    }

    /// Names a channel of the current connection and forwards its events
    /// into the task's queue.
    fn watch_channel(&mut self, channel: Arc<dyn DataChannel>) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        self.next_channel += 1;
        let id = ChannelId(self.next_channel);
        connection.channels.insert(id, channel.clone());
        let events = self.stack.clone();
        let generation = self.generation;
        tokio::spawn(async move {
            let send = |event| events.send((generation, event)).is_ok();
            if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open))
                && !send(StackEvent::ChannelOpen(id))
            {
                return;
            }
            while let Some(event) = channel.poll().await {
                let forwarded = match event {
                    DataChannelEvent::OnOpen => send(StackEvent::ChannelOpen(id)),
                    DataChannelEvent::OnMessage(message) => {
                        let text = String::from_utf8_lossy(&message.data).into_owned();
                        send(StackEvent::ChannelText(id, text))
                    }
                    DataChannelEvent::OnClose => {
                        send(StackEvent::ChannelClosed(id));
                        return;
                    }
                    _ => true,
                };
                if !forwarded {
                    return;
                }
            }
        });
    }

    async fn transmit(&mut self, channel: ChannelId, text: &str, message: Option<MessageId>) {
        let sender = self
            .connection
            .as_ref()
            .and_then(|c| c.channels.get(&channel).cloned());
        let result = match sender {
            Some(sender) => sender.send_text(text).await.map_err(|e| e.to_string()),
            None => Err("the channel is gone".to_owned()),
        };
        match result {
            Ok(()) => {
                // Sent is final only for an old client, which never
                // acknowledges; a Parlor peer's acknowledgement follows
                // within a round trip, and until it does the message is
                // owed either way: one write per message saved.
                if let (Some(id), Some((_, false))) = (message, &self.identified) {
                    self.record(&id, DeliveryState::Sent);
                }
            }
            Err(error) => {
                warn!(peer = %self.context.remote(), %error, "cannot send on the chat channel");
                self.session.handle_send_failed(channel, message, error);
            }
        }
    }

    /// How far one of our messages got to this peer, in the store.
    fn record(&self, id: &MessageId, state: DeliveryState) {
        if let Some((fingerprint, _)) = &self.identified {
            self.context.ledger.state(id, fingerprint, state);
        }
    }

    /// The peer proved who it is (its connection is up, or its `info` said
    /// it is a Parlor peer): what is queued for it is owed to that identity
    /// in the store, and what the store owes it from before (our restart,
    /// its restart, a rejoin) is handed to the session, ahead of the rest.
    fn identify(&mut self) {
        let Some(fingerprint) = self.session.remote_fingerprint() else {
            return;
        };
        let parlor = self.session.remote_known_parlor();
        let now = Some((fingerprint.clone(), parlor));
        if self.identified == now {
            return;
        }
        self.identified = now;
        let owed = self
            .context
            .ledger
            .identified(&fingerprint, parlor, &self.session.queued_ids());
        let added = self.session.restore_outbox(owed);
        self.unacked.fetch_add(added, Ordering::Relaxed);
        if parlor {
            self.transfers.identified(&fingerprint);
        }
        self.notify(PeerNotice::Identified {
            peer: self.context.remote().clone(),
            fingerprint,
        });
    }

    async fn execute(&mut self, op: StackOp) {
        let outcome = if let StackOp::RecreateConnection = op {
            self.disconnect().await;
            match self.connect().await {
                Ok(()) => OperationOutcome::Done,
                Err(error) => OperationOutcome::Failed(error),
            }
        } else if let Some(connection) = &self.connection {
            if let StackOp::CreateOffer { ice_restart: true } = op {
                connection.boost.restarting();
            }
            let pc = connection.pc.clone();
            match timeout(STACK_OP_TIMEOUT, run_stack_op(pc.as_ref(), op)).await {
                Ok(Ok(Some(sdp))) => OperationOutcome::Created(sdp),
                Ok(Ok(None)) => OperationOutcome::Done,
                Ok(Err(error)) => OperationOutcome::Failed(error),
                Err(_) => OperationOutcome::Failed(format!(
                    "the WebRTC stack did not answer within {} s",
                    STACK_OP_TIMEOUT.as_secs()
                )),
            }
        } else {
            OperationOutcome::Failed("no peer connection".into())
        };
        // The time it completed, not the time it started.
        let now = self.now();
        if let Err(error) = self.session.handle_operation(outcome, now) {
            // A bug in this driver, not bad input: log it loudly rather
            // than crash the app.
            error!(peer = %self.context.remote(), %error, "driver broke the session's contract");
        }
    }

    /// Turns a session event into what the room and the person see.
    async fn report(&mut self, event: SessionEvent) {
        let peer = self.peer();
        let kind = match event {
            SessionEvent::Negotiation { step, detail } => {
                EventKind::Negotiation { peer, step, detail }
            }
            SessionEvent::Trace(event) => {
                debug!(peer = %self.context.remote(), ?event, "negotiation");
                return;
            }
            SessionEvent::Ice(state) => EventKind::Ice { peer, state },
            SessionEvent::TransportUp => {
                self.identify();
                self.notify(PeerNotice::Connected {
                    peer: self.context.remote().clone(),
                    connected: true,
                });
                self.emit(EventKind::DtlsConnected { peer });
                self.report_path().await;
                return;
            }
            SessionEvent::TransportDown => {
                self.notify(PeerNotice::Connected {
                    peer: self.context.remote().clone(),
                    connected: false,
                });
                return;
            }
            SessionEvent::Reconnecting { reason } => EventKind::PeerReconnecting { peer, reason },
            SessionEvent::Unreachable { reason, retry_in } => {
                warn!(peer = %self.context.remote(), %reason, "no path to the peer yet");
                EventKind::PeerUnreachable {
                    peer,
                    reason: reason.to_string(),
                    retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                }
            }
            SessionEvent::Connected { parlor, name } => {
                self.identify();
                let fingerprint = self.session.remote_fingerprint().unwrap_or_default();
                if parlor {
                    self.context.ledger.named(&fingerprint, name.as_deref());
                    self.transfers.connected(&mut self.session);
                }
                let code = safety_code(
                    self.context.room.as_str(),
                    &self.context.local_fingerprint,
                    &fingerprint,
                );
                EventKind::PeerConnected {
                    peer,
                    parlor,
                    name,
                    fingerprint,
                    safety_code: code,
                }
            }
            SessionEvent::Dropped { reason } => {
                self.refused = true;
                warn!(peer = %self.context.remote(), %reason, "dropped a peer");
                // The room says so, once the peer is out of its members:
                // whoever reads the error can count on nothing more being
                // sent to it.
                self.notify(PeerNotice::Dropped {
                    peer: self.context.remote().clone(),
                    reason: reason.to_string(),
                });
                return;
            }
            SessionEvent::Message { text, id, name } => {
                // Written before the session's acknowledgement goes out
                // (it comes next), and shown only the first time ever.
                let sender = self.session.remote_fingerprint().unwrap_or_default();
                if !self
                    .context
                    .ledger
                    .received(id.as_ref(), &sender, name.as_deref(), &text)
                {
                    debug!(peer = %self.context.remote(), "a message received before; not shown again");
                    return;
                }
                EventKind::Message {
                    from: peer,
                    name,
                    text,
                    id,
                }
            }
            SessionEvent::FileControl(frame) => {
                let connection = self.connection.as_ref().map(|c| c.pc.clone());
                self.transfers
                    .control(frame, &mut self.session, connection)
                    .await;
                return;
            }
            SessionEvent::Delivered { id } => {
                self.record(&id, DeliveryState::Delivered);
                EventKind::Delivered { id, to: peer }
            }
            SessionEvent::SendFailed { id, reason } => {
                self.record(&id, DeliveryState::Failed);
                EventKind::SendFailed {
                    id,
                    to: peer,
                    reason,
                }
            }
        };
        self.emit(kind);
    }

    async fn on_stack_event(&mut self, event: StackEvent) {
        let now = self.now();
        match event {
            StackEvent::NegotiationNeeded => self.session.handle_negotiation_needed(now),
            StackEvent::Candidate(candidate) => self.session.handle_local_candidate(candidate, now),
            StackEvent::Ice(state) => {
                if let Some(state) = ice_state(state) {
                    self.session.handle_ice_state(state, now);
                    if matches!(
                        state,
                        IceConnectionState::Connected | IceConnectionState::Completed
                    ) {
                        self.report_path().await;
                    }
                }
            }
            StackEvent::Connection(state) => {
                if let Some(state) = connection_state(state) {
                    self.session.handle_connection_state(state, now);
                }
            }
            StackEvent::RemoteChannel(channel) => match channel.label().await {
                Ok(label) if label == CHANNEL_LABEL => self.watch_channel(channel),
                Ok(label) => self.transfers.channel(channel, &label).await,
                Err(_) => {}
            },
            StackEvent::ChannelOpen(channel) => {
                if let Some(connection) = &self.connection {
                    connection.boost.channel_open();
                }
                self.report_path().await;
                self.session.handle_channel_open(channel, now);
            }
            StackEvent::ChannelText(channel, text) => {
                self.session.handle_channel_text(channel, &text, now);
            }
            StackEvent::ChannelClosed(channel) => {
                if let Some(connection) = &mut self.connection {
                    connection.channels.remove(&channel);
                }
                self.session.handle_channel_closed(channel);
            }
        }
    }

    /// Whether the connection's path leaves from one of `addresses`.
    fn path_uses(&self, addresses: &[IpAddr]) -> bool {
        self.connection
            .as_ref()
            .and_then(|connection| connection.path_base)
            .is_some_and(|base| addresses.contains(&base))
    }

    /// Reports the selected candidate pair when it is known (the transport
    /// may learn it after the state change) and each time it changes.
    async fn report_path(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let Some(pair) = selected_pair(connection.pc.as_ref()).await else {
            return;
        };
        let path = match pair.route {
            Route::Direct => PathKind::Lan,
            Route::ThroughNat => PathKind::Nat,
            Route::Relayed => PathKind::Relay,
        };
        let event = EventKind::PathSelected {
            peer: self.context.remote().to_string(),
            path,
            local: pair.local.kind.to_string(),
            remote: pair.remote.kind.to_string(),
            relay: pair.relay.map(|ip| ip.to_string()),
        };
        connection.path_base = pair.local.base;
        if connection.path.as_ref() == Some(&event) {
            return;
        }
        connection.path = Some(event.clone());
        self.emit(event);
    }
}
