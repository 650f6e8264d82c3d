//! File transfers with one peer (protocol.md §5c): the I/O around
//! `parlor-files`. Offers and answers go through the peer's session on the
//! chat channel; bytes go on a data channel per transfer, from disk to disk,
//! one block in memory at a time, paced by what the channel has not sent
//! yet. A transfer whose connection breaks is offered again when the peer
//! is back, and the receiver answers with what it already verified.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use parlor_files::{FileError, Incoming, Manifest, Received, block_messages, hash_of};
use parlor_protocol::{
    BLOCK_SIZE, DataMessage, FileOffer, Frame, MAX_FILES_PER_OFFER, file_channel_label,
    transfer_of_label,
};
use parlor_session::PeerSession;
use parlor_transport::{DataChannel, DataChannelEvent, PeerConnection, RTCDataChannelState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::events::{Event, EventKind, TransferDirection};
use crate::ledger::Ledger;

/// Bytes handed to a file channel and not yet sent beyond which the sender
/// waits: enough to keep a fast link busy, little enough to bound memory.
const HIGH_WATER: usize = 8 * 1024 * 1024;
/// How often progress is reported, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Test hook: the sender damages this block once (its first send), to
/// prove the receiver notices and asks for it again.
const CORRUPT_BLOCK_ENV: &str = "PARLOR_TEST_CORRUPT_BLOCK";

/// What a transfer task tells the peer task.
pub(crate) enum TransferNotice {
    /// Send this control frame to the peer.
    Control(Frame),
    /// The transfer ended (done, failed or cancelled): forget it.
    Ended { transfer: String },
    /// The peer has every file of our transfer.
    Sent { transfer: String },
    /// An unfinished transfer of ours from before a restart, read and
    /// hashed again to offer it again (or why that failed).
    Rebuilt {
        transfer: String,
        manifest: Result<Arc<Manifest>, String>,
    },
}

/// What the peer task tells a sending task.
enum SenderControl {
    Resend { file: u32, offset: u64 },
    Done { file: u32 },
}

struct Outgoing {
    manifest: Arc<Manifest>,
    task: Option<(JoinHandle<()>, mpsc::UnboundedSender<SenderControl>)>,
}

struct IncomingTransfer {
    offer: FileOffer,
    /// Where it is being received; `None` while the person decides.
    receiving: Option<Arc<Mutex<Incoming>>>,
    /// Where the person accepted it, so an offer made again after a
    /// reconnection goes on there without asking again.
    accepted_into: Option<PathBuf>,
    task: Option<JoinHandle<()>>,
}

/// Every transfer with one peer, both ways.
pub(crate) struct Transfers {
    peer: String,
    events: mpsc::UnboundedSender<Event>,
    notices: mpsc::UnboundedSender<TransferNotice>,
    /// Where offers are taken without asking (`parlor-peer --accept-files`).
    accept_into: Option<PathBuf>,
    /// Where accepted files go: an offer that already has a partial
    /// download there was accepted before, and goes on without asking.
    download_dir: Option<PathBuf>,
    /// Keeps our offers, so they are made again after our restart.
    ledger: Ledger,
    /// The identity the peer proved, once it did.
    identity: Option<String>,
    outgoing: HashMap<String, Outgoing>,
    incoming: HashMap<String, IncomingTransfer>,
}

impl Transfers {
    pub(crate) fn new(
        peer: String,
        events: mpsc::UnboundedSender<Event>,
        notices: mpsc::UnboundedSender<TransferNotice>,
        (accept_into, download_dir): (Option<PathBuf>, Option<PathBuf>),
        ledger: Ledger,
    ) -> Self {
        Self {
            peer,
            events,
            notices,
            accept_into,
            download_dir,
            ledger,
            identity: None,
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
        }
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event::now(kind));
    }

    fn failed(&self, transfer: &str, reason: String) {
        self.emit(EventKind::FileFailed {
            peer: self.peer.clone(),
            transfer: transfer.to_owned(),
            reason,
        });
    }

    /// The peer proved it is `fingerprint`: our offers to it are kept for
    /// that identity, and what we offered it before a restart of ours and
    /// it does not have yet is read again and offered again.
    pub(crate) fn identified(&mut self, fingerprint: &str) {
        if self.identity.as_deref() == Some(fingerprint) {
            return;
        }
        self.identity = Some(fingerprint.to_owned());
        for transfer in self.outgoing.keys() {
            self.ledger.transfer_offered_to(transfer, fingerprint);
        }
        for unfinished in self.ledger.unfinished_transfers(fingerprint) {
            if self.outgoing.contains_key(&unfinished.transfer) {
                continue;
            }
            let notices = self.notices.clone();
            tokio::spawn(async move {
                let paths: Vec<PathBuf> = unfinished.paths.iter().map(PathBuf::from).collect();
                let manifest = tokio::task::spawn_blocking(move || Manifest::build(&paths))
                    .await
                    .map_err(|_| FileError::Interrupted)
                    .and_then(|built| built)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                let _ = notices.send(TransferNotice::Rebuilt {
                    transfer: unfinished.transfer,
                    manifest,
                });
            });
        }
    }

    /// Offers `manifest` to the peer: now if it is connected, else when it
    /// connects.
    pub(crate) fn offer(&mut self, manifest: Arc<Manifest>, session: &mut PeerSession) {
        let transfer = manifest.transfer().to_owned();
        if let Some(fingerprint) = &self.identity {
            self.ledger.transfer_offered_to(&transfer, fingerprint);
        }
        let offer = Frame::FileOffer(manifest.offer.clone());
        if let Some(old) = self.outgoing.insert(
            transfer.clone(),
            Outgoing {
                manifest,
                task: None,
            },
        ) {
            stop(old.task);
        }
        self.send_offer(&transfer, &offer, session);
    }

    fn send_offer(&mut self, transfer: &str, offer: &Frame, session: &mut PeerSession) {
        if session.send_file_control(offer) {
            return;
        }
        if session.is_settled() && !session.remote_supports_files() {
            self.outgoing.remove(transfer);
            self.failed(transfer, "this person's app can't receive files".into());
        }
    }

    /// The chat with the peer is (again) up: what was not finished is
    /// offered again; the receiver answers with what it has.
    pub(crate) fn connected(&mut self, session: &mut PeerSession) {
        let offers: Vec<(String, Frame)> = self
            .outgoing
            .iter()
            .map(|(id, o)| (id.clone(), Frame::FileOffer(o.manifest.offer.clone())))
            .collect();
        for (transfer, offer) in offers {
            if let Some(outgoing) = self.outgoing.get_mut(&transfer) {
                stop(outgoing.task.take());
            }
            if !session.remote_supports_files() {
                self.outgoing.remove(&transfer);
                self.failed(&transfer, "this person's app can't receive files".into());
                continue;
            }
            self.send_offer(&transfer, &offer, session);
        }
    }

    /// A control frame from the peer.
    pub(crate) async fn control(
        &mut self,
        frame: Frame,
        session: &mut PeerSession,
        connection: Option<Arc<dyn PeerConnection>>,
    ) {
        match frame {
            Frame::FileOffer(offer) => self.offered(offer, session),
            Frame::FileAccept { transfer, have } => {
                self.accepted(&transfer, have, connection).await;
            }
            Frame::FileResend {
                transfer,
                file,
                offset,
            } => self.to_sender(&transfer, SenderControl::Resend { file, offset }),
            Frame::FileDone { transfer, file } => {
                self.to_sender(&transfer, SenderControl::Done { file });
            }
            Frame::FileDecline { transfer, reason } | Frame::FileCancel { transfer, reason } => {
                let ours = self
                    .outgoing
                    .remove(&transfer)
                    .map(|o| stop(o.task))
                    .is_some();
                if ours {
                    self.finished(&transfer);
                }
                let known = ours
                    | self
                        .incoming
                        .remove(&transfer)
                        .map(|i| abort(i.task))
                        .is_some();
                if known {
                    self.failed(&transfer, format!("the other side stopped it: {reason}"));
                }
            }
            _ => {}
        }
    }

    fn to_sender(&self, transfer: &str, control: SenderControl) {
        if let Some((_, tx)) = self.outgoing.get(transfer).and_then(|o| o.task.as_ref()) {
            let _ = tx.send(control);
        }
    }

    /// The peer offers files.
    fn offered(&mut self, offer: FileOffer, session: &mut PeerSession) {
        let transfer = offer.transfer.clone();
        if offer.files.len() > MAX_FILES_PER_OFFER {
            let reason = format!(
                "{} files are more than one transfer takes",
                offer.files.len()
            );
            session.send_file_control(&Frame::FileDecline {
                transfer: transfer.clone(),
                reason: reason.clone(),
            });
            self.failed(&transfer, format!("declined: {reason}"));
            return;
        }
        let mut accepted_before = None;
        if let Some(existing) = self.incoming.get_mut(&transfer) {
            // Offered again after a reconnection: go on where it stopped.
            abort(existing.task.take());
            accepted_before = existing.accepted_into.take();
        } else {
            self.emit(EventKind::FileOffered {
                peer: self.peer.clone(),
                transfer: transfer.clone(),
                files: offer
                    .files
                    .iter()
                    .map(|f| (f.name.clone(), f.size))
                    .collect(),
                total_bytes: offer.total_bytes(),
            });
        }
        self.incoming.insert(
            transfer.clone(),
            IncomingTransfer {
                offer,
                receiving: None,
                accepted_into: None,
                task: None,
            },
        );
        let resumed = self
            .download_dir
            .clone()
            .filter(|dir| Incoming::in_progress(dir, &transfer));
        if let Some(dir) = self.accept_into.clone().or(accepted_before).or(resumed) {
            self.accept(&transfer, dir, session);
        }
    }

    /// The person takes an offer into `dir`.
    pub(crate) fn accept(&mut self, transfer: &str, dir: PathBuf, session: &mut PeerSession) {
        let Some(entry) = self.incoming.get_mut(transfer) else {
            return;
        };
        let mut incoming = match Incoming::open(&dir, &entry.offer) {
            Ok(incoming) => incoming,
            Err(error) => return self.decline(transfer, error.to_string(), session),
        };
        let named_before = incoming.named_before();
        let done = incoming.finish_complete();
        let have = incoming.have();
        let total = entry.offer.total_bytes();
        let receiving = Arc::new(Mutex::new(incoming));
        entry.receiving = Some(receiving);
        entry.accepted_into = Some(dir);
        match done {
            Ok(done) => {
                for received in done {
                    self.report_received(transfer, received);
                }
            }
            Err(error) => return self.decline(transfer, error.to_string(), session),
        }
        for file in named_before {
            let _ = self.notices.send(TransferNotice::Control(Frame::FileDone {
                transfer: transfer.to_owned(),
                file,
            }));
        }
        debug!(peer = %self.peer, %transfer, ?have, total, "accepting files");
        session.send_file_control(&Frame::FileAccept {
            transfer: transfer.to_owned(),
            have,
        });
        self.finish_if_complete(transfer);
    }

    /// The person (or a check) turns an offer down.
    pub(crate) fn decline(&mut self, transfer: &str, reason: String, session: &mut PeerSession) {
        if self.incoming.remove(transfer).is_none() {
            return;
        }
        session.send_file_control(&Frame::FileDecline {
            transfer: transfer.to_owned(),
            reason: reason.clone(),
        });
        self.failed(transfer, format!("declined: {reason}"));
    }

    /// The person stops a transfer, either way.
    pub(crate) fn cancel(&mut self, transfer: &str, session: &mut PeerSession) {
        let sending = self
            .outgoing
            .remove(transfer)
            .map(|o| stop(o.task))
            .is_some();
        if sending {
            self.finished(transfer);
        }
        let receiving = match self.incoming.remove(transfer) {
            Some(entry) => {
                abort(entry.task);
                if let Some(incoming) = entry.receiving.and_then(Arc::into_inner) {
                    if let Ok(incoming) = incoming.into_inner() {
                        incoming.discard();
                    }
                }
                true
            }
            None => false,
        };
        if sending || receiving {
            session.send_file_control(&Frame::FileCancel {
                transfer: transfer.to_owned(),
                reason: "cancelled".into(),
            });
            self.failed(transfer, "cancelled".into());
        }
    }

    /// The peer opened a data channel: a file channel of an accepted
    /// transfer starts receiving; any other is closed.
    pub(crate) async fn channel(&mut self, channel: Arc<dyn DataChannel>, label: &str) {
        let Some(transfer) = transfer_of_label(label).map(str::to_owned) else {
            return;
        };
        let Some(entry) = self.incoming.get_mut(&transfer) else {
            debug!(%transfer, "a file channel for no accepted transfer");
            let _ = channel.close().await;
            return;
        };
        let Some(receiving) = entry.receiving.clone() else {
            let _ = channel.close().await;
            return;
        };
        abort(entry.task.take());
        let total = entry.offer.total_bytes();
        let task = tokio::spawn(receive(ReceiveTask {
            peer: self.peer.clone(),
            transfer,
            total,
            channel,
            incoming: receiving,
            events: self.events.clone(),
            notices: self.notices.clone(),
        }));
        entry.task = Some(task);
    }

    /// A transfer task's notice: frames to send, transfers to forget.
    pub(crate) fn notice(&mut self, notice: TransferNotice, session: &mut PeerSession) {
        match notice {
            TransferNotice::Control(frame) => {
                session.send_file_control(&frame);
            }
            TransferNotice::Ended { transfer } => {
                self.outgoing.remove(&transfer);
                self.incoming.remove(&transfer);
            }
            TransferNotice::Sent { transfer } => {
                self.outgoing.remove(&transfer);
                self.finished(&transfer);
            }
            TransferNotice::Rebuilt { transfer, manifest } => match manifest {
                Ok(manifest) if manifest.transfer() == transfer => self.offer(manifest, session),
                Ok(_) => self.gave_up(&transfer, "its files changed since it was offered".into()),
                Err(reason) => self.gave_up(&transfer, reason),
            },
        }
    }

    /// The peer is not offered `transfer` again.
    fn finished(&self, transfer: &str) {
        if let Some(fingerprint) = &self.identity {
            self.ledger.transfer_finished(transfer, fingerprint);
        }
    }

    /// An unfinished transfer from before a restart cannot be offered again.
    fn gave_up(&self, transfer: &str, reason: String) {
        self.finished(transfer);
        self.failed(
            transfer,
            format!("cannot go on after the restart: {reason}"),
        );
    }

    fn report_received(&self, transfer: &str, received: Received) {
        if let Received::FileDone { file, path } = received {
            report_file(&self.events, &self.peer, transfer, file, &path);
            let _ = self.notices.send(TransferNotice::Control(Frame::FileDone {
                transfer: transfer.to_owned(),
                file,
            }));
        }
    }

    fn finish_if_complete(&mut self, transfer: &str) {
        let complete = self
            .incoming
            .get(transfer)
            .and_then(|e| e.receiving.as_ref())
            .and_then(|r| r.lock().ok().map(|i| i.is_complete()))
            .unwrap_or(false);
        if complete {
            self.incoming.remove(transfer);
        }
    }

    /// The peer accepted our offer: open the transfer's channel and send.
    async fn accepted(
        &mut self,
        transfer: &str,
        have: Vec<u64>,
        connection: Option<Arc<dyn PeerConnection>>,
    ) {
        let Some(outgoing) = self.outgoing.get_mut(transfer) else {
            return;
        };
        let Some(pc) = connection else {
            return;
        };
        stop(outgoing.task.take());
        let channel = match pc
            .create_data_channel(&file_channel_label(transfer), None)
            .await
        {
            Ok(channel) => channel,
            Err(error) => {
                warn!(%error, "cannot open a file channel");
                return;
            }
        };
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(send(SendTask {
            peer: self.peer.clone(),
            manifest: outgoing.manifest.clone(),
            have,
            channel,
            control: control_rx,
            events: self.events.clone(),
            notices: self.notices.clone(),
        }));
        outgoing.task = Some((task, control));
    }

    /// Stops every task: the peer is gone or we leave.
    pub(crate) fn close(&mut self) {
        for (_, outgoing) in self.outgoing.drain() {
            stop(outgoing.task);
        }
        for (_, incoming) in self.incoming.drain() {
            abort(incoming.task);
        }
    }
}

fn stop(task: Option<(JoinHandle<()>, mpsc::UnboundedSender<SenderControl>)>) {
    if let Some((task, _)) = task {
        task.abort();
    }
}

fn abort(task: Option<JoinHandle<()>>) {
    if let Some(task) = task {
        task.abort();
    }
}

fn report_file(
    events: &mpsc::UnboundedSender<Event>,
    peer: &str,
    transfer: &str,
    file: u32,
    path: &std::path::Path,
) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let hash = hash_of(path).unwrap_or_default();
    let _ = events.send(Event::now(EventKind::FileReceived {
        peer: peer.to_owned(),
        transfer: transfer.to_owned(),
        file,
        path: path.display().to_string(),
        size,
        hash,
    }));
}

/// Progress, reported at most every [`PROGRESS_EVERY`].
struct Progress {
    peer: String,
    transfer: String,
    direction: TransferDirection,
    total: u64,
    last: Option<Instant>,
    events: mpsc::UnboundedSender<Event>,
}

impl Progress {
    fn report(&mut self, bytes: u64, force: bool) {
        let due = self.last.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
        if !(due || force) {
            return;
        }
        self.last = Some(Instant::now());
        let _ = self.events.send(Event::now(EventKind::FileProgress {
            peer: self.peer.clone(),
            transfer: self.transfer.clone(),
            direction: self.direction,
            bytes,
            total: self.total,
        }));
    }
}

struct SendTask {
    peer: String,
    manifest: Arc<Manifest>,
    have: Vec<u64>,
    channel: Arc<dyn DataChannel>,
    control: mpsc::UnboundedReceiver<SenderControl>,
    events: mpsc::UnboundedSender<Event>,
    notices: mpsc::UnboundedSender<TransferNotice>,
}

/// Sends every file from where the receiver is, block by block, going
/// back when a block arrived damaged, until the receiver has them all.
async fn send(mut task: SendTask) {
    let transfer = task.manifest.transfer().to_owned();
    let files = task.manifest.offer.files.len();
    let mut cursor: Vec<u64> = (0..files)
        .map(|i| task.have.get(i).copied().unwrap_or(0))
        .collect();
    let sizes: Vec<u64> = task.manifest.offer.files.iter().map(|f| f.size).collect();
    // Each file counts as sent once the receiver says it is whole.
    let mut done = vec![false; files];
    let mut corrupt_once: Option<u64> = std::env::var(CORRUPT_BLOCK_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let mut progress = Progress {
        peer: task.peer.clone(),
        transfer: transfer.clone(),
        direction: TransferDirection::Send,
        total: sizes.iter().sum(),
        last: None,
        events: task.events.clone(),
    };
    if !wait_open(task.channel.as_ref()).await {
        return;
    }
    let mut readers: HashMap<usize, parlor_files::BlockReader> = HashMap::new();
    let result: Result<(), String> = async {
        loop {
            while let Ok(control) = task.control.try_recv() {
                apply(control, &mut cursor, &mut done);
            }
            if done.iter().all(|d| *d) {
                return Ok(());
            }
            let next = cursor.iter().zip(&sizes).position(|(at, size)| at < size);
            let Some(index) = next else {
                // Everything sent: wait for the receiver's word on each.
                match task.control.recv().await {
                    Some(control) => apply(control, &mut cursor, &mut done),
                    None => return Err("the transfer was stopped".into()),
                }
                continue;
            };
            let at = cursor.get(index).copied().unwrap_or(0);
            let block = at / BLOCK_SIZE;
            let reader = match readers.entry(index) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(task.manifest.reader(index).map_err(|e| e.to_string())?)
                }
            };
            let Some(mut read) = reader.block(block).map_err(|e| e.to_string())? else {
                if let Some(c) = cursor.get_mut(index) {
                    *c = sizes.get(index).copied().unwrap_or(0);
                }
                continue;
            };
            let len = read.bytes.len() as u64;
            if corrupt_once == Some(block) {
                corrupt_once = None;
                if let Some(byte) = read.bytes.first_mut() {
                    *byte ^= 0xff;
                }
            }
            let file = u32::try_from(index).unwrap_or(u32::MAX);
            for message in block_messages(file, block, &read.bytes, read.hash) {
                while task.channel.outstanding_bytes().await.unwrap_or(0) > HIGH_WATER {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                task.channel
                    .send(BytesMut::from(&message.encode()[..]))
                    .await
                    .map_err(|e| {
                        format!("the connection broke ({e}); it goes on when the peer is back")
                    })?;
            }
            if let Some(c) = cursor.get_mut(index) {
                *c = block * BLOCK_SIZE + len;
            }
            let sent: u64 = cursor.iter().sum();
            progress.report(sent, false);
        }
    }
    .await;
    match result {
        Ok(()) => {
            progress.report(progress.total, true);
            let _ = task.events.send(Event::now(EventKind::FileSent {
                peer: task.peer.clone(),
                transfer: transfer.clone(),
            }));
            let _ = task.notices.send(TransferNotice::Sent { transfer });
            let _ = task.channel.close().await;
        }
        Err(reason) => {
            // A broken connection: the transfer waits to be offered again.
            debug!(peer = %task.peer, %transfer, %reason, "file sending paused");
            if reason.starts_with("the transfer was stopped") {
                return;
            }
            if reason.contains("changed on disk") {
                let _ = task
                    .notices
                    .send(TransferNotice::Control(Frame::FileCancel {
                        transfer: transfer.clone(),
                        reason: reason.clone(),
                    }));
                let _ = task.events.send(Event::now(EventKind::FileFailed {
                    peer: task.peer.clone(),
                    transfer: transfer.clone(),
                    reason,
                }));
                let _ = task.notices.send(TransferNotice::Ended { transfer });
            }
        }
    }
}

fn apply(control: SenderControl, cursor: &mut [u64], done: &mut [bool]) {
    match control {
        SenderControl::Resend { file, offset } => {
            let index = usize::try_from(file).unwrap_or(usize::MAX);
            if let Some(at) = cursor.get_mut(index) {
                *at = (*at).min(offset / BLOCK_SIZE * BLOCK_SIZE);
            }
        }
        SenderControl::Done { file } => {
            let index = usize::try_from(file).unwrap_or(usize::MAX);
            if let Some(flag) = done.get_mut(index) {
                *flag = true;
            }
        }
    }
}

/// Waits until our new channel is open; `false` if it closed first.
async fn wait_open(channel: &dyn DataChannel) -> bool {
    if matches!(channel.ready_state().await, Ok(RTCDataChannelState::Open)) {
        return true;
    }
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => return true,
            DataChannelEvent::OnClose => return false,
            _ => {}
        }
    }
    false
}

struct ReceiveTask {
    peer: String,
    transfer: String,
    total: u64,
    channel: Arc<dyn DataChannel>,
    incoming: Arc<Mutex<Incoming>>,
    events: mpsc::UnboundedSender<Event>,
    notices: mpsc::UnboundedSender<TransferNotice>,
}

/// Writes what arrives on a file channel, asking again for damaged blocks,
/// naming each file once it is whole.
async fn receive(task: ReceiveTask) {
    let mut progress = Progress {
        peer: task.peer.clone(),
        transfer: task.transfer.clone(),
        direction: TransferDirection::Receive,
        total: task.total,
        last: None,
        events: task.events.clone(),
    };
    while let Some(event) = task.channel.poll().await {
        let DataChannelEvent::OnMessage(message) = event else {
            if matches!(event, DataChannelEvent::OnClose) {
                break;
            }
            continue;
        };
        let outcome = DataMessage::decode(&message.data)
            .map_err(|e| FileError::BadData(e.to_string()))
            .and_then(|m| match task.incoming.lock() {
                Ok(mut incoming) => incoming
                    .receive(m)
                    .map(|r| (r, incoming.verified_bytes(), incoming.is_complete())),
                Err(_) => Err(FileError::BadData("the transfer's state was lost".into())),
            });
        match outcome {
            Ok((Received::Progress, verified, _)) => progress.report(verified, false),
            Ok((Received::Resend { file, offset }, _, _)) => {
                warn!(peer = %task.peer, transfer = %task.transfer, file, offset, "a damaged block; asking for it again");
                let _ = task
                    .notices
                    .send(TransferNotice::Control(Frame::FileResend {
                        transfer: task.transfer.clone(),
                        file,
                        offset,
                    }));
            }
            Ok((Received::FileDone { file, path }, verified, complete)) => {
                progress.report(verified, true);
                report_file(&task.events, &task.peer, &task.transfer, file, &path);
                let _ = task.notices.send(TransferNotice::Control(Frame::FileDone {
                    transfer: task.transfer.clone(),
                    file,
                }));
                if complete {
                    let _ = task.notices.send(TransferNotice::Ended {
                        transfer: task.transfer.clone(),
                    });
                    return;
                }
            }
            Err(error) => {
                let reason = error.to_string();
                let _ = task
                    .notices
                    .send(TransferNotice::Control(Frame::FileCancel {
                        transfer: task.transfer.clone(),
                        reason: reason.clone(),
                    }));
                let _ = task.events.send(Event::now(EventKind::FileFailed {
                    peer: task.peer.clone(),
                    transfer: task.transfer.clone(),
                    reason,
                }));
                let _ = task.notices.send(TransferNotice::Ended {
                    transfer: task.transfer.clone(),
                });
                let _ = task.channel.close().await;
                return;
            }
        }
    }
}
