//! The answer of `/parties/main/<room>/turn`, including TURN REST API
//! credentials minted from a shared secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use parlor_protocol::{IceServer, IceServers};
use sha1::Sha1;

use crate::config::{IceConfig, TurnAuth};

/// The name part of minted usernames (`<expiry>:parlor`). A fixed name keeps
/// room names, which are secrets, out of the TURN server's logs.
const TURN_USER: &str = "parlor";

/// The ICE servers to hand out at `now`.
pub(crate) fn ice_servers(config: &IceConfig, now: SystemTime) -> IceServers {
    let mut ice_servers = Vec::new();
    if !config.stun_urls.is_empty() {
        ice_servers.push(IceServer {
            urls: config.stun_urls.clone(),
            ..IceServer::default()
        });
    }
    if let Some(turn) = &config.turn {
        let (username, credential) = match &turn.auth {
            TurnAuth::Static {
                username,
                credential,
            } => (username.clone(), credential.clone()),
            TurnAuth::SharedSecret { secret, ttl } => rest_credentials(secret, *ttl, now),
        };
        ice_servers.push(IceServer {
            urls: turn.urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    IceServers { ice_servers }
}

/// TURN REST API credentials, as coturn's `use-auth-secret` checks them:
/// username `<unix time of expiry>:<name>`, password
/// `base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the
/// HMAC and refuses usernames whose time has passed.
fn rest_credentials(secret: &str, ttl: Duration, now: SystemTime) -> (String, String) {
    let expiry = now
        .checked_add(ttl)
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since_epoch| since_epoch.as_secs());
    let username = format!("{expiry}:{TURN_USER}");
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

    #[test]
    fn rest_credentials_match_a_known_vector() {
        // Computed independently:
        // printf '%s' 1000:parlor | openssl dgst -sha1 -hmac secret -binary | base64
        let now = UNIX_EPOCH + Duration::from_secs(400);
        let (username, credential) = rest_credentials("secret", Duration::from_secs(600), now);
        assert_eq!(username, "1000:parlor");
        assert_eq!(credential, "AzhXx5pCRyrSYQHNNjXDJjyhIE0=");
    }
}
