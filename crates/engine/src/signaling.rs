//! The signaling socket: one WebSocket to the room on the signaling server,
//! kept open for as long as the room is.
//!
//! When the socket drops, the client reconnects with exponential backoff and
//! rejoins with the same peer id, so peers that already have a direct
//! connection to us keep it and the server sees the same member come back.
//! Messages queued while the socket was down are discarded: negotiation
//! re-sends what still matters, and stale offers would only confuse peers.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parlor_protocol::{
    Envelope, ErrorFrame, FROM_FIELD, IceServer, JoinRejection, PeerId, PeerList, SENDER_FIELD,
    ServerMessage,
};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tracing::{debug, info, warn};

/// Gives up on one connection attempt after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// First and largest pause between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// We ping the server this often, and call the socket dead when nothing at
/// all has arrived for [`SILENCE_LIMIT`] (a network blip that TCP would take
/// minutes to notice).
const PING_INTERVAL: Duration = Duration::from_secs(10);
const SILENCE_LIMIT: Duration = Duration::from_secs(25);

/// What the signaling socket reports to the room.
#[derive(Debug)]
pub(crate) enum SignalingEvent {
    /// Joined the room (again, after a reconnection): the server accepted us
    /// and sent its first peer list. Reported then rather than when the
    /// socket opens, because a server that refuses the join (room full) also
    /// accepts the upgrade first.
    Connected,
    /// The socket is down; the next attempt starts after `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The room's other members, in join order.
    PeerList(PeerList),
    /// The ICE servers the server gave us as a member, TURN credentials in
    /// our name included: peer connections made from now on use them
    /// instead of what `/turn` said. A server that has them sends them
    /// before its first peer list, and fresh ones before they expire.
    IceServers(Vec<IceServer>),
    /// A message relayed from another member, with who it is from and for.
    Relayed {
        envelope: Envelope,
        body: Map<String, Value>,
    },
    /// The server refused one of our frames.
    ServerError(ErrorFrame),
    /// The server refused to let us join and retrying cannot help (room full,
    /// invalid name, or an id taken on the first join). The client has
    /// stopped.
    Rejected {
        rejection: JoinRejection,
        reason: String,
    },
}

/// A frame for the server, and who wants to hear once it is written.
struct Outgoing {
    text: String,
    written: Option<oneshot::Sender<()>>,
}

/// Sends messages into the room; dropping it closes the socket.
#[derive(Clone)]
pub(crate) struct SignalingSender {
    local: PeerId,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    gone: mpsc::UnboundedSender<Vec<IpAddr>>,
}

impl SignalingSender {
    /// Sends `body` to `to`, or to every other member when `to` is `None`,
    /// addressed so that it reaches only them on an old server too.
    pub(crate) fn send(&self, to: Option<&PeerId>, body: Map<String, Value>) {
        self.queue(to, body, None);
    }

    /// As [`SignalingSender::send`], and resolves once the frame is written
    /// to the socket; fails at once when it never will be (no socket now,
    /// or the client stopped).
    pub(crate) fn send_written(
        &self,
        to: Option<&PeerId>,
        body: Map<String, Value>,
    ) -> oneshot::Receiver<()> {
        let (written, receiver) = oneshot::channel();
        self.queue(to, body, Some(written));
        receiver
    }

    fn queue(
        &self,
        to: Option<&PeerId>,
        mut body: Map<String, Value>,
        written: Option<oneshot::Sender<()>>,
    ) {
        Envelope::write(&mut body, &self.local, to);
        let text = Value::Object(body).to_string();
        if self.outgoing.send(Outgoing { text, written }).is_err() {
            debug!("signaling client has stopped; message dropped");
        }
    }

    /// This machine lost `addresses`: if the socket's own address is among
    /// them, it is dead (nothing can arrive on it, and TCP would take
    /// minutes to say so), so reconnect at once from an address that works.
    pub(crate) fn addresses_gone(&self, addresses: Vec<IpAddr>) {
        let _ = self.gone.send(addresses);
    }
}

/// Starts the signaling client for `url` (the full room URL with `_pk` =
/// `local`). Events arrive on `events` until the returned sender and all its
/// clones are dropped, or the server rejects the join for good.
pub(crate) fn spawn(
    url: String,
    local: PeerId,
    events: mpsc::UnboundedSender<SignalingEvent>,
) -> SignalingSender {
    let (outgoing, rx) = mpsc::unbounded_channel();
    let (gone, gone_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(url, rx, gone_rx, events));
    SignalingSender {
        local,
        outgoing,
        gone,
    }
}

/// How one connection ended.
enum Ended {
    /// Our side is done with the room: stop for good.
    Stopped,
    /// Try again after a backoff.
    Retry(String),
    /// The server refused the join; whether retrying can help depends on
    /// why, and on whether we were in the room before.
    Rejected {
        rejection: JoinRejection,
        reason: String,
    },
}

async fn run(
    url: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut gone: mpsc::UnboundedReceiver<Vec<IpAddr>>,
    events: mpsc::UnboundedSender<SignalingEvent>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut joined_before = false;
    loop {
        let ended = match timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url)).await {
            Err(_) => Ended::Retry(format!(
                "no answer from the signaling server within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
            Ok(Err(error)) => Ended::Retry(format!("cannot reach the signaling server: {error}")),
            Ok(Ok((socket, _))) => {
                info!("signaling connected");
                // Whatever was queued while we were away is stale, and so
                // is news of addresses lost before this socket was made.
                while outgoing.try_recv().is_ok() {}
                while gone.try_recv().is_ok() {}
                let local_ip = socket.get_ref().get_ref().local_addr().ok().map(|a| a.ip());
                let started = Instant::now();
                let channels = Channels {
                    outgoing: &mut outgoing,
                    gone: &mut gone,
                    events: &events,
                };
                let ended = serve(socket, local_ip, channels, &mut joined_before).await;
                if started.elapsed() > BACKOFF_MAX {
                    backoff = BACKOFF_MIN;
                }
                ended
            }
        };
        match ended {
            Ended::Stopped => return,
            // A duplicate id after we were in the room means the server still
            // holds our previous connection (it has not noticed it died
            // yet): it lets go after its ping timeout, so try again.
            Ended::Rejected {
                rejection: JoinRejection::DuplicatePeerId,
                reason,
            } if joined_before => {
                if !retry(reason, &mut backoff, &mut outgoing, &events).await {
                    return;
                }
            }
            Ended::Rejected { rejection, reason } => {
                warn!(%reason, "signaling server refused the join");
                let _ = events.send(SignalingEvent::Rejected { rejection, reason });
                return;
            }
            Ended::Retry(reason) => {
                if !retry(reason, &mut backoff, &mut outgoing, &events).await {
                    return;
                }
            }
        }
    }
}

/// Reports the disconnection and waits out the backoff; `false` when the
/// room was left meanwhile.
async fn retry(
    reason: String,
    backoff: &mut Duration,
    outgoing: &mut mpsc::UnboundedReceiver<Outgoing>,
    events: &mpsc::UnboundedSender<SignalingEvent>,
) -> bool {
    let retry_in = jitter(*backoff);
    warn!(%reason, retry_in_ms = retry_in.as_millis(), "signaling disconnected");
    let event = SignalingEvent::Disconnected { reason, retry_in };
    if events.send(event).is_err() {
        return false;
    }
    tokio::select! {
        _ = sleep(retry_in) => {}
        () = closed(outgoing) => return false,
    }
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    true
}

/// Resolves when every sender is gone, discarding anything sent meanwhile.
async fn closed(outgoing: &mut mpsc::UnboundedReceiver<Outgoing>) {
    while outgoing.recv().await.is_some() {}
}

/// What one connection talks to: the room's outgoing messages, news of
/// lost addresses, and the room's events.
struct Channels<'a> {
    outgoing: &'a mut mpsc::UnboundedReceiver<Outgoing>,
    gone: &'a mut mpsc::UnboundedReceiver<Vec<IpAddr>>,
    events: &'a mpsc::UnboundedSender<SignalingEvent>,
}

async fn serve<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    local_ip: Option<IpAddr>,
    channels: Channels<'_>,
    joined_before: &mut bool,
) -> Ended
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Channels {
        outgoing,
        gone,
        events,
    } = channels;
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut joined = false;
    // Whether this server sends ICE servers: it does so before its first
    // peer list. Later frames are taken from such a server only, so that
    // on an old server, which stamps nothing, no member can pass its own
    // relay off as the server's.
    let mut server_sends_ice = false;
    // The error frame a refusing server sends just before its close frame
    // says exactly why (the close code cannot tell an invalid room from an
    // invalid id).
    let mut refusal: Option<JoinRejection> = None;
    loop {
        tokio::select! {
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    None => return Ended::Retry("the signaling server closed the connection".into()),
                    Some(Err(error)) => return Ended::Retry(format!("signaling connection failed: {error}")),
                    Some(Ok(Message::Text(text))) => {
                        let event = parse_frame(text.as_str());
                        let is_ice = matches!(event, SignalingEvent::IceServers(_));
                        if is_ice && !takes_ice_servers(&mut server_sends_ice, joined) {
                            debug!("ICE servers from a server that sent none before its peer list; ignored");
                            continue;
                        }
                        let first_list = !joined && matches!(event, SignalingEvent::PeerList(_));
                        if first_list {
                            joined = true;
                            *joined_before = true;
                            info!("joined the room");
                        }
                        if let SignalingEvent::ServerError(error) = &event {
                            refusal = refusal.or(JoinRejection::from_error_code(error.code));
                        }
                        let delivered = (!first_list || events.send(SignalingEvent::Connected).is_ok())
                            && events.send(event).is_ok();
                        if !delivered {
                            // The room is gone; what it queued last (its
                            // goodbye) still goes out before the close.
                            while let Ok(Outgoing { text, .. }) = outgoing.try_recv() {
                                if sink.send(Message::text(text)).await.is_err() {
                                    break;
                                }
                            }
                            let _ = sink.close().await;
                            return Ended::Stopped;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return closed_by_server(frame, refusal),
                    Some(Ok(_)) => {}
                }
            }
            frame = outgoing.recv() => match frame {
                Some(Outgoing { text, written }) => {
                    if let Err(error) = sink.send(Message::text(text)).await {
                        return Ended::Retry(format!("cannot send to the signaling server: {error}"));
                    }
                    if let Some(written) = written {
                        let _ = written.send(());
                    }
                }
                None => {
                    let _ = sink.close().await;
                    return Ended::Stopped;
                }
            },
            Some(addresses) = gone.recv() => {
                if let Some(ip) = local_ip.filter(|ip| addresses.contains(ip)) {
                    return Ended::Retry(format!("the network changed: this machine no longer has {ip}"));
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Ended::Retry(format!(
                        "the signaling server has been silent for {} s", SILENCE_LIMIT.as_secs()
                    ));
                }
                if let Err(error) = sink.send(Message::Ping(Vec::new().into())).await {
                    return Ended::Retry(format!("cannot send to the signaling server: {error}"));
                }
            }
        }
    }
}

/// Turns the server's close frame (and the refusal it sent before, if
/// any) into what to do next.
fn closed_by_server(frame: Option<CloseFrame>, refusal: Option<JoinRejection>) -> Ended {
    let Some(frame) = frame else {
        return Ended::Retry("the signaling server closed the connection".into());
    };
    let code = u16::from(frame.code);
    let reason = if frame.reason.is_empty() {
        format!("the signaling server closed the connection (code {code})")
    } else {
        format!("{} (code {code})", frame.reason)
    };
    match JoinRejection::from_close_code(code) {
        Some(by_code) => Ended::Rejected {
            rejection: refusal.unwrap_or(by_code),
            reason,
        },
        None => Ended::Retry(reason),
    }
}

/// Whether to take an `ice-servers` frame that arrived before (`joined`
/// false) or after the server's first peer list; `server_sends_ice`
/// remembers whether one came before.
fn takes_ice_servers(server_sends_ice: &mut bool, joined: bool) -> bool {
    *server_sends_ice |= !joined;
    *server_sends_ice
}

/// Reads one text frame from the server.
fn parse_frame(text: &str) -> SignalingEvent {
    let body = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(body)) => body,
        _ => {
            return SignalingEvent::ServerError(ErrorFrame {
                code: parlor_protocol::ErrorCode::NotObject,
                message: format!(
                    "the signaling server sent something that is not a JSON object: {text:.80}"
                ),
            });
        }
    };
    let kind = body.get("type").and_then(Value::as_str);
    let relayed = body.contains_key(FROM_FIELD) || body.contains_key(SENDER_FIELD);
    let from_server = matches!(
        kind,
        Some("info:peerlist") | Some("error") | Some("ice-servers")
    );
    if from_server && !relayed {
        if let Ok(message) = serde_json::from_value::<ServerMessage>(Value::Object(body.clone())) {
            return match message {
                ServerMessage::PeerList(list) => SignalingEvent::PeerList(list),
                ServerMessage::Error(error) => SignalingEvent::ServerError(error),
                ServerMessage::IceServers(frame) => SignalingEvent::IceServers(frame.ice_servers),
            };
        }
    }
    SignalingEvent::Relayed {
        envelope: Envelope::read(&body),
        body,
    }
}

/// Spreads reconnection attempts of many clients after a server restart.
fn jitter(base: Duration) -> Duration {
    let factor = rand::random_range(0.8..1.2);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Whatever a server or a forging member sends, reading it neither
        /// panics nor takes it for a peer list unless it is the server's.
        #[test]
        fn any_text_from_the_server_is_read_without_panic(text in ".{0,300}") {
            let _ = parse_frame(&text);
        }

        #[test]
        fn a_peer_list_of_thousands_of_ids_is_read_whole(count in 1000usize..5000) {
            let peers: Vec<String> = (0..count).map(|n| format!("p{n}")).collect();
            let text = serde_json::json!({"type": "info:peerlist", "peers": peers}).to_string();
            let SignalingEvent::PeerList(list) = parse_frame(&text) else {
                return Err(proptest::test_runner::TestCaseError::fail("not a peer list"));
            };
            proptest::prop_assert_eq!(list.peers.len(), count);
        }
    }

    #[test]
    fn peer_list_from_server_is_recognised() {
        let event = parse_frame(r#"{"type":"info:peerlist","peers":["a","b"],"parlor":["b"]}"#);
        let SignalingEvent::PeerList(list) = event else {
            panic!("expected a peer list, got {event:?}");
        };
        assert_eq!(list.peers.len(), 2);
        assert_eq!(list.parlor.len(), 1);
    }

    #[test]
    fn relayed_message_keeps_its_sender() {
        let event = parse_frame(r#"{"candidate":null,"from":"abc"}"#);
        let SignalingEvent::Relayed { envelope, body } = event else {
            panic!("expected a relayed message, got {event:?}");
        };
        assert_eq!(envelope.from.as_ref().map(PeerId::as_str), Some("abc"));
        assert!(body.contains_key("candidate"));
    }

    #[test]
    fn ice_servers_from_the_server_are_recognised() {
        let event = parse_frame(
            r#"{"type":"ice-servers","iceServers":[{"urls":["turn:t.example"],"username":"9:me","credential":"c"}],"expires":9}"#,
        );
        let SignalingEvent::IceServers(servers) = event else {
            panic!("expected ICE servers, got {event:?}");
        };
        assert_eq!(servers[0].username.as_deref(), Some("9:me"));
    }

    #[test]
    fn a_peer_cannot_pass_its_relay_off_as_the_servers() {
        let event = parse_frame(
            r#"{"type":"ice-servers","iceServers":[{"urls":["turn:evil.example"]}],"sender":"mallory"}"#,
        );
        assert!(matches!(event, SignalingEvent::Relayed { .. }));
    }

    #[test]
    fn ice_servers_after_the_room_are_taken_only_from_a_server_that_sent_them_before() {
        let mut parlor_server = false;
        assert!(takes_ice_servers(&mut parlor_server, false));
        assert!(takes_ice_servers(&mut parlor_server, true), "a refresh");
        let mut old_server = false;
        assert!(!takes_ice_servers(&mut old_server, true), "a forgery");
    }

    #[test]
    fn a_peer_cannot_pass_its_message_off_as_a_peer_list() {
        let event = parse_frame(r#"{"type":"info:peerlist","peers":[],"from":"mallory"}"#);
        assert!(matches!(event, SignalingEvent::Relayed { .. }));
    }

    #[test]
    fn a_refusal_is_read_from_the_close_code_and_going_away_is_retried() {
        use parlor_protocol::close_code;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let frame = |code: u16| {
            Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "x".into(),
            })
        };
        assert!(matches!(
            closed_by_server(frame(close_code::ROOM_FULL), None),
            Ended::Rejected {
                rejection: JoinRejection::RoomFull,
                ..
            }
        ));
        assert!(matches!(
            closed_by_server(frame(close_code::GOING_AWAY), None),
            Ended::Retry(_)
        ));
    }

    #[test]
    fn the_error_frame_before_the_close_says_which_id_was_invalid() {
        use parlor_protocol::close_code;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let frame = Some(CloseFrame {
            code: CloseCode::from(close_code::INVALID_JOIN),
            reason: "x".into(),
        });
        assert!(matches!(
            closed_by_server(frame, Some(JoinRejection::InvalidPeerId)),
            Ended::Rejected {
                rejection: JoinRejection::InvalidPeerId,
                ..
            }
        ));
    }
}
