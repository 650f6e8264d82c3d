//! Two [`PeerSession`]s on fake webrtc-rs stacks with data channels, a FIFO
//! signaling relay with random delays and a driver per side that does what
//! the engine's peer task does, run as a discrete-event simulation that is
//! deterministic given its seed.
//!
//! # The driver
//!
//! Like `parlor-engine`'s `peer` module: after every input it drains
//! [`PeerSession::poll_output`] until [`Output::Wait`], relays signals, runs
//! stack operations on the fake stack and reports their outcome stamped
//! with the time they completed, sends texts on the fake channels (a send
//! on a channel that is gone is reported with
//! [`PeerSession::handle_send_failed`]), keeps one timer at the `Wait`
//! deadline, and drops events of a connection that was replaced. With
//! [`Driver::Serial`] (the engine) an operation is awaited in place: inputs
//! that arrive meanwhile wait until it completes. With [`Driver::Concurrent`]
//! inputs keep flowing while an operation runs, which the session's contract
//! allows too. `RecreateConnection` closes the old connection when the
//! driver takes it up, as the engine does, and completes after the latency.
//!
//! # The data channels
//!
//! Each side that started has its own `chat` channel on every connection
//! (created with it, like the engine does). When the two current
//! connections first link (ICE and DTLS would work) they form an SCTP
//! association and every channel of the two opens on both sides after a
//! small delay. Texts arrive in order, per channel and direction, after a
//! random delay. While the link is broken (ICE trouble, an ICE restart in
//! progress) texts in flight are held and arrive once it works again, as
//! webrtc-rs's SCTP retransmits data until ICE recovers (its T3-rtx timer
//! never gives up, and ICE failure closes no channel); a text that waited
//! `d` arrives up to `d` after the link works again, since the
//! retransmission timer backed off meanwhile. When a connection is
//! replaced, what is in flight on its association is lost; the other side's
//! stack sees the channels close only if the close could reach it (the
//! link worked and the replacement was a close, not a crash).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use parlor_negotiation::SignalingState;
use parlor_protocol::{Info, MessageId, PeerId};
use parlor_session::{
    ChannelId, ConnectionState, IceConnectionState, OperationOutcome, Output, PeerSession,
    SessionConfig, SessionEvent, SignalMessage, StackOp,
};

use super::fake_stack::{FakeStack, StackEvent};

/// How ICE trouble is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Both sides see `failed` at once.
    Failed,
    /// Both sides see `disconnected`, which never recovers on its own.
    Disconnected,
}

/// Who the two sides are and what the signaling server tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// Two Parlor peers on a Parlor server: the peer list says the other is
    /// a Parlor peer, so the roles follow from the ids from the start.
    Parlor,
    /// Two Parlor peers on an old server: both start as if the other were
    /// an old client (both polite), and every relayed negotiation message
    /// carries the Parlor marker, so the receiver learns better.
    OldServer,
    /// Side 1 negotiates like an old client: impolite, its messages carry no
    /// marker, and it drops relayed messages that arrive before `ready_at`
    /// (ms; it is still fetching `/turn`). Both sides still run
    /// [`PeerSession`] with Parlor's `info`. Side 0 takes the lower id.
    OldClient {
        /// When side 1 starts taking relayed messages (ms).
        ready_at: u64,
    },
}

/// How the driver runs stack operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// As the engine: the operation is awaited; inputs wait meanwhile.
    Serial,
    /// Inputs keep being handled while an operation runs.
    Concurrent,
}

/// Everything random about one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub peers: Peers,
    /// Side 0 has the lower peer id, so it is the polite one between two
    /// Parlor peers (forced for [`Peers::OldClient`]).
    pub side0_lower: bool,
    pub driver: Driver,
    /// When each side starts: creates its chat channel (`None`: never).
    pub starts: [Option<u64>; 2],
    /// Largest relay delay per signaling message, in ms.
    pub max_delay: u64,
    /// Largest data-channel delay per text, in ms.
    pub max_channel_delay: u64,
    /// Largest stack operation latency, in ms.
    pub max_op_latency: u64,
    /// ICE breaks at these times (ms).
    pub troubles: Vec<(u64, Trouble)>,
    /// Apps that start over.
    pub restarts: Vec<Restart>,
    /// When each side's person sends a chat message (ms).
    pub chats: [Vec<u64>; 2],
}

/// One side's app starts over: new session, new connection, new
/// signaling socket; what the old session held is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// When (ms).
    pub at: u64,
    pub side: usize,
    /// The signaling server tells the other side (`handle_remote_reset`).
    pub notice: bool,
    /// The app quit and closed its connection, so the other side's stack
    /// sees the channels close if the link works; else it crashed.
    pub quit: bool,
}

/// A session event, with when and where it was reported.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The app incarnation of the side (bumped by a restart).
    pub incarnation: u32,
    /// The side's connection at the time.
    pub epoch: u32,
    pub at: Duration,
    pub event: SessionEvent,
}

/// A chat message a side's person sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: MessageId,
    pub text: String,
    pub incarnation: u32,
    pub at: Duration,
}

/// Input for one side's driver, which it hands to its session.
#[derive(Debug)]
enum Input {
    Relayed(RelayItem),
    Stack {
        epoch: u32,
        event: StackEvent,
    },
    State {
        epoch: u32,
        ice: IceConnectionState,
        conn: ConnectionState,
    },
    Timer {
        at: Duration,
    },
    ChannelOpen {
        epoch: u32,
        channel: ChannelId,
    },
    ChannelText {
        epoch: u32,
        channel: ChannelId,
        text: String,
    },
    ChannelClosed {
        epoch: u32,
        channel: ChannelId,
    },
    Chat {
        id: MessageId,
        text: String,
    },
}

#[derive(Debug)]
enum RelayItem {
    /// A negotiation message, and whether it carries the Parlor marker.
    Message {
        message: SignalMessage,
        parlor: bool,
    },
    /// The server says the peer left and came back.
    PeerReset,
}

/// A channel: its owner and the owner's connection.
type ChannelKey = (usize, u32);

/// What happens next in the simulation.
#[derive(Debug)]
enum Happening {
    Start(usize),
    Chat(usize),
    /// Something for one incarnation of a side's app.
    Input {
        side: usize,
        incarnation: u32,
        input: Input,
    },
    OpDone {
        side: usize,
        incarnation: u32,
        op: StackOp,
    },
    IceCheck {
        side: usize,
        epoch: u32,
    },
    Trouble(Trouble),
    Restart(Restart),
    /// Texts in flight on a channel toward `to` may arrive.
    Pump {
        key: ChannelKey,
        to: usize,
    },
    /// The stack of `side` learns that the other end closed its
    /// connection: every channel of their association closes.
    Closed {
        association: [u32; 2],
        side: usize,
    },
}

/// One side's `chat` channel on one of its connections, as both stacks
/// see it.
struct Channel {
    owner: usize,
    /// The connection of each side it belongs to: the owner's from
    /// creation, the other side's once the two connections associate.
    epochs: [Option<u32>; 2],
    /// What each side's driver calls it.
    ids: [Option<ChannelId>; 2],
    /// Whether each side's stack has it open (sends succeed).
    open: [bool; 2],
    /// Texts in flight toward each side, with when they can arrive.
    in_flight: [VecDeque<(Duration, String)>; 2],
    /// Nothing arrives on a side before its stack reported the channel open.
    floor: [Duration; 2],
    pump_scheduled: [bool; 2],
}

struct Side {
    config: SessionConfig,
    /// Its relayed messages carry the Parlor marker.
    marks: bool,
    session: PeerSession,
    /// Bumped when the app starts over (new session, new signaling socket).
    incarnation: u32,
    stack: FakeStack,
    /// Bumped on every new peer connection.
    epoch: u32,
    started: bool,
    timer_at: Option<Duration>,
    /// A stack operation is outstanding.
    op_outstanding: bool,
    /// Serial driver: the outstanding operation is being awaited.
    busy: bool,
    deferred: VecDeque<Input>,
    next_channel: u64,
    chats_sent: u64,
    ice_up: bool,
    ice_check_pending: bool,
    failed_reported: HashSet<(String, String)>,
}

/// A small deterministic generator (SplitMix64), so runs replay from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next() % (bound + 1)
        }
    }
}

/// The simulation; see [`Sim::run`].
pub struct Sim {
    scenario: Scenario,
    rng: Rng,
    now: Duration,
    sides: [Side; 2],
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    happenings: BTreeMap<u64, Happening>,
    next_seq: u64,
    /// Latest delivery time per direction, to keep the relay FIFO.
    relay_tail: [Duration; 2],
    /// Latest stack event per side: webrtc-rs events reach the driver
    /// through one channel, in order.
    event_tail: [Duration; 2],
    broken: HashSet<(String, String)>,
    sessions: u64,
    channels: BTreeMap<ChannelKey, Channel>,
    /// Each side's names for the channels it knows.
    names: [HashMap<ChannelId, ChannelKey>; 2],
    /// The SCTP association between the two current connections, once
    /// they linked: their epochs.
    association: Option<[u32; 2]>,
    trace: Option<Vec<String>>,
    pub stack_errors: Vec<String>,
    pub steps: usize,
    /// Sends the driver reported as failed.
    pub send_failures: usize,
    /// Texts sent into a connection that was already gone.
    pub lost_sends: usize,
    /// When each side's app started over.
    pub restarts: [Vec<Duration>; 2],
    /// Every session event of each side, in order.
    pub events: [Vec<Logged>; 2],
    /// Every chat message each side's person sent, in order.
    pub sent: [Vec<Sent>; 2],
}

/// Longer than the core's disconnected grace, as real ICE agents wait longer
/// before `failed` than Parlor waits before restarting.
const ICE_TIMEOUT: Duration = Duration::from_secs(8);
const MAX_STEPS: usize = 200_000;
/// SCTP's longest retransmission timeout (webrtc-rs's `RTO_MAX`), in ms.
const RTO_MAX: u64 = 60_000;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn peer_id(text: &str) -> PeerId {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?} is not a peer id: {error:?}"))
}

impl Sim {
    pub fn new(scenario: Scenario) -> Self {
        let lower0 = scenario.side0_lower || matches!(scenario.peers, Peers::OldClient { .. });
        let ids = if lower0 { ["a", "b"] } else { ["b", "a"] };
        let names = if lower0 {
            ["Ada", "Bob"]
        } else {
            ["Bob", "Ada"]
        };
        // (knows the other is a Parlor peer, marks its messages)
        let knowledge = match scenario.peers {
            Peers::Parlor => [(true, true), (true, true)],
            Peers::OldServer => [(false, true), (false, true)],
            // Side 1 knowing side 0 is a Parlor peer makes it impolite
            // (its id is the higher one), as an old client always is.
            Peers::OldClient { .. } => [(false, true), (true, false)],
        };
        let side = |index: usize, session: u64| {
            let config = SessionConfig {
                local: peer_id(ids[index]),
                remote: peer_id(ids[1 - index]),
                remote_is_parlor: knowledge[index].0,
                local_info: Info::parlor(ids[index], Some(names[index])),
                expected_fingerprint: None,
                relay_configured: false,
            };
            Side {
                session: PeerSession::new(config.clone()),
                config,
                marks: knowledge[index].1,
                incarnation: 0,
                stack: FakeStack::new(format!("s{index}e0"), session),
                epoch: 0,
                started: false,
                timer_at: None,
                op_outstanding: false,
                busy: false,
                deferred: VecDeque::new(),
                next_channel: 0,
                chats_sent: 0,
                ice_up: false,
                ice_check_pending: false,
                failed_reported: HashSet::new(),
            }
        };
        let mut sim = Self {
            rng: Rng(scenario.seed),
            now: Duration::ZERO,
            sides: [side(0, 1000), side(1, 2000)],
            queue: BinaryHeap::new(),
            happenings: BTreeMap::new(),
            next_seq: 0,
            relay_tail: [Duration::ZERO; 2],
            event_tail: [Duration::ZERO; 2],
            broken: HashSet::new(),
            sessions: 3000,
            channels: BTreeMap::new(),
            names: [HashMap::new(), HashMap::new()],
            association: None,
            trace: None,
            stack_errors: Vec::new(),
            steps: 0,
            send_failures: 0,
            lost_sends: 0,
            restarts: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
            scenario,
        };
        for side in 0..2 {
            if let Some(at) = sim.scenario.starts[side] {
                sim.schedule(ms(at), Happening::Start(side));
            }
            for at in sim.scenario.chats[side].clone() {
                sim.schedule(ms(at), Happening::Chat(side));
            }
        }
        for (at, trouble) in sim.scenario.troubles.clone() {
            sim.schedule(ms(at), Happening::Trouble(trouble));
        }
        for restart in sim.scenario.restarts.clone() {
            sim.schedule(ms(restart.at), Happening::Restart(restart));
        }
        sim
    }

    /// Keeps a line per step, for [`Sim::trace_tail`].
    pub fn traced(mut self) -> Self {
        self.trace = Some(Vec::new());
        self
    }

    /// The last `lines` lines of the trace (empty unless [`Sim::traced`]).
    pub fn trace_tail(&self, lines: usize) -> String {
        let trace = self.trace.as_deref().unwrap_or_default();
        trace[trace.len().saturating_sub(lines)..].join("\n")
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(format!("{:>6} {}", self.now.as_millis(), line()));
        }
    }

    fn schedule(&mut self, at: Duration, happening: Happening) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((at.max(self.now), seq)));
        self.happenings.insert(seq, happening);
    }

    /// Schedules something the stack of `side` reports, in order; returns
    /// when it will be reported.
    fn report(&mut self, side: usize, bound: u64, input: Input) -> Duration {
        let at = self.jitter(bound).max(self.event_tail[side]);
        self.event_tail[side] = at;
        let incarnation = self.sides[side].incarnation;
        self.schedule(
            at,
            Happening::Input {
                side,
                incarnation,
                input,
            },
        );
        at
    }

    fn jitter(&mut self, bound: u64) -> Duration {
        let extra = self.rng.below(bound);
        self.now + ms(extra)
    }

    /// Runs until nothing is left to happen; `Err` if that takes too long
    /// or a session or driver contract breaks.
    pub fn run(&mut self) -> Result<(), String> {
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(format!("no quiescence after {MAX_STEPS} steps"));
            }
            self.now = at;
            let Some(happening) = self.happenings.remove(&seq) else {
                continue;
            };
            self.happen(happening)?;
            self.check_ice();
            self.check_association();
        }
        Ok(())
    }

    fn happen(&mut self, happening: Happening) -> Result<(), String> {
        match happening {
            Happening::Start(side) => {
                if self.sides[side].started {
                    // It started over before, which starts it.
                    return Ok(());
                }
                self.note(|| format!("s{side} starts"));
                self.sides[side].started = true;
                self.sides[side].stack.create_data_channel();
                self.create_own_channel(side);
                self.flush_stack(side);
            }
            Happening::Chat(side) => {
                let s = &mut self.sides[side];
                s.chats_sent += 1;
                let name = s.config.local.to_string();
                let id = MessageId::new(format!("{name}.{}.{}", s.incarnation, s.chats_sent));
                let text = format!("message {} from {name}#{}", s.chats_sent, s.incarnation);
                self.sent[side].push(Sent {
                    id: id.clone(),
                    text: text.clone(),
                    incarnation: s.incarnation,
                    at: self.now,
                });
                self.input(side, Input::Chat { id, text })?;
            }
            Happening::Input {
                side,
                incarnation,
                input,
            } => {
                if incarnation != self.sides[side].incarnation {
                    return Ok(());
                }
                if let (Input::Relayed(_), Peers::OldClient { ready_at }) =
                    (&input, self.scenario.peers)
                {
                    if side == 1 && self.now < ms(ready_at) {
                        self.note(|| format!("s{side} not ready: drops {input:?}"));
                        return Ok(());
                    }
                }
                self.input(side, input)?;
            }
            Happening::OpDone {
                side,
                incarnation,
                op,
            } => {
                if incarnation == self.sides[side].incarnation {
                    self.complete(side, op)?;
                }
            }
            Happening::IceCheck { side, epoch } => {
                if epoch == self.sides[side].epoch {
                    self.sides[side].ice_check_pending = false;
                    self.maybe_fail_ice(side);
                }
            }
            Happening::Trouble(trouble) => self.inject_trouble(trouble),
            Happening::Restart(restart) => self.restart_side(restart)?,
            Happening::Pump { key, to } => self.pump(key, to)?,
            Happening::Closed { association, side } => self.closed(association, side),
        }
        Ok(())
    }

    /// An input for `side`'s driver: handled now, or once the operation
    /// the serial driver awaits is done.
    fn input(&mut self, side: usize, input: Input) -> Result<(), String> {
        if self.sides[side].busy {
            self.sides[side].deferred.push_back(input);
            return Ok(());
        }
        self.handle(side, input)
    }

    /// Hands one input to the session and carries out what it asks.
    fn handle(&mut self, side: usize, input: Input) -> Result<(), String> {
        let now = self.now;
        let current = self.sides[side].epoch;
        if self.trace.is_some() {
            let line = match &input {
                Input::Relayed(RelayItem::Message { message, parlor }) => {
                    format!(
                        "s{side} <- signal {} (parlor {parlor})",
                        short_signal(message)
                    )
                }
                other => format!("s{side} <- {other:?}"),
            };
            self.note(|| line);
        }
        let session = &mut self.sides[side].session;
        match input {
            Input::Relayed(RelayItem::Message { message, parlor }) => {
                if parlor {
                    session.handle_remote_is_parlor();
                }
                session.handle_signal(message, now);
            }
            Input::Relayed(RelayItem::PeerReset) => session.handle_remote_reset(now),
            Input::Stack { epoch, event } => {
                if epoch != current {
                    return Ok(());
                }
                match event {
                    StackEvent::NegotiationNeeded => session.handle_negotiation_needed(now),
                    StackEvent::LocalCandidate(candidate) => {
                        session.handle_local_candidate(candidate, now);
                    }
                }
            }
            Input::State { epoch, ice, conn } => {
                if epoch != current {
                    return Ok(());
                }
                session.handle_ice_state(ice, now);
                session.handle_connection_state(conn, now);
            }
            Input::Timer { at } => {
                if self.sides[side].timer_at != Some(at) {
                    return Ok(());
                }
                self.sides[side].timer_at = None;
                self.sides[side].session.handle_timeout(now);
            }
            Input::ChannelOpen { epoch, channel } => {
                if epoch != current {
                    return Ok(());
                }
                session.handle_channel_open(channel, now);
            }
            Input::ChannelText {
                epoch,
                channel,
                text,
            } => {
                if epoch != current {
                    return Ok(());
                }
                session.handle_channel_text(channel, &text, now);
            }
            Input::ChannelClosed { epoch, channel } => {
                if epoch != current {
                    return Ok(());
                }
                session.handle_channel_closed(channel);
            }
            Input::Chat { id, text } => {
                session.send_chat(id, text);
            }
        }
        self.drive(side)
    }

    /// Carries out what the session asks, until it asks nothing (or, for
    /// the serial driver, until an operation has to be awaited).
    fn drive(&mut self, side: usize) -> Result<(), String> {
        while !self.sides[side].busy {
            match self.sides[side].session.poll_output() {
                Output::Signal(message) => {
                    let parlor = self.sides[side].marks;
                    self.note(|| format!("s{side} -> signal {}", short_signal(&message)));
                    self.relay(side, RelayItem::Message { message, parlor });
                }
                Output::Stack(op) => self.start_operation(side, op)?,
                Output::Transmit {
                    channel,
                    text,
                    message,
                } => self.transmit(side, channel, text, message),
                Output::Event(event) => self.record(side, event),
                Output::Wait(deadline) => {
                    if deadline != self.sides[side].timer_at {
                        self.sides[side].timer_at = deadline;
                        if let Some(at) = deadline {
                            let incarnation = self.sides[side].incarnation;
                            self.schedule(
                                at,
                                Happening::Input {
                                    side,
                                    incarnation,
                                    input: Input::Timer { at },
                                },
                            );
                        }
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn record(&mut self, side: usize, event: SessionEvent) {
        if !matches!(event, SessionEvent::Trace(_)) {
            self.note(|| format!("s{side} event {event:?}"));
        }
        let s = &self.sides[side];
        self.events[side].push(Logged {
            incarnation: s.incarnation,
            epoch: s.epoch,
            at: self.now,
            event,
        });
    }

    fn relay(&mut self, from: usize, item: RelayItem) {
        let to = 1 - from;
        let at = self
            .jitter(self.scenario.max_delay)
            .max(self.relay_tail[from]);
        self.relay_tail[from] = at;
        // Addressed to the socket the other side has now.
        let incarnation = self.sides[to].incarnation;
        self.schedule(
            at,
            Happening::Input {
                side: to,
                incarnation,
                input: Input::Relayed(item),
            },
        );
    }

    /// Takes up a stack operation; it completes after a random latency.
    fn start_operation(&mut self, side: usize, op: StackOp) -> Result<(), String> {
        if self.sides[side].op_outstanding {
            return Err(format!(
                "side {side}: {op:?} while another operation is outstanding"
            ));
        }
        self.note(|| format!("s{side} -> op {}", short_op(&op)));
        self.sides[side].op_outstanding = true;
        if op == StackOp::RecreateConnection {
            // The engine closes the old connection first, and drops its
            // events from then on.
            self.new_connection(side, true);
            self.flush_stack(side);
        }
        let at = self.jitter(self.scenario.max_op_latency);
        let incarnation = self.sides[side].incarnation;
        self.schedule(
            at,
            Happening::OpDone {
                side,
                incarnation,
                op,
            },
        );
        if self.scenario.driver == Driver::Serial {
            self.sides[side].busy = true;
        }
        Ok(())
    }

    /// Runs the operation on the fake stack, reports its outcome and
    /// carries on: for the serial driver, with the inputs that waited.
    fn complete(&mut self, side: usize, op: StackOp) -> Result<(), String> {
        let now = self.now;
        let s = &mut self.sides[side];
        s.op_outstanding = false;
        let result = match &op {
            StackOp::CreateOffer { ice_restart } => s.stack.create_offer(*ice_restart).map(Some),
            StackOp::CreateAnswer => s.stack.create_answer().map(Some),
            StackOp::SetLocalDescription(d) => s.stack.set_local(d.clone()).map(|()| None),
            StackOp::SetRemoteDescription(d) => s.stack.set_remote(d.clone()).map(|()| None),
            StackOp::RollbackLocalDescription => s.stack.rollback().map(|()| None),
            StackOp::AddRemoteCandidate(c) => s.stack.add_candidate(c).map(|()| None),
            // Done when it was taken up.
            StackOp::RecreateConnection => Ok(None),
        };
        let outcome = match result {
            Ok(Some(sdp)) => OperationOutcome::Created(sdp),
            Ok(None) => OperationOutcome::Done,
            Err(error) => {
                if !matches!(op, StackOp::AddRemoteCandidate(_)) {
                    self.stack_errors
                        .push(format!("side {side}: {op:?}: {error}"));
                }
                OperationOutcome::Failed(error)
            }
        };
        self.note(|| format!("s{side} op done: {} -> {outcome:?}", short_op(&op)));
        self.sides[side]
            .session
            .handle_operation(outcome, now)
            .map_err(|error| format!("side {side}: driver contract broken: {error}"))?;
        self.flush_stack(side);
        self.sides[side].busy = false;
        self.drive(side)?;
        while !self.sides[side].busy {
            let Some(input) = self.sides[side].deferred.pop_front() else {
                break;
            };
            self.handle(side, input)?;
        }
        Ok(())
    }

    /// Sends a text on a channel, as the engine does with `send_text`.
    fn transmit(
        &mut self,
        side: usize,
        channel: ChannelId,
        text: String,
        message: Option<MessageId>,
    ) {
        let epoch = self.sides[side].epoch;
        let key = self.names[side].get(&channel).copied().filter(|key| {
            self.channels
                .get(key)
                .is_some_and(|c| c.epochs[side] == Some(epoch) && c.open[side])
        });
        let Some(key) = key else {
            self.note(|| format!("s{side} send on {channel:?} fails: {text}"));
            self.send_failures += 1;
            self.sides[side].session.handle_send_failed(
                channel,
                message,
                "the channel is gone".into(),
            );
            return;
        };
        if !self.alive(key) {
            self.note(|| format!("s{side} send on {channel:?} is lost: {text}"));
            self.lost_sends += 1;
            return;
        }
        self.note(|| format!("s{side} -> {channel:?} {text}"));
        let to = 1 - side;
        let delay = self.jitter(self.scenario.max_channel_delay);
        let Some(c) = self.channels.get_mut(&key) else {
            return;
        };
        let last = c.in_flight[to]
            .back()
            .map(|(at, _)| *at)
            .unwrap_or_default();
        let at = delay.max(c.floor[to]).max(last);
        c.in_flight[to].push_back((at, text));
        if !c.pump_scheduled[to] {
            c.pump_scheduled[to] = true;
            self.schedule(at, Happening::Pump { key, to });
        }
    }

    /// Whether a channel rides on the association of the two current
    /// connections.
    fn alive(&self, key: ChannelKey) -> bool {
        match (self.association, self.channels.get(&key)) {
            (Some(epochs), Some(c)) => c.epochs == [Some(epochs[0]), Some(epochs[1])],
            _ => false,
        }
    }

    /// Hands the texts that arrived on a channel to the receiving driver.
    fn pump(&mut self, key: ChannelKey, to: usize) -> Result<(), String> {
        let alive = self.alive(key);
        let linked = self.linked();
        let now = self.now;
        let Some(c) = self.channels.get_mut(&key) else {
            return Ok(());
        };
        c.pump_scheduled[to] = false;
        if !alive {
            c.in_flight[to].clear();
            return Ok(());
        }
        if !linked {
            // Held until the link works again (check_association).
            return Ok(());
        }
        let mut arrived = Vec::new();
        while c.in_flight[to].front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, text)) = c.in_flight[to].pop_front() {
                arrived.push(text);
            }
        }
        let next = c.in_flight[to].front().map(|(at, _)| *at);
        let (Some(epoch), Some(channel)) = (c.epochs[to], c.ids[to]) else {
            return Err(format!("channel {key:?} has no name on side {to}"));
        };
        if let Some(at) = next {
            c.pump_scheduled[to] = true;
            self.schedule(at, Happening::Pump { key, to });
        }
        for text in arrived {
            self.input(
                to,
                Input::ChannelText {
                    epoch,
                    channel,
                    text,
                },
            )?;
        }
        Ok(())
    }

    fn new_channel_id(&mut self, side: usize) -> ChannelId {
        self.sides[side].next_channel += 1;
        ChannelId(self.sides[side].next_channel)
    }

    /// The side's `chat` channel on its current connection.
    fn create_own_channel(&mut self, side: usize) {
        let epoch = self.sides[side].epoch;
        let key = (side, epoch);
        if self.channels.contains_key(&key) {
            return;
        }
        let id = self.new_channel_id(side);
        let mut epochs = [None, None];
        epochs[side] = Some(epoch);
        let mut ids = [None, None];
        ids[side] = Some(id);
        self.channels.insert(
            key,
            Channel {
                owner: side,
                epochs,
                ids,
                open: [false; 2],
                in_flight: [VecDeque::new(), VecDeque::new()],
                floor: [Duration::ZERO; 2],
                pump_scheduled: [false; 2],
            },
        );
        self.names[side].insert(id, key);
        if self
            .association
            .is_some_and(|association| association[side] == epoch)
        {
            self.join(key);
        }
    }

    /// A channel opens over the association: on its owner's side, then on
    /// the other side, which learns of it and names it.
    fn join(&mut self, key: ChannelKey) {
        let Some(owner) = self.channels.get(&key).map(|c| c.owner) else {
            return;
        };
        let other = 1 - owner;
        let epoch = self.sides[other].epoch;
        let id = self.new_channel_id(other);
        self.names[other].insert(id, key);
        if let Some(c) = self.channels.get_mut(&key) {
            c.epochs[other] = Some(epoch);
            c.ids[other] = Some(id);
        }
        for (side, bound) in [(owner, 30), (other, 60)] {
            let Some(c) = self.channels.get_mut(&key) else {
                return;
            };
            c.open[side] = true;
            let (Some(epoch), Some(channel)) = (c.epochs[side], c.ids[side]) else {
                return;
            };
            let at = self.report(side, bound, Input::ChannelOpen { epoch, channel });
            if let Some(c) = self.channels.get_mut(&key) {
                c.floor[side] = at;
            }
        }
    }

    /// The two current connections associate when they first link, and
    /// texts held while the link was broken go on.
    fn check_association(&mut self) {
        if !self.linked() {
            return;
        }
        let epochs = [self.sides[0].epoch, self.sides[1].epoch];
        if self.association != Some(epochs) {
            self.note(|| format!("association {epochs:?}"));
            self.association = Some(epochs);
            let keys: Vec<ChannelKey> = self
                .channels
                .iter()
                .filter(|(_, c)| c.epochs[c.owner] == Some(epochs[c.owner]))
                .map(|(key, _)| *key)
                .collect();
            for key in keys {
                self.join(key);
            }
        }
        let held: Vec<(ChannelKey, usize, Duration)> = self
            .channels
            .iter()
            .flat_map(|(key, c)| {
                (0..2).filter_map(move |to| match c.in_flight[to].front() {
                    Some((at, _)) if !c.pump_scheduled[to] => Some((*key, to, *at)),
                    _ => None,
                })
            })
            .filter(|(key, _, _)| self.alive(*key))
            .collect();
        for (key, to, at) in held {
            // SCTP retransmits on its timer, which backed off while the
            // link was down: a text that waited `d` arrives up to `d` after
            // the link works again.
            let waited = self.now.saturating_sub(at).as_millis();
            let waited = u64::try_from(waited).unwrap_or(RTO_MAX).min(RTO_MAX);
            let at = self.jitter(waited).max(at);
            if let Some(c) = self.channels.get_mut(&key) {
                c.pump_scheduled[to] = true;
            }
            self.schedule(at, Happening::Pump { key, to });
        }
    }

    /// The other end closed its connection: `side`'s stack sees every
    /// channel of the association close at once, and reports each.
    fn closed(&mut self, association: [u32; 2], side: usize) {
        let current = self.sides[side].epoch;
        if association[side] != current {
            return;
        }
        let closing: Vec<ChannelId> = self
            .channels
            .values_mut()
            .filter(|c| c.epochs == [Some(association[0]), Some(association[1])] && c.open[side])
            .filter_map(|c| {
                c.open[side] = false;
                c.ids[side]
            })
            .collect();
        for channel in closing {
            self.note(|| format!("s{side} stack: {channel:?} closed"));
            self.report(
                side,
                20,
                Input::ChannelClosed {
                    epoch: current,
                    channel,
                },
            );
        }
    }

    /// A fresh fake connection, set up like the first. The old one's
    /// association dies with what is in flight on it; if the old one was
    /// closed (not crashed) while the link worked, the other side's stack
    /// sees its channels close.
    fn new_connection(&mut self, side: usize, closed: bool) {
        let was_linked = self.linked();
        if let Some(epochs) = self.association.take() {
            let other = 1 - side;
            let keys: Vec<ChannelKey> = self
                .channels
                .iter()
                .filter(|(_, c)| c.epochs == [Some(epochs[0]), Some(epochs[1])])
                .map(|(key, _)| *key)
                .collect();
            for key in keys {
                if let Some(c) = self.channels.get_mut(&key) {
                    c.in_flight = [VecDeque::new(), VecDeque::new()];
                    c.open[side] = false;
                }
            }
            if closed && was_linked {
                let at = self.jitter(50);
                self.schedule(
                    at,
                    Happening::Closed {
                        association: epochs,
                        side: other,
                    },
                );
            }
        }
        self.sessions += 1;
        let s = &mut self.sides[side];
        s.epoch += 1;
        s.stack = FakeStack::new(format!("s{side}e{}", s.epoch), self.sessions);
        s.ice_up = false;
        s.ice_check_pending = false;
        let epoch = s.epoch;
        self.note(|| format!("s{side} new connection e{epoch}"));
        if self.sides[side].started {
            self.sides[side].stack.create_data_channel();
            self.create_own_channel(side);
        }
    }

    /// Delivers what the stack reported on its own, after a small delay.
    fn flush_stack(&mut self, side: usize) {
        while let Some(event) = self.sides[side].stack.events.pop_front() {
            let epoch = self.sides[side].epoch;
            self.report(side, 5, Input::Stack { epoch, event });
        }
    }

    /// Whether ICE and DTLS can work between the two committed states.
    pub fn linked(&self) -> bool {
        let [a, b] = [&self.sides[0].stack, &self.sides[1].stack];
        let (Some(a_ufrag), Some(b_ufrag)) = (a.local_ufrag(), b.local_ufrag()) else {
            return false;
        };
        a.current_local.is_some()
            && a.current_local == b.current_remote
            && a.current_remote == b.current_local
            && a.channel_negotiated()
            && a.has_remote_candidate_for(b_ufrag)
            && b.has_remote_candidate_for(a_ufrag)
            && !self
                .broken
                .contains(&(a_ufrag.to_owned(), b_ufrag.to_owned()))
    }

    /// The fake ICE agents: up when linked, `failed` when a committed
    /// negotiation stays unlinked for [`ICE_TIMEOUT`].
    fn check_ice(&mut self) {
        let linked = self.linked();
        for side in 0..2 {
            let s = &mut self.sides[side];
            if linked && !s.ice_up {
                s.ice_up = true;
                let epoch = s.epoch;
                self.report(
                    side,
                    20,
                    Input::State {
                        epoch,
                        ice: IceConnectionState::Connected,
                        conn: ConnectionState::Connected,
                    },
                );
            } else if !linked
                && !s.ice_check_pending
                && s.stack.signaling() == SignalingState::Stable
                && s.stack.current_remote.is_some()
            {
                s.ice_check_pending = true;
                let epoch = s.epoch;
                self.schedule(self.now + ICE_TIMEOUT, Happening::IceCheck { side, epoch });
            }
        }
    }

    fn maybe_fail_ice(&mut self, side: usize) {
        if self.linked() {
            return;
        }
        let s = &mut self.sides[side];
        let (Some(local), Some(remote)) = (s.stack.local_ufrag(), s.stack.remote_ufrag()) else {
            return;
        };
        if s.failed_reported
            .insert((local.to_owned(), remote.to_owned()))
        {
            s.ice_up = false;
            let epoch = s.epoch;
            self.report(
                side,
                0,
                Input::State {
                    epoch,
                    ice: IceConnectionState::Failed,
                    conn: ConnectionState::Failed,
                },
            );
        }
    }

    fn inject_trouble(&mut self, trouble: Trouble) {
        let [a, b] = [&self.sides[0].stack, &self.sides[1].stack];
        let (Some(a), Some(b)) = (a.local_ufrag(), b.local_ufrag()) else {
            // Nothing negotiated yet, so nothing to break.
            return;
        };
        let pair = (a.to_owned(), b.to_owned());
        self.note(|| format!("ICE trouble: {trouble:?}"));
        self.broken.insert(pair);
        let (ice, conn) = match trouble {
            Trouble::Failed => (IceConnectionState::Failed, ConnectionState::Failed),
            Trouble::Disconnected => (
                IceConnectionState::Disconnected,
                ConnectionState::Disconnected,
            ),
        };
        for side in 0..2 {
            self.sides[side].ice_up = false;
            let epoch = self.sides[side].epoch;
            self.report(side, 50, Input::State { epoch, ice, conn });
        }
    }

    /// The app on `side` starts over: new session, new connection, new
    /// signaling socket (messages in flight to the old one are lost); what
    /// the old session held is gone.
    fn restart_side(&mut self, restart: Restart) -> Result<(), String> {
        let side = restart.side;
        self.note(|| format!("{restart:?}"));
        self.restarts[side].push(self.now);
        let s = &mut self.sides[side];
        s.session = PeerSession::new(s.config.clone());
        s.incarnation += 1;
        s.chats_sent = 0;
        s.timer_at = None;
        s.op_outstanding = false;
        s.busy = false;
        s.deferred.clear();
        s.started = true;
        self.new_connection(side, restart.quit);
        if restart.notice {
            self.relay(side, RelayItem::PeerReset);
        }
        self.flush_stack(side);
        self.drive(side)
    }

    /// Everything the run must end with: negotiation converged.
    pub fn check_converged(&self) -> Result<(), String> {
        for (index, side) in self.sides.iter().enumerate() {
            if side.stack.signaling() != SignalingState::Stable {
                return Err(format!("side {index}'s stack is not stable"));
            }
            if !side.session.is_settled() {
                return Err(format!("side {index}'s session is not settled"));
            }
        }
        let [a, b] = [&self.sides[0].stack, &self.sides[1].stack];
        if a.current_local != b.current_remote || a.current_remote != b.current_local {
            return Err("descriptions do not pair up".into());
        }
        if !self.linked() {
            return Err("the fake ICE agents are not linked".into());
        }
        if !self.stack_errors.is_empty() {
            return Err(format!(
                "the stack refused operations: {:?}",
                self.stack_errors
            ));
        }
        Ok(())
    }

    /// Everything the conversation must show: each message of a side that
    /// did not start over since sending it shown once per incarnation of
    /// the receiver (at least once, in order) and reported delivered once;
    /// no failed sends, no plain text, no `info` shown as a message; one
    /// `Connected` per connection, as a Parlor peer, and the chat up at the
    /// end.
    ///
    /// Toward a peer that negotiates like an old client (no Parlor marker,
    /// no Parlor peer list), an `info` held up past the wait is taken for
    /// an old client's silence, which is right for a real one; this side's
    /// chat then ran in plain text for a while, which a real old client would
    /// have shown once but the checks below, by id, cannot follow. Such runs
    /// are checked for convergence only.
    pub fn check_chat(&self) -> Result<(), String> {
        if matches!(self.scenario.peers, Peers::OldClient { .. })
            && self.took_the_peer_for_an_old_client()
        {
            return Ok(());
        }
        for side in 0..2 {
            let other = 1 - side;
            let theirs: HashMap<&MessageId, (usize, &Sent)> = self.sent[other]
                .iter()
                .enumerate()
                .map(|(index, sent)| (&sent.id, (index, sent)))
                .collect();
            let mut shown: HashMap<(u32, &MessageId), usize> = HashMap::new();
            let mut last_shown: HashMap<u32, usize> = HashMap::new();
            let mut delivered: HashMap<&MessageId, usize> = HashMap::new();
            let mut connected: HashMap<(u32, u32), usize> = HashMap::new();
            let final_incarnation = [self.sides[0].incarnation, self.sides[1].incarnation];
            for logged in &self.events[side] {
                let at = logged.at.as_millis();
                match &logged.event {
                    SessionEvent::Message { text, id, .. } => {
                        if text.contains(r#""type":"info""#) {
                            return Err(format!(
                                "side {side} shows an info as a message at {at} ms: {text}"
                            ));
                        }
                        let Some(id) = id else {
                            return Err(format!("side {side} shows plain text at {at} ms: {text}"));
                        };
                        let Some((index, sent)) = theirs.get(id) else {
                            return Err(format!("side {side} shows a message nobody sent: {id}"));
                        };
                        if sent.text != *text {
                            return Err(format!(
                                "side {side} shows {id} as {text:?}, sent as {:?}",
                                sent.text
                            ));
                        }
                        let count = shown.entry((logged.incarnation, id)).or_default();
                        *count += 1;
                        if *count > 1 {
                            return Err(format!(
                                "side {side} (incarnation {}) shows {id} twice, again at {at} ms",
                                logged.incarnation
                            ));
                        }
                        if sent.incarnation == final_incarnation[other] {
                            if let Some(previous) = last_shown.insert(logged.incarnation, *index) {
                                if previous > *index {
                                    return Err(format!(
                                        "side {side} shows {id} at {at} ms after a later message, {}",
                                        self.sent[other][previous].id
                                    ));
                                }
                            }
                        }
                    }
                    SessionEvent::Delivered { id } => {
                        let ours = self.sent[side]
                            .iter()
                            .any(|sent| sent.id == *id && sent.incarnation == logged.incarnation);
                        if !ours {
                            return Err(format!(
                                "side {side} was told {id} was delivered, which this incarnation did not send"
                            ));
                        }
                        let shown_before = self.events[other]
                            .iter()
                            .any(|seen| seen.at <= logged.at && shows(&seen.event, id));
                        if !shown_before {
                            return Err(format!(
                                "side {side} was told at {at} ms that {id} was delivered before side {other} showed it"
                            ));
                        }
                        let count = delivered.entry(id).or_default();
                        *count += 1;
                        if *count > 1 {
                            return Err(format!(
                                "side {side} was told twice that {id} was delivered, again at {at} ms"
                            ));
                        }
                    }
                    SessionEvent::SendFailed { id, reason } => {
                        return Err(format!(
                            "side {side}: sending {id} failed at {at} ms: {reason}"
                        ));
                    }
                    SessionEvent::Connected { parlor, .. } => {
                        if !parlor {
                            return Err(format!(
                                "side {side} took the Parlor peer for an old client at {at} ms"
                            ));
                        }
                        let count = connected
                            .entry((logged.incarnation, logged.epoch))
                            .or_default();
                        *count += 1;
                        if *count > 1 {
                            return Err(format!(
                                "side {side} reported Connected twice on connection {} (incarnation {}), again at {at} ms",
                                logged.epoch, logged.incarnation
                            ));
                        }
                    }
                    _ => {}
                }
            }
            let now = (final_incarnation[side], self.sides[side].epoch);
            if connected.get(&now).copied().unwrap_or_default() != 1 {
                return Err(format!(
                    "side {side}'s chat is not up on its final connection {}",
                    now.1
                ));
            }
            for sent in &self.sent[other] {
                if sent.incarnation != final_incarnation[other] {
                    continue;
                }
                let times: usize = shown
                    .iter()
                    .filter(|((_, id), _)| **id == sent.id)
                    .map(|(_, count)| *count)
                    .sum();
                if times == 0 {
                    return Err(format!(
                        "side {side} never shows {} (sent at {} ms)",
                        sent.id,
                        sent.at.as_millis()
                    ));
                }
            }
            for sent in &self.sent[other] {
                let mut incarnations: Vec<u32> = shown
                    .keys()
                    .filter(|(_, id)| **id == sent.id)
                    .map(|(incarnation, _)| *incarnation)
                    .collect();
                incarnations.sort_unstable();
                let acknowledged = self.delivered_at(other, &sent.id);
                for later in incarnations.iter().skip(1) {
                    let began = self.restarts[side][*later as usize - 1];
                    if acknowledged.is_some_and(|at| at < began) {
                        return Err(format!(
                            "side {side} shows {} again after starting over at {} ms, though it was acknowledged before",
                            sent.id,
                            began.as_millis()
                        ));
                    }
                }
            }
            for sent in &self.sent[side] {
                if sent.incarnation == final_incarnation[side] && !delivered.contains_key(&sent.id)
                {
                    return Err(format!(
                        "side {side} is never told {} (sent at {} ms) was delivered",
                        sent.id,
                        sent.at.as_millis()
                    ));
                }
            }
        }
        Ok(())
    }

    /// When `side` was told its message `id` was delivered.
    fn delivered_at(&self, side: usize, id: &MessageId) -> Option<Duration> {
        self.events[side]
            .iter()
            .find_map(|logged| match &logged.event {
                SessionEvent::Delivered { id: delivered } if delivered == id => Some(logged.at),
                _ => None,
            })
    }

    /// Whether a side ever announced the peer as an old client.
    fn took_the_peer_for_an_old_client(&self) -> bool {
        self.events
            .iter()
            .flatten()
            .any(|logged| matches!(logged.event, SessionEvent::Connected { parlor: false, .. }))
    }

    /// Whether anything started at all (a run where nobody ever creates a
    /// data channel has nothing to converge to).
    pub fn anyone_started(&self) -> bool {
        self.sides.iter().any(|side| side.started)
    }

    /// The session events of `side`, in order.
    pub fn events_of(&self, side: usize) -> impl Iterator<Item = &SessionEvent> {
        self.events[side].iter().map(|logged| &logged.event)
    }
}

/// Whether `event` shows message `id`.
fn shows(event: &SessionEvent, id: &MessageId) -> bool {
    matches!(event, SessionEvent::Message { id: Some(shown), .. } if shown == id)
}

fn short_signal(message: &SignalMessage) -> String {
    match message {
        SignalMessage::Description(d) => {
            let origin = d.sdp.lines().find(|l| l.starts_with("o=")).unwrap_or("");
            let ufrag = super::fake_stack::ufrag_of(&d.sdp).unwrap_or("");
            format!("{:?} [{origin} {ufrag}]", d.kind)
        }
        SignalMessage::Candidate(c) => format!("candidate {}", c.candidate),
        SignalMessage::EndOfCandidates => "end-of-candidates".into(),
    }
}

fn short_op(op: &StackOp) -> String {
    match op {
        StackOp::SetLocalDescription(d) => format!("SetLocal({:?})", d.kind),
        StackOp::SetRemoteDescription(d) => format!("SetRemote({:?})", d.kind),
        StackOp::AddRemoteCandidate(c) => format!("AddCandidate({})", c.candidate),
        other => format!("{other:?}"),
    }
}
