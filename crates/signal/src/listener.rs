//! The plain TCP listener, and the client address both listeners report.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

use crate::tls::TlsListener;

/// A TCP listener whose connections have Nagle's algorithm off: signaling
/// frames are small and latency-bound.
pub(crate) struct PlainListener(pub(crate) TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, remote)) => {
                    // Best effort: the connection works without it.
                    let _ = stream.set_nodelay(true);
                    return (stream, remote);
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    // Out of file descriptors, typically: back off instead
                    // of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The client's address, for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, PlainListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, PlainListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}
