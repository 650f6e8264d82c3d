//! Two negotiators on fake webrtc-rs stacks over a FIFO relay with random
//! delays: every schedule must end connected, with matching descriptions.

mod support;

use parlor_negotiation::{Event, RestartReason};
use proptest::prelude::*;
use support::sim::{Scenario, Sim, Trouble};

fn run(scenario: Scenario) -> Result<Sim, String> {
    let mut sim = Sim::new(scenario.clone());
    sim.run()?;
    if sim.anyone_started() {
        sim.check_converged()
            .map_err(|error| format!("{error} after {} steps in {scenario:?}", sim.steps))?;
    }
    Ok(sim)
}

fn calm(seed: u64) -> Scenario {
    Scenario {
        seed,
        side0_polite: true,
        starts: [Some(0), None],
        max_delay: 100,
        max_op_latency: 10,
        side1_ready_at: 0,
        trouble: None,
        restart: None,
    }
}

#[test]
fn one_side_offers_and_the_pair_connects() {
    let sim = run(calm(1)).unwrap();
    assert!(sim.events[1].contains(&Event::AnswerSent));
}

#[test]
fn both_sides_offer_at_once_and_the_pair_connects() {
    let sim = run(Scenario {
        starts: [Some(0), Some(0)],
        ..calm(2)
    })
    .unwrap();
    assert!(sim.events[0].contains(&Event::RolledBackForGlare));
    assert!(sim.events[1].contains(&Event::IgnoredCollidingOffer));
}

#[test]
fn an_old_client_that_is_not_ready_gets_the_offer_again() {
    let sim = run(Scenario {
        side1_ready_at: 4000,
        ..calm(3)
    })
    .unwrap();
    assert!(sim.events[0].contains(&Event::OfferResent { attempt: 2 }));
}

#[test]
fn ice_failure_after_connecting_recovers_by_restart() {
    let sim = run(Scenario {
        trouble: Some((3000, Trouble::Failed)),
        ..calm(4)
    })
    .unwrap();
    assert!(sim.events[0].contains(&Event::IceRestart(RestartReason::Failed)));
}

#[test]
fn lasting_disconnection_recovers_by_restart() {
    let sim = run(Scenario {
        trouble: Some((3000, Trouble::Disconnected)),
        ..calm(5)
    })
    .unwrap();
    assert!(sim.events[0].contains(&Event::IceRestart(RestartReason::DisconnectedTooLong)));
}

#[test]
fn a_peer_that_starts_over_is_reconnected_without_server_notice() {
    let sim = run(Scenario {
        restart: Some((3000, 1, false)),
        ..calm(6)
    })
    .unwrap();
    assert!(sim.events[0].contains(&Event::RemoteRestarted));
}

#[test]
fn a_peer_that_starts_over_is_reconnected_with_server_notice() {
    let sim = run(Scenario {
        restart: Some((3000, 0, true)),
        ..calm(7)
    })
    .unwrap();
    assert!(sim.events[1].contains(&Event::RemoteRestarted));
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let start = prop::option::weighted(0.8, 0u64..3000);
    (
        any::<u64>(),
        any::<bool>(),
        (start.clone(), start, any::<bool>()),
        (0u64..800, 0u64..60),
        prop::option::weighted(0.2, 0u64..6000),
        prop::option::weighted(
            0.25,
            (
                0u64..8000,
                prop_oneof![Just(Trouble::Failed), Just(Trouble::Disconnected)],
            ),
        ),
        prop::option::weighted(0.25, (0u64..8000, 0usize..2, any::<bool>())),
    )
        .prop_map(
            |(
                seed,
                side0_polite,
                (a, b, glare),
                (max_delay, max_op_latency),
                not_ready,
                trouble,
                restart,
            )| {
                let a = a.or(if b.is_none() { Some(0) } else { None });
                let mut starts = [a, if glare { a } else { b }];
                let side1_ready_at = not_ready.unwrap_or(0);
                if not_ready.is_some() {
                    // An old client is impolite and cannot act before it is ready.
                    starts[0] = starts[0].or(Some(0));
                    starts[1] = starts[1].map(|at| at.max(side1_ready_at));
                }
                Scenario {
                    seed,
                    side0_polite: side0_polite || not_ready.is_some(),
                    starts,
                    max_delay,
                    max_op_latency,
                    side1_ready_at,
                    trouble,
                    restart,
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
    fn every_schedule_ends_stable_paired_and_connected(scenario in scenario()) {
        run(scenario).map_err(TestCaseError::fail)?;
    }
}
