//! Room names and peer ids: the two names a client puts in its WebSocket URL.
//!
//! Both are *tokens*: 1 to 64 ASCII letters, digits, `-` or `_`. The rule is
//! deliberately narrow so a token can be put in a URL path, a query string, a
//! log line or a JSON string without any escaping, and so a server never has
//! to decide whether two differently-encoded names are "the same" room. The
//! `partysocket` client's default id (a UUID) fits, as do the unguessable room
//! names Parlor generates.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest accepted token, in bytes (all accepted characters are one byte).
///
/// Long enough for a UUID (36) or 128 bits of randomness in any common text
/// encoding; short enough that a hostile client cannot make the server keep
/// or log large names.
pub const MAX_TOKEN_LEN: usize = 64;

/// Why a string is not a valid room name or peer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than [`MAX_TOKEN_LEN`].
    #[error("is {len} characters long; at most {MAX_TOKEN_LEN} are allowed")]
    TooLong {
        /// Length of the rejected string, in bytes.
        len: usize,
    },
    /// The string holds a character outside `A-Z a-z 0-9 - _`.
    #[error(
        "contains {ch:?} at byte {position}; only ASCII letters, digits, '-' and '_' are allowed"
    )]
    InvalidChar {
        /// The first offending character.
        ch: char,
        /// Its byte offset in the string.
        position: usize,
    },
}

/// Checks the token rule shared by [`RoomName`] and [`PeerId`].
fn validate(s: &str) -> Result<(), TokenError> {
    if s.is_empty() {
        return Err(TokenError::Empty);
    }
    if s.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong { len: s.len() });
    }
    match s
        .char_indices()
        .find(|&(_, ch)| !(ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        Some((position, ch)) => Err(TokenError::InvalidChar { ch, position }),
        None => Ok(()),
    }
}

macro_rules! token_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The token as text; always valid in a URL without escaping.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = TokenError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = TokenError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(token: $name) -> String {
                token.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Lets maps keyed by this type be searched with a plain `&str`, such
        /// as the `to` field of a relayed message, without validating it first.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

token_type!(
    /// The name of a room: everyone who connects with the same name meets.
    ///
    /// Whoever knows a room's name can join it, so rooms made by "create room"
    /// use unguessable names; this type only checks the syntax.
    RoomName
);

token_type!(
    /// A peer's id within a room, chosen by the client (`_pk` in the URL).
    ///
    /// The server stamps it as `from` on everything the peer sends, and other
    /// members address the peer with it in `to`.
    PeerId
);

token_type!(
    /// The secret with which a Parlor client proves that a peer id is its
    /// own (`key` in the URL): sent with every connection of one membership,
    /// so the server can keep the id for its owner while it reconnects and
    /// refuse anyone else who saw the id in a peer list.
    IdKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid_and_simple_names() {
        assert!(
            "3f2b8c1e-8f1a-4a57-9c1d-0a6b2e7c9d10"
                .parse::<PeerId>()
                .is_ok()
        );
        assert!("lobby_2".parse::<RoomName>().is_ok());
        assert!("a".repeat(MAX_TOKEN_LEN).parse::<RoomName>().is_ok());
    }

    #[test]
    fn rejects_empty_long_and_odd_characters() {
        assert_eq!("".parse::<RoomName>(), Err(TokenError::Empty));
        assert_eq!(
            "a".repeat(MAX_TOKEN_LEN + 1).parse::<RoomName>(),
            Err(TokenError::TooLong {
                len: MAX_TOKEN_LEN + 1
            })
        );
        assert_eq!(
            "ab/c".parse::<PeerId>(),
            Err(TokenError::InvalidChar {
                ch: '/',
                position: 2
            })
        );
        assert!("é".parse::<PeerId>().is_err());
        assert!("a b".parse::<PeerId>().is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: PeerId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(ok.as_str(), "abc");
        assert!(serde_json::from_str::<PeerId>("\"a b\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"abc\"");
    }
}
