//! ICE servers from the signaling server's `/turn` endpoint.
//!
//! Old clients fetch this before they build a peer connection; Parlor does the
//! same and adds the servers the user configured. A failed fetch is reported
//! but not fatal: on a LAN, host candidates need no STUN or TURN at all. A
//! Parlor server then also sends each member its own ICE servers over the
//! socket (an `ice-servers` frame, see `signaling`), which replace these; an
//! older server does not, and these stay.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parlor_protocol::{IceServer, IceServers, RoomName, ServerUrl};

/// A `/turn` answer larger than this is not an ICE-server list.
const MAX_BODY: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the ICE servers could not be fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Request(String),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the answer is not an ICE-server list: {0}")]
    Body(String),
}

/// Fetches the room's ICE servers.
pub(crate) async fn fetch(
    server: &ServerUrl,
    room: &RoomName,
) -> Result<Vec<IceServer>, FetchError> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch_inner(server.turn_url(room)))
        .await
        .map_err(|_| FetchError::Timeout)?
}

async fn fetch_inner(url: String) -> Result<Vec<IceServer>, FetchError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| FetchError::Request(e.to_string()))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let response = client
        .get(uri)
        .await
        .map_err(|e| FetchError::Request(e.to_string()))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| FetchError::Body(e.to_string()))?
        .to_bytes();
    let list: IceServers =
        serde_json::from_slice(&body).map_err(|e| FetchError::Body(e.to_string()))?;
    Ok(list.ice_servers)
}
