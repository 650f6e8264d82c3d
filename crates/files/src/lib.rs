//! File transfers between Parlor peers (protocol.md §5c), without the
//! network: what a sender offers ([`Manifest`]: names, sizes, BLAKE3 of
//! each file and each block, read once), and how a receiver takes it
//! ([`Incoming`]: names made safe, bytes to hidden partial files, each
//! block checked before it counts, progress written down so a transfer
//! goes on after any interruption, a file named only once its whole hash
//! matches). The engine moves the bytes between them over a data channel.

mod incoming;
mod manifest;
mod names;
mod space;

use std::path::{Path, PathBuf};

pub use incoming::{Incoming, Received, hash_of};
pub use manifest::{Block, BlockReader, Manifest, block_messages};
pub use names::{NameError, safe_relative_path};

/// What went wrong with a transfer, in words for the person.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Nothing to send.
    #[error("there are no files to send")]
    Empty,
    /// Reading the files to offer stopped before it finished (the app is
    /// closing).
    #[error("reading the files to send was interrupted")]
    Interrupted,
    /// More files than one offer carries.
    #[error("{0} files are more than one transfer takes (1000); send a zip of them")]
    TooManyFiles(usize),
    /// A path given to send is neither a file nor a folder.
    #[error("{0} is not a file or a folder")]
    NotAFile(PathBuf),
    /// A file index the offer does not have.
    #[error("the transfer has no file number {0}")]
    NoSuchFile(usize),
    /// A file changed on the sender's disk after it was offered.
    #[error("{0} changed on disk after it was offered; offer it again")]
    Changed(PathBuf),
    /// An offered name was refused.
    #[error("a file name in the offer was refused: {0}")]
    Name(#[from] NameError),
    /// The offer itself is malformed.
    #[error("the offer is malformed: {0}")]
    BadOffer(String),
    /// The data did not fit the offer.
    #[error("the sender sent something the offer did not announce: {0}")]
    BadData(String),
    /// The whole file did not match the hash in the offer.
    #[error("{0} arrived damaged (its hash does not match the offer); it was not kept")]
    HashMismatch(PathBuf),
    /// The disk cannot hold it.
    #[error("not enough disk space: {needed} bytes needed, {free} free")]
    NoSpace {
        /// Bytes still to receive.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
}

impl FileError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        FileError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
