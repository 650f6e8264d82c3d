//! Gives the memory freed after a burst of connections back to the
//! operating system.
//!
//! A connection's handshake uses far more memory than the connection keeps
//! (hyper's buffers, the TLS handshake), and the C allocator keeps what is
//! freed for reuse rather than returning it. After 100 clients connected at
//! once, the server held 23 KiB per idle connection, of which 6 KiB came
//! back with `malloc_trim`; a reconnect storm (every client at once after a
//! restart) would otherwise leave its peak resident for good. So when
//! connections come or go, once that has been quiet for a moment, the
//! allocator is asked to return its free pages: glibc's `malloc_trim` on
//! Linux, nothing elsewhere (other allocators return memory themselves, or
//! offer no such call).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use crate::server::stopping;

/// How long connections must have stopped coming and going before a trim:
/// one trim for a whole burst, not one per connection.
const QUIET: Duration = Duration::from_millis(200);

/// The shortest time between two trims, so continuous churn costs at most
/// one a second (each walks the allocator's free lists under its locks).
const COOLDOWN: Duration = Duration::from_secs(1);

/// Asks for a trim after memory was freed in bulk.
#[derive(Debug, Default)]
pub(crate) struct MemoryTrim {
    wanted: Notify,
}

impl MemoryTrim {
    /// A connection finished its handshake or ended: its buffers are free.
    pub(crate) fn freed(&self) {
        self.wanted.notify_one();
    }

    /// Trims after each burst until the server shuts down.
    pub(crate) async fn run(
        self: Arc<Self>,
        metrics: Arc<Metrics>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let cycles = async {
            loop {
                self.wanted.notified().await;
                tokio::time::sleep(QUIET).await;
                if tokio::task::spawn_blocking(trim).await.unwrap_or(false) {
                    metrics.memory_trimmed();
                }
                tokio::time::sleep(COOLDOWN).await;
            }
        };
        tokio::select! {
            _ = cycles => {}
            () = stopping(&mut shutdown) => {}
        }
    }
}

/// Returns the allocator's free pages; says whether it could.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: `malloc_trim` only inspects and releases the allocator's own
    // free memory; it takes no pointers and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    true
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}
