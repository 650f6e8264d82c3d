//! One task per remote member: it owns the webrtc peer connection to that
//! member, drives it with the sans-IO negotiation core, and runs the chat
//! conversation on its data channels.
//!
//! Everything the connection reports (webrtc handlers, channel events) is
//! forwarded into this task's queue tagged with the connection's generation,
//! so events of a connection that was replaced are dropped instead of
//! confusing the new one. Stack operations are awaited here one at a time,
//! as the core's driver contract asks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parlor_negotiation::{
    Action, Config, ConnectionState, Event as CoreEvent, IceCandidate, IceConnectionState,
    Negotiator, SdpType, SessionDescription, StackOp, role_toward,
};
use parlor_protocol::PeerId;
use parlor_transport::webrtc::error::Error as WebrtcError;
use parlor_transport::{
    DataChannel, DataChannelEvent, PeerConnection, PeerConnectionEventHandler, RTCDataChannelState,
    RTCIceCandidateInit, RTCIceConnectionState, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, Route, SetupBoost, TransportConfig,
    build_peer_connection, selected_pair,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, error, info, warn};

use crate::chat::{CHANNEL_LABEL, Info};
use crate::conversation::{Conversation, Output};
use crate::events::{Event, EventKind, PathKind};
use crate::signaling::SignalingSender;
use crate::wire;

/// How long after a channel opens we wait for the remote's `info` before
/// treating it as an old client that only speaks plain text.
const INFO_TIMEOUT: Duration = Duration::from_secs(2);
/// First re-send of an unanswered offer to an old client.
const OLD_CLIENT_FIRST_RESEND: Duration = Duration::from_millis(300);
/// A stack operation that takes longer than this is treated as failed, so a
/// wedged connection cannot stall the peer task (and with it, leaving).
const STACK_OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a connection may take when leaving.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a peer task needs from its room.
pub(crate) struct PeerContext {
    pub local: PeerId,
    pub remote: PeerId,
    pub remote_is_parlor: bool,
    pub info: Info,
    pub transport: TransportConfig,
    pub signaling: SignalingSender,
    pub events: mpsc::UnboundedSender<Event>,
    pub notices: mpsc::UnboundedSender<PeerNotice>,
}

/// What the room tells a peer task.
pub(crate) enum PeerInput {
    /// A negotiation message from the remote.
    Signal(parlor_negotiation::SignalMessage),
    /// A chat message to deliver.
    Chat { id: String, text: String },
    /// Close the connection and stop.
    Close,
}

/// What a peer task tells its room.
pub(crate) enum PeerNotice {
    /// The peer connection came up or went down.
    Connected { peer: PeerId, connected: bool },
}

/// The room's handle on a peer task.
pub(crate) struct PeerHandle {
    inputs: mpsc::UnboundedSender<PeerInput>,
    task: JoinHandle<()>,
}

impl PeerHandle {
    pub(crate) fn send(&self, input: PeerInput) {
        let _ = self.inputs.send(input);
    }

    /// Closes the connection and waits (briefly) until it is closed, so the
    /// remote learns at once that we left.
    pub(crate) async fn close(self) {
        let _ = self.inputs.send(PeerInput::Close);
        let _ = timeout(CLOSE_TIMEOUT, self.task).await;
    }
}

pub(crate) fn spawn(context: PeerContext) -> PeerHandle {
    let (inputs, inputs_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(context, inputs_rx));
    PeerHandle { inputs, task }
}

/// What one connection reports, in the order it happened.
enum StackEvent {
    NegotiationNeeded,
    Candidate(Option<IceCandidate>),
    Ice(RTCIceConnectionState),
    Connection(RTCPeerConnectionState),
    RemoteChannel(Arc<dyn DataChannel>),
    ChannelOpen {
        channel: Arc<dyn DataChannel>,
        own: bool,
    },
    ChannelText(String),
    ChannelClosed {
        own: bool,
    },
}

type Tagged = (u64, StackEvent);

/// Forwards webrtc's callbacks into the peer task. Handlers run on the
/// connection's internal task and must not call back into the connection.
struct Forwarder {
    generation: u64,
    events: mpsc::UnboundedSender<Tagged>,
}

impl Forwarder {
    fn forward(&self, event: StackEvent) {
        let _ = self.events.send((self.generation, event));
    }
}

#[async_trait]
impl PeerConnectionEventHandler for Forwarder {
    async fn on_negotiation_needed(&self) {
        self.forward(StackEvent::NegotiationNeeded);
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.forward(StackEvent::Candidate(Some(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            }))),
            Err(error) => warn!(%error, "cannot serialize a local ICE candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.forward(StackEvent::Candidate(None));
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.forward(StackEvent::Ice(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.forward(StackEvent::Connection(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.forward(StackEvent::RemoteChannel(channel));
    }
}

/// The current connection and what belongs to it.
struct Connection {
    pc: Arc<dyn PeerConnection>,
    boost: SetupBoost,
    /// The channel chat messages go out on.
    send_channel: Option<Arc<dyn DataChannel>>,
    /// Channels whose opening was handled (a channel can report it twice).
    opened: HashSet<usize>,
    /// Whether the selected path was reported (stats may lag the state change).
    path_reported: bool,
}

struct PeerTask {
    context: PeerContext,
    negotiator: Negotiator,
    conversation: Conversation,
    start: Instant,
    generation: u64,
    connection: Option<Connection>,
    stack: mpsc::UnboundedSender<Tagged>,
    info_deadline: Option<Instant>,
}

async fn run(context: PeerContext, mut inputs: mpsc::UnboundedReceiver<PeerInput>) {
    let role = role_toward(
        context.local.as_str(),
        context.remote.as_str(),
        context.remote_is_parlor,
    );
    info!(peer = %context.remote, ?role, "connecting to peer");
    let (stack, mut stack_rx) = mpsc::unbounded_channel();
    let mut task = PeerTask {
        conversation: Conversation::new(context.remote.as_str(), context.info.clone()),
        negotiator: Negotiator::new(role, negotiation_config(context.remote_is_parlor)),
        context,
        start: Instant::now(),
        generation: 0,
        connection: None,
        stack,
        info_deadline: None,
    };
    if let Err(message) = task.connect().await {
        task.emit(EventKind::Error {
            peer: Some(task.context.remote.to_string()),
            message,
        });
        return;
    }
    loop {
        task.drive().await;
        let deadline = task.next_deadline();
        tokio::select! {
            input = inputs.recv() => match input {
                Some(PeerInput::Signal(message)) => {
                    let now = task.now();
                    task.negotiator.handle_remote_message(message, now);
                }
                Some(PeerInput::Chat { id, text }) => {
                    let out = task.conversation.send(id, text);
                    task.apply(out).await;
                }
                Some(PeerInput::Close) | None => break,
            },
            Some((generation, event)) = stack_rx.recv() => {
                if generation == task.generation {
                    task.on_stack_event(event).await;
                }
            }
            () = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                task.on_timeout().await;
            }
        }
    }
    task.disconnect().await;
}

/// An old client drops offers that arrive while it rebuilds its connection
/// (after every peer list, a `/turn` fetch and a new RTCPeerConnection: tens
/// of milliseconds on a LAN), so toward it the first re-send comes soon. A
/// Parlor peer drops nothing, and keeps the core's patient default.
fn negotiation_config(remote_is_parlor: bool) -> Config {
    if remote_is_parlor {
        Config::default()
    } else {
        Config {
            resend_initial: OLD_CLIENT_FIRST_RESEND,
            ..Config::default()
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

impl PeerTask {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn peer(&self) -> String {
        self.context.remote.to_string()
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.context.events.send(Event::now(kind));
    }

    fn notify_connected(&self, connected: bool) {
        let _ = self.context.notices.send(PeerNotice::Connected {
            peer: self.context.remote.clone(),
            connected,
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        let core = self.negotiator.poll_timeout().map(|at| self.start + at);
        match (core, self.info_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn on_timeout(&mut self) {
        let now = self.now();
        self.negotiator.handle_timeout(now);
        if self.info_deadline.is_some_and(|at| at <= Instant::now()) {
            self.info_deadline = None;
            let out = self.conversation.info_timed_out();
            self.apply(out).await;
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
        self.watch_channel(channel, true);
        self.connection = Some(Connection {
            pc,
            boost,
            send_channel: None,
            opened: HashSet::new(),
            path_reported: false,
        });
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.conversation.closed();
        self.info_deadline = None;
        if let Some(connection) = self.connection.take() {
            if let Err(error) = connection.pc.close().await {
                debug!(%error, "closing the peer connection");
            }
        }
    }

    /// Forwards a channel's events into the task's queue.
    fn watch_channel(&self, channel: Arc<dyn DataChannel>, own: bool) {
        let events = self.stack.clone();
        let generation = self.generation;
        tokio::spawn(async move {
            let send = |event| events.send((generation, event)).is_ok();
            if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open))
                && !send(StackEvent::ChannelOpen {
                    channel: channel.clone(),
                    own,
                })
            {
                return;
            }
            while let Some(event) = channel.poll().await {
                let forwarded = match event {
                    DataChannelEvent::OnOpen => send(StackEvent::ChannelOpen {
                        channel: channel.clone(),
                        own,
                    }),
                    DataChannelEvent::OnMessage(message) => {
                        let text = String::from_utf8_lossy(&message.data).into_owned();
                        send(StackEvent::ChannelText(text))
                    }
                    DataChannelEvent::OnClose => {
                        send(StackEvent::ChannelClosed { own });
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

    /// Carries out what the negotiation core asks, until it asks nothing.
    async fn drive(&mut self) {
        loop {
            while let Some(event) = self.negotiator.poll_event() {
                self.report(event);
            }
            let Some(action) = self.negotiator.poll_action() else {
                return;
            };
            match action {
                Action::Send(message) => {
                    self.context
                        .signaling
                        .send(Some(&self.context.remote), wire::encode(&message));
                }
                Action::Stack(op) => self.execute(op).await,
            }
        }
    }

    async fn execute(&mut self, op: StackOp) {
        let now = self.now();
        if let StackOp::RecreateConnection = op {
            self.emit(EventKind::PeerReconnecting {
                peer: self.peer(),
                reason: "the peer started a new session".into(),
            });
            self.disconnect().await;
            let result = match self.connect().await {
                Ok(()) => self.negotiator.handle_operation_done(now),
                Err(message) => self.negotiator.handle_operation_failed(message, now),
            };
            self.check_contract(result);
            return;
        }
        let Some(connection) = &self.connection else {
            let result = self
                .negotiator
                .handle_operation_failed("no peer connection".into(), now);
            self.check_contract(result);
            return;
        };
        let pc = connection.pc.clone();
        if let StackOp::CreateOffer { ice_restart: true } = op {
            connection.boost.restarting();
        }
        let outcome = match timeout(STACK_OP_TIMEOUT, run_stack_op(pc.as_ref(), op)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "the WebRTC stack did not answer within {} s",
                STACK_OP_TIMEOUT.as_secs()
            )),
        };
        let result = match outcome {
            Ok(Some(sdp)) => self.negotiator.handle_description_created(sdp, now),
            Ok(None) => self.negotiator.handle_operation_done(now),
            Err(error) => self.negotiator.handle_operation_failed(error, now),
        };
        self.check_contract(result);
    }

    /// A contract error is a bug in this driver, not bad input: log it loudly
    /// rather than crash the app.
    fn check_contract(&self, result: Result<(), parlor_negotiation::Error>) {
        if let Err(error) = result {
            error!(peer = %self.context.remote, %error, "negotiation driver broke the core's contract");
        }
    }

    /// Turns a core event into a progress event for people.
    fn report(&self, event: CoreEvent) {
        let step = match &event {
            CoreEvent::OfferSent { ice_restart: true } => "ice-restart-offer-sent".to_owned(),
            CoreEvent::OfferSent { ice_restart: false } => "offer-sent".to_owned(),
            CoreEvent::OfferResent { attempt } => format!("offer-resent-{attempt}"),
            CoreEvent::OfferUnanswered => "offer-unanswered".to_owned(),
            CoreEvent::OfferReceived => "offer-received".to_owned(),
            CoreEvent::AnswerSent => "answer-sent".to_owned(),
            CoreEvent::AnswerReceived => "answer-received".to_owned(),
            CoreEvent::RolledBackForGlare => "rolled-back-for-glare".to_owned(),
            CoreEvent::IgnoredCollidingOffer => "ignored-colliding-offer".to_owned(),
            CoreEvent::IceRestart(_) => "ice-restart".to_owned(),
            CoreEvent::RemoteRestarted => "remote-restarted".to_owned(),
            CoreEvent::OperationFailed { operation, error } => {
                warn!(peer = %self.context.remote, ?operation, %error, "negotiation step failed");
                format!("{operation:?}-failed")
            }
            other => {
                debug!(peer = %self.context.remote, event = ?other, "negotiation");
                return;
            }
        };
        self.emit(EventKind::Negotiation {
            peer: self.peer(),
            step,
        });
    }

    async fn on_stack_event(&mut self, event: StackEvent) {
        let now = self.now();
        match event {
            StackEvent::NegotiationNeeded => self.negotiator.handle_negotiation_needed(now),
            StackEvent::Candidate(candidate) => {
                self.negotiator.handle_local_candidate(candidate, now)
            }
            StackEvent::Ice(state) => {
                self.emit(EventKind::Ice {
                    peer: self.peer(),
                    state: state.to_string(),
                });
                if let Some(state) = ice_state(state) {
                    self.negotiator.handle_ice_state(state, now);
                }
            }
            StackEvent::Connection(state) => self.on_connection_state(state, now).await,
            StackEvent::RemoteChannel(channel) => {
                if matches!(channel.label().await, Ok(label) if label == CHANNEL_LABEL) {
                    self.watch_channel(channel, false);
                }
            }
            StackEvent::ChannelOpen { channel, own } => self.on_channel_open(channel, own).await,
            StackEvent::ChannelText(text) => {
                let out = self.conversation.received(&text);
                self.apply(out).await;
            }
            StackEvent::ChannelClosed { own } => {
                if own {
                    if let Some(connection) = &mut self.connection {
                        connection.send_channel = None;
                    }
                    self.conversation.closed();
                }
            }
        }
    }

    async fn on_connection_state(&mut self, state: RTCPeerConnectionState, now: Duration) {
        let core_state = match state {
            RTCPeerConnectionState::New => Some(ConnectionState::New),
            RTCPeerConnectionState::Connecting => Some(ConnectionState::Connecting),
            RTCPeerConnectionState::Connected => Some(ConnectionState::Connected),
            RTCPeerConnectionState::Disconnected => Some(ConnectionState::Disconnected),
            RTCPeerConnectionState::Failed => Some(ConnectionState::Failed),
            RTCPeerConnectionState::Closed => Some(ConnectionState::Closed),
            _ => None,
        };
        if let Some(core_state) = core_state {
            self.negotiator.handle_connection_state(core_state, now);
        }
        match state {
            RTCPeerConnectionState::Connected => {
                self.emit(EventKind::DtlsConnected { peer: self.peer() });
                self.notify_connected(true);
                self.report_path().await;
            }
            RTCPeerConnectionState::Disconnected
            | RTCPeerConnectionState::Failed
            | RTCPeerConnectionState::Closed => self.notify_connected(false),
            _ => {}
        }
    }

    /// Reports the selected candidate pair once per connection, as soon as
    /// the stats know it.
    async fn report_path(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        if connection.path_reported {
            return;
        }
        let Some(pair) = selected_pair(connection.pc.as_ref()).await else {
            return;
        };
        connection.path_reported = true;
        let path = match pair.route() {
            Route::Direct => PathKind::Lan,
            Route::ThroughNat => PathKind::Nat,
            Route::Relayed => PathKind::Relay,
        };
        self.emit(EventKind::PathSelected {
            peer: self.peer(),
            path,
            local: pair.local.to_string(),
            remote: pair.remote.to_string(),
        });
    }

    async fn on_channel_open(&mut self, channel: Arc<dyn DataChannel>, own: bool) {
        let remote_is_parlor = self.context.remote_is_parlor;
        let Some(connection) = &mut self.connection else {
            return;
        };
        if !connection.opened.insert(channel.id()) {
            return;
        }
        connection.boost.channel_open();
        self.report_path().await;
        let Some(connection) = &mut self.connection else {
            return;
        };
        // Between Parlor peers each side sends on its own channel, which keeps
        // every sender's messages in order; an old client may listen only on
        // the channel it knows of, so toward it the latest channel wins.
        let becomes_send_channel = connection.send_channel.is_none() || own || !remote_is_parlor;
        if !becomes_send_channel {
            let info = crate::chat::Frame::Info(self.context.info.clone()).to_text();
            if let Err(error) = channel.send_text(&info).await {
                debug!(%error, "cannot send info on the remote's channel");
            }
            return;
        }
        let first = connection.send_channel.is_none();
        connection.send_channel = Some(channel);
        let out = if first {
            self.conversation.opened()
        } else {
            Output {
                send: vec![crate::chat::Frame::Info(self.context.info.clone()).to_text()],
                events: Vec::new(),
            }
        };
        self.apply(out).await;
        if self.conversation.awaiting_info() {
            self.info_deadline = Some(Instant::now() + INFO_TIMEOUT);
        }
    }

    /// Sends the conversation's texts and reports its events.
    async fn apply(&mut self, out: Output) {
        for kind in out.events {
            if matches!(kind, EventKind::PeerConnected { .. }) {
                self.info_deadline = None;
            }
            self.emit(kind);
        }
        let Some(channel) = self
            .connection
            .as_ref()
            .and_then(|c| c.send_channel.clone())
        else {
            return;
        };
        for text in out.send {
            if let Err(error) = channel.send_text(&text).await {
                warn!(peer = %self.context.remote, %error, "cannot send on the chat channel");
                self.emit(EventKind::Error {
                    peer: Some(self.peer()),
                    message: format!("a message could not be sent: {error}"),
                });
                return;
            }
        }
    }
}

/// Runs one stack operation; a create returns the SDP it made.
async fn run_stack_op(pc: &dyn PeerConnection, op: StackOp) -> Result<Option<String>, String> {
    let done = |result: Result<(), WebrtcError>| result.map(|()| None).map_err(|e| e.to_string());
    match op {
        StackOp::CreateOffer { ice_restart } => {
            if ice_restart {
                pc.restart_ice().await.map_err(|e| e.to_string())?;
            }
            let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
            Ok(Some(offer.sdp))
        }
        StackOp::CreateAnswer => {
            let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
            Ok(Some(answer.sdp))
        }
        StackOp::SetLocalDescription(description) => match to_webrtc(description) {
            Ok(description) => done(pc.set_local_description(description).await),
            Err(error) => done(Err(error)),
        },
        StackOp::SetRemoteDescription(description) => match to_webrtc(description) {
            Ok(description) => done(pc.set_remote_description(description).await),
            Err(error) => done(Err(error)),
        },
        StackOp::RollbackLocalDescription => match RTCSessionDescription::rollback(None) {
            Ok(rollback) => done(pc.set_local_description(rollback).await),
            Err(error) => done(Err(error)),
        },
        StackOp::AddRemoteCandidate(candidate) => done(
            pc.add_ice_candidate(RTCIceCandidateInit {
                candidate: candidate.candidate,
                sdp_mid: candidate.sdp_mid,
                sdp_mline_index: candidate.sdp_mline_index,
                username_fragment: candidate.username_fragment,
                ..Default::default()
            })
            .await,
        ),
        StackOp::RecreateConnection => Err("recreating is not a stack operation".into()),
    }
}

fn to_webrtc(description: SessionDescription) -> Result<RTCSessionDescription, WebrtcError> {
    match description.kind {
        SdpType::Offer => RTCSessionDescription::offer(description.sdp),
        SdpType::Answer => RTCSessionDescription::answer(description.sdp),
    }
}

fn ice_state(state: RTCIceConnectionState) -> Option<IceConnectionState> {
    Some(match state {
        RTCIceConnectionState::New => IceConnectionState::New,
        RTCIceConnectionState::Checking => IceConnectionState::Checking,
        RTCIceConnectionState::Connected => IceConnectionState::Connected,
        RTCIceConnectionState::Completed => IceConnectionState::Completed,
        RTCIceConnectionState::Disconnected => IceConnectionState::Disconnected,
        RTCIceConnectionState::Failed => IceConnectionState::Failed,
        RTCIceConnectionState::Closed => IceConnectionState::Closed,
        _ => return None,
    })
}
