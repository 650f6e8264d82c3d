//! Property: whatever misbehaving clients send, well-behaved members of the
//! same room and of another room keep exchanging messages correctly, and the
//! server stays up.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::support::{Client, config, start};

/// One frame from a misbehaving client.
#[derive(Debug, Clone)]
enum Garbage {
    Text(String),
    JsonIsh(String),
    Object { to: Option<String>, from: String },
    Binary(Vec<u8>),
    Huge(usize),
    Ping(Vec<u8>),
    Close(u16),
}

impl Garbage {
    fn message(&self) -> Message {
        match self {
            Garbage::Text(text) | Garbage::JsonIsh(text) => Message::text(text.clone()),
            Garbage::Object { to, from } => {
                Message::text(json!({ "type": "noise", "to": to, "from": from }).to_string())
            }
            Garbage::Binary(bytes) => Message::binary(bytes.clone()),
            Garbage::Huge(len) => Message::text("z".repeat(*len)),
            Garbage::Ping(payload) => Message::Ping(payload.clone().into()),
            Garbage::Close(code) => Message::Close(Some(CloseFrame {
                code: (*code).into(),
                reason: "bye".into(),
            })),
        }
    }
}

fn garbage() -> impl Strategy<Value = Garbage> {
    let id = prop_oneof![
        Just("alice".to_owned()),
        Just("bob".to_owned()),
        Just("carol".to_owned()),
        "[a-z]{1,8}",
        ".{0,70}",
    ];
    prop_oneof![
        4 => any::<String>().prop_map(Garbage::Text),
        4 => r#"[\[\]{}":,0-9a-z \\-]{0,80}"#.prop_map(Garbage::JsonIsh),
        3 => (proptest::option::of(id.clone()), id).prop_map(|(to, from)| Garbage::Object { to, from }),
        3 => proptest::collection::vec(any::<u8>(), 0..2048).prop_map(Garbage::Binary),
        1 => (60_000usize..1_200_000).prop_map(Garbage::Huge),
        1 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Garbage::Ping),
        1 => prop_oneof![Just(1000u16), Just(1001), Just(4000), Just(3000)].prop_map(Garbage::Close),
    ]
}

/// Two misbehaving clients (in the room and in a room of their own) each
/// send one frame per round, while alice sends bob a numbered message and
/// carol sends dave one in another room; bob and dave must get every number
/// in order, from the right sender.
async fn scenario(server: &parlor_signal::Server, case: u64, rounds: Vec<(Garbage, Garbage)>) {
    let shared = format!("shared-{case}");
    let other = format!("other-{case}");
    let lonely = format!("lonely-{case}");
    // A client is in its room once its first peer list comes (a finished
    // handshake does not say so: the join follows it, on the room's
    // thread): bob and dave before anything is sent to them, carol before
    // dave so that the late newcomer's list below has a well-defined order.
    let mut alice = Client::parlor(server, &shared, "alice").await;
    let mut bob = Client::parlor(server, &shared, "bob").await;
    bob.recv_peer_list().await;
    let mut mallory = Client::old(server, &shared, "mallory").await;
    let mut carol = Client::parlor(server, &other, "carol").await;
    carol.recv_peer_list().await;
    let mut dave = Client::parlor(server, &other, "dave").await;
    dave.recv_peer_list().await;
    let mut eve = Client::old(server, &lonely, "eve").await;
    let (mut mallory_up, mut eve_up) = (true, true);

    for (n, (to_shared, to_lonely)) in rounds.into_iter().enumerate() {
        if mallory_up {
            mallory_up = mallory.try_send(to_shared.message()).await;
        }
        if eve_up {
            eve_up = eve.try_send(to_lonely.message()).await;
        }
        alice
            .send_json(json!({ "type": "test", "n": n, "to": "bob" }))
            .await;
        carol.send_json(json!({ "type": "test", "n": n })).await;
        for (receiver, sender) in [(&mut bob, "alice"), (&mut dave, "carol")] {
            // mallory's valid objects are relayed too: skip them.
            let message = loop {
                let message = receiver.recv_message().await;
                if message["from"] != "mallory" {
                    break message;
                }
            };
            assert_eq!(message["type"], "test", "{message}");
            assert_eq!(message["n"], n, "{message}");
            assert_eq!(message["from"], sender, "{message}");
        }
    }
    // The server still accepts and serves newcomers.
    let mut late = Client::parlor(server, &other, "late").await;
    assert_eq!(late.recv_peer_list().await.0, ["carol", "dave"]);
}

#[test]
fn misbehaving_clients_do_not_disturb_others_or_the_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(start(config()));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let case = std::cell::Cell::new(0);
    runner
        .run(
            &proptest::collection::vec((garbage(), garbage()), 1..25),
            |rounds| {
                case.set(case.get() + 1);
                runtime.block_on(scenario(&server, case.get(), rounds));
                Ok(())
            },
        )
        .expect("every case passes");
    runtime.block_on(server.shutdown());
}
