//! The answer of a room's `/turn` endpoint: the ICE servers a client should
//! give its `RTCPeerConnection`.

use serde::{Deserialize, Deserializer, Serialize};

/// `{"iceServers":[...]}`, the body of `GET /parties/main/<room>/turn`.
///
/// An empty list is a valid answer (peers on one network need no STUN/TURN);
/// old clients need *some* 200 answer before they create a peer connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    /// The servers, in the order the client should try them.
    pub ice_servers: Vec<IceServer>,
}

/// One entry of `iceServers`, shaped like WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` / `turn:` / `turns:` URLs. WebRTC allows a single string here
    /// too, so both forms are accepted when reading.
    #[serde(default, deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// TURN username (for TURN REST credentials, `<unix-expiry>:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (for TURN REST credentials, a base64 HMAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl IceServer {
    /// Whether it is a TURN server (a relay), not only STUN.
    pub fn is_relay(&self) -> bool {
        self.urls
            .iter()
            .any(|url| url.starts_with("turn:") || url.starts_with("turns:"))
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_omits_missing_credentials() {
        let servers = IceServers {
            ice_servers: vec![IceServer {
                urls: vec!["stun:stun.example.org:3478".into()],
                ..IceServer::default()
            }],
        };
        assert_eq!(
            serde_json::to_string(&servers).unwrap(),
            r#"{"iceServers":[{"urls":["stun:stun.example.org:3478"]}]}"#
        );
    }

    #[test]
    fn accepts_single_url_string() {
        let parsed: IceServers = serde_json::from_str(
            r#"{"iceServers":[{"urls":"turn:t.example.org","username":"u","credential":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.ice_servers[0].urls, vec!["turn:t.example.org"]);
        assert_eq!(parsed.ice_servers[0].username.as_deref(), Some("u"));
    }
}
