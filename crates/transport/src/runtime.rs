//! The per-connection webrtc [`Runtime`]: tokio, plus the setup boost and big sockets.
//!
//! webrtc 0.21 takes its timers and sockets from a [`Runtime`] given per connection, so
//! this is where Parlor changes how a connection waits and what socket it reads from,
//! without forking webrtc or rtc. Everything not listed below is the stock
//! [`TokioRuntime`], delegated unchanged (including the GSO/GRO socket setup).
//!
//! - [`Runtime::sleep`] ends early while the [`SetupBoost`](crate::SetupBoost) is armed
//!   (see [`crate::boost`] for why that is what makes connection setup fast).
//! - [`Runtime::wrap_udp_socket`] enlarges the socket buffers (see [`crate::socket`])
//!   and tells the boost when a datagram arrived.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
};

use crate::boost::BoostState;
use crate::socket::enlarge_buffers;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Tokio, with early timer wakes during setup and enlarged UDP buffers.
#[derive(Debug)]
pub(crate) struct BoostRuntime {
    inner: TokioRuntime,
    boost: Arc<BoostState>,
}

impl BoostRuntime {
    pub(crate) fn new(boost: Arc<BoostState>) -> Self {
        Self {
            inner: TokioRuntime,
            boost,
        }
    }
}

impl Runtime for BoostRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let buffers = enlarge_buffers(&socket)?;
        tracing::debug!(?buffers, "UDP socket buffers granted");
        Ok(Arc::new(BoostSocket {
            inner: self.inner.wrap_udp_socket(socket)?,
            boost: self.boost.clone(),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        match self.boost.shorten(duration) {
            // Ready without a trip through tokio's timer wheel, whose resolution is 1 ms.
            Some(Duration::ZERO) => Box::pin(std::future::ready(())),
            Some(shortened) => self.inner.sleep(shortened),
            None => self.inner.sleep(duration),
        }
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "parlor-boost-tokio"
    }
}

/// Tokio's UDP socket, reporting each receive to the boost.
#[derive(Debug)]
struct BoostSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    boost: Arc<BoostState>,
}

impl AsyncUdpSocket for BoostSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let received = self.inner.poll_recv(cx, bufs, meta);
        if let Poll::Ready(Ok(n)) = received
            && n > 0
        {
            self.boost.note_datagram();
        }
        received
    }

    // The two capabilities must be forwarded: the defaults (1) would silently turn off
    // the GSO/GRO batching tokio's socket set up.
    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}
