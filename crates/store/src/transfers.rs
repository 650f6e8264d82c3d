//! Files we offered (schema version 2): what a restarted Parlor needs to
//! offer an unfinished transfer again, by itself, to whoever it was for.

use rusqlite::params;

use crate::{Store, StoreError, ms_to_sql};

/// One of our transfers someone has not received whole yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedTransfer {
    /// The transfer's id.
    pub transfer: String,
    /// What was sent: the files and folders, as given.
    pub paths: Vec<String>,
}

impl Store {
    /// Records that we offer `paths` as `transfer` in `room` (a second call
    /// for the same transfer changes nothing).
    pub fn add_transfer(
        &self,
        room: &str,
        transfer: &str,
        paths: &[String],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        // NUL: the one character no path holds.
        let paths = paths.join("\0");
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO transfers (room, transfer, paths, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![room, transfer, paths, ms_to_sql(now_ms)])?;
            Ok(())
        })
    }

    /// `transfer` was offered to `fingerprint` (unless already noted).
    pub fn transfer_offered_to(
        &self,
        room: &str,
        transfer: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO transfer_recipients (room, transfer, fingerprint)
                 SELECT room, transfer, ?3 FROM transfers WHERE room = ?1 AND transfer = ?2
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![room, transfer, fingerprint])?;
            Ok(())
        })
    }

    /// `fingerprint` has every file of `transfer`, or the transfer ended
    /// for it (declined, cancelled, failed): it is not offered again.
    pub fn transfer_finished(
        &self,
        room: &str,
        transfer: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "UPDATE transfer_recipients SET done = 1
                 WHERE room = ?1 AND transfer = ?2 AND fingerprint = ?3",
            )?
            .execute(params![room, transfer, fingerprint])?;
            Ok(())
        })
    }

    /// Our transfers in `room` offered to `fingerprint` that it does not
    /// have whole yet, oldest first.
    pub fn unfinished_transfers(
        &self,
        room: &str,
        fingerprint: &str,
    ) -> Result<Vec<UnfinishedTransfer>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT t.transfer, t.paths FROM transfer_recipients r
                 JOIN transfers t ON t.room = r.room AND t.transfer = r.transfer
                 WHERE r.room = ?1 AND r.fingerprint = ?2 AND r.done = 0
                 ORDER BY t.created_ms, t.transfer",
            )?
            .query_map(params![room, fingerprint], |row| {
                let paths: String = row.get(1)?;
                Ok(UnfinishedTransfer {
                    transfer: row.get(0)?,
                    paths: paths.split('\0').map(str::to_owned).collect(),
                })
            })?
            .collect()
        })
    }
}
