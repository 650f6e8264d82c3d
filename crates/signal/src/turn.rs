//! The ICE servers the server hands out: the answer of the open
//! `/parties/main/<room>/turn` endpoint, and the `ice-servers` frame each
//! Parlor member gets over its socket, with TURN REST API credentials
//! minted from a shared secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use parlor_protocol::{IceServer, IceServers, IceServersFrame, PeerId, ServerMessage};
use sha1::Sha1;

use crate::config::{IceConfig, TurnAuth, TurnServer};

/// The name part of user names minted for the open endpoint
/// (`<expiry>:parlor`). Whoever asks there is anonymous, and a fixed name
/// keeps room names, which are secrets, out of the TURN server's logs.
const OPEN_TURN_USER: &str = "parlor";

/// The answer of `/turn` at `now`: the STUN servers, and the TURN server
/// with credentials unless [`IceConfig::open_turn`] is off.
pub(crate) fn open_ice_servers(config: &IceConfig, now: SystemTime) -> IceServers {
    let mut ice_servers: Vec<IceServer> = stun_server(config).into_iter().collect();
    if let Some(turn) = config.turn.as_ref().filter(|_| config.open_turn) {
        let (username, credential) = match &turn.auth {
            TurnAuth::Static {
                username,
                credential,
            } => (username.clone(), credential.clone()),
            TurnAuth::SharedSecret { secret, ttl, .. } => {
                rest_credentials(secret, OPEN_TURN_USER, expiry(now, *ttl))
            }
        };
        ice_servers.push(turn_server(turn, username, credential));
    }
    IceServers { ice_servers }
}

/// The `ice-servers` frame for one member, and when to send it a fresh
/// one.
pub(crate) struct MemberIceServers {
    /// The frame, as JSON text.
    pub(crate) frame: String,
    /// When the next frame is due; `None` when the credentials do not
    /// expire (static ones).
    pub(crate) refresh_in: Option<Duration>,
}

/// The ICE servers for `member` at `now`, with TURN credentials in its own
/// name (`<expiry>:<peer id>`, so the TURN server's logs say whose relay is
/// whose); `None` when the server has no TURN server, and so nothing the
/// open endpoint would not say already.
pub(crate) fn member_ice_servers(
    config: &IceConfig,
    member: &PeerId,
    now: SystemTime,
) -> Option<MemberIceServers> {
    let turn = config.turn.as_ref()?;
    let (username, credential, expires, refresh_in) = match &turn.auth {
        TurnAuth::Static {
            username,
            credential,
        } => (username.clone(), credential.clone(), None, None),
        TurnAuth::SharedSecret {
            secret, member_ttl, ..
        } => {
            let expires = expiry(now, *member_ttl);
            let (username, credential) = rest_credentials(secret, member.as_str(), expires);
            (
                username,
                credential,
                Some(expires),
                Some(*member_ttl * 2 / 3),
            )
        }
    };
    let mut ice_servers: Vec<IceServer> = stun_server(config).into_iter().collect();
    ice_servers.push(turn_server(turn, username, credential));
    let frame = ServerMessage::IceServers(IceServersFrame {
        ice_servers,
        expires,
    });
    Some(MemberIceServers {
        frame: frame.to_json(),
        refresh_in,
    })
}

/// One entry for all the STUN URLs, if there are any.
fn stun_server(config: &IceConfig) -> Option<IceServer> {
    (!config.stun_urls.is_empty()).then(|| IceServer {
        urls: config.stun_urls.clone(),
        ..IceServer::default()
    })
}

fn turn_server(turn: &TurnServer, username: String, credential: String) -> IceServer {
    IceServer {
        urls: turn.urls.clone(),
        username: Some(username),
        credential: Some(credential),
    }
}

/// `now + ttl` in seconds since the Unix epoch.
fn expiry(now: SystemTime, ttl: Duration) -> u64 {
    now.checked_add(ttl)
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since_epoch| since_epoch.as_secs())
}

/// TURN REST API credentials, as coturn's `use-auth-secret` checks them:
/// username `<unix time of expiry>:<name>`, password
/// `base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the
/// HMAC and refuses usernames whose time has passed.
fn rest_credentials(secret: &str, name: &str, expiry: u64) -> (String, String) {
    let username = format!("{expiry}:{name}");
    // HMAC accepts keys of any length, so this cannot fail.
    let credential = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    (username, credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_secret(ttl: u64, member_ttl: u64) -> IceConfig {
        IceConfig {
            stun_urls: vec!["stun:stun.example:3478".into()],
            turn: Some(TurnServer {
                urls: vec!["turn:turn.example:3478".into()],
                auth: TurnAuth::SharedSecret {
                    secret: "secret".into(),
                    ttl: Duration::from_secs(ttl),
                    member_ttl: Duration::from_secs(member_ttl),
                },
            }),
            open_turn: true,
        }
    }

    #[test]
    fn rest_credentials_match_a_known_vector() {
        // Computed independently:
        // printf '%s' 1000:parlor | openssl dgst -sha1 -hmac secret -binary | base64
        let (username, credential) = rest_credentials("secret", "parlor", 1000);
        assert_eq!(username, "1000:parlor");
        assert_eq!(credential, "AzhXx5pCRyrSYQHNNjXDJjyhIE0=");
    }

    #[test]
    fn open_endpoint_credentials_expire_after_the_open_ttl() {
        let now = UNIX_EPOCH + Duration::from_secs(400);
        let answer = open_ice_servers(&shared_secret(600, 60), now);
        let turn = &answer.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("1000:parlor"));
        assert_eq!(
            turn.credential.as_deref(),
            Some("AzhXx5pCRyrSYQHNNjXDJjyhIE0=")
        );
    }

    #[test]
    fn a_members_credentials_name_it_and_match_a_known_vector() {
        // printf '%s' 1000:alice | openssl dgst -sha1 -hmac secret -binary | base64
        let now = UNIX_EPOCH + Duration::from_secs(700);
        let alice: PeerId = "alice".parse().unwrap();
        let member = member_ice_servers(&shared_secret(86_400, 300), &alice, now).unwrap();
        let frame: serde_json::Value = serde_json::from_str(&member.frame).unwrap();
        assert_eq!(frame["type"], "ice-servers");
        assert_eq!(frame["expires"], 1000);
        assert_eq!(frame["iceServers"][0]["urls"][0], "stun:stun.example:3478");
        assert_eq!(frame["iceServers"][1]["username"], "1000:alice");
        assert_eq!(
            frame["iceServers"][1]["credential"],
            "6L+E1YAMNKLM/muDqj3WC+RrDLc="
        );
        assert_eq!(member.refresh_in, Some(Duration::from_secs(200)));
    }

    #[test]
    fn with_the_open_endpoint_off_turn_answers_stun_only() {
        let config = IceConfig {
            open_turn: false,
            ..shared_secret(600, 600)
        };
        let answer = open_ice_servers(&config, SystemTime::now());
        assert_eq!(answer.ice_servers.len(), 1);
        assert_eq!(answer.ice_servers[0].urls, vec!["stun:stun.example:3478"]);
        assert_eq!(answer.ice_servers[0].username, None);
    }

    #[test]
    fn members_get_nothing_from_a_server_without_turn() {
        let config = IceConfig {
            turn: None,
            ..shared_secret(600, 600)
        };
        let alice: PeerId = "alice".parse().unwrap();
        assert!(member_ice_servers(&config, &alice, SystemTime::now()).is_none());
    }

    #[test]
    fn static_credentials_are_sent_once_without_expiry() {
        let config = IceConfig {
            turn: Some(TurnServer {
                urls: vec!["turn:turn.example:3478".into()],
                auth: TurnAuth::Static {
                    username: "user".into(),
                    credential: "pass".into(),
                },
            }),
            ..IceConfig::default()
        };
        let alice: PeerId = "alice".parse().unwrap();
        let member = member_ice_servers(&config, &alice, SystemTime::now()).unwrap();
        assert_eq!(member.refresh_in, None);
        assert_eq!(
            member.frame,
            r#"{"type":"ice-servers","iceServers":[{"urls":["turn:turn.example:3478"],"username":"user","credential":"pass"}]}"#
        );
    }
}
