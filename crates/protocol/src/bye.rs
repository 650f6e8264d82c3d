//! `{"type":"bye"}`: a Parlor peer leaving the room says so.
//!
//! Relayed through the signaling server to every other member just before
//! the leaving peer closes its socket, so it arrives before the server's
//! next peer list. Without it, the others keep a member whose direct
//! connection is still up (a server blip must not end a conversation) until
//! ICE notices the connection is dead, seconds later. Old clients ignore it:
//! it carries neither `description` nor `candidate`.

use serde_json::{Map, Value};

/// The `type` of a goodbye.
pub const BYE_TYPE: &str = "bye";

/// The body of a goodbye, before addressing.
pub fn bye() -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".to_owned(), Value::String(BYE_TYPE.to_owned()));
    body
}

/// Whether a relayed message is a goodbye.
pub fn is_bye(body: &Map<String, Value>) -> bool {
    body.get("type").and_then(Value::as_str) == Some(BYE_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bye_reads_back_as_one_and_other_messages_do_not() {
        assert!(is_bye(&bye()));
        let mut offer = Map::new();
        offer.insert("type".to_owned(), Value::String("offer".to_owned()));
        assert!(!is_bye(&offer));
    }
}
