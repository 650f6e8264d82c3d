//! Whatever a peer sends on its data channel, a session neither panics nor
//! grows without bound: random text, random JSON, frames with forged types,
//! deep nesting, huge strings.

use std::time::Duration;

use parlor_protocol::{Frame, Info, MessageId, PeerId};
use parlor_session::{ChannelId, Output, PeerSession, SessionConfig, SessionEvent};
use proptest::prelude::*;

fn peer(id: &str) -> PeerId {
    id.parse()
        .unwrap_or_else(|error| panic!("{id:?} is not a peer id: {error:?}"))
}

/// A session whose chat with "b" is open.
fn chatting() -> PeerSession {
    let mut session = PeerSession::new(SessionConfig {
        local: peer("a"),
        remote: peer("b"),
        remote_is_parlor: true,
        local_info: Info::parlor("a", None),
        expected_fingerprint: None,
        relay_configured: false,
    });
    session.handle_channel_open(ChannelId(1), Duration::ZERO);
    session.handle_channel_text(
        ChannelId(1),
        &Frame::Info(Info::parlor("b", Some("Bob"))).to_text(),
        Duration::ZERO,
    );
    drain(&mut session);
    session
}

fn drain(session: &mut PeerSession) -> Vec<Output> {
    let mut outputs = Vec::new();
    loop {
        match session.poll_output() {
            Output::Wait(_) => return outputs,
            output => outputs.push(output),
        }
    }
}

/// Text a hostile peer might send.
fn hostile_text() -> impl Strategy<Value = String> {
    let json_leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    let json = json_leaf.prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("id".to_owned()),
                    Just("text".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    });
    prop_oneof![
        ".{0,200}",
        json.prop_map(|value| value.to_string()),
        prop_oneof![
            Just("info"),
            Just("chat"),
            Just("ack"),
            Just("bye"),
            Just("unknown")
        ]
        .prop_flat_map(|kind| (Just(kind), ".{0,20}", ".{0,20}"))
        .prop_map(|(kind, id, text)| {
            serde_json::json!({"type": kind, "id": id, "text": text, "peerId": id}).to_string()
        }),
        (1usize..200).prop_map(|depth| format!(
            "{}{}",
            "[".repeat(depth * 10),
            "]".repeat(depth * 10)
        )),
        (60_000usize..70_000).prop_map(|len| "x".repeat(len)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_input_from_a_peer_makes_a_session_panic_or_answer_without_bound(
        texts in prop::collection::vec(hostile_text(), 1..40)
    ) {
        let mut session = chatting();
        for (n, text) in texts.iter().enumerate() {
            let now = Duration::from_millis(u64::try_from(n).unwrap_or(u64::MAX));
            session.handle_channel_text(ChannelId(1), text, now);
            let outputs = drain(&mut session);
            // One input: at most an ack and an event (or a drop).
            prop_assert!(outputs.len() <= 2, "{text:?} gave {outputs:?}");
            for output in &outputs {
                if let Output::Event(SessionEvent::Message { text: shown, .. }) = output {
                    prop_assert!(!shown.starts_with("{\"type\":\"info\""), "info shown as text");
                }
            }
        }
        // Our own messages still go out (unless the peer was dropped).
        session.send_chat(MessageId::new("mine"), "still here".into());
        let _ = drain(&mut session);
    }
}
