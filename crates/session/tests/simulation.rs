//! Two `PeerSession`s on fake webrtc-rs stacks with data channels, over a
//! FIFO relay with random delays, each driven as the engine drives it:
//! every schedule must end connected, with matching descriptions, and with
//! every chat message shown once, in order, and reported delivered.

mod support;

use parlor_session::{SessionEvent, Step};
use proptest::prelude::*;
use support::sim::{Driver, Peers, Restart, Scenario, Sim, Trouble};

fn run(scenario: Scenario) -> Result<Sim, String> {
    let mut sim = Sim::new(scenario.clone());
    let outcome = sim.run().and_then(|()| {
        if sim.anyone_started() {
            sim.check_converged()?;
            sim.check_chat()?;
        }
        Ok(())
    });
    match outcome {
        Ok(()) => Ok(sim),
        Err(error) => {
            // Run it again with a trace, to show how it got there.
            let mut traced = Sim::new(scenario.clone()).traced();
            let _ = traced.run();
            Err(format!(
                "{error} after {} steps in {scenario:?}\nlast steps:\n{}",
                sim.steps,
                traced.trace_tail(80)
            ))
        }
    }
}

fn calm(seed: u64) -> Scenario {
    Scenario {
        seed,
        peers: Peers::Parlor,
        side0_lower: true,
        driver: Driver::Serial,
        starts: [Some(0), None],
        max_delay: 100,
        max_channel_delay: 20,
        max_op_latency: 10,
        troubles: Vec::new(),
        restarts: Vec::new(),
        chats: [vec![100, 1500, 1501, 4000], vec![50, 2000, 6000]],
    }
}

fn has_step(sim: &Sim, side: usize, wanted: Step) -> bool {
    sim.events_of(side)
        .any(|event| matches!(event, SessionEvent::Negotiation { step, .. } if *step == wanted))
}

/// When side `to` first showed message `id`, in ms.
fn shown_at(sim: &Sim, to: usize, id: &str) -> u128 {
    sim.events[to]
        .iter()
        .find_map(|logged| match &logged.event {
            SessionEvent::Message {
                id: Some(shown), ..
            } if shown.as_str() == id => Some(logged.at.as_millis()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("side {to} never shows {id}"))
}

#[test]
fn one_side_offers_and_the_pair_chats_both_ways() {
    let sim = run(calm(1)).unwrap();
    assert!(has_step(&sim, 1, Step::AnswerSent));
    // Side 1 sent its first message before anything was connected.
    assert!(shown_at(&sim, 0, "b.0.1") > 50);
    assert_eq!(sim.sent[0].len(), 4);
    assert_eq!(sim.sent[1].len(), 3);
}

#[test]
fn both_sides_offer_at_once_and_the_pair_chats() {
    let sim = run(Scenario {
        starts: [Some(0), Some(0)],
        ..calm(2)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::RolledBackForGlare));
    assert!(has_step(&sim, 1, Step::IgnoredCollidingOffer));
}

#[test]
fn an_old_client_that_is_not_ready_gets_the_offer_again_and_chats() {
    let sim = run(Scenario {
        peers: Peers::OldClient { ready_at: 4000 },
        ..calm(3)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::OfferResent));
    assert!(shown_at(&sim, 1, "a.0.1") > 4000);
}

#[test]
fn messages_sent_during_an_ice_failure_are_delivered_once_after_the_restart() {
    let sim = run(Scenario {
        troubles: vec![(3000, Trouble::Failed)],
        // Side 0's third and side 1's second and third go out while ICE is down.
        chats: [vec![1000, 2000, 3010, 9000], vec![1200, 3020, 3030]],
        ..calm(4)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::IceRestart));
    // They were sent before ICE came back, held by the broken link, and
    // delivered once the restarted ICE works.
    for side in 0..2 {
        let back = sim.events[side]
            .iter()
            .filter(|logged| matches!(logged.event, SessionEvent::TransportUp))
            .map(|logged| logged.at.as_millis())
            .nth(1)
            .unwrap_or_else(|| panic!("side {side} never came up again"));
        assert!(back > 3030, "side {side} was up again at {back} ms");
    }
    assert!(shown_at(&sim, 1, "a.0.3") > 3010);
    assert!(shown_at(&sim, 0, "b.0.2") > 3020);
    assert!(shown_at(&sim, 0, "b.0.3") > 3030);
}

#[test]
fn lasting_disconnection_recovers_by_restart_and_the_chat_goes_on() {
    let sim = run(Scenario {
        troubles: vec![(3000, Trouble::Disconnected)],
        chats: [vec![1000, 3500, 5000, 9000], vec![1200, 4000, 12_000]],
        ..calm(5)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::IceRestart));
    // Nothing gets through while ICE stays down: at least the 4 s grace.
    assert!(shown_at(&sim, 1, "a.0.2") > 7000);
}

#[test]
fn a_peer_that_starts_over_is_reconnected_without_server_notice_and_chats() {
    let sim = run(Scenario {
        restarts: vec![Restart {
            at: 3000,
            side: 1,
            notice: false,
            quit: false,
        }],
        chats: [vec![1000, 2500, 3500, 6000], vec![1200, 2000, 4000, 7000]],
        ..calm(6)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::RemoteRestarted));
    // Its first app sent two, gone with it; its second app sent two more.
    assert_eq!(
        sim.sent[1]
            .iter()
            .filter(|sent| sent.incarnation == 1)
            .count(),
        2
    );
    assert!(shown_at(&sim, 0, "b.1.1") >= 4000);
    // What side 0 sent while side 1 was starting over reaches its new app.
    assert!(shown_at(&sim, 1, "a.0.3") > 3500);
}

#[test]
fn a_peer_that_starts_over_is_reconnected_with_server_notice_and_chats() {
    let sim = run(Scenario {
        restarts: vec![Restart {
            at: 3000,
            side: 0,
            notice: true,
            quit: true,
        }],
        chats: [vec![1000, 2500, 3500, 6000], vec![1200, 2000, 4000, 7000]],
        ..calm(7)
    })
    .unwrap();
    assert!(has_step(&sim, 1, Step::RemoteRestarted));
    assert!(shown_at(&sim, 1, "a.1.1") > 3500);
}

#[test]
fn two_parlor_peers_on_an_old_server_both_start_polite_offer_at_once_converge_and_chat() {
    for side0_lower in [true, false] {
        let sim = run(Scenario {
            peers: Peers::OldServer,
            side0_lower,
            starts: [Some(0), Some(0)],
            ..calm(8)
        })
        .unwrap();
        // The Parlor marker on the offers settles the roles before the
        // collision is handled: the lower id yields, the other stands.
        let (polite, impolite) = if side0_lower { (0, 1) } else { (1, 0) };
        assert!(has_step(&sim, polite, Step::RolledBackForGlare));
        assert!(has_step(&sim, impolite, Step::IgnoredCollidingOffer));
        assert!(!has_step(&sim, impolite, Step::RolledBackForGlare));
    }
}

#[test]
fn the_concurrent_driver_reaches_the_same_end() {
    let sim = run(Scenario {
        driver: Driver::Concurrent,
        starts: [Some(0), Some(0)],
        troubles: vec![(3000, Trouble::Failed)],
        restarts: vec![Restart {
            at: 6000,
            side: 1,
            notice: false,
            quit: true,
        }],
        ..calm(9)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::RemoteRestarted));
}

/// An ICE outage between the channels opening and the peer's `info`
/// arriving holds the `info` longer than `INFO_TIMEOUT`: a peer known to be
/// Parlor is still waited for, never taken for an old client
/// (`tests/conversation_edges.rs` shows it step by step).
#[test]
fn an_info_held_by_an_ice_outage_past_the_info_timeout_still_counts() {
    let sim = run(Scenario {
        troubles: vec![(150, Trouble::Disconnected)],
        max_channel_delay: 150,
        ..calm(11)
    })
    .unwrap();
    assert!(has_step(&sim, 0, Step::IceRestart));
}

fn chats() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0u64..10_000, 0..=5).prop_map(|mut times| {
        times.sort_unstable();
        times
    })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let start = prop::option::weighted(0.8, 0u64..3000);
    let trouble = (
        0u64..8000,
        prop_oneof![Just(Trouble::Failed), Just(Trouble::Disconnected)],
    );
    let restart = (0u64..8000, 0usize..2, any::<bool>(), any::<bool>()).prop_map(
        |(at, side, notice, quit)| Restart {
            at,
            side,
            notice,
            quit,
        },
    );
    (
        any::<u64>(),
        (
            any::<bool>(),
            prop_oneof![3 => Just(Driver::Serial), 1 => Just(Driver::Concurrent)],
        ),
        prop_oneof![
            2 => Just(Peers::Parlor),
            1 => Just(Peers::OldServer),
            1 => (0u64..6000).prop_map(|ready_at| Peers::OldClient { ready_at }),
        ],
        (start.clone(), start, any::<bool>()),
        (0u64..800, 0u64..200, 0u64..60),
        // Mostly none, sometimes one, now and then two.
        prop_oneof![
            6 => Just(Vec::new()),
            3 => prop::collection::vec(trouble.clone(), 1),
            1 => prop::collection::vec(trouble, 2),
        ],
        prop_oneof![
            6 => Just(Vec::new()),
            3 => prop::collection::vec(restart.clone(), 1),
            1 => prop::collection::vec(restart, 2),
        ],
        (chats(), chats()),
    )
        .prop_map(
            |(
                seed,
                (side0_lower, driver),
                peers,
                (a, b, glare),
                (max_delay, max_channel_delay, max_op_latency),
                troubles,
                restarts,
                (chats0, chats1),
            )| {
                let a = a.or(if b.is_none() { Some(0) } else { None });
                let mut starts = [a, if glare { a } else { b }];
                if let Peers::OldClient { ready_at } = peers {
                    // An old client is impolite and cannot act before it is ready.
                    starts[0] = starts[0].or(Some(0));
                    starts[1] = starts[1].map(|at| at.max(ready_at));
                }
                Scenario {
                    seed,
                    peers,
                    side0_lower,
                    driver,
                    starts,
                    max_delay,
                    max_channel_delay,
                    max_op_latency,
                    troubles,
                    restarts,
                    chats: [chats0, chats1],
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_schedule_ends_connected_with_every_message_shown_once_in_order_and_delivered(
        scenario in scenario()
    ) {
        run(scenario).map_err(TestCaseError::fail)?;
    }
}
