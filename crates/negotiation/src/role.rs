//! Which side yields when both peers offer at once.

/// A peer's role in perfect negotiation.
///
/// The two peers of a pair must hold opposite roles: two polite peers would
/// both roll back on a collision and two impolite peers would both ignore the
/// other's offer, and either way the negotiation stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// On an offer collision, rolls back its own offer and answers the remote one.
    Polite,
    /// On an offer collision, ignores the remote offer and waits for its answer.
    Impolite,
}

/// The role this peer takes toward `remote_id`.
///
/// Old browser clients recompute their role on every peer list and end up
/// impolite as soon as anyone else is in the room, so toward a peer that is
/// not known to be a Parlor peer we are always polite. Between two Parlor
/// peers both sides compare the same two ids, which survive reconnection, so
/// they always reach opposite answers: the lower id (byte-wise) is polite.
pub fn role_toward(local_id: &str, remote_id: &str, remote_is_parlor: bool) -> Role {
    if !remote_is_parlor || local_id.as_bytes() < remote_id.as_bytes() {
        Role::Polite
    } else {
        Role::Impolite
    }
}
