//! Unguessable names: room names and peer ids made here carry 128 bits from
//! the OS random generator, so knowing a link is the only way into its room
//! and two peers never pick the same id by chance.

use rand::RngCore;

/// 128 random bits as 32 lowercase hex digits: always a valid protocol token.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
