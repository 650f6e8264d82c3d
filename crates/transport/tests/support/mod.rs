//! Two peers in one process, connected over loopback: the fixture every test uses.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use parlor_transport::{
    DataChannel, DataChannelEvent, PeerConnection, PeerConnectionEventHandler, PeerTransport,
    RTCIceGatheringState, TransportConfig, Tuning, build_peer_connection,
};
use tokio::sync::mpsc;

/// Generous bound for anything a loopback connection does; only there so a broken
/// build fails instead of hanging CI. No test asserts on how fast things are.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Forwards what the fixture waits for into channels: handlers run on the
/// connection's driver task and must not block it.
struct Events {
    gathered: mpsc::UnboundedSender<()>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }
}

pub struct Peer {
    pub transport: PeerTransport,
    gathered: mpsc::UnboundedReceiver<()>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
}

impl Peer {
    pub async fn build(tuning: Tuning) -> anyhow::Result<Self> {
        let (gathered_tx, gathered) = mpsc::unbounded_channel();
        let (channels_tx, channels) = mpsc::unbounded_channel();
        let transport = build_peer_connection(
            &TransportConfig::loopback(tuning),
            Arc::new(Events {
                gathered: gathered_tx,
                channels: channels_tx,
            }),
        )
        .await?;
        Ok(Self {
            transport,
            gathered,
            channels,
        })
    }

    pub fn pc(&self) -> &Arc<dyn PeerConnection> {
        self.transport.connection()
    }
}

/// A connected pair and the channel between them, open on both sides.
pub struct Pair {
    pub offerer: Peer,
    pub answerer: Peer,
    pub offerer_channel: Arc<dyn DataChannel>,
    pub answerer_channel: Arc<dyn DataChannel>,
}

/// Connect `offerer` to `answerer` with a reliable ordered channel named `label`,
/// exchanging complete (non-trickle) descriptions.
pub async fn connect(offerer: Tuning, answerer: Tuning, label: &str) -> anyhow::Result<Pair> {
    let mut offerer = Peer::build(offerer).await?;
    let mut answerer = Peer::build(answerer).await?;
    let offerer_channel = offerer.pc().create_data_channel(label, None).await?;

    let offer = offerer.pc().create_offer(None).await?;
    offerer.pc().set_local_description(offer).await?;
    wait(offerer.gathered.recv(), "offerer gathering").await?;
    let offer = offerer
        .pc()
        .local_description()
        .await
        .context("offerer has no local description")?;

    answerer.pc().set_remote_description(offer).await?;
    let answer = answerer.pc().create_answer(None).await?;
    answerer.pc().set_local_description(answer).await?;
    wait(answerer.gathered.recv(), "answerer gathering").await?;
    let answer = answerer
        .pc()
        .local_description()
        .await
        .context("answerer has no local description")?;
    offerer.pc().set_remote_description(answer).await?;

    wait_open(&offerer_channel).await?;
    let answerer_channel = wait(answerer.channels.recv(), "answerer's data channel").await?;
    wait_open(&answerer_channel).await?;
    Ok(Pair {
        offerer,
        answerer,
        offerer_channel,
        answerer_channel,
    })
}

async fn wait<T>(
    future: impl std::future::Future<Output = Option<T>>,
    what: &str,
) -> anyhow::Result<T> {
    tokio::time::timeout(PATIENCE, future)
        .await
        .map_err(|_| anyhow!("timed out waiting for {what}"))?
        .ok_or_else(|| anyhow!("{what}: sender dropped"))
}

async fn wait_open(channel: &Arc<dyn DataChannel>) -> anyhow::Result<()> {
    loop {
        match wait(channel.poll(), "channel open").await? {
            DataChannelEvent::OnOpen => return Ok(()),
            DataChannelEvent::OnClose | DataChannelEvent::OnError => {
                bail!("channel closed before it opened")
            }
            _ => {}
        }
    }
}

/// The next message on `channel`, skipping non-message events.
pub async fn next_message(channel: &Arc<dyn DataChannel>) -> anyhow::Result<Vec<u8>> {
    loop {
        match wait(channel.poll(), "a message").await? {
            DataChannelEvent::OnMessage(message) => return Ok(message.data.to_vec()),
            DataChannelEvent::OnClose | DataChannelEvent::OnError => {
                bail!("channel closed while waiting for a message")
            }
            _ => {}
        }
    }
}
