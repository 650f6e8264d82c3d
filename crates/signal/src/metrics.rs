//! Counters behind `GET /metrics`, in the Prometheus text format.
//!
//! A handful of atomics and a hand-written exposition keep the server free of
//! a metrics framework; the format is simple and stable.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use parlor_protocol::ErrorCode;

/// Counters updated by connections; gauges are read from their owners when
/// the page is rendered.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections_total: AtomicU64,
    messages_relayed: AtomicU64,
    bytes_relayed: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

/// Gauges sampled at render time.
pub(crate) struct Gauges {
    pub(crate) open_connections: usize,
    pub(crate) rooms: usize,
    pub(crate) members: usize,
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
        out
    }
}
