//! Threads that run the clients' connections: one single-threaded tokio
//! runtime per thread, each task on one of them for its whole life.
//!
//! Not tokio's multi-threaded scheduler: when thousands of sockets are
//! ready at once, it moves what overflows a worker's local queue (256
//! tasks) to a global queue that is served far less often, so under load
//! some connections wait many times longer than others. A single-threaded
//! runtime's queue has no such limit and serves its tasks in turn. Relay
//! bench at 10 000 connections, saturated, one message in flight per pair:
//! p99 307 ms (2.4 times the p50) on the multi-threaded scheduler, 226 ms
//! (1.8 times) on these.
//!
//! A server has two sets: handshake threads, where a connection reads its
//! HTTP request (and TLS handshake), and connection threads, where its
//! WebSocket runs once its socket has moved there (`socket.rs`). The handshake threads run at [`Priority::Yielding`]:
//! whatever a crowd of strangers opening, stalling and dropping
//! connections costs, members already in their rooms are served first.

use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the operating system schedules a set of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// Like any other thread.
    Normal,
    /// Linux's `SCHED_IDLE`: the thread runs on what CPU time others leave,
    /// and gives its core up the moment any other thread wakes. A queue of
    /// handshakes then waits instead of delaying relayed frames by a
    /// scheduler tick (4 ms), which nice levels do not prevent. Elsewhere,
    /// the same as [`Priority::Normal`].
    Yielding,
}

/// One set of threads of a server; dropping it stops them (and any task
/// still on them).
#[derive(Debug)]
pub(crate) struct Shards {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Picks the thread of a key: random per server, so nobody can choose
    /// keys that all land on one thread.
    hasher: RandomState,
    _stop: watch::Sender<()>,
}

impl Shards {
    /// Starts `threads` threads named `name-<index>`; 0 starts one per CPU
    /// core.
    pub(crate) fn start(threads: usize, name: &str, priority: Priority) -> std::io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        };
        let (stop, stopped) = watch::channel(());
        let (ready, started) = std::sync::mpsc::channel();
        let mut handles = Vec::new();
        for index in 0..threads {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            let ready = ready.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    if priority == Priority::Yielding {
                        yield_to_others();
                    }
                    let _ = ready.send(());
                    runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
                })?;
        }
        // Each thread at its priority before any connection gets to it.
        for _ in 0..threads {
            let _ = started.recv();
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            hasher: RandomState::new(),
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

    /// Runs `task` on the thread of `key`: the same thread for the same
    /// key, so the members of a room relay to each other without waking
    /// another thread.
    pub(crate) fn spawn_for<K, F>(&self, key: &K, task: F) -> JoinHandle<F::Output>
    where
        K: Hash + ?Sized,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let hash = self.hasher.hash_one(key);
        let index = usize::try_from(hash % self.handles.len() as u64).unwrap_or(0);
        self.handles[index].spawn(task)
    }
}

/// Puts the calling thread at [`Priority::Yielding`]; best effort.
fn yield_to_others() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid `sched_param`; pid 0 is the calling
        // thread.
        let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if set != 0 {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, "handshake thread runs at normal priority");
        }
    }
}
