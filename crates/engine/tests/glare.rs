//! Glare: both peers open their channel, and so offer, at the same moment.
//! The two sides join a room together, so each sees the other in its first
//! peer list and usually offers at once; every run must converge, whether or
//! not the offers collided.

mod support;

use parlor_engine::{EventKind, Step};
use support::{TestPeer, connected_pair, start_server};

const RUNS: usize = 25;

/// The steps of the negotiation with the other peer, in order.
fn steps(peer: &TestPeer) -> Vec<Step> {
    peer.seen
        .iter()
        .filter_map(|e| match e {
            EventKind::Negotiation { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_offer_at_once_connect_and_chat_in_every_run() {
    let server = start_server().await;
    for run in 0..RUNS {
        let (mut alice, mut bob) = connected_pair(&server).await;
        let (a, b) = (alice.id(), bob.id());

        let text = format!("run {run}");
        alice.say(&text).await;
        bob.wait_message(&a, &text).await;
        bob.say(&text).await;
        alice.wait_message(&b, &text).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_side_that_gives_way_in_a_collision_makes_no_second_offer() {
    let server = start_server().await;
    for _ in 0..RUNS {
        let (alice, bob) = connected_pair(&server).await;
        for peer in [&alice, &bob] {
            let steps = steps(peer);
            if let Some(rollback) = steps.iter().position(|s| *s == Step::RolledBackForGlare) {
                assert!(
                    !steps[rollback..].contains(&Step::OfferSent),
                    "an extra offer after giving way: {steps:?}"
                );
            }
        }
    }
    server.shutdown().await;
}
