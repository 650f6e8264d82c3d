//! The chat conversation with one peer, over however many channels and
//! connections it takes: the `info` handshake, plain text for old clients,
//! ids and acknowledgements between Parlor peers, and re-sending what was not
//! acknowledged when a connection is replaced.
//!
//! No I/O here: the peer task feeds it channel events and sends the texts it
//! returns, which keeps the rules testable on their own.

use std::collections::{HashSet, VecDeque};

use crate::chat::{Frame, Info};
use crate::events::EventKind;

/// What the peer task must do after feeding the conversation an input.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Output {
    /// Texts to send on the chat channel, in order.
    pub send: Vec<String>,
    /// Events to report.
    pub events: Vec<EventKind>,
}

/// The chat state with one remote peer.
pub(crate) struct Conversation {
    peer: String,
    local_info: Info,
    /// What the remote said about itself; `None` until its `info` arrives.
    remote: Option<Info>,
    /// Whether a chat channel is open to send on.
    open: bool,
    /// Whether `peer-connected` was reported for the current channel.
    announced: bool,
    /// Messages not yet sent, or sent to a Parlor peer and not acknowledged.
    outbox: VecDeque<Pending>,
    /// Ids of messages received from the remote, to drop re-sent duplicates.
    seen: HashSet<String>,
}

struct Pending {
    id: String,
    text: String,
    /// Sent on the current channel (an old client cannot acknowledge, so its
    /// messages leave the outbox once sent).
    sent: bool,
}

impl Conversation {
    pub(crate) fn new(peer: &str, local_info: Info) -> Self {
        Self {
            peer: peer.to_owned(),
            local_info,
            remote: None,
            open: false,
            announced: false,
            outbox: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// A chat channel opened: say who we are. Queued messages wait for the
    /// remote's `info`, which tells whether to send them as plain text.
    pub(crate) fn opened(&mut self) -> Output {
        self.open = true;
        let mut out = Output {
            send: vec![Frame::Info(self.local_info.clone()).to_text()],
            ..Output::default()
        };
        if self.remote.is_some() {
            self.flush(&mut out);
        }
        out
    }

    /// The channel (or the whole connection) is gone. Unacknowledged
    /// messages stay queued for the next channel.
    pub(crate) fn closed(&mut self) {
        self.open = false;
        self.announced = false;
        self.remote = None;
        for pending in &mut self.outbox {
            pending.sent = false;
        }
    }

    /// The remote never sent `info` after the channel opened: treat it as an
    /// old client that only speaks plain text.
    pub(crate) fn info_timed_out(&mut self) -> Output {
        let mut out = Output::default();
        if self.open && self.remote.is_none() {
            self.remote = Some(Info {
                peer_id: self.peer.clone(),
                app: None,
                version: None,
                name: None,
                caps: Vec::new(),
            });
            self.flush(&mut out);
        }
        out
    }

    /// Whether the remote's `info` is still awaited on an open channel.
    pub(crate) fn awaiting_info(&self) -> bool {
        self.open && self.remote.is_none()
    }

    /// The user sent `text`; `id` names it in `sent`/`delivered` events.
    pub(crate) fn send(&mut self, id: String, text: String) -> Output {
        self.outbox.push_back(Pending {
            id,
            text,
            sent: false,
        });
        let mut out = Output::default();
        if self.open && self.remote.is_some() {
            self.flush(&mut out);
        }
        out
    }

    /// A text arrived on a chat channel.
    pub(crate) fn received(&mut self, text: &str) -> Output {
        let mut out = Output::default();
        match Frame::parse(text) {
            Some(Frame::Info(info)) => {
                let first = self.remote.is_none();
                self.remote = Some(info);
                if first {
                    self.flush(&mut out);
                }
            }
            Some(Frame::Chat { id, text }) => {
                out.send.push(Frame::Ack { id: id.clone() }.to_text());
                if self.seen.insert(id.clone()) {
                    out.events.push(self.message(text, Some(id)));
                }
            }
            Some(Frame::Ack { id }) => {
                if let Some(index) = self.outbox.iter().position(|p| p.id == id) {
                    self.outbox.remove(index);
                    out.events.push(EventKind::Delivered {
                        id,
                        to: self.peer.clone(),
                    });
                }
            }
            None => out.events.push(self.message(text.to_owned(), None)),
        }
        out
    }

    fn message(&self, text: String, id: Option<String>) -> EventKind {
        EventKind::Message {
            from: self.peer.clone(),
            name: self.remote.as_ref().and_then(|info| info.name.clone()),
            text,
            id,
        }
    }

    /// Announces the peer once and sends everything queued, framed for a
    /// Parlor peer or as plain text for an old client.
    fn flush(&mut self, out: &mut Output) {
        let Some(remote) = &self.remote else {
            return;
        };
        if !self.open {
            return;
        }
        if !self.announced {
            self.announced = true;
            out.events.push(EventKind::PeerConnected {
                peer: self.peer.clone(),
                parlor: remote.supports_acked_messages(),
                name: remote.name.clone(),
            });
        }
        let acked = remote.supports_acked_messages();
        for pending in self.outbox.iter_mut().filter(|p| !p.sent) {
            pending.sent = true;
            out.send.push(if acked {
                Frame::Chat {
                    id: pending.id.clone(),
                    text: pending.text.clone(),
                }
                .to_text()
            } else {
                pending.text.clone()
            });
        }
        if !acked {
            self.outbox.retain(|p| !p.sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parlor_info(id: &str) -> String {
        Frame::Info(Info::parlor(id, Some("Bo"))).to_text()
    }

    fn conversation() -> Conversation {
        Conversation::new("bob", Info::parlor("alice", None))
    }

    #[test]
    fn opening_sends_our_info_first() {
        let mut c = conversation();
        let out = c.opened();
        assert_eq!(out.send.len(), 1);
        assert!(matches!(Frame::parse(&out.send[0]), Some(Frame::Info(_))));
    }

    #[test]
    fn messages_wait_for_the_remote_info_then_go_framed_to_parlor_peers() {
        let mut c = conversation();
        c.opened();
        assert!(c.send("m1".into(), "hi".into()).send.is_empty());
        let out = c.received(&parlor_info("bob"));
        assert!(matches!(
            out.events[0],
            EventKind::PeerConnected { parlor: true, .. }
        ));
        assert_eq!(
            Frame::parse(&out.send[0]),
            Some(Frame::Chat {
                id: "m1".into(),
                text: "hi".into()
            })
        );
    }

    #[test]
    fn old_clients_get_plain_text() {
        let mut c = conversation();
        c.opened();
        c.received(r#"{"type":"info","peerId":"bob"}"#);
        let out = c.send("m1".into(), "<b>hi</b>".into());
        assert_eq!(out.send, vec!["<b>hi</b>".to_owned()]);
    }

    #[test]
    fn an_ack_reports_delivery_once() {
        let mut c = conversation();
        c.opened();
        c.received(&parlor_info("bob"));
        c.send("m1".into(), "hi".into());
        let ack = Frame::Ack { id: "m1".into() }.to_text();
        assert_eq!(
            c.received(&ack).events,
            vec![EventKind::Delivered {
                id: "m1".into(),
                to: "bob".into()
            }]
        );
        assert!(c.received(&ack).events.is_empty());
    }

    #[test]
    fn unacknowledged_messages_are_resent_on_the_next_channel() {
        let mut c = conversation();
        c.opened();
        c.received(&parlor_info("bob"));
        c.send("m1".into(), "hi".into());
        c.closed();
        c.opened();
        let out = c.received(&parlor_info("bob"));
        assert_eq!(out.send.len(), 1, "{out:?}");
    }

    #[test]
    fn a_resent_message_is_shown_once_but_acknowledged_each_time() {
        let mut c = conversation();
        c.opened();
        c.received(&parlor_info("bob"));
        let chat = Frame::Chat {
            id: "x".into(),
            text: "yo".into(),
        }
        .to_text();
        let first = c.received(&chat);
        let second = c.received(&chat);
        assert_eq!(first.events.len(), 1);
        assert!(second.events.is_empty());
        assert_eq!(second.send.len(), 1, "the ack is sent again");
    }

    #[test]
    fn a_silent_remote_is_treated_as_an_old_client() {
        let mut c = conversation();
        c.opened();
        c.send("m1".into(), "hi".into());
        assert!(c.awaiting_info());
        let out = c.info_timed_out();
        assert_eq!(out.send, vec!["hi".to_owned()]);
    }
}
