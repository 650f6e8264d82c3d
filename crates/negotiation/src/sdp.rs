//! The few SDP facts the negotiation needs, read with plain string functions.
//!
//! A full SDP parser would be a large dependency for three lines: the origin
//! (`o=`), which identifies the remote peer connection and orders its
//! descriptions; the ICE ufrag, which identifies an ICE generation; and the
//! DTLS fingerprint, which identifies the certificate of a peer connection;
//! and whether a data channel is negotiated.

/// What the negotiation core knows about one description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SdpInfo {
    /// `o=` session id: constant for the life of one peer connection.
    pub session_id: Option<String>,
    /// `o=` session version: grows with every new description of that connection.
    pub version: Option<u64>,
    /// First `a=ice-ufrag:` value.
    pub ufrag: Option<String>,
    /// First `a=fingerprint:` value, lower-cased (hex case is not significant).
    pub fingerprint: Option<String>,
    /// Whether it has a data-channel (`m=application`) section.
    pub data_channel: bool,
}

impl SdpInfo {
    /// Reads the origin, ufrag and fingerprint; anything missing stays `None`
    /// so that a malformed remote SDP degrades the checks instead of failing.
    pub fn parse(sdp: &str) -> Self {
        let mut info = Self::default();
        for line in sdp.lines().map(str::trim) {
            if line.starts_with("m=application") {
                info.data_channel = true;
            } else if let Some(origin) = line.strip_prefix("o=") {
                if info.session_id.is_none() {
                    let mut fields = origin.split_ascii_whitespace().skip(1);
                    info.session_id = fields.next().map(str::to_owned);
                    info.version = fields.next().and_then(|v| v.parse().ok());
                }
            } else if let Some(ufrag) = line.strip_prefix("a=ice-ufrag:") {
                if info.ufrag.is_none() {
                    info.ufrag = Some(ufrag.trim().to_owned());
                }
            } else if let Some(fingerprint) = line.strip_prefix("a=fingerprint:") {
                if info.fingerprint.is_none() {
                    info.fingerprint = Some(fingerprint.trim().to_ascii_lowercase());
                }
            }
        }
        info
    }

    /// True when `newer` comes from a different peer connection than `self`:
    /// the remote went away and came back with a brand-new connection.
    ///
    /// The session id is the primary signal; the fingerprint also changes
    /// with a new connection (a new DTLS certificate), and an ICE restart
    /// changes neither, so a restart is never mistaken for a new session.
    pub fn is_other_session(&self, newer: &SdpInfo) -> bool {
        let differs = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        differs(&self.session_id, &newer.session_id)
            || differs(&self.fingerprint, &newer.fingerprint)
    }

    /// True when `newer`, from the same connection, is older than `self`
    /// (RFC 3264 §8: each new description increments the version), so it
    /// answers an offer that has since been superseded.
    pub fn is_outdated_by_version(&self, newer: &SdpInfo) -> bool {
        match (self.version, newer.version) {
            (Some(current), Some(newer_version)) => {
                !self.is_other_session(newer) && newer_version < current
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SdpInfo;

    const SDP: &str = "v=0\r\no=- 4215 3 IN IP4 127.0.0.1\r\ns=-\r\n\
        a=fingerprint:sha-256 AB:CD\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        a=ice-ufrag:uf1\r\na=ice-ufrag:uf2\r\n";

    #[test]
    fn reads_origin_ufrag_and_fingerprint() {
        let info = SdpInfo::parse(SDP);
        assert_eq!(info.session_id.as_deref(), Some("4215"));
        assert_eq!(info.version, Some(3));
        assert_eq!(info.ufrag.as_deref(), Some("uf1"));
        assert_eq!(info.fingerprint.as_deref(), Some("sha-256 ab:cd"));
    }

    #[test]
    fn garbage_yields_nothing() {
        assert_eq!(SdpInfo::parse("o=\nnonsense"), SdpInfo::default());
    }

    #[test]
    fn ice_restart_is_not_a_new_session() {
        let before = SdpInfo::parse(SDP);
        let after = SdpInfo::parse(&SDP.replace("uf1", "uf9").replace(" 3 IN", " 4 IN"));
        assert!(!before.is_other_session(&after));
        assert!(!before.is_outdated_by_version(&after));
        assert!(after.is_outdated_by_version(&before));
    }
}
