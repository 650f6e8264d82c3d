//! Two tuned peers on loopback connect and exchange a chat message.

mod support;

use bytes::BytesMut;
use parlor_transport::Tuning;
use support::{connect, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tuned_peers_connect_and_exchange_a_message_on_a_chat_channel() -> anyhow::Result<()> {
    let pair = connect(Tuning::Fast, Tuning::Fast, "chat").await?;
    assert_eq!(pair.answerer_channel.label().await?, "chat");

    pair.offerer_channel
        .send(BytesMut::from(&b"hello from the offerer"[..]))
        .await?;
    assert_eq!(
        next_message(&pair.answerer_channel).await?,
        b"hello from the offerer"
    );

    pair.answerer_channel
        .send(BytesMut::from(&b"hello back"[..]))
        .await?;
    assert_eq!(next_message(&pair.offerer_channel).await?, b"hello back");

    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}
