//! Test support: a fake webrtc-rs stack and a two-session simulation.

pub mod fake_stack;
pub mod sim;
