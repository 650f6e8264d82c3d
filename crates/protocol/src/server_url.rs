//! Where things live on a signaling server: the PartyKit URL layout.
//!
//! The old JS library's client (`partysocket`) builds
//! `ws[s]://HOST[:PORT]/parties/main/<room>?_pk=<peer-id>` itself, so a Parlor
//! server must serve exactly that layout, and a Parlor client uses it too so it
//! can talk to a server that speaks only the old protocol.

use std::fmt;
use std::str::FromStr;

use crate::token::{IdKey, PeerId, RoomName};

/// Path prefix of every room: `partysocket`'s default `prefix` (`parties`)
/// followed by its default party name (`main`).
pub const ROOM_PATH_PREFIX: &str = "/parties/main/";

/// Path suffix, after the room path, of the ICE-servers endpoint.
pub const TURN_PATH_SUFFIX: &str = "/turn";

/// Query parameter carrying the peer id (`partysocket`'s connection id).
pub const PEER_ID_PARAM: &str = "_pk";

/// Query parameter with which a client declares itself a Parlor client.
///
/// Old clients never send it, so the server can tell the two kinds apart and
/// report which members are Parlor peers (see [`crate::PeerList::parlor`]).
pub const PARLOR_PARAM: &str = "parlor";

/// The only value of [`PARLOR_PARAM`] that declares a Parlor client.
pub const PARLOR_PARAM_VALUE: &str = "1";

/// Query parameter carrying a Parlor client's [`IdKey`](crate::IdKey).
pub const ID_KEY_PARAM: &str = "key";

/// Path of a room's WebSocket and health endpoint: `/parties/main/<room>`.
pub fn room_path(room: &RoomName) -> String {
    format!("{ROOM_PATH_PREFIX}{room}")
}

/// Path of a room's ICE-servers endpoint: `/parties/main/<room>/turn`.
pub fn turn_path(room: &RoomName) -> String {
    format!("{ROOM_PATH_PREFIX}{room}{TURN_PATH_SUFFIX}")
}

/// Why a string is not a usable signaling server address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    /// The scheme is not one of `ws`, `wss`, `http`, `https`.
    #[error("unsupported scheme in {0:?}; expected ws://, wss://, http:// or https://")]
    UnsupportedScheme(String),
    /// There is nothing after the scheme.
    #[error("no host in {0:?}")]
    MissingHost(String),
    /// The address has a query, a fragment or whitespace, which would clash
    /// with the room path and query appended to it.
    #[error("{0:?} must not contain a query, a fragment or whitespace")]
    UnexpectedPart(String),
}

/// A signaling server's base address, such as `ws://127.0.0.1:1999` or
/// `wss://signal.example.org/prefix`.
///
/// `http`/`https` are accepted as spellings of `ws`/`wss` because people
/// paste browser addresses; the server answers both on the same port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    secure: bool,
    /// Host, optional port and optional path prefix, without a trailing `/`.
    rest: String,
}

impl ServerUrl {
    /// Whether the server is reached over TLS (`wss`/`https`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The WebSocket URL a Parlor client connects to:
    /// `ws[s]://HOST/parties/main/<room>?_pk=<peer>&parlor=1&key=<key>`.
    pub fn websocket_url(&self, room: &RoomName, peer: &PeerId, key: &IdKey) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!(
            "{scheme}://{}{}?{PEER_ID_PARAM}={peer}&{PARLOR_PARAM}={PARLOR_PARAM_VALUE}&{ID_KEY_PARAM}={key}",
            self.rest,
            room_path(room)
        )
    }

    /// The HTTP URL of the room's ICE-servers endpoint, which answers
    /// [`crate::IceServers`].
    pub fn turn_url(&self, room: &RoomName) -> String {
        format!("{}://{}{}", self.http_scheme(), self.rest, turn_path(room))
    }

    /// The HTTP URL of the room's health endpoint (answers 200).
    pub fn health_url(&self, room: &RoomName) -> String {
        format!("{}://{}{}", self.http_scheme(), self.rest, room_path(room))
    }

    fn http_scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }
}

impl FromStr for ServerUrl {
    type Err = ServerUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| ServerUrlError::UnsupportedScheme(s.to_owned()))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return Err(ServerUrlError::UnsupportedScheme(s.to_owned())),
        };
        if rest.contains(['?', '#']) || rest.contains(char::is_whitespace) {
            return Err(ServerUrlError::UnexpectedPart(s.to_owned()));
        }
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.starts_with('/') {
            return Err(ServerUrlError::MissingHost(s.to_owned()));
        }
        Ok(Self {
            secure,
            rest: rest.to_owned(),
        })
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}", self.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomName {
        "lobby".parse().unwrap()
    }

    fn peer() -> PeerId {
        "alice".parse().unwrap()
    }

    fn key() -> IdKey {
        "k3y".parse().unwrap()
    }

    #[test]
    fn builds_partysocket_layout_with_parlor_flag() {
        let server: ServerUrl = "ws://127.0.0.1:1999".parse().unwrap();
        assert_eq!(
            server.websocket_url(&room(), &peer(), &key()),
            "ws://127.0.0.1:1999/parties/main/lobby?_pk=alice&parlor=1&key=k3y"
        );
        assert_eq!(
            server.turn_url(&room()),
            "http://127.0.0.1:1999/parties/main/lobby/turn"
        );
    }

    #[test]
    fn keeps_path_prefix_and_maps_https_to_wss() {
        let server: ServerUrl = "https://example.org/signal/".parse().unwrap();
        assert!(server.is_secure());
        assert_eq!(
            server.websocket_url(&room(), &peer(), &key()),
            "wss://example.org/signal/parties/main/lobby?_pk=alice&parlor=1&key=k3y"
        );
        assert_eq!(
            server.health_url(&room()),
            "https://example.org/signal/parties/main/lobby"
        );
        assert_eq!(server.to_string(), "wss://example.org/signal");
    }

    #[test]
    fn rejects_unusable_addresses() {
        assert!(matches!(
            "ftp://x".parse::<ServerUrl>(),
            Err(ServerUrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            "example.org".parse::<ServerUrl>(),
            Err(ServerUrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            "ws://".parse::<ServerUrl>(),
            Err(ServerUrlError::MissingHost(_))
        ));
        assert!(matches!(
            "ws://h/?a=b".parse::<ServerUrl>(),
            Err(ServerUrlError::UnexpectedPart(_))
        ));
    }
}
