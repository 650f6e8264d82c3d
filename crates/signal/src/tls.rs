//! Serving `wss`/`https` with rustls.
//!
//! Pages served over https may only open `wss` sockets, so a public server
//! needs TLS. The certificate is loaded and checked when the configuration is
//! built, so a bad certificate fails at start, not at the first client. A
//! renewed certificate can replace it while the server runs
//! ([`TlsConfig::replace_with`], on SIGHUP in the binary): handshakes from
//! then on use the new one, connections already open are not touched.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;

/// A certificate chain and private key, ready to serve. Clones share the
/// certificate: replacing it through one replaces it for all.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<RwLock<Arc<rustls::ServerConfig>>>,
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
            server: Arc::new(RwLock::new(Arc::new(server))),
        })
    }

    /// The acceptor for the next handshake, with the current certificate.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        let current = self.server.read().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(Arc::clone(&current))
    }

    /// Serves `fresh`'s certificate from the next handshake on (a renewed
    /// certificate, without restarting or dropping anyone).
    pub fn replace_with(&self, fresh: &TlsConfig) {
        let fresh = Arc::clone(&fresh.server.read().unwrap_or_else(PoisonError::into_inner));
        *self.server.write().unwrap_or_else(PoisonError::into_inner) = fresh;
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
