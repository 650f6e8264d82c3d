//! Two negotiators, two fake stacks and a FIFO relay with random delays,
//! run as a discrete-event simulation that is deterministic given its seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::time::Duration;

use parlor_negotiation::{
    Action, Config, ConnectionState, Event, IceConnectionState, Negotiator, Role, SignalMessage,
    SignalingState, StackOp,
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

/// Everything random about one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Side 0's role; side 1 takes the other.
    pub side0_polite: bool,
    /// When each side creates its data channel (`None`: never).
    pub starts: [Option<u64>; 2],
    /// Largest relay delay per message, in ms.
    pub max_delay: u64,
    /// Largest stack operation latency, in ms.
    pub max_op_latency: u64,
    /// Side 1 drops relayed messages that arrive before this time (ms): an
    /// old client still fetching `/turn`.
    pub side1_ready_at: u64,
    /// ICE breaks at this time (ms).
    pub trouble: Option<(u64, Trouble)>,
    /// This side starts over at this time (ms), and whether the signaling
    /// server tells the other side.
    pub restart: Option<(u64, usize, bool)>,
}

/// What happens next in the simulation.
#[derive(Debug)]
enum Happening {
    Start(usize),
    Deliver {
        to: usize,
        socket: u32,
        item: RelayItem,
    },
    OpDone {
        side: usize,
        core: u32,
        op: StackOp,
    },
    StackEvent {
        side: usize,
        epoch: u32,
        event: StackEvent,
    },
    State {
        side: usize,
        epoch: u32,
        ice: IceConnectionState,
        conn: ConnectionState,
    },
    Timer {
        side: usize,
        core: u32,
        at: Duration,
    },
    IceCheck {
        side: usize,
        epoch: u32,
    },
    Trouble(Trouble),
    Restart {
        side: usize,
        notify: bool,
    },
}

#[derive(Debug)]
enum RelayItem {
    Message(SignalMessage),
    PeerReset,
}

struct Side {
    core: Negotiator,
    /// Bumped when the negotiator is replaced (the app restarted).
    core_gen: u32,
    stack: FakeStack,
    /// Bumped on every new peer connection.
    epoch: u32,
    /// Bumped when the signaling socket is replaced.
    socket: u32,
    started: bool,
    timer_at: Option<Duration>,
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
    pub stack_errors: Vec<String>,
    pub steps: usize,
    /// Every progress event of each side, in order.
    pub events: [Vec<Event>; 2],
}

/// Longer than the core's disconnected grace, as real ICE agents wait longer
/// before `failed` than Parlor waits before restarting.
const ICE_TIMEOUT: Duration = Duration::from_secs(8);
const MAX_STEPS: usize = 50_000;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

impl Sim {
    pub fn new(scenario: Scenario) -> Self {
        let roles = if scenario.side0_polite {
            [Role::Polite, Role::Impolite]
        } else {
            [Role::Impolite, Role::Polite]
        };
        let side = |index: usize, session: u64| Side {
            core: Negotiator::new(roles[index], Config::default()),
            core_gen: 0,
            stack: FakeStack::new(format!("s{index}e0"), session),
            epoch: 0,
            socket: 0,
            started: false,
            timer_at: None,
            ice_up: false,
            ice_check_pending: false,
            failed_reported: HashSet::new(),
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
            stack_errors: Vec::new(),
            steps: 0,
            events: [Vec::new(), Vec::new()],
            scenario,
        };
        for side in 0..2 {
            if let Some(at) = sim.scenario.starts[side] {
                sim.schedule(ms(at), Happening::Start(side));
            }
        }
        if let Some((at, trouble)) = sim.scenario.trouble {
            sim.schedule(ms(at), Happening::Trouble(trouble));
        }
        if let Some((at, side, notify)) = sim.scenario.restart {
            sim.schedule(ms(at), Happening::Restart { side, notify });
        }
        sim
    }

    fn schedule(&mut self, at: Duration, happening: Happening) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((at.max(self.now), seq)));
        self.happenings.insert(seq, happening);
    }

    /// Schedules something the stack of `side` reports, in order.
    fn report(&mut self, side: usize, bound: u64, happening: Happening) {
        let at = self.jitter(bound).max(self.event_tail[side]);
        self.event_tail[side] = at;
        self.schedule(at, happening);
    }

    fn jitter(&mut self, bound: u64) -> Duration {
        let extra = self.rng.below(bound);
        self.now + ms(extra)
    }

    /// Runs until nothing is left to happen; `Err` if that takes too long.
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
        }
        Ok(())
    }

    fn happen(&mut self, happening: Happening) -> Result<(), String> {
        let now = self.now;
        match happening {
            Happening::Start(side) => {
                self.sides[side].started = true;
                self.sides[side].stack.create_data_channel();
                self.flush_stack(side);
            }
            Happening::Deliver { to, socket, item } => {
                let ready = to != 1 || now >= ms(self.scenario.side1_ready_at);
                if socket == self.sides[to].socket && ready {
                    match item {
                        RelayItem::Message(message) => {
                            self.sides[to].core.handle_remote_message(message, now);
                        }
                        RelayItem::PeerReset => self.sides[to].core.remote_reset(now),
                    }
                    self.drive(to)?;
                }
            }
            Happening::OpDone { side, core, op } => {
                if core == self.sides[side].core_gen {
                    self.execute(side, op)?;
                    self.drive(side)?;
                }
            }
            Happening::StackEvent { side, epoch, event } => {
                if epoch == self.sides[side].epoch {
                    let core = &mut self.sides[side].core;
                    match event {
                        StackEvent::NegotiationNeeded => core.handle_negotiation_needed(now),
                        StackEvent::LocalCandidate(candidate) => {
                            core.handle_local_candidate(candidate, now);
                        }
                    }
                    self.drive(side)?;
                }
            }
            Happening::State {
                side,
                epoch,
                ice,
                conn,
            } => {
                if epoch == self.sides[side].epoch {
                    self.sides[side].core.handle_ice_state(ice, now);
                    self.sides[side].core.handle_connection_state(conn, now);
                    self.drive(side)?;
                }
            }
            Happening::Timer { side, core, at } => {
                if core == self.sides[side].core_gen && self.sides[side].timer_at == Some(at) {
                    self.sides[side].timer_at = None;
                    self.sides[side].core.handle_timeout(now);
                    self.drive(side)?;
                }
            }
            Happening::IceCheck { side, epoch } => {
                if epoch == self.sides[side].epoch {
                    self.sides[side].ice_check_pending = false;
                    self.maybe_fail_ice(side);
                }
            }
            Happening::Trouble(trouble) => self.inject_trouble(trouble),
            Happening::Restart { side, notify } => self.restart_side(side, notify)?,
        }
        Ok(())
    }

    /// Carries out the core's actions and re-arms its timer.
    fn drive(&mut self, side: usize) -> Result<(), String> {
        while let Some(action) = self.sides[side].core.poll_action() {
            match action {
                Action::Stack(op) => {
                    let at = self.jitter(self.scenario.max_op_latency);
                    let core = self.sides[side].core_gen;
                    self.schedule(at, Happening::OpDone { side, core, op });
                }
                Action::Send(message) => self.relay(side, RelayItem::Message(message)),
            }
        }
        while let Some(event) = self.sides[side].core.poll_event() {
            self.events[side].push(event);
        }
        let next = self.sides[side].core.poll_timeout();
        if next.is_some() && next != self.sides[side].timer_at {
            self.sides[side].timer_at = next;
            if let Some(at) = next {
                let core = self.sides[side].core_gen;
                self.schedule(at, Happening::Timer { side, core, at });
            }
        }
        Ok(())
    }

    fn relay(&mut self, from: usize, item: RelayItem) {
        let to = 1 - from;
        let at = self
            .jitter(self.scenario.max_delay)
            .max(self.relay_tail[from]);
        self.relay_tail[from] = at;
        let socket = self.sides[to].socket;
        self.schedule(at, Happening::Deliver { to, socket, item });
    }

    /// Runs one operation on the fake stack and reports its outcome.
    fn execute(&mut self, side: usize, op: StackOp) -> Result<(), String> {
        let now = self.now;
        let s = &mut self.sides[side];
        let outcome = match &op {
            StackOp::CreateOffer { ice_restart } => s.stack.create_offer(*ice_restart).map(Some),
            StackOp::CreateAnswer => s.stack.create_answer().map(Some),
            StackOp::SetLocalDescription(d) => s.stack.set_local(d.clone()).map(|()| None),
            StackOp::SetRemoteDescription(d) => s.stack.set_remote(d.clone()).map(|()| None),
            StackOp::RollbackLocalDescription => s.stack.rollback().map(|()| None),
            StackOp::AddRemoteCandidate(c) => s.stack.add_candidate(c).map(|()| None),
            StackOp::RecreateConnection => {
                self.new_connection(side);
                Ok(None)
            }
        };
        let s = &mut self.sides[side];
        let reported = match outcome {
            Ok(Some(sdp)) => s.core.handle_description_created(sdp, now),
            Ok(None) => s.core.handle_operation_done(now),
            Err(error) => {
                if !matches!(op, StackOp::AddRemoteCandidate(_)) {
                    self.stack_errors
                        .push(format!("side {side}: {op:?}: {error}"));
                }
                self.sides[side].core.handle_operation_failed(error, now)
            }
        };
        reported.map_err(|error| format!("driver contract broken: {error}"))?;
        self.flush_stack(side);
        Ok(())
    }

    /// A fresh fake connection, set up like the first.
    fn new_connection(&mut self, side: usize) {
        self.sessions += 1;
        let s = &mut self.sides[side];
        s.epoch += 1;
        s.stack = FakeStack::new(format!("s{side}e{}", s.epoch), self.sessions);
        s.ice_up = false;
        s.ice_check_pending = false;
        if s.started {
            s.stack.create_data_channel();
        }
    }

    /// Delivers what the stack reported on its own, after a small delay.
    fn flush_stack(&mut self, side: usize) {
        while let Some(event) = self.sides[side].stack.events.pop_front() {
            let epoch = self.sides[side].epoch;
            self.report(side, 5, Happening::StackEvent { side, epoch, event });
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
                    Happening::State {
                        side,
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
                Happening::State {
                    side,
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
        self.broken.insert((a.to_owned(), b.to_owned()));
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
            self.report(
                side,
                50,
                Happening::State {
                    side,
                    epoch,
                    ice,
                    conn,
                },
            );
        }
    }

    /// The app on `side` restarts: new negotiator, new connection, new
    /// signaling socket (messages in flight to the old one are lost).
    fn restart_side(&mut self, side: usize, notify: bool) -> Result<(), String> {
        let role = self.sides[side].core.role();
        self.sides[side].core = Negotiator::new(role, Config::default());
        self.sides[side].core_gen += 1;
        self.sides[side].socket += 1;
        self.sides[side].timer_at = None;
        self.sides[side].started = true;
        self.new_connection(side);
        if notify {
            self.relay(side, RelayItem::PeerReset);
        }
        self.flush_stack(side);
        Ok(())
    }

    /// Everything the run must end with.
    pub fn check_converged(&self) -> Result<(), String> {
        for (index, side) in self.sides.iter().enumerate() {
            if side.stack.signaling() != SignalingState::Stable {
                return Err(format!("side {index}'s stack is not stable"));
            }
            if !side.core.is_idle() {
                return Err(format!("side {index}'s core is not idle: {:?}", side.core));
            }
            if !side.core.is_connected() {
                return Err(format!("side {index} does not consider itself connected"));
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

    /// Whether anything started at all (a run where nobody ever creates a
    /// data channel has nothing to converge to).
    pub fn anyone_started(&self) -> bool {
        self.sides.iter().any(|side| side.started)
    }
}
