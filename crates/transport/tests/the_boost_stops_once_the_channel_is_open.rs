//! The setup boost wakes timers early only while a connection is being set
//! up, and stops once its data channel is open.

mod support;

use bytes::BytesMut;
use parlor_transport::Tuning;
use support::{connect, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boost_handle_stops_early_wakes_after_the_channel_opens() -> anyhow::Result<()> {
    let pair = connect(Tuning::Fast, Tuning::Fast, "chat").await?;
    let boost = pair.offerer.transport.boost().clone();
    assert!(boost.is_active(), "setup is boosted until told otherwise");
    assert!(
        boost.early_wakes() > 0,
        "the boost shortened timers during setup"
    );

    boost.channel_open();
    assert!(!boost.is_active());
    // One round trip guarantees the driver has finished any sleep it began shortening
    // before it was told.
    exchange(&pair, 0).await?;
    let wakes_at_open = boost.early_wakes();

    // Traffic and a few of the driver's timer turns after the channel opened...
    for round in 1u8..20 {
        exchange(&pair, round).await?;
    }
    let sleeps_at_open = boost.timer_sleeps();
    let turns = async {
        while boost.timer_sleeps() < sleeps_at_open + 3 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), turns)
        .await
        .map_err(|_| anyhow::anyhow!("the driver took no timer turns in 10 s"))?;

    // ...shortened none of its timers.
    assert_eq!(boost.early_wakes(), wakes_at_open);

    // An ICE restart arms it again.
    boost.restarting();
    assert!(boost.is_active());

    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}

async fn exchange(pair: &support::Pair, round: u8) -> anyhow::Result<()> {
    pair.offerer_channel
        .send(BytesMut::from(&[round][..]))
        .await?;
    assert_eq!(next_message(&pair.answerer_channel).await?, [round]);
    pair.answerer_channel
        .send(BytesMut::from(&[round][..]))
        .await?;
    assert_eq!(next_message(&pair.offerer_channel).await?, [round]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_connection_is_never_boosted() -> anyhow::Result<()> {
    let pair = connect(Tuning::Stock, Tuning::Stock, "chat").await?;
    assert!(!pair.offerer.transport.boost().is_active());
    assert_eq!(pair.offerer.transport.boost().early_wakes(), 0);
    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}
