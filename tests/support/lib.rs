//! Support for Parlor's end-to-end tests: real `parlor-signal` and
//! `parlor-peer` processes talking over loopback, observed through the JSON
//! events `parlor-peer` prints.
//!
//! The binaries are not built by `cargo test`: the test command builds them
//! first (`cargo build --workspace --bins`), and these helpers find them in
//! the target directory.

pub mod app;
pub mod chromium;
pub mod coturn;
pub mod impair;
pub mod internet;
pub mod memory;
pub mod netns;
pub mod notifications;
pub mod old_relay;
pub mod peer;
pub mod process;
pub mod redis;
pub mod scratch;
pub mod signal;
pub mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

/// Longest any single expected step may take: a guard against hanging, not
/// a performance assertion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Path of a workspace binary in the debug profile.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}
