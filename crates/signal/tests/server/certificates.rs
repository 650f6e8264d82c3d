//! Self-signed certificates for the TLS tests, and a client that trusts
//! exactly one of them.

use std::net::SocketAddr;
use std::sync::Arc;

use parlor_signal::TlsConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost`, and a connector that trusts it
/// and nothing else.
pub(crate) fn self_signed() -> (TlsConfig, TlsConnector) {
    let (cert, key, connector) = self_signed_pem();
    let server = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).expect("usable certificate");
    (server, connector)
}

/// The same as PEM text (certificate, key), for files.
pub(crate) fn self_signed_pem() -> (String, String, TlsConnector) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("generate certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (
        certified.cert.pem(),
        certified.signing_key.serialize_pem(),
        TlsConnector::from(Arc::new(client)),
    )
}

/// Whether a TLS handshake with `addr` succeeds, trusting what `connector`
/// trusts.
pub(crate) async fn handshake_succeeds(addr: SocketAddr, connector: &TlsConnector) -> bool {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return false;
    };
    let name = ServerName::try_from("localhost").expect("server name");
    connector.connect(name, tcp).await.is_ok()
}
