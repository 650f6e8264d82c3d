//! Integration tests of the signaling server: real WebSocket and HTTP
//! clients on loopback against a server started in-process through the
//! library (and, in `binary`, the real `parlor-signal` executable).
//!
//! One test binary with a module per topic keeps link time down; each test
//! is one rule of the protocol, named as a sentence.

// Test code: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod accept_rate;
mod bad_input;
mod binary;
mod byte_rate;
mod certificates;
mod connection_limits;
mod connection_threads;
mod http_endpoints;
mod id_keys;
mod join_rate;
mod join_rejections;
mod liveness;
mod member_ice_servers;
mod memory;
mod operations;
mod outbox;
mod peer_list_coalescing;
mod peer_lists;
mod random_frames;
mod relay;
mod room_fanout;
mod room_limit;
mod shutdown;
mod socket_buffers;
mod support;
mod timeouts;
mod tls;
mod trusted_proxy;
