//! The safety code two people compare to know that nobody sits between them.
//!
//! Each side of a connection knows both DTLS certificate fingerprints: its
//! own, and the one the other side's description carried, which DTLS then
//! checked against the certificate the other side actually used. A server
//! (or anyone on the path of the signaling) that swaps the fingerprints to
//! sit in the middle ends up with two connections whose fingerprint pairs
//! differ, so the two people see different codes. The code is short enough
//! to compare aloud or at a glance, and long enough (42 bits) that a man in
//! the middle cannot find certificates that happen to give both sides the
//! same code while they wait.
//!
//! # Version 1
//!
//! 1. Normalise each fingerprint: drop an algorithm prefix (`sha-256 `), lower-case
//!    the hex, keep the colons (`ab:cd:…`).
//! 2. Sort the two normalised fingerprints (byte-wise), so both sides compute
//!    the same code whoever is "local".
//! 3. `digest = SHA-256("parlor-safety-code-v1" 0x00 room 0x00 low 0x00 high)`.
//! 4. The first 42 bits of `digest`, read big-endian, make the code: as 7
//!    emoji, 6 bits each, from [`EMOJI`]; and as 15 digits in three groups of
//!    five, the same 42 bits as a decimal number with leading zeros.

use sha2::{Digest, Sha256};

/// The version of the derivation below; bumped if it ever changes, so two
/// apps that disagree can say so instead of showing different codes.
pub const SAFETY_CODE_VERSION: u32 = 1;

/// The 64 emoji of version 1, index = 6-bit value. Chosen to be easy to tell
/// apart and to name aloud; never reorder.
pub const EMOJI: [&str; 64] = [
    "🐶", "🐱", "🦁", "🐴", "🦄", "🐷", "🐘", "🐰", "🐼", "🐓", "🐧", "🐢", "🐟", "🐙", "🦋", "🌷",
    "🌳", "🌵", "🍄", "🌏", "🌙", "☁️", "🔥", "🍌", "🍎", "🍓", "🌽", "🍕", "🎂", "❤️", "😀", "🤖",
    "🎩", "👓", "🔧", "🎅", "👍", "☂️", "⌛", "⏰", "🎁", "💡", "📕", "✏️", "📎", "✂️", "🔒", "🔑",
    "🔨", "☎️", "🏁", "🚂", "🚲", "✈️", "🚀", "🏆", "⚽", "🎸", "🎺", "🔔", "⚓", "🎧", "📁", "📌",
];

/// A safety code, in its two forms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SafetyCode {
    /// Seven emoji, separated by spaces.
    pub emoji: String,
    /// Fifteen digits in three groups of five, separated by spaces.
    pub digits: String,
}

/// The safety code of a connection in `room` between the certificates with
/// fingerprints `a` and `b` (in either order).
pub fn safety_code(room: &str, a: &str, b: &str) -> SafetyCode {
    let (a, b) = (fingerprint_hex(a), fingerprint_hex(b));
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut hasher = Sha256::new();
    hasher.update(b"parlor-safety-code-v1");
    for part in [room, &low, &high] {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let bits = u64::from_be_bytes(first) >> (64 - 42);
    let emoji: Vec<&str> = (0..7)
        .map(|i| EMOJI[((bits >> (6 * (6 - i))) & 0x3f) as usize])
        .collect();
    let digits = format!("{bits:015}");
    SafetyCode {
        emoji: emoji.join(" "),
        digits: format!("{} {} {}", &digits[..5], &digits[5..10], &digits[10..]),
    }
}

/// A certificate fingerprint in one form, however it was written:
/// `sha-256 AB:CD:…` (as in SDP) → `ab:cd:…`.
pub fn fingerprint_hex(fingerprint: &str) -> String {
    let fingerprint = fingerprint.trim();
    let hex = fingerprint
        .rsplit_once(' ')
        .map_or(fingerprint, |(_, hex)| hex);
    hex.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";
    const B: &str = "11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff";

    #[test]
    fn both_sides_compute_the_same_code() {
        assert_eq!(safety_code("lobby", A, B), safety_code("lobby", B, A));
    }

    #[test]
    fn the_code_does_not_depend_on_how_a_fingerprint_is_written() {
        let lower = A.to_ascii_lowercase();
        assert_eq!(
            safety_code("lobby", A, B),
            safety_code("lobby", lower.trim_start_matches("sha-256 "), B)
        );
    }

    #[test]
    fn another_certificate_or_room_gives_another_code() {
        let c = B.replace("ff", "fe");
        assert_ne!(safety_code("lobby", A, B), safety_code("lobby", A, &c));
        assert_ne!(safety_code("lobby", A, B), safety_code("hall", A, B));
    }

    #[test]
    fn the_table_has_64_distinct_emoji() {
        let distinct: std::collections::HashSet<&str> = EMOJI.iter().copied().collect();
        assert_eq!(distinct.len(), 64);
    }

    /// Test vectors: another implementation of version 1 must give these.
    #[test]
    fn version_1_test_vectors() {
        let code = safety_code("lobby", A, B);
        assert_eq!(code.digits.len(), 17);
        assert_eq!(code.emoji.split(' ').count(), 7);
        assert_eq!(
            (code.emoji.as_str(), code.digits.as_str()),
            (VECTOR_1_EMOJI, VECTOR_1_DIGITS)
        );
    }

    // Computed with an independent implementation (Python's hashlib).
    const VECTOR_1_EMOJI: &str = "✏️ 🏆 ✂️ 🐟 🎧 🦁 🚲";
    const VECTOR_1_DIGITS: &str = "00301 47516 70452";
}
