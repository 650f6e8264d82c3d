//! A bad line: loss, delay and jitter on the wire between a home and its
//! router, done in user space because the kernels the tests run on may lack
//! netem (`sch_netem`; "Specified qdisc kind is unknown").
//!
//! The wire is a namespace with two interfaces and no addresses. Normally a
//! kernel bridge joins them; a [`BadLine`] takes the bridge down and moves
//! every Ethernet frame across itself instead, through packet sockets, losing
//! some and holding the rest for the delay (± jitter) before sending them on.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::netns::Namespace;

/// How bad the line is, each way.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Share of frames lost, in percent.
    pub loss_percent: u32,
    /// Delay added to every frame.
    pub delay: Duration,
    /// The delay varies by up to this much either way (frames may reorder,
    /// as on a real bad line).
    pub jitter: Duration,
}

/// A running bad line; the frames stop moving when it drops.
pub struct BadLine {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BadLine {
    /// Moves frames between interfaces `a` and `b` of `wire` as `impairment` says.
    pub fn start(wire: &Namespace, a: &str, b: &str, impairment: Impairment) -> Self {
        let (sock_a, sock_b) = packet_sockets(wire, a, b);
        let (sock_a, sock_b) = (Arc::new(sock_a), Arc::new(sock_b));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (from, to) in [(sock_a.clone(), sock_b.clone()), (sock_b, sock_a)] {
            let (queue, queued) = mpsc::channel();
            let stop_reading = stop.clone();
            threads.push(std::thread::spawn(move || {
                read_frames(&from, &queue, &stop_reading, impairment);
            }));
            let stop_sending = stop.clone();
            threads.push(std::thread::spawn(move || {
                send_frames(&to, &queued, &stop_sending);
            }));
        }
        Self { stop, threads }
    }
}

impl Drop for BadLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A frame and when it may go on.
struct Held {
    due: Instant,
    frame: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

fn read_frames(
    socket: &OwnedFd,
    queue: &mpsc::Sender<Held>,
    stop: &AtomicBool,
    impairment: Impairment,
) {
    let mut rng = rand::rng();
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the buffer and address outlive the call, with their sizes.
        let read = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
                (&raw mut from).cast(),
                &raw mut from_len,
            )
        };
        let Ok(length) = usize::try_from(read) else {
            continue; // the receive timeout: look at `stop` again
        };
        // Frames we sent out of this interface come back to its socket.
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        if rng.random_range(0..100) < impairment.loss_percent {
            continue;
        }
        let jitter = impairment.jitter.as_micros() as i64;
        let offset = if jitter > 0 {
            rng.random_range(-jitter..=jitter)
        } else {
            0
        };
        let delay_us = (impairment.delay.as_micros() as i64 + offset).max(0) as u64;
        let held = Held {
            due: Instant::now() + Duration::from_micros(delay_us),
            frame: buffer[..length].to_vec(),
        };
        if queue.send(held).is_err() {
            return;
        }
    }
}

fn send_frames(socket: &OwnedFd, queued: &mpsc::Receiver<Held>, stop: &AtomicBool) {
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while held.peek().is_some_and(|next| next.0.due <= now) {
            if let Some(Reverse(frame)) = held.pop() {
                // SAFETY: the frame outlives the call, with its length.
                unsafe {
                    libc::send(
                        socket.as_raw_fd(),
                        frame.frame.as_ptr().cast(),
                        frame.frame.len(),
                        0,
                    );
                }
            }
        }
        let wait = held.peek().map_or(Duration::from_millis(100), |next| {
            next.0.due.saturating_duration_since(now)
        });
        match queued.recv_timeout(wait) {
            Ok(frame) => held.push(Reverse(frame)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Packet sockets on interfaces `a` and `b` of `wire`, made from a thread
/// that entered the namespace (a socket belongs to the namespace it was made
/// in, whichever thread uses it later).
fn packet_sockets(wire: &Namespace, a: &str, b: &str) -> (OwnedFd, OwnedFd) {
    let path = format!("/run/netns/{}", wire.name());
    let (a, b) = (a.to_owned(), b.to_owned());
    std::thread::spawn(move || {
        let namespace =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        // SAFETY: a valid namespace fd; only this short-lived thread moves.
        let entered = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns into {path} failed (root is needed)");
        (packet_socket(&a), packet_socket(&b))
    })
    .join()
    .unwrap_or_else(|_| panic!("making the bad line's sockets failed"))
}

fn packet_socket(interface: &str) -> OwnedFd {
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket call; the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
    assert!(fd >= 0, "cannot make a packet socket");
    // SAFETY: fd is a fresh socket we own.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(interface).unwrap_or_default();
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(index != 0, "no interface {interface}");
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol;
    address.sll_ifindex = i32::try_from(index).unwrap_or_default();
    // SAFETY: the address outlives the call, with its size.
    let bound = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&raw const address).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(bound, 0, "cannot bind a packet socket to {interface}");
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: the option value outlives the call, with its size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    socket
}
