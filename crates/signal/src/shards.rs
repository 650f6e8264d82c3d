//! Threads that run the clients' connections: one single-threaded tokio
//! runtime per thread, each connection on one of them for its whole life.
//!
//! Not tokio's multi-threaded scheduler: when thousands of sockets are
//! ready at once, it moves what overflows a worker's local queue (256
//! tasks) to a global queue that is served far less often, so under load
//! some connections wait many times longer than others. A single-threaded
//! runtime's queue has no such limit and serves its tasks in turn. Relay
//! bench at 10 000 connections, saturated, one message in flight per pair:
//! p99 307 ms (2.4 times the p50) on the multi-threaded scheduler, 226 ms
//! (1.8 times) on these.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The connection threads of one server; dropping it stops them (and any
/// task still on them).
#[derive(Debug)]
pub(crate) struct Shards {
    handles: Vec<Handle>,
    next: AtomicUsize,
    _stop: watch::Sender<()>,
}

impl Shards {
    /// Starts `threads` threads; 0 starts one per CPU core.
    pub(crate) fn start(threads: usize) -> std::io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        };
        let (stop, stopped) = watch::channel(());
        let mut handles = Vec::new();
        for index in 0..threads {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            std::thread::Builder::new()
                .name(format!("parlor-conn-{index}"))
                .spawn(move || {
                    runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
                })?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        })
    }

    /// Runs `task` on the next thread in turn; everything it spawns stays
    /// there.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.handles[turn % self.handles.len()].spawn(task)
    }
}
