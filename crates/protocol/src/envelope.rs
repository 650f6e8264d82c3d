//! Who a relayed message is from and for, on any server.
//!
//! A Parlor server stamps every relayed message with the sender's id
//! ([`FROM_FIELD`]) and delivers a message with [`TO_FIELD`] to that member
//! only. The old library's server does neither: it broadcasts every message
//! unchanged. So that Parlor peers form a mesh there too, a Parlor client
//! writes its own id ([`SENDER_FIELD`]), the recipient ([`TO_FIELD`]) and a
//! marker ([`APP_FIELD`] = [`APP_PARLOR`]) into every message it sends, and a
//! receiver ignores a message addressed to someone else. The marker also
//! tells the receiver that the sender is a Parlor peer before any peer list
//! could (old servers' peer lists do not say), which decides the
//! perfect-negotiation roles.
//!
//! Old clients ignore all three fields.

use serde_json::{Map, Value};

use crate::server_message::{FROM_FIELD, TO_FIELD};
use crate::token::PeerId;

/// Field a Parlor client writes into every message it sends: its own id.
/// A server-stamped [`FROM_FIELD`] wins over it where both are present, since
/// a client can write anything here.
pub const SENDER_FIELD: &str = "sender";

/// Field that marks a message as sent by a Parlor client.
pub const APP_FIELD: &str = "app";

/// The value of [`APP_FIELD`] (and of `app` in a data-channel `info`) that
/// marks a Parlor client.
pub const APP_PARLOR: &str = "parlor";

/// The addressing of one relayed message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The sender: the server's stamp, else what the sender wrote.
    pub from: Option<PeerId>,
    /// The one member the message is for; `None` for everyone.
    pub to: Option<PeerId>,
    /// Whether the sender marked itself as a Parlor client.
    pub parlor: bool,
}

impl Envelope {
    /// Reads the addressing of a relayed message. Fields that are missing or
    /// not valid ids count as absent.
    pub fn read(body: &Map<String, Value>) -> Self {
        let id = |field: &str| {
            body.get(field)
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<PeerId>().ok())
        };
        Self {
            from: id(FROM_FIELD).or_else(|| id(SENDER_FIELD)),
            to: id(TO_FIELD),
            parlor: body.get(APP_FIELD).and_then(Value::as_str) == Some(APP_PARLOR),
        }
    }

    /// Whether a member with id `me` should handle the message: it is for
    /// everyone or for `me`. An old server delivers every message to every
    /// member, addressed or not.
    pub fn is_for(&self, me: &PeerId) -> bool {
        self.to.as_ref().is_none_or(|to| to == me)
    }

    /// Writes a Parlor client's addressing into `body`: `sender` is our id,
    /// `to` the recipient (`None`: every other member).
    pub fn write(body: &mut Map<String, Value>, sender: &PeerId, to: Option<&PeerId>) {
        body.insert(SENDER_FIELD.to_owned(), Value::String(sender.to_string()));
        body.insert(APP_FIELD.to_owned(), Value::String(APP_PARLOR.to_owned()));
        if let Some(to) = to {
            body.insert(TO_FIELD.to_owned(), Value::String(to.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(text: &str) -> PeerId {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn what_a_parlor_client_writes_reads_back() {
        let mut body = object(json!({"candidate": null}));
        Envelope::write(&mut body, &id("alice"), Some(&id("bob")));
        assert_eq!(
            Envelope::read(&body),
            Envelope {
                from: Some(id("alice")),
                to: Some(id("bob")),
                parlor: true
            }
        );
    }

    #[test]
    fn the_servers_stamp_wins_over_what_the_sender_claims() {
        let body = object(json!({"sender": "mallory-claims-bob", "from": "mallory"}));
        assert_eq!(Envelope::read(&body).from, Some(id("mallory")));
    }

    #[test]
    fn an_old_clients_message_has_no_sender_and_is_for_everyone() {
        let body = object(json!({"description": {"type": "answer", "sdp": "v=0"}}));
        let envelope = Envelope::read(&body);
        assert_eq!(envelope, Envelope::default());
        assert!(envelope.is_for(&id("anyone")));
    }

    #[test]
    fn a_message_for_someone_else_is_not_for_us() {
        let body = object(json!({"to": "bob", "sender": "alice", "app": "parlor"}));
        let envelope = Envelope::read(&body);
        assert!(envelope.is_for(&id("bob")));
        assert!(!envelope.is_for(&id("carol")));
    }

    #[test]
    fn invalid_ids_count_as_absent() {
        let body = object(json!({"sender": "not an id!", "to": 7}));
        assert_eq!(Envelope::read(&body), Envelope::default());
    }
}
