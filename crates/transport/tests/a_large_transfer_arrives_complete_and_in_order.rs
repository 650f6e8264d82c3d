//! Two tuned peers on loopback: a transfer far larger than the SCTP window
//! arrives whole and in order (the socket buffers absorb every burst).

mod support;

use std::sync::Arc;

use bytes::BytesMut;
use parlor_transport::{DataChannel, DataChannelEvent, Tuning};
use support::{PATIENCE, connect, next_message};

/// 64 MiB: far more than the SCTP window and the socket buffers together, so the
/// transfer only completes if flow control and the socket sizing hold up.
const MESSAGES: u32 = 1024;
const MESSAGE_BYTES: usize = 64 * 1024;
/// Sender pauses above this much unacknowledged data and resumes on the low event.
const HIGH_WATER: usize = 4 * 1024 * 1024;
const LOW_WATER: u32 = 1024 * 1024;

/// Message `n` is its index followed by bytes derived from it, so a lost, duplicated
/// or reordered message shows up as a mismatch.
fn message(n: u32) -> Vec<u8> {
    let mut data = vec![0u8; MESSAGE_BYTES];
    data[..4].copy_from_slice(&n.to_be_bytes());
    for (i, byte) in data.iter_mut().enumerate().skip(4) {
        *byte = (i as u32).wrapping_mul(31).wrapping_add(n) as u8;
    }
    data
}

async fn send_all(channel: Arc<dyn DataChannel>) -> anyhow::Result<()> {
    channel.set_buffered_amount_low_threshold(LOW_WATER).await?;
    for n in 0..MESSAGES {
        while channel.outstanding_bytes().await? > HIGH_WATER {
            match tokio::time::timeout(PATIENCE, channel.poll()).await? {
                Some(DataChannelEvent::OnBufferedAmountLow) | Some(_) => {}
                None => anyhow::bail!("channel gone while sending"),
            }
        }
        channel.send(BytesMut::from(&message(n)[..])).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_between_tuned_peers_arrives_complete_and_in_order() -> anyhow::Result<()>
{
    let pair = connect(Tuning::Fast, Tuning::Fast, "file").await?;
    let sender = tokio::spawn(send_all(pair.offerer_channel.clone()));

    for n in 0..MESSAGES {
        let received = next_message(&pair.answerer_channel).await?;
        assert!(
            received == message(n),
            "message {n} differs from what was sent"
        );
    }
    sender.await??;

    pair.offerer.pc().close().await?;
    pair.answerer.pc().close().await?;
    Ok(())
}
