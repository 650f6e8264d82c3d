//! The per-profile message store.
//!
//! One SQLite file per profile keeps the rooms we joined, every message
//! sent and received with its delivery state per recipient, and so the
//! outbox: the messages still owed to someone, re-sent when they connect
//! again, across restarts.
//!
//! # Durability
//!
//! The file is in WAL mode (`PRAGMA journal_mode=WAL`) with
//! `synchronous=NORMAL`. Every state change is one transaction; once a call
//! returns `Ok`, its change is in the write-ahead log and survives the
//! process being killed at any point after (the operating system holds the
//! written pages). Only a power loss or an operating system crash can lose
//! the last transactions before a checkpoint, and even then the file is
//! left consistent, never damaged. The price is one fsync per checkpoint
//! rather than one per message, which is what lets a busy chat record about
//! a thousand messages and state changes per second.
//!
//! # Times and keys
//!
//! Times are `u64` milliseconds since the Unix epoch passed in by the
//! caller: the store reads no clock, so tests and the simulation drive it
//! on their own time. Rooms are keyed by their link, identities are
//! certificate fingerprints (`ab:cd:…`), message ids are strings.

mod error;
mod model;
mod schema;
mod transfers;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Row, TransactionBehavior, params};

pub use error::{Recovered, StoreError};
pub use model::{DeliveryState, NewMessage, Owed, RecipientState, RoomRecord, StoredMessage};
pub use schema::SCHEMA_VERSION;
pub use transfers::UnfinishedTransfer;

/// How long opening waits for another process to let go of the file (one
/// that is closing) before saying it is in use.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// The path errors of a store in memory name.
const IN_MEMORY: &str = "(in memory)";

/// The message store of one profile (or of one run, in memory).
///
/// Cloning is cheap and shares the one connection, so the engine's tasks
/// can each hold one; calls are serialised on it.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Option<Arc<Path>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "Store({})", path.display()),
            None => f.write_str("Store(in memory)"),
        }
    }
}

impl Store {
    /// Opens (creating if missing, with parent directories NOT created: the
    /// caller owns the directory) and migrates.
    ///
    /// A file that is not a database or is damaged gives
    /// [`StoreError::Corrupt`]; one written by a newer Parlor gives
    /// [`StoreError::NewerVersion`] and is left untouched; one that cannot
    /// be created or written gives [`StoreError::NotWritable`] (found out
    /// here by writing, not at the first message).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |error| StoreError::classify(path, error);
        check_header(path)?;
        // No SQLITE_OPEN_URI: a profile path is a path, whatever it starts with.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        // Until the file is known to be ours, closing must not checkpoint:
        // that would write a log into a damaged or newer file and delete
        // the log, and such a file is moved aside whole, never changed.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(fail)?;
        // Before anything that writes: a newer store must stay as it was.
        let found = schema::inspect(&conn, path)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
            .map_err(fail)?;
        // One process owns a store: the lock is taken once and kept, so a
        // transaction costs no lock calls on a shared-memory index (and a
        // second Parlor on the same profile is told, not interleaved).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(fail)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // SQLite may keep the old mode rather than fail when it cannot
            // use a log beside the file; the log is what makes a committed
            // message survive a kill, so without it the file is refused.
            return Err(StoreError::NotWritable {
                path: path.to_path_buf(),
                detail: format!("cannot switch to write-ahead logging (journal mode stays {mode})"),
            });
        }
        Self::configure(&conn).map_err(fail)?;
        schema::migrate(&mut conn, found).map_err(fail)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(Arc::from(path)),
        })
    }

    /// `open`, but a Corrupt or NewerVersion file is moved aside (renamed
    /// to `<file name>.damaged-<now_ms>` or `<file name>.newer-<now_ms>` in
    /// the same directory, together with its `-wal` and `-shm` files if
    /// present — never deleted) and a fresh store is opened in its place;
    /// says what it did. NotWritable and the others are returned as errors
    /// (the caller then uses [`Store::in_memory`] and tells the person).
    pub fn open_or_recover(
        path: &Path,
        now_ms: u64,
    ) -> Result<(Store, Option<Recovered>), StoreError> {
        let why = match Store::open(path) {
            Ok(store) => return Ok((store, None)),
            Err(why) => why,
        };
        let tag = match &why {
            StoreError::Corrupt { .. } => "damaged",
            StoreError::NewerVersion { .. } => "newer",
            _ => return Err(why),
        };
        let moved_to = move_aside(path, tag, now_ms)?;
        let store = Store::open(path)?;
        Ok((store, Some(Recovered { moved_to, why })))
    }

    /// A store that lives as long as the process: for runs without a
    /// profile, so the engine has one code path.
    pub fn in_memory() -> Result<Store, StoreError> {
        let path = Path::new(IN_MEMORY);
        let fail = |error| StoreError::classify(path, error);
        let mut conn = Connection::open_in_memory().map_err(fail)?;
        Self::configure(&conn).map_err(fail)?;
        schema::migrate(&mut conn, 0).map_err(fail)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The settings every connection runs with (see the crate's
    /// "Durability").
    fn configure(conn: &Connection) -> rusqlite::Result<()> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    /// Records that we are in this room now (inserts or updates
    /// `last_active_ms`, `server`, `name`).
    pub fn remember_room(
        &self,
        link: &str,
        server: &str,
        name: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO rooms (link, server, name, last_active_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (link) DO UPDATE SET server = excluded.server, name = excluded.name,
                     last_active_ms = excluded.last_active_ms",
            )?
            .execute(params![link, server, name, ms_to_sql(now_ms)])?;
            Ok(())
        })
    }

    /// Rooms by last activity, newest first, for the "recent rooms" list.
    pub fn recent_rooms(&self, limit: usize) -> Result<Vec<RoomRecord>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT link, server, name, last_active_ms FROM rooms
                 ORDER BY last_active_ms DESC, rowid DESC LIMIT ?1",
            )?
            .query_map([count_to_sql(limit)], |row| {
                Ok(RoomRecord {
                    link: row.get(0)?,
                    server: row.get(1)?,
                    name: row.get(2)?,
                    last_active_ms: ms_from_sql(row.get(3)?),
                })
            })?
            .collect()
        })
    }

    /// An identity (Parlor peer) was connected in this room: later messages
    /// are owed to it. Updates its name (a `None` keeps the one known) and
    /// when it was last seen.
    pub fn remember_member(
        &self,
        room: &str,
        fingerprint: &str,
        name: Option<&str>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO members (room, fingerprint, name, last_seen_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (room, fingerprint) DO UPDATE SET
                     name = coalesce(excluded.name, members.name),
                     last_seen_ms = max(members.last_seen_ms, excluded.last_seen_ms)",
            )?
            .execute(params![room, fingerprint, name, ms_to_sql(now_ms)])?;
            Ok(())
        })
    }

    /// Identities seen in the room at or after `since_ms`: the recipients
    /// of a new message. Sorted by fingerprint.
    pub fn members_since(&self, room: &str, since_ms: u64) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT fingerprint FROM members WHERE room = ?1 AND last_seen_ms >= ?2
                 ORDER BY fingerprint",
            )?
            .query_map(params![room, ms_to_sql(since_ms)], |row| row.get(0))?
            .collect()
        })
    }

    /// Records one of our messages with a Queued row per recipient
    /// (fingerprints; names looked up from members if known), in one
    /// transaction. No recipients = waiting for someone
    /// ([`Store::address_waiting`]). A second call with the same
    /// `(room, id)` is a no-op. A message without an id cannot be
    /// acknowledged, so it is recorded for history only: no recipients,
    /// never owed, never waiting.
    pub fn add_outgoing(
        &self,
        message: &NewMessage<'_>,
        recipients: &[String],
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let waiting = message.id.is_some() && recipients.is_empty();
            let added = tx
                .prepare_cached(
                    "INSERT INTO messages (room, id, outgoing, sender, sender_name, text, at_ms, waiting)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    message.room,
                    message.id,
                    message.sender,
                    message.sender_name,
                    message.text,
                    ms_to_sql(message.at_ms),
                    waiting,
                ])?;
            if added == 0 || message.id.is_none() {
                // Already recorded (or nothing to track): leave it as it is.
                return tx.commit();
            }
            let seq = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO recipients (seq, fingerprint, name, can_ack, state, updated_ms)
                     VALUES (?1, ?2, (SELECT name FROM members WHERE room = ?3 AND fingerprint = ?2),
                             1, 'queued', ?4)
                     ON CONFLICT DO NOTHING",
                )?;
                for fingerprint in recipients {
                    insert.execute(params![
                        seq,
                        fingerprint,
                        message.room,
                        ms_to_sql(message.at_ms)
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Owes message `id` to one more recipient (Queued), unless it is
    /// already a recipient: someone who connected after it was written.
    /// `can_ack` is false for old clients (they never acknowledge: their
    /// Sent is final). A `None` name takes the member's name if known.
    /// Unknown id: Ok, nothing happens.
    pub fn add_recipient(
        &self,
        room: &str,
        id: &str,
        fingerprint: &str,
        name: Option<&str>,
        can_ack: bool,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let added = tx
                .prepare_cached(
                    "INSERT INTO recipients (seq, fingerprint, name, can_ack, state, updated_ms)
                     SELECT seq, ?3,
                            coalesce(?4, (SELECT name FROM members WHERE room = ?1 AND fingerprint = ?3)),
                            ?5, 'queued', ?6
                     FROM messages WHERE room = ?1 AND id = ?2 AND outgoing = 1
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![room, id, fingerprint, name, can_ack, ms_to_sql(now_ms)])?;
            if added > 0 {
                tx.prepare_cached(
                    "UPDATE messages SET waiting = 0
                     WHERE room = ?1 AND id = ?2 AND outgoing = 1 AND waiting = 1",
                )?
                .execute(params![room, id])?;
            }
            tx.commit()
        })
    }

    /// Gives every outgoing message of the room that has no recipient yet
    /// ("waiting for someone") this recipient (Queued, `can_ack` true): the
    /// first identity to connect receives what was written while the room
    /// was empty. Returns how many.
    pub fn address_waiting(
        &self,
        room: &str,
        fingerprint: &str,
        name: Option<&str>,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let added = tx
                .prepare_cached(
                    "INSERT INTO recipients (seq, fingerprint, name, can_ack, state, updated_ms)
                     SELECT seq, ?2,
                            coalesce(?3, (SELECT name FROM members WHERE room = ?1 AND fingerprint = ?2)),
                            1, 'queued', ?4
                     FROM messages WHERE room = ?1 AND waiting = 1
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![room, fingerprint, name, ms_to_sql(now_ms)])?;
            if added > 0 {
                tx.prepare_cached("UPDATE messages SET waiting = 0 WHERE room = ?1 AND waiting = 1")?
                    .execute([room])?;
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Sets a recipient's state. Delivered is final (never moves back);
    /// Failed can go back to Queued (a retry). Unknown
    /// `(room, id, fingerprint)`: Ok, nothing.
    pub fn set_state(
        &self,
        room: &str,
        id: &str,
        fingerprint: &str,
        state: DeliveryState,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "UPDATE recipients SET state = ?4, updated_ms = ?5
                 WHERE seq = (SELECT seq FROM messages WHERE room = ?1 AND id = ?2 AND outgoing = 1)
                   AND fingerprint = ?3 AND state <> 'delivered' AND state <> ?4",
            )?
            .execute(params![
                room,
                id,
                fingerprint,
                state.as_str(),
                ms_to_sql(now_ms)
            ])?;
            Ok(())
        })
    }

    /// Our messages owed to `fingerprint` in `room`: recipient rows Queued,
    /// or Sent to a client that acknowledges, in the order they were
    /// written. What to send when that identity connects.
    pub fn owed_to(&self, room: &str, fingerprint: &str) -> Result<Vec<Owed>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT m.id, m.text
                 FROM recipients r INDEXED BY recipients_owed CROSS JOIN messages m ON m.seq = r.seq
                 WHERE r.fingerprint = ?2
                   AND (r.state = 'queued' OR (r.state = 'sent' AND r.can_ack = 1))
                   AND m.room = ?1 AND m.id IS NOT NULL
                 ORDER BY r.seq",
            )?
            .query_map(params![room, fingerprint], |row| {
                Ok(Owed {
                    id: row.get(0)?,
                    text: row.get(1)?,
                })
            })?
            .collect()
        })
    }

    /// Recipients of message `id` in Failed state, for a retry.
    pub fn failed_recipients(&self, room: &str, id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT r.fingerprint FROM messages m JOIN recipients r ON r.seq = m.seq
                 WHERE m.room = ?1 AND m.id = ?2 AND m.outgoing = 1 AND r.state = 'failed'
                 ORDER BY r.rowid",
            )?
            .query_map(params![room, id], |row| row.get(0))?
            .collect()
        })
    }

    /// Records a message from a peer; `Ok(false)` when the same
    /// `(room, sender, id)` is already stored (a re-send after a restart:
    /// show it once). Messages without an id (old clients) are always new.
    pub fn add_incoming(&self, message: &NewMessage<'_>) -> Result<bool, StoreError> {
        self.with(|conn| {
            let added = conn
                .prepare_cached(
                    "INSERT INTO messages (room, id, outgoing, sender, sender_name, text, at_ms)
                     VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    message.room,
                    message.id,
                    message.sender,
                    message.sender_name,
                    message.text,
                    ms_to_sql(message.at_ms),
                ])?;
            Ok(added > 0)
        })
    }

    /// The last `limit` messages of a room before `before_seq` (all if
    /// `None`), oldest first, with their recipients: one page of the
    /// conversation, the next page being `before_seq` = the first's `seq`.
    pub fn history(
        &self,
        room: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.with(|conn| {
            let before = before_seq.unwrap_or(i64::MAX);
            let mut messages = conn
                .prepare_cached(
                    "SELECT seq, id, outgoing, sender, sender_name, text, at_ms
                     FROM messages INDEXED BY messages_by_room
                     WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                )?
                .query_map(params![room, before, count_to_sql(limit)], |row| {
                    Ok(StoredMessage {
                        seq: row.get(0)?,
                        id: row.get(1)?,
                        outgoing: row.get(2)?,
                        sender: row.get(3)?,
                        sender_name: row.get(4)?,
                        text: row.get(5)?,
                        at_ms: ms_from_sql(row.get(6)?),
                        recipients: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            messages.reverse();
            let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
                return Ok(messages);
            };
            let (first, last) = (first.seq, last.seq);
            // The recipients of just this page, in one query: the page's
            // messages by the room index, each one's recipients by key.
            let mut statement = conn.prepare_cached(
                "SELECT r.seq, r.fingerprint, r.name, r.state, r.updated_ms
                 FROM messages m INDEXED BY messages_by_room CROSS JOIN recipients r ON r.seq = m.seq
                 WHERE m.room = ?1 AND m.seq BETWEEN ?2 AND ?3
                 ORDER BY r.seq, r.rowid",
            )?;
            let mut rows = statement.query(params![room, first, last])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                let recipient = RecipientState {
                    fingerprint: row.get(1)?,
                    name: row.get(2)?,
                    state: state_at(row, 3)?,
                    updated_ms: ms_from_sql(row.get(4)?),
                };
                if let Ok(index) = messages.binary_search_by_key(&seq, |message| message.seq) {
                    messages[index].recipients.push(recipient);
                }
            }
            Ok(messages)
        })
    }

    /// How many of our messages are not yet delivered to everyone they are
    /// owed to (any recipient Queued, or Sent to a client that
    /// acknowledges), plus those waiting for someone; in one room or
    /// (`None`) in all. What a "not delivered yet" warning counts.
    pub fn undelivered(&self, room: Option<&str>) -> Result<usize, StoreError> {
        self.with(|conn| {
            let count: i64 = conn
                .prepare_cached(
                    "SELECT
                       (SELECT count(DISTINCT r.seq)
                        FROM recipients r INDEXED BY recipients_owed JOIN messages m ON m.seq = r.seq
                        WHERE (r.state = 'queued' OR (r.state = 'sent' AND r.can_ack = 1))
                          AND (?1 IS NULL OR m.room = ?1))
                     + (SELECT count(*) FROM messages
                        WHERE waiting = 1 AND (?1 IS NULL OR room = ?1))",
                )?
                .query_row([room], |row| row.get(0))?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    /// Runs `f` on the connection and sorts its failure into a
    /// [`StoreError`] naming this store.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        f(&mut conn).map_err(|error| StoreError::classify(self.error_path(), error))
    }

    /// The connection. A panic while it was held leaves nothing half done
    /// (an open transaction rolls back when dropped), so a poisoned lock is
    /// taken over rather than passed on.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The path errors name: the file, or a stand-in for a store in memory.
    fn error_path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(IN_MEMORY))
    }
}

/// The first bytes of every SQLite database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a file that is plainly not a database before SQLite opens it:
/// SQLite would take the log files beside it for its own and rewrite them,
/// and those must be moved aside as they were. A missing or empty file is
/// a new store; a file that cannot be read is left for SQLite to report.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
    if io::Read::read_to_end(
        &mut io::Read::take(&mut file, SQLITE_MAGIC.len() as u64),
        &mut header,
    )
    .is_err()
        || header.is_empty()
        || header.starts_with(SQLITE_MAGIC)
    {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: "it is not a SQLite database (its first bytes are wrong)".into(),
    })
}

/// Renames the store at `path` and its companion files aside under
/// `<file name>.<tag>-<now_ms>` (with `-2`, `-3`… when that name is taken)
/// and returns the new path of the main file. The companions go first: a
/// log left behind would be replayed into the fresh store opened next.
fn move_aside(path: &Path, tag: &str, now_ms: u64) -> Result<PathBuf, StoreError> {
    let move_error = |path: &Path, source| StoreError::MoveAside {
        path: path.to_path_buf(),
        source,
    };
    let Some(file_name) = path.file_name() else {
        return Err(move_error(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        ));
    };
    let target = (1u32..)
        .map(|attempt| {
            let mut name = file_name.to_os_string();
            name.push(format!(".{tag}-{now_ms}"));
            if attempt > 1 {
                name.push(format!("-{attempt}"));
            }
            path.with_file_name(name)
        })
        .find(|candidate| {
            std::iter::once(candidate.clone())
                .chain(
                    COMPANIONS
                        .iter()
                        .map(|suffix| with_suffix(candidate, suffix)),
                )
                .all(|file| !file.exists())
        })
        .ok_or_else(|| {
            move_error(
                path,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "every name to move it to is taken",
                ),
            )
        })?;
    let mut moved = Vec::new();
    for suffix in COMPANIONS {
        let from = with_suffix(path, suffix);
        if !from.exists() {
            continue;
        }
        let to = with_suffix(&target, suffix);
        std::fs::rename(&from, &to).map_err(|source| move_error(&from, source))?;
        moved.push((from, to));
    }
    if let Err(source) = std::fs::rename(path, &target) {
        // Put the companions back with their file, so nothing is split.
        for (from, to) in moved {
            let _ = std::fs::rename(to, from);
        }
        return Err(move_error(path, source));
    }
    Ok(target)
}

/// The files SQLite keeps beside a database, which belong to it.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `path` with `suffix` appended to its file name (`store.db` → `store.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// A time as SQLite stores it (a signed 64-bit integer; saturates, which
/// no real time reaches).
fn ms_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A stored time back as the caller's `u64` (a negative one, written by
/// hand, reads as 0).
fn ms_from_sql(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

/// A count or limit as SQLite takes it.
fn count_to_sql(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The delivery state in column `index` of `row`.
fn state_at(row: &Row<'_>, index: usize) -> rusqlite::Result<DeliveryState> {
    let text: String = row.get(index)?;
    DeliveryState::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown delivery state {text:?}").into(),
        )
    })
}
