//! What the server does with one text frame from a member: refuse it with an
//! error code, or stamp it with `from` and decide who gets it.
//!
//! Kept free of I/O so every rule can be checked in isolation.

use std::borrow::Cow;

use parlor_protocol::{ErrorCode, FROM_FIELD, PeerId, TO_FIELD};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A frame accepted for relaying.
#[derive(Debug, PartialEq)]
pub(crate) struct Relay<'a> {
    /// The `to` member, or `None` to broadcast to every other member;
    /// borrowed from the frame unless it had to be unescaped.
    pub(crate) to: Option<Cow<'a, str>>,
    /// The frame as it will be delivered, `from` included.
    pub(crate) text: Utf8Bytes,
}

/// A frame refused, with the error code and message to send back.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Checks a text frame from `from` and prepares it for delivery.
///
/// Any JSON object is relayed, unknown `type`s included (MDN's signaling
/// guidance: let unrecognised messages through). The server overwrites
/// `from` so receivers can trust it, and leaves `to` in place. A `to` of
/// `null` counts as absent, as JavaScript clients produce it for "no target".
pub(crate) fn prepare<'a>(
    text: &'a str,
    from: &PeerId,
    max_size: usize,
) -> Result<Relay<'a>, Refusal> {
    if text.len() > max_size {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!(
                "frame of {} bytes exceeds the limit of {max_size} bytes",
                text.len()
            ),
        ));
    }
    // Only the top-level `to` and `from` matter; the rest is checked to be
    // JSON and skipped, never built into a tree (the relay's main cost
    // per frame before).
    let fields = match serde_json::from_str::<TopLevel>(text) {
        Ok(fields) => fields,
        Err(error) => {
            let is_json = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            return Err(if !is_json {
                Refusal::new(ErrorCode::NotJson, format!("frame is not JSON: {error}"))
            } else if text.trim_start().starts_with('{') {
                Refusal::new(ErrorCode::UnknownPeer, "`to` must be a peer id string")
            } else {
                Refusal::new(ErrorCode::NotObject, "frame must be a JSON object")
            });
        }
    };
    let to = fields.to;
    let text = if fields.has_from {
        // A forged `from` (rare): rewrite the object so only ours is in it.
        let mut object: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|_| Refusal::new(ErrorCode::NotObject, "frame must be a JSON object"))?;
        object.insert(FROM_FIELD.to_owned(), Value::String(from.to_string()));
        Value::Object(object).to_string()
    } else {
        stamp(text, from)
    };
    Ok(Relay {
        to,
        text: text.into(),
    })
}

/// What the relay needs of a frame: its top-level `to` (a string, or null
/// or absent for a broadcast) and whether it carries a `from` of its own.
struct TopLevel<'a> {
    to: Option<Cow<'a, str>>,
    has_from: bool,
}

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> serde::de::Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<TopLevel<'de>, A::Error> {
        let mut fields = TopLevel {
            to: None,
            has_from: false,
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                // The last `to` counts, as in a parsed object.
                Key::To => fields.to = map.next_value::<Option<Text<'de>>>()?.map(|to| to.0),
                Key::From => {
                    fields.has_from = true;
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Key::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A top-level key, compared without being copied.
/// A string that borrows from the frame when it can (no escapes in it):
/// serde's own `Cow<str>` always copies, one allocation per relayed frame.
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }
}

enum Key {
    To,
    From,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl serde::de::Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            TO_FIELD => Key::To,
            FROM_FIELD => Key::From,
            _ => Key::Other,
        })
    }
}

/// Adds `"from":"<id>"` as the last field of `text`, a JSON object with no
/// `from` of its own, without serializing it again: the bytes the sender
/// wrote are passed on as they are, which halves the relay's work per
/// frame. A peer id is a plain token, so it needs no escaping.
fn stamp(text: &str, from: &PeerId) -> String {
    let object = text.trim_end();
    let open = object.strip_suffix('}').unwrap_or(object).trim_end();
    let separator = if open.ends_with('{') { "" } else { "," };
    let from = from.as_str();
    // Pushed piece by piece into one allocation of the right size: this
    // runs for every relayed frame, and `format!`'s trip through
    // `core::fmt` showed in the relay's profile.
    let mut stamped =
        String::with_capacity(open.len() + separator.len() + FROM_FIELD.len() + from.len() + 6);
    for piece in [open, separator, "\"", FROM_FIELD, "\":\"", from, "\"}"] {
        stamped.push_str(piece);
    }
    stamped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> PeerId {
        "alice".parse().unwrap()
    }

    fn relayed(text: &str) -> Value {
        let relay = prepare(text, &alice(), 1024).unwrap();
        serde_json::from_str(relay.text.as_str()).unwrap()
    }

    #[test]
    fn stamps_from_without_rewriting_the_senders_bytes() {
        let relay = prepare(r#"{ "b": 1, "a": [2, 3] } "#, &alice(), 1024).unwrap();
        assert_eq!(
            relay.text.as_str(),
            r#"{ "b": 1, "a": [2, 3],"from":"alice"}"#
        );
        let empty = prepare("{ }", &alice(), 1024).unwrap();
        assert_eq!(empty.text.as_str(), r#"{"from":"alice"}"#);
    }

    #[test]
    fn stamps_from_over_a_forged_one() {
        assert_eq!(relayed(r#"{"from":"mallory","x":1}"#)["from"], "alice");
    }

    #[test]
    fn keeps_unknown_fields_and_types() {
        let value = relayed(r#"{"type":"whatever","nested":{"a":[1,2]}}"#);
        assert_eq!(value["type"], "whatever");
        assert_eq!(value["nested"]["a"][1], 2);
    }

    #[test]
    fn reads_to_and_treats_null_as_broadcast() {
        let relay = prepare(r#"{"to":"bob"}"#, &alice(), 1024).unwrap();
        assert_eq!(relay.to.as_deref(), Some("bob"));
        let relay = prepare(r#"{"to":null}"#, &alice(), 1024).unwrap();
        assert_eq!(relay.to, None);
    }

    #[test]
    fn reads_a_to_written_with_escapes() {
        let relay = prepare(r#"{"to":"b\u006fb"}"#, &alice(), 1024).unwrap();
        assert_eq!(relay.to.as_deref(), Some("bob"));
    }

    #[test]
    fn refuses_each_kind_of_bad_frame() {
        let code = |text: &str, max| prepare(text, &alice(), max).unwrap_err().code;
        assert_eq!(code("hello", 1024), ErrorCode::NotJson);
        assert_eq!(code("[1,2]", 1024), ErrorCode::NotObject);
        assert_eq!(code("\"s\"", 1024), ErrorCode::NotObject);
        assert_eq!(code(r#"{"to":5}"#, 1024), ErrorCode::UnknownPeer);
        assert_eq!(code(r#"{"a":"0123456789"}"#, 10), ErrorCode::TooLarge);
        assert_eq!(code(&"[".repeat(10_000), 100_000), ErrorCode::NotJson);
    }
}
