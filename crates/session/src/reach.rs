//! Why a peer cannot be reached yet, told from the candidates both sides
//! offered: the person waiting deserves a reason, not a spinner.

use std::fmt;

/// Why no network path to the peer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPath {
    /// Direct paths failed (NATs that cannot be crossed, a firewall) and no
    /// TURN server is configured to relay instead.
    NoRelayConfigured,
    /// Direct paths failed and the TURN server gave no relay address: it
    /// refused our credentials or cannot be reached. (webrtc-rs does not say
    /// which.)
    NoRelayAddress,
    /// Even the relayed paths failed: the peer's network blocks them too, or
    /// the relay cannot reach it.
    NothingWorks,
}

impl fmt::Display for NoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoPath::NoRelayConfigured => {
                "no direct path to this peer works, and no relay server is configured"
            }
            NoPath::NoRelayAddress => {
                "no direct path to this peer works, and the relay server gave no relay address (it refused the credentials or cannot be reached)"
            }
            NoPath::NothingWorks => {
                "no path to this peer works, not even through the relay server"
            }
        })
    }
}

/// Which kinds of candidates the current connection attempt has seen.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    local_relay: bool,
    remote_relay: bool,
}

impl Candidates {
    /// We gathered `candidate` (an `a=candidate` value).
    pub(crate) fn local(&mut self, candidate: &str) {
        self.local_relay |= is_relay(candidate);
    }

    /// The peer offered `candidate`.
    pub(crate) fn remote(&mut self, candidate: &str) {
        self.remote_relay |= is_relay(candidate);
    }

    /// A fresh connection: its candidates are still to come.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Why nothing connected, given whether we have a TURN server.
    pub(crate) fn no_path(&self, relay_configured: bool) -> NoPath {
        if self.local_relay || self.remote_relay {
            NoPath::NothingWorks
        } else if relay_configured {
            NoPath::NoRelayAddress
        } else {
            NoPath::NoRelayConfigured
        }
    }
}

fn is_relay(candidate: &str) -> bool {
    let mut words = candidate.split_ascii_whitespace();
    words.any(|word| word == "typ") && words.next() == Some("relay")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str =
        "candidate:1 1 udp 16777215 203.0.113.1 50000 typ relay raddr 203.0.113.11 rport 40000";
    const HOST: &str = "candidate:2 1 udp 2130706431 192.168.1.2 40000 typ host";

    #[test]
    fn without_a_turn_server_the_reason_is_that_none_is_configured() {
        let mut seen = Candidates::default();
        seen.local(HOST);
        assert_eq!(seen.no_path(false), NoPath::NoRelayConfigured);
    }

    #[test]
    fn a_turn_server_that_gave_no_address_is_named() {
        let mut seen = Candidates::default();
        seen.local(HOST);
        seen.remote(HOST);
        assert_eq!(seen.no_path(true), NoPath::NoRelayAddress);
    }

    #[test]
    fn a_relay_candidate_on_either_side_means_even_relaying_failed() {
        let mut seen = Candidates::default();
        seen.remote(RELAY);
        assert_eq!(seen.no_path(false), NoPath::NothingWorks);
        seen.reset();
        seen.local(RELAY);
        assert_eq!(seen.no_path(true), NoPath::NothingWorks);
    }
}
