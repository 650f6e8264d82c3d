//! What can go wrong with the message store, sorted by what the caller does
//! about it.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Why a store operation failed. The first variants each call for a
/// different reaction (move the file aside, tell the person to update,
/// fall back to a store in memory); [`StoreError::Database`] is the rest.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database, or is damaged.
    #[error("the message store {path} is damaged: {detail}")]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What SQLite (or the schema check) said.
        detail: String,
    },
    /// Written by a newer Parlor.
    #[error(
        "the message store {path} was written by a newer Parlor (schema {found}; this one knows up to {supported})"
    )]
    NewerVersion {
        /// The store's file.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The newest schema version this build knows ([`crate::SCHEMA_VERSION`]).
        supported: u32,
    },
    /// Cannot be created or written (read-only directory, permissions, disk full).
    #[error("cannot write the message store {path}: {detail}")]
    NotWritable {
        /// The store's file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// Another program (a second Parlor on the same profile, another
    /// `parlor-peer --store` on the same file) holds the store: one process
    /// owns a store at a time.
    #[error("the message store {path} is in use by another Parlor")]
    InUse {
        /// The store's file.
        path: PathBuf,
    },
    /// Any other database failure.
    #[error("message store: {0}")]
    Database(#[from] rusqlite::Error),
    /// Moving a damaged file aside failed.
    #[error("cannot move the damaged message store {path} aside: {source}")]
    MoveAside {
        /// The file that could not be moved.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Sorts a SQLite failure on the store at `path` into the variants a
    /// caller reacts to: damage and write failures by their result code,
    /// everything else as [`StoreError::Database`].
    pub(crate) fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
        let code = match &error {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
            _ => None,
        };
        match code {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: error.to_string(),
            },
            Some(
                ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::DiskFull,
            ) => StoreError::NotWritable {
                path: path.to_path_buf(),
                detail: error.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::InUse {
                path: path.to_path_buf(),
            },
            _ => StoreError::Database(error),
        }
    }
}

/// What happened when a damaged or newer store was replaced by a fresh one.
#[derive(Debug)]
pub struct Recovered {
    /// Where the old file now is (its `-wal` and `-shm` files, if it had
    /// any, sit beside it with the same name plus those suffixes).
    pub moved_to: PathBuf,
    /// Why it was moved: [`StoreError::Corrupt`] or [`StoreError::NewerVersion`].
    pub why: StoreError,
}
