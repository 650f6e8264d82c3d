//! Serving `wss`/`https` with rustls.
//!
//! Pages served over https may only open `wss` sockets, so a public server
//! needs TLS. The certificate is loaded and checked when the configuration is
//! built, so a bad certificate fails at start, not at the first client.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::server::stopping;

/// A certificate chain and private key, ready to serve.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
}

/// Why a certificate and key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The certificate PEM is malformed.
    #[error("malformed certificate PEM: {0}")]
    CertificatePem(io::Error),
    /// The certificate PEM holds no certificate.
    #[error("no certificate found in the certificate PEM")]
    NoCertificate,
    /// The key PEM is malformed.
    #[error("malformed private key PEM: {0}")]
    KeyPem(io::Error),
    /// The key PEM holds no private key.
    #[error("no private key found in the key PEM")]
    NoPrivateKey,
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("certificate and key rejected: {0}")]
    Rejected(#[from] rustls::Error),
}

impl TlsConfig {
    /// Builds a configuration from PEM text: the certificate chain (leaf
    /// first) and its private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain_pem: &[u8], private_key_pem: &[u8]) -> Result<Self, TlsError> {
        let certs = rustls_pemfile::certs(&mut &*cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(TlsError::CertificatePem)?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = rustls_pemfile::private_key(&mut &*private_key_pem)
            .map_err(TlsError::KeyPem)?
            .ok_or(TlsError::NoPrivateKey)?;
        // The provider is named rather than taken from crate features, which
        // other crates in the same build could change.
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
        // WebSockets are served over HTTP/1.1 only.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            server: Arc::new(server),
        })
    }

    /// Reads the certificate chain and key from PEM files.
    pub fn from_pem_files(cert_chain: &Path, private_key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Self::from_pem(&read(cert_chain)?, &read(private_key)?)
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// A client has this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes waiting to be handed to the HTTP server.
const ACCEPT_QUEUE: usize = 64;

/// An `axum` listener that yields TLS streams.
///
/// Handshakes run in their own tasks, so a slow or silent client cannot hold
/// up the accept loop; finished streams are handed over through a channel.
pub(crate) struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` until `shutdown` turns true.
    pub(crate) fn new(
        tcp: TcpListener,
        config: &TlsConfig,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config.server.clone());
        let (ready_tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(async move {
            loop {
                let (stream, remote) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            // Out of file descriptors, typically: back off
                            // instead of spinning.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    () = stopping(&mut shutdown) => return,
                };
                let acceptor = acceptor.clone();
                let ready_tx = ready_tx.clone();
                tokio::spawn(async move {
                    // Best effort: the handshake works without it.
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            // Fails only when the server is shutting down.
                            let _ = ready_tx.send((tls, remote)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%remote, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { local_addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task stopped for shutdown: accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
