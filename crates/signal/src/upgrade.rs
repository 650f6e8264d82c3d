//! The WebSocket upgrade of RFC 6455, done here rather than by axum's
//! `WebSocketUpgrade`: axum keeps the socket inside hyper's upgraded
//! connection for good, on the thread that read the request. This takes
//! the socket back out (with any bytes the client sent past its request) so
//! that the WebSocket can run on its room's connection thread.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::socket::ClientIo;

/// A request to become a WebSocket, checked as axum checks it.
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// The request is not a WebSocket upgrade: a plain HTTP request.
#[derive(Debug)]
pub(crate) struct NotUpgrade;

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, "not a WebSocket upgrade\n").into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotUpgrade> {
        let headers = &parts.headers;
        let upgrade = parts.version <= Version::HTTP_11
            && parts.method == Method::GET
            && has_token(headers, header::CONNECTION, "upgrade")
            && has_token(headers, header::UPGRADE, "websocket")
            && headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .is_some_and(|version| version.as_bytes() == b"13");
        let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
        match (upgrade, key) {
            (true, Some(key)) => {
                let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(NotUpgrade)?;
                Ok(Self { key, on_upgrade })
            }
            _ => Err(NotUpgrade),
        }
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols`; once hyper has sent it and let go
    /// of the connection, `then` gets the socket and any bytes already read
    /// past the request.
    pub(crate) fn accept<F>(self, then: F) -> Response
    where
        F: FnOnce(ClientIo, Bytes) + Send + 'static,
    {
        let Self { key, on_upgrade } = self;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "WebSocket upgrade failed");
                    return;
                }
            };
            // The listener serves every connection as a `TokioIo<ClientIo>`.
            match upgraded.downcast::<TokioIo<ClientIo>>() {
                Ok(parts) => then(parts.io.into_inner(), parts.read_buf),
                Err(_) => tracing::error!("upgraded connection is not a client socket"),
            }
        });
        let accept = derive_accept_key(key.as_bytes());
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
            ],
            [(header::SEC_WEBSOCKET_ACCEPT, accept)],
        )
            .into_response()
    }
}

/// Whether the comma-separated header `name` holds `token` (any case).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}
