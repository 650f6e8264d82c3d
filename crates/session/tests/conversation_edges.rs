//! Conversation edge cases (those the simulation found) and the bounds on
//! what a peer may send, replayed by hand against one `PeerSession`, step
//! by step: each test states the behaviour the session has.

use std::time::Duration;

use parlor_protocol::{Frame, Info, MessageId, PeerId};
use parlor_session::{
    BURST, ChannelId, DropReason, INFO_TIMEOUT, MAX_FRAME_BYTES, Output, PeerSession,
    SessionConfig, SessionEvent,
};

/// Side "a" of a pair with "b"; `knows` is what the peer list said.
fn session(knows_b_is_parlor: bool) -> PeerSession {
    PeerSession::new(SessionConfig {
        local: peer("a"),
        remote: peer("b"),
        remote_is_parlor: knows_b_is_parlor,
        local_info: Info::parlor("a", Some("Ada")),
        expected_fingerprint: None,
        relay_configured: false,
    })
}

fn peer(id: &str) -> PeerId {
    id.parse()
        .unwrap_or_else(|error| panic!("{id:?} is not a peer id: {error:?}"))
}

fn b_info() -> String {
    Frame::Info(Info::parlor("b", Some("Bob"))).to_text()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Everything the session asks until it waits, with every send succeeding.
fn drain(session: &mut PeerSession) -> Vec<Output> {
    let mut outputs = Vec::new();
    loop {
        match session.poll_output() {
            Output::Wait(_) => return outputs,
            output => outputs.push(output),
        }
    }
}

/// Like [`drain`], but every send fails, as on channels whose stack already
/// closed them while the close events are still on their way to the driver.
fn drain_failing(session: &mut PeerSession) -> Vec<Output> {
    let mut outputs = Vec::new();
    loop {
        match session.poll_output() {
            Output::Wait(_) => return outputs,
            Output::Transmit {
                channel, message, ..
            } => session.handle_send_failed(channel, message, "closed pipe".into()),
            output => outputs.push(output),
        }
    }
}

fn events(outputs: &[Output]) -> Vec<&SessionEvent> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// The chat texts sent, and whether each was framed with an id.
fn chats(outputs: &[Output]) -> Vec<(String, bool)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Transmit {
                text,
                message: Some(_),
                ..
            } => Some((
                text.clone(),
                matches!(Frame::parse(text), Some(Frame::Chat { .. })),
            )),
            _ => None,
        })
        .collect()
}

/// The simulation's seed 4940374246068568223 and others: the link breaks
/// (ICE disconnected, or loss that SCTP retransmits after its 1 s minimum
/// RTO) between our channel opening and the peer's `info` arriving, and
/// webrtc-rs delivers the `info` only once the link works again, after
/// [`INFO_TIMEOUT`]. A peer the peer list (or the Parlor marker) said is a
/// Parlor peer is waited for: never taken for an old client, which would
/// mean plain text, no acknowledgements, and messages lost in flight never
/// re-sent.
#[test]
fn a_peer_known_to_be_parlor_is_never_taken_for_an_old_client() {
    let mut a = session(true);
    a.handle_channel_open(ChannelId(1), ms(0));
    drain(&mut a);
    a.handle_timeout(INFO_TIMEOUT + ms(1));
    a.send_chat(MessageId::new("a1"), "during the outage".into());
    let early = drain(&mut a);
    a.handle_channel_text(ChannelId(1), &b_info(), INFO_TIMEOUT + ms(10));
    a.send_chat(MessageId::new("a2"), "after the outage".into());
    let late = drain(&mut a);
    let all: Vec<Output> = early.into_iter().chain(late).collect();
    assert!(
        !events(&all)
            .iter()
            .any(|event| matches!(event, SessionEvent::Connected { parlor: false, .. })),
        "taken for an old client: {:?}",
        events(&all)
    );
    let sent = chats(&all);
    assert!(
        sent.iter().all(|(_, framed)| *framed),
        "sent as plain text: {sent:?}"
    );
}

/// The same when nothing said the peer is a Parlor peer (its `info` is
/// simply late): the guess "old client" is corrected once its Parlor `info`
/// arrives: ids, acknowledgements, re-sending.
#[test]
fn a_parlor_info_that_arrives_after_the_timeout_still_counts() {
    let mut a = session(false);
    a.handle_channel_open(ChannelId(1), ms(0));
    drain(&mut a);
    a.handle_timeout(INFO_TIMEOUT + ms(1));
    drain(&mut a);
    a.handle_channel_text(ChannelId(1), &b_info(), INFO_TIMEOUT + ms(10));
    a.send_chat(MessageId::new("a1"), "hello".into());
    let outputs = drain(&mut a);
    let sent = chats(&outputs);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1, "sent as plain text to a Parlor peer: {sent:?}");
}

/// Both channels of a connection closed at the stack (the peer quit) while
/// the close events are on their way, and a message of ours is still
/// unacknowledged when we send another: the first send fails, the session
/// moves to the second channel and re-sends both there, those fail too,
/// and the connection counts as lost. No failure is reported as
/// `SendFailed`: the message stays in the outbox and is delivered (and
/// reported `Delivered`) on the next connection.
#[test]
fn a_message_that_will_be_sent_again_is_never_reported_failed() {
    let mut a = session(true);
    a.handle_channel_open(ChannelId(1), ms(0));
    a.handle_channel_open(ChannelId(2), ms(1));
    a.handle_channel_text(ChannelId(1), &b_info(), ms(10));
    a.send_chat(MessageId::new("a1"), "first".into());
    drain(&mut a);
    // The peer quits before acknowledging "a1"; its stack closed both
    // channels, and we send another message.
    a.send_chat(MessageId::new("a2"), "second".into());
    let failing = drain_failing(&mut a);
    // The connection is rebuilt; on the new channel both go out again and
    // are acknowledged.
    a.handle_channel_closed(ChannelId(1));
    a.handle_channel_closed(ChannelId(2));
    a.handle_channel_open(ChannelId(3), ms(5000));
    a.handle_channel_text(ChannelId(3), &b_info(), ms(5001));
    let resent = drain(&mut a);
    assert_eq!(chats(&resent).len(), 2, "{resent:?}");
    for id in ["a1", "a2"] {
        a.handle_channel_text(
            ChannelId(3),
            &Frame::Ack {
                id: MessageId::new(id),
            }
            .to_text(),
            ms(5002),
        );
    }
    let acknowledged = drain(&mut a);
    assert_eq!(
        events(&acknowledged)
            .iter()
            .filter(|event| matches!(event, SessionEvent::Delivered { .. }))
            .count(),
        2
    );
    let failed: Vec<&SessionEvent> = events(&failing)
        .into_iter()
        .filter(|event| matches!(event, SessionEvent::SendFailed { .. }))
        .collect();
    assert!(
        failed.is_empty(),
        "reported failed, then delivered: {failed:?}"
    );
}

/// A session with "b" whose chat is open both ways.
fn chatting() -> PeerSession {
    let mut a = session(true);
    a.handle_channel_open(ChannelId(1), ms(0));
    a.handle_channel_text(ChannelId(1), &b_info(), ms(1));
    drain(&mut a);
    a
}

fn dropped(outputs: &[Output]) -> Option<DropReason> {
    events(outputs).into_iter().find_map(|event| match event {
        SessionEvent::Dropped { reason } => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn a_peer_that_sends_a_message_over_the_size_limit_is_dropped() {
    let mut a = chatting();
    let huge = Frame::Chat {
        id: MessageId::new("b1"),
        text: "x".repeat(MAX_FRAME_BYTES),
    }
    .to_text();
    a.handle_channel_text(ChannelId(1), &huge, ms(2));
    let outputs = drain(&mut a);
    assert!(
        matches!(dropped(&outputs), Some(DropReason::FrameTooLarge { .. })),
        "{outputs:?}"
    );
    a.handle_channel_text(ChannelId(1), "still there?", ms(3));
    assert!(drain(&mut a).is_empty(), "a dropped peer is ignored");
}

#[test]
fn a_peer_that_floods_is_dropped_and_one_that_keeps_the_pace_is_not() {
    let message = |n: u32| {
        Frame::Chat {
            id: MessageId::new(n.to_string()),
            text: "hi".into(),
        }
        .to_text()
    };
    let mut steady = chatting();
    for n in 0..2 * BURST {
        // One every 25 ms: half the sustained rate.
        steady.handle_channel_text(ChannelId(1), &message(n), ms(2 + 25 * u64::from(n)));
    }
    assert_eq!(dropped(&drain(&mut steady)), None);

    let mut flood = chatting();
    for n in 0..=BURST {
        flood.handle_channel_text(ChannelId(1), &message(n), ms(2));
    }
    assert_eq!(dropped(&drain(&mut flood)), Some(DropReason::Flooding));
}

#[test]
fn what_the_peer_has_not_acknowledged_is_counted_until_it_is() {
    let mut a = chatting();
    let text = "x".repeat(1000);
    a.send_chat(MessageId::new("m1"), text.clone());
    a.send_chat(MessageId::new("m2"), text);
    drain(&mut a);
    assert_eq!(a.unacked_bytes(), 2000, "both sent, neither acknowledged");

    let ack = Frame::Ack {
        id: MessageId::new("m1"),
    }
    .to_text();
    a.handle_channel_text(ChannelId(1), &ack, ms(2));
    drain(&mut a);
    assert_eq!(
        a.unacked_bytes(),
        1000,
        "the acknowledged one is no longer held"
    );
}

/// The texts of the chat messages sent, in order.
fn sent_texts(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Transmit {
                text,
                message: Some(_),
                ..
            } => match Frame::parse(text) {
                Some(Frame::Chat { text, .. }) => Some(text),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn messages_owed_from_before_go_out_ahead_of_those_typed_while_connecting() {
    let mut a = session(true);
    a.send_chat(MessageId::new("new"), "typed while connecting".into());
    let added = a.restore_outbox(vec![
        (MessageId::new("old1"), "first".into()),
        (MessageId::new("old2"), "second".into()),
    ]);
    assert_eq!(added, "first".len() + "second".len());
    a.handle_channel_open(ChannelId(1), ms(0));
    a.handle_channel_text(ChannelId(1), &b_info(), ms(1));
    assert_eq!(
        sent_texts(&drain(&mut a)),
        ["first", "second", "typed while connecting"]
    );
}

#[test]
fn a_message_handed_over_twice_goes_out_once() {
    let mut a = session(true);
    a.send_chat(MessageId::new("m1"), "once".into());
    let added = a.restore_outbox(vec![(MessageId::new("m1"), "once".into())]);
    assert!(
        !a.send_chat(MessageId::new("m1"), "once".into()),
        "already queued: refused"
    );
    assert_eq!(added, 0, "already queued: nothing added");
    a.handle_channel_open(ChannelId(1), ms(0));
    a.handle_channel_text(ChannelId(1), &b_info(), ms(1));
    assert_eq!(sent_texts(&drain(&mut a)), ["once"]);
}

#[test]
fn a_message_is_reported_before_it_is_acknowledged() {
    let mut a = chatting();
    let chat = Frame::Chat {
        id: MessageId::new("m1"),
        text: "hi".into(),
    }
    .to_text();
    a.handle_channel_text(ChannelId(1), &chat, ms(2));
    let outputs = drain(&mut a);
    let shown = outputs
        .iter()
        .position(|o| matches!(o, Output::Event(SessionEvent::Message { .. })));
    let acked = outputs.iter().position(
        |o| matches!(o, Output::Transmit { text, .. } if matches!(Frame::parse(text), Some(Frame::Ack { .. }))),
    );
    assert!(
        matches!((shown, acked), (Some(s), Some(a)) if s < a),
        "message at {shown:?}, ack at {acked:?}: a store writes it before the sender hears it arrived"
    );
}
