//! Room links (protocol.md §6): everything another person needs to join, in
//! one string they can click or paste:
//! `parlor://join/<room>?server=<percent-encoded server URL>`.

use std::fmt;
use std::str::FromStr;

use parlor_protocol::{RoomName, ServerUrl};
use url::Url;

/// The URL scheme the desktop app registers for itself.
pub const SCHEME: &str = "parlor";

/// Why a string is not a room link, in words for the person who pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a URL at all.
    #[error("not a link: {0}")]
    NotAUrl(String),
    /// A URL, but not `parlor://join/...`.
    #[error("not a Parlor room link (expected parlor://join/<room>?server=...)")]
    NotARoomLink,
    /// The room part is missing or not a valid room name.
    #[error("the room name {room:?} {reason}")]
    BadRoom {
        /// The room name as written in the link (decoded, so a space shows
        /// as a space, not `%20`).
        room: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `server` parameter is missing.
    #[error("the link does not say which signaling server to use")]
    MissingServer,
    /// The `server` parameter is not a usable server address.
    #[error("the link's server address is not valid: {0}")]
    BadServer(String),
}

/// A room on a signaling server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLink {
    /// The signaling server the room lives on.
    pub server: ServerUrl,
    /// The room's name.
    pub room: RoomName,
}

impl RoomLink {
    /// A link to a new room with an unguessable name, so knowing the link is
    /// the only way in.
    pub fn new_room(server: ServerUrl) -> Self {
        let room = RoomName::from_str(&crate::random::token())
            .unwrap_or_else(|_| unreachable!("hex is a valid token"));
        Self { server, room }
    }
}

impl FromStr for RoomLink {
    type Err = LinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(s.trim()).map_err(|e| LinkError::NotAUrl(e.to_string()))?;
        if url.scheme() != SCHEME || url.host_str() != Some("join") {
            return Err(LinkError::NotARoomLink);
        }
        let room = url.path().trim_matches('/');
        let room = RoomName::from_str(room).map_err(|e| {
            let written = percent_encoding::percent_decode_str(room).decode_utf8_lossy();
            // The reason names characters of the name as written.
            let reason = RoomName::from_str(&written).err().unwrap_or(e).to_string();
            LinkError::BadRoom {
                room: written.into_owned(),
                reason,
            }
        })?;
        let server = url
            .query_pairs()
            .find(|(key, _)| key == "server")
            .map(|(_, value)| value.into_owned())
            .ok_or(LinkError::MissingServer)?;
        let server =
            ServerUrl::from_str(&server).map_err(|e| LinkError::BadServer(e.to_string()))?;
        Ok(Self { server, room })
    }
}

impl fmt::Display for RoomLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server: String =
            url::form_urlencoded::byte_serialize(self.server.to_string().as_bytes()).collect();
        write!(f, "{SCHEME}://join/{}?server={server}", self.room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerUrl {
        "ws://192.168.1.20:1999"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn link_round_trips() {
        let link = RoomLink::new_room(server());
        let text = link.to_string();
        assert!(text.starts_with("parlor://join/"), "{text}");
        assert_eq!(text.parse::<RoomLink>(), Ok(link));
    }

    #[test]
    fn server_is_percent_encoded() {
        let link = RoomLink {
            server: server(),
            room: "abc".parse().unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(
            link.to_string(),
            "parlor://join/abc?server=ws%3A%2F%2F192.168.1.20%3A1999"
        );
    }

    #[test]
    fn new_rooms_are_unguessable_and_distinct() {
        let a = RoomLink::new_room(server());
        let b = RoomLink::new_room(server());
        assert_eq!(a.room.as_str().len(), 32);
        assert_ne!(a.room, b.room);
    }

    #[test]
    fn malformed_links_say_what_is_wrong() {
        assert!(matches!(
            "hello".parse::<RoomLink>(),
            Err(LinkError::NotAUrl(_))
        ));
        assert_eq!(
            "https://join/abc?server=ws://x".parse::<RoomLink>(),
            Err(LinkError::NotARoomLink)
        );
        assert_eq!(
            "parlor://join/abc".parse::<RoomLink>(),
            Err(LinkError::MissingServer)
        );
        assert!(matches!(
            "parlor://join/a%20b?server=ws://x".parse::<RoomLink>(),
            Err(LinkError::BadRoom { .. })
        ));
        assert!(matches!(
            "parlor://join/abc?server=ftp://x".parse::<RoomLink>(),
            Err(LinkError::BadServer(_))
        ));
    }

    #[test]
    fn a_room_name_with_a_space_is_reported_as_it_was_typed() {
        let error = "parlor://join/my room?server=ws://x"
            .parse::<RoomLink>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("the room name \"my room\" contains ' '"),
            "{error}"
        );
        assert!(!error.contains('%'), "{error}");
    }
}
