//! Counters behind `GET /metrics`, in the Prometheus text format.
//!
//! A handful of atomics and a hand-written exposition keep the server free of
//! a metrics framework; the format is simple and stable.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use parlor_protocol::ErrorCode;

/// A limit on what a client can make the server do, as `/metrics` labels
/// it (`parlor_signal_limit_exceeded_total{limit="…"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No complete request head in time (or no TLS handshake).
    HeaderReadTimeout,
    /// Still plain HTTP when the upgrade deadline passed.
    UpgradeTimeout,
    /// The server holds as many connections as it may.
    Connections,
    /// New connections came faster than the accept rate: one waited.
    AcceptRate,
    /// The client's address holds as many connections as it may.
    ConnectionsPerAddress,
    /// The client's address joined too often this minute.
    JoinsPerAddress,
    /// The server holds as many rooms as it may.
    Rooms,
    /// Frames per second from one client.
    FrameRate,
    /// Bytes per second from one client.
    ByteRate,
    /// Bytes per second one room makes the server send.
    RoomFanout,
    /// A member's queue of outgoing frames is over its byte budget.
    Outbox,
    /// All queues together are over the server's byte budget.
    OutboxTotal,
    /// A browser page from an origin the server does not allow.
    Origin,
    /// The client's address asked `/turn` too often this minute.
    TurnRequestsPerAddress,
}

impl Limit {
    /// Every limit, for exhaustive listings.
    pub(crate) const ALL: [Limit; 14] = [
        Limit::HeaderReadTimeout,
        Limit::UpgradeTimeout,
        Limit::Connections,
        Limit::AcceptRate,
        Limit::ConnectionsPerAddress,
        Limit::JoinsPerAddress,
        Limit::Rooms,
        Limit::FrameRate,
        Limit::ByteRate,
        Limit::RoomFanout,
        Limit::Outbox,
        Limit::OutboxTotal,
        Limit::Origin,
        Limit::TurnRequestsPerAddress,
    ];

    /// The label value, stable like the error codes.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Limit::HeaderReadTimeout => "header-read-timeout",
            Limit::UpgradeTimeout => "upgrade-timeout",
            Limit::Connections => "connections",
            Limit::AcceptRate => "accept-rate",
            Limit::ConnectionsPerAddress => "connections-per-address",
            Limit::JoinsPerAddress => "joins-per-address",
            Limit::Rooms => "rooms",
            Limit::FrameRate => "frame-rate",
            Limit::ByteRate => "byte-rate",
            Limit::RoomFanout => "room-fanout",
            Limit::Outbox => "outbox",
            Limit::OutboxTotal => "outbox-total",
            Limit::Origin => "origin",
            Limit::TurnRequestsPerAddress => "turn-requests-per-address",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Counters updated by connections; gauges are read from their owners when
/// the page is rendered.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections_total: AtomicU64,
    messages_relayed: AtomicU64,
    bytes_relayed: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
    limits: [AtomicU64; Limit::ALL.len()],
    peer_lists_sent: AtomicU64,
    peer_lists_merged: AtomicU64,
    memory_trims: AtomicU64,
}

/// Gauges sampled at render time.
pub(crate) struct Gauges {
    pub(crate) open_connections: usize,
    pub(crate) tcp_connections: usize,
    pub(crate) rooms: usize,
    pub(crate) members: usize,
    pub(crate) outbox_bytes: usize,
}

impl Metrics {
    pub(crate) fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// One relayed frame of `bytes` bytes, delivered to `recipients` members.
    pub(crate) fn relayed(&self, recipients: usize, bytes: usize) {
        let recipients = recipients as u64;
        self.messages_relayed
            .fetch_add(recipients, Ordering::Relaxed);
        self.bytes_relayed
            .fetch_add(recipients * bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, code: ErrorCode) {
        if let Some(index) = ErrorCode::ALL.iter().position(|&c| c == code) {
            self.errors[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A limit refused something or closed a connection.
    pub(crate) fn limit_exceeded(&self, limit: Limit) {
        if let Some(index) = Limit::ALL.iter().position(|&l| l == limit) {
            self.limits[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A peer list went out to one member.
    pub(crate) fn peer_list_sent(&self) {
        self.peer_lists_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A peer list fell due too soon after the last one and was merged into
    /// the next.
    pub(crate) fn peer_list_merged(&self) {
        self.peer_lists_merged.fetch_add(1, Ordering::Relaxed);
    }

    /// Freed memory went back to the operating system.
    pub(crate) fn memory_trimmed(&self) {
        self.memory_trims.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |value: u64| vec![(String::new(), value)];
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);

        metric(
            "parlor_signal_open_connections",
            "gauge",
            "WebSocket connections currently open.",
            &plain(gauges.open_connections as u64),
        );
        metric(
            "parlor_signal_tcp_connections",
            "gauge",
            "TCP connections currently held: WebSockets, plain HTTP and TLS handshakes.",
            &plain(gauges.tcp_connections as u64),
        );
        metric(
            "parlor_signal_connections_total",
            "counter",
            "WebSocket connections accepted since start, refused joins included.",
            &plain(load(&self.connections_total)),
        );
        metric(
            "parlor_signal_rooms",
            "gauge",
            "Rooms with at least one member.",
            &plain(gauges.rooms as u64),
        );
        metric(
            "parlor_signal_members",
            "gauge",
            "Members across all rooms.",
            &plain(gauges.members as u64),
        );
        metric(
            "parlor_signal_messages_relayed_total",
            "counter",
            "Frames delivered to members; a broadcast to three members counts three.",
            &plain(load(&self.messages_relayed)),
        );
        metric(
            "parlor_signal_bytes_relayed_total",
            "counter",
            "Bytes of relayed frames delivered to members.",
            &plain(load(&self.bytes_relayed)),
        );
        metric(
            "parlor_signal_outbox_bytes",
            "gauge",
            "Bytes queued for members across all outboxes.",
            &plain(gauges.outbox_bytes as u64),
        );
        metric(
            "parlor_signal_peer_lists_sent_total",
            "counter",
            "Peer lists sent to members.",
            &plain(load(&self.peer_lists_sent)),
        );
        metric(
            "parlor_signal_peer_lists_merged_total",
            "counter",
            "Peer lists not sent on their own because the member had one too recently; a later list carries the change.",
            &plain(load(&self.peer_lists_merged)),
        );
        metric(
            "parlor_signal_memory_trims_total",
            "counter",
            "Times the server gave the memory freed by connections that came and went back to the operating system.",
            &plain(load(&self.memory_trims)),
        );
        let errors: Vec<_> = ErrorCode::ALL
            .iter()
            .zip(&self.errors)
            .map(|(code, count)| (format!("{{code=\"{code}\"}}"), load(count)))
            .collect();
        metric(
            "parlor_signal_errors_total",
            "counter",
            "Error frames sent to clients, by error code.",
            &errors,
        );
        let limits: Vec<_> = Limit::ALL
            .iter()
            .zip(&self.limits)
            .map(|(limit, count)| (format!("{{limit=\"{limit}\"}}"), load(count)))
            .collect();
        metric(
            "parlor_signal_limit_exceeded_total",
            "counter",
            "Connections, joins and frames refused, and connections closed, by the limit that did it.",
            &limits,
        );
        out
    }
}
