//! The schema and its migrations.
//!
//! The schema version lives in SQLite's `PRAGMA user_version` (0 in a new
//! file). [`MIGRATIONS`] is an ordered list: entry `n` takes a store from
//! version `n` to `n + 1`, each applied in its own transaction together
//! with the new `user_version`, so a store killed mid-migration is left at
//! the last whole version. Version 2 will be one more entry at the end;
//! entries already released never change.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// The schema version this build writes and the newest it can read.
pub const SCHEMA_VERSION: u32 = 2;

/// Version 1: rooms, members, messages and per-recipient delivery state.
///
/// - `messages.seq` is insertion order (the rowid: messages are never
///   deleted, so each new one is the largest yet; no AUTOINCREMENT, which
///   would write its counter table on every message), which history pages
///   by through `messages_by_room`.
/// - `UNIQUE (room, id, sender)` shows a peer's re-sent message once; SQLite
///   treats NULL ids as distinct, so id-less messages of old clients are
///   always new. Its `(room, id)` prefix is how acknowledgements find our
///   own messages, so that needs no index of its own: every index is one
///   more page written per message.
/// - `waiting` marks our messages that nobody was there to receive (no
///   recipient row yet); `messages_waiting` finds them without a scan.
/// - `recipients_owed` indexes exactly the rows still owed (queued, or sent
///   to a client that acknowledges) by identity in the order written, so
///   what is owed to someone, and the outbox count, read only those rows
///   however long the history grows. Its condition is repeated word for
///   word in the queries that use it (SQLite matches it as written).
const V1: &str = "
CREATE TABLE rooms (
    link TEXT PRIMARY KEY NOT NULL,
    server TEXT NOT NULL,
    name TEXT NOT NULL,
    last_active_ms INTEGER NOT NULL
);
CREATE INDEX rooms_by_activity ON rooms (last_active_ms);

CREATE TABLE members (
    room TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    name TEXT,
    last_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (room, fingerprint)
) WITHOUT ROWID;

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    id TEXT,
    outgoing INTEGER NOT NULL,
    sender TEXT NOT NULL,
    sender_name TEXT,
    text TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    waiting INTEGER NOT NULL DEFAULT 0,
    UNIQUE (room, id, sender)
);
CREATE INDEX messages_by_room ON messages (room, seq);
CREATE INDEX messages_waiting ON messages (room) WHERE waiting = 1;

CREATE TABLE recipients (
    seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    name TEXT,
    can_ack INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'delivered', 'failed')),
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (seq, fingerprint)
);
CREATE INDEX recipients_owed ON recipients (fingerprint, seq)
    WHERE state = 'queued' OR (state = 'sent' AND can_ack = 1);
";

/// Version 2: files we offered, so that a transfer goes on after our own
/// restart. `transfers` keeps what was sent (the paths, to read and hash
/// again), `transfer_recipients` which identities it was offered to and
/// which have it all.
const V2: &str = "
CREATE TABLE transfers (
    room TEXT NOT NULL,
    transfer TEXT NOT NULL,
    paths TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (room, transfer)
) WITHOUT ROWID;

CREATE TABLE transfer_recipients (
    room TEXT NOT NULL,
    transfer TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, transfer, fingerprint)
) WITHOUT ROWID;
";

/// Every migration in order: entry `n` takes version `n` to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2];

const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// Reads the schema version of a freshly opened store and checks that this
/// build can use the file, touching nothing: a newer store must be left as
/// it was found.
pub(crate) fn inspect(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let fail = |error| StoreError::classify(path, error);
    // The first read of the header: on a file that is not a database this
    // is where SQLite says so (opening succeeds on anything).
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(fail)?;
    let Ok(found) = u32::try_from(found) else {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("its schema version {found} is not one Parlor writes"),
        });
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(fail)?;
    if found == 0 && tables > 0 {
        // Migrations commit with their version, so a Parlor store never
        // has tables at version 0: this is some other program's database.
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "it holds tables but no schema version: not a Parlor message store".into(),
        });
    }
    // Walks every page: damage past the header shows here rather than in
    // the middle of a conversation, and the caller can move the file aside.
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(fail)?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: verdict,
        });
    }
    Ok(found)
}

/// Applies the migrations after version `from`, each in one transaction.
/// When there is none to apply it still writes (the version, unchanged), so
/// a store that cannot be written is found out here, at open, and not at
/// the first message.
pub(crate) fn migrate(conn: &mut Connection, from: u32) -> rusqlite::Result<()> {
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    for (index, step) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(step)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    if from >= MIGRATIONS.len() {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
    }
    Ok(())
}
