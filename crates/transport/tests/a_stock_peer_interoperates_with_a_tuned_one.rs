//! A tuned peer and a stock webrtc-rs peer connect and exchange messages:
//! the tuning changes nothing on the wire.

mod support;

use bytes::BytesMut;
use parlor_transport::Tuning;
use support::{connect, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_peer_offering_to_a_tuned_peer_connects_and_both_directions_carry_data()
-> anyhow::Result<()> {
    let pair = connect(Tuning::Stock, Tuning::Fast, "chat").await?;

    pair.offerer_channel
        .send(BytesMut::from(&b"from stock"[..]))
        .await?;
    assert_eq!(next_message(&pair.answerer_channel).await?, b"from stock");
    pair.answerer_channel
        .send(BytesMut::from(&b"from tuned"[..]))
        .await?;
    assert_eq!(next_message(&pair.offerer_channel).await?, b"from tuned");

    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tuned_peer_offering_to_a_stock_peer_connects_and_carries_data() -> anyhow::Result<()> {
    let pair = connect(Tuning::Fast, Tuning::Stock, "chat").await?;

    pair.offerer_channel
        .send(BytesMut::from(&b"from tuned"[..]))
        .await?;
    assert_eq!(next_message(&pair.answerer_channel).await?, b"from tuned");

    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}
