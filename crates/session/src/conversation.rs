//! The chat with one peer over however many channels and connections it
//! takes: the `info` handshake, plain text for old clients, ids and
//! acknowledgements between Parlor peers, re-sending what was not
//! acknowledged, and which channel messages go out on.
//!
//! # Channel policy
//!
//! Both sides create a `chat` channel, so a connection may carry two (and an
//! old client makes another each time its user clicks "Connect"). The first
//! channel that opens carries our `info` and, for the rest of the
//! connection, every message we send: one ordered channel keeps our
//! messages in order, and an old client only knows who is talking on the
//! channel where it first heard `info` (it keeps one "got info" flag per
//! connection and shows a second `info` as a chat message). Messages are
//! read from every channel; another channel is used only if the first
//! closes.

use std::collections::VecDeque;
use std::time::Duration;

use parlor_protocol::{Frame, Info, MessageId, sanitize_name};

use crate::bounds::{DropReason, MessageRate, SeenIds};
use crate::output::{ChannelId, Output, SessionEvent};

/// How long after our channel opens we wait for the peer's `info` before
/// taking it for an old client that never sends one.
pub const INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// A message of ours, from [`Conversation::send`] until it is acknowledged
/// (Parlor peers) or sent (old clients, which cannot acknowledge).
struct Pending {
    id: MessageId,
    text: String,
    /// Sent on the current send channel.
    sent: bool,
}

/// The chat state with one peer.
pub(crate) struct Conversation {
    peer: String,
    local_info: Info,
    /// What the peer said about itself on this connection; `None` until its
    /// `info` arrives (or the wait for one times out).
    remote: Option<Info>,
    /// `remote` is a guess (no `info` came in time), not what the peer said.
    guessed: bool,
    /// The peer is known to be a Parlor peer (peer list, Parlor marker), so
    /// it will send `info`: never guess it is an old client.
    known_parlor: bool,
    /// Open channels of the current connection, in the order they opened.
    channels: Vec<ChannelId>,
    /// The channel that carried our `info`, and carries our messages.
    send_channel: Option<ChannelId>,
    /// Whether `Connected` was reported for this connection (again after a
    /// corrected guess).
    announced: bool,
    /// When to stop waiting for the peer's `info`.
    info_deadline: Option<Duration>,
    outbox: VecDeque<Pending>,
    /// Bytes of our messages taken out of the outbox, ever.
    released: usize,
    /// Ids of messages received, to show re-sent ones once.
    seen: SeenIds,
    /// How fast the peer sends messages.
    rate: MessageRate,
}

impl Conversation {
    pub(crate) fn new(peer: &str, local_info: Info, known_parlor: bool) -> Self {
        Self {
            peer: peer.to_owned(),
            local_info,
            remote: None,
            guessed: false,
            known_parlor,
            channels: Vec::new(),
            send_channel: None,
            announced: false,
            info_deadline: None,
            outbox: VecDeque::new(),
            released: 0,
            seen: SeenIds::default(),
            rate: MessageRate::default(),
        }
    }

    /// The next time [`Self::handle_timeout`] is due.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.info_deadline
    }

    /// Whether the peer announced itself as a Parlor peer on this connection.
    pub(crate) fn remote_is_parlor(&self) -> bool {
        self.remote.as_ref().is_some_and(Info::is_parlor)
    }

    /// The peer turned out to be a Parlor peer: wait for its `info` however
    /// long ICE or loss delay it.
    pub(crate) fn mark_parlor(&mut self) {
        self.known_parlor = true;
        if self.remote.is_none() {
            self.info_deadline = None;
        }
    }

    pub(crate) fn channel_open(
        &mut self,
        channel: ChannelId,
        now: Duration,
        out: &mut VecDeque<Output>,
    ) {
        if self.channels.contains(&channel) {
            return;
        }
        self.channels.push(channel);
        if self.send_channel.is_some() {
            return;
        }
        self.send_channel = Some(channel);
        out.push_back(Output::Transmit {
            channel,
            text: Frame::Info(self.local_info.clone()).to_text(),
            message: None,
        });
        if self.remote.is_some() {
            self.flush(out);
        } else if !self.known_parlor {
            self.info_deadline = Some(now + INFO_TIMEOUT);
        }
    }

    pub(crate) fn channel_closed(&mut self, channel: ChannelId, out: &mut VecDeque<Output>) {
        let Some(index) = self.channels.iter().position(|c| *c == channel) else {
            return;
        };
        self.channels.remove(index);
        if self.send_channel != Some(channel) {
            return;
        }
        match self.channels.first() {
            Some(next) => {
                // What was in flight on the closed channel may be lost:
                // send everything unacknowledged again on the next one (the
                // peer shows each id once).
                self.send_channel = Some(*next);
                self.unsend_all();
                self.flush(out);
            }
            None => self.connection_lost(),
        }
    }

    /// The connection is gone (or replaced): its channels with it.
    pub(crate) fn connection_lost(&mut self) {
        self.channels.clear();
        self.send_channel = None;
        self.remote = None;
        self.guessed = false;
        self.announced = false;
        self.info_deadline = None;
        self.unsend_all();
    }

    pub(crate) fn send_failed(
        &mut self,
        channel: ChannelId,
        message: Option<MessageId>,
        reason: String,
        out: &mut VecDeque<Output>,
    ) {
        // A message still in the outbox goes out again (a Parlor peer's,
        // until acknowledged); one that left it (an old client's, once
        // sent) is lost, and the sender is told.
        let queued = |id: &MessageId| self.outbox.iter().any(|p| p.id == *id);
        if let Some(id) = message.filter(|id| !queued(id)) {
            out.push_back(Output::Event(SessionEvent::SendFailed { id, reason }));
        }
        // A channel that cannot send is as good as closed; a Parlor peer's
        // unacknowledged messages go out again on the next channel.
        self.channel_closed(channel, out);
    }

    pub(crate) fn handle_timeout(&mut self, now: Duration, out: &mut VecDeque<Output>) {
        if self.info_deadline.is_some_and(|at| now >= at) {
            self.info_deadline = None;
            if self.remote.is_none() && self.send_channel.is_some() && !self.known_parlor {
                self.remote = Some(Info::old_client(&self.peer));
                self.guessed = true;
                self.flush(out);
            }
        }
    }

    /// Bytes of our messages not yet acknowledged by the peer.
    pub(crate) fn unacked_bytes(&self) -> usize {
        self.outbox.iter().map(|pending| pending.text.len()).sum()
    }

    /// Bytes of our messages taken out of the outbox so far, ever.
    pub(crate) fn released_bytes(&self) -> usize {
        self.released
    }

    /// Queues a message; one already queued (the same id handed over again,
    /// from the driver's store) is not queued twice: `false`.
    pub(crate) fn send(&mut self, id: MessageId, text: String, out: &mut VecDeque<Output>) -> bool {
        if self.outbox.iter().any(|pending| pending.id == id) {
            return false;
        }
        self.outbox.push_back(Pending {
            id,
            text,
            sent: false,
        });
        self.flush(out);
        true
    }

    /// Puts `owed` (older messages, in the order they were written) ahead
    /// of everything queued that is not among them, keeping what was
    /// already sent on this connection as sent. Returns the bytes added.
    pub(crate) fn restore(
        &mut self,
        owed: Vec<(MessageId, String)>,
        out: &mut VecDeque<Output>,
    ) -> usize {
        let mut added = 0;
        let mut outbox = VecDeque::with_capacity(owed.len() + self.outbox.len());
        for (id, text) in owed {
            if outbox.iter().any(|p: &Pending| p.id == id) {
                continue;
            }
            match self.outbox.iter().position(|p| p.id == id) {
                Some(index) => outbox.extend(self.outbox.remove(index)),
                None => {
                    added += text.len();
                    outbox.push_back(Pending {
                        id,
                        text,
                        sent: false,
                    });
                }
            }
        }
        outbox.append(&mut self.outbox);
        self.outbox = outbox;
        self.flush(out);
        added
    }

    /// Sends a file transfer control frame now; `false` when there is no
    /// open channel to a peer that takes files (the transfer layer offers
    /// again when the peer connects).
    pub(crate) fn send_control(&mut self, frame: &Frame, out: &mut VecDeque<Output>) -> bool {
        let (Some(remote), Some(channel)) = (&self.remote, self.send_channel) else {
            return false;
        };
        if !remote.supports_files() {
            return false;
        }
        out.push_back(Output::Transmit {
            channel,
            text: frame.to_text(),
            message: None,
        });
        true
    }

    /// Whether the peer said it takes files.
    pub(crate) fn remote_supports_files(&self) -> bool {
        self.remote.as_ref().is_some_and(Info::supports_files)
    }

    /// Ids of the messages queued for the peer, oldest first.
    pub(crate) fn queued_ids(&self) -> Vec<MessageId> {
        self.outbox
            .iter()
            .map(|pending| pending.id.clone())
            .collect()
    }

    /// Whether the peer is known to be a Parlor peer, which acknowledges.
    pub(crate) fn known_parlor(&self) -> bool {
        self.known_parlor || self.remote_is_parlor()
    }

    /// A text arrived; `Err` when the peer went over a bound and is to be
    /// dropped.
    pub(crate) fn received(
        &mut self,
        channel: ChannelId,
        text: &str,
        now: Duration,
        out: &mut VecDeque<Output>,
    ) -> Result<(), DropReason> {
        let frame = Frame::parse(text);
        let is_message = match &frame {
            Some(frame) => matches!(frame, Frame::Chat { .. }) || frame.is_file_control(),
            None => true,
        };
        if is_message && !self.rate.take(now) {
            return Err(DropReason::Flooding);
        }
        match frame {
            Some(Frame::Info(mut info)) => {
                // One `info` per connection counts: a second one (an old
                // client's extra channel) is accepted and changes nothing.
                // A Parlor `info` after we guessed "old client" (it was held
                // up past the wait) corrects the guess.
                let correction = self.guessed && info.is_parlor();
                if self.remote.is_none() || correction {
                    info.name = info.name.as_deref().and_then(sanitize_name);
                    self.remote = Some(info);
                    self.guessed = false;
                    self.announced = false;
                    self.info_deadline = None;
                    self.flush(out);
                }
            }
            Some(Frame::Chat { id, text }) => {
                // The message before its acknowledgement: a driver that
                // keeps messages on disk has written it before the sender
                // is told it arrived, so a crash in between loses nothing.
                if self.seen.insert(id.clone()) {
                    out.push_back(Output::Event(self.message(text, Some(id.clone()))));
                }
                out.push_back(Output::Transmit {
                    channel,
                    text: Frame::Ack { id }.to_text(),
                    message: None,
                });
            }
            Some(Frame::Ack { id }) => {
                if let Some(index) = self.outbox.iter().position(|p| p.id == id) {
                    if let Some(pending) = self.outbox.remove(index) {
                        self.released += pending.text.len();
                    }
                    out.push_back(Output::Event(SessionEvent::Delivered { id }));
                }
            }
            Some(control) if control.is_file_control() => {
                out.push_back(Output::Event(SessionEvent::FileControl(control)));
            }
            Some(_) => {}
            None => out.push_back(Output::Event(self.message(text.to_owned(), None))),
        }
        Ok(())
    }

    fn message(&self, text: String, id: Option<MessageId>) -> SessionEvent {
        SessionEvent::Message {
            text,
            id,
            name: self.remote.as_ref().and_then(|info| info.name.clone()),
        }
    }

    fn unsend_all(&mut self) {
        for pending in &mut self.outbox {
            pending.sent = false;
        }
    }

    /// Once the peer is known and a channel is open: announces the peer
    /// (once per connection) and sends everything not yet sent, framed for
    /// a Parlor peer or as plain text for an old client.
    fn flush(&mut self, out: &mut VecDeque<Output>) {
        let (Some(remote), Some(channel)) = (&self.remote, self.send_channel) else {
            return;
        };
        let acked = remote.supports_acked_messages();
        if !self.announced {
            self.announced = true;
            out.push_back(Output::Event(SessionEvent::Connected {
                parlor: acked,
                name: remote.name.clone(),
            }));
        }
        for pending in self.outbox.iter_mut().filter(|p| !p.sent) {
            pending.sent = true;
            let text = if acked {
                Frame::Chat {
                    id: pending.id.clone(),
                    text: pending.text.clone(),
                }
                .to_text()
            } else {
                pending.text.clone()
            };
            out.push_back(Output::Transmit {
                channel,
                text,
                message: Some(pending.id.clone()),
            });
        }
        if !acked {
            let released = &mut self.released;
            self.outbox.retain(|p| {
                if p.sent {
                    *released += p.text.len();
                }
                !p.sent
            });
        }
    }
}
