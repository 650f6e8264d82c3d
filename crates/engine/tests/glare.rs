//! Glare: both peers open their channel, and so offer, at the same moment.
//! The two sides join a room together, so each sees the other in its first
//! peer list and offers at once; every run must converge.

mod support;

use parlor_engine::EventKind;
use support::{TestPeer, connected_pair, start_server};

const RUNS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_offers_converge_in_every_run() {
    let server = start_server().await;
    let mut collisions = 0;
    for run in 0..RUNS {
        let (mut alice, mut bob) = connected_pair(&server).await;
        let (a, b) = (alice.id(), bob.id());

        let text = format!("run {run}");
        alice.room.send(text.clone());
        bob.wait_message(&a, &text).await;
        bob.room.send(text.clone());
        alice.wait_message(&b, &text).await;

        let collided = |peer: &TestPeer| {
            peer.seen.iter().any(|e| {
                matches!(e, EventKind::Negotiation { step, .. }
                    if step == "rolled-back-for-glare" || step == "ignored-colliding-offer")
            })
        };
        if collided(&alice) || collided(&bob) {
            collisions += 1;
        }
    }
    // The scenario only tests glare if offers actually collided.
    assert!(collisions > 0, "no run had colliding offers");
    server.shutdown().await;
}
