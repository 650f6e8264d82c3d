//! File transfers between Parlor peers (protocol.md §5c).
//!
//! The control messages ([`FileOffer`] and the answers to it) are
//! [`Frame`](crate::Frame)s on the `chat` channel, sent only to peers whose
//! `info` announced [`CAP_FILES`]. The bytes travel on a data channel of
//! their own per transfer, labelled [`file_channel_label`], as binary
//! [`DataMessage`]s: the file's bytes in order, and after each block of
//! [`BLOCK_SIZE`] bytes that block's BLAKE3 hash, so the receiver verifies
//! as it goes and, after any interruption, asks for the rest from the end
//! of the last block it verified.

use serde::{Deserialize, Serialize};

/// Capability: the peer takes file offers.
pub const CAP_FILES: &str = "files";

/// Bytes per verified block: what is sent again at most after an
/// interruption or a damaged block.
pub const BLOCK_SIZE: u64 = 1024 * 1024;

/// File bytes per data message: with its header, under the 64 KiB a data
/// channel message may carry everywhere.
pub const CHUNK_SIZE: usize = 64_000;

/// Most files in one offer: a folder with more is sent as several offers
/// (or an archive); an offer must fit in one chat frame.
pub const MAX_FILES_PER_OFFER: usize = 1000;

/// What every file channel's label starts with.
pub const FILE_CHANNEL_PREFIX: &str = "parlor-file/";

/// The label of the data channel that carries `transfer`.
pub fn file_channel_label(transfer: &str) -> String {
    format!("{FILE_CHANNEL_PREFIX}{transfer}")
}

/// The transfer a channel label names, if it is a file channel.
pub fn transfer_of_label(label: &str) -> Option<&str> {
    label.strip_prefix(FILE_CHANNEL_PREFIX)
}

/// One file of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedFile {
    /// Its path relative to what was sent (`photos/a.jpg` for a folder),
    /// with `/` between parts. A receiver sanitizes it before using it.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// BLAKE3 of the whole file, 64 hex digits.
    pub hash: String,
}

/// "Here are files for you": names, sizes and hashes, under an id that
/// stays the same when the same files are offered again (after the sender
/// restarted), so a receiver resumes what it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// The transfer's id: a hash of what is offered.
    pub transfer: String,
    /// The files, in the order they are sent.
    pub files: Vec<OfferedFile>,
}

impl FileOffer {
    /// Bytes in all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A message on a file channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataMessage {
    /// Bytes of file `file` starting at `offset`.
    Chunk {
        /// Index of the file in the offer.
        file: u32,
        /// Where the bytes go.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The BLAKE3 hash of block `block` of file `file`, sent after its
    /// last chunk.
    BlockHash {
        /// Index of the file in the offer.
        file: u32,
        /// Block number (offset / [`BLOCK_SIZE`]).
        block: u64,
        /// Its hash.
        hash: [u8; 32],
    },
}

const CHUNK_TAG: u8 = 1;
const HASH_TAG: u8 = 2;
const HEADER: usize = 1 + 4 + 8;

/// Why a file channel message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataMessageError {
    /// Too short for its kind, or an unknown kind.
    #[error("a file channel message of {0} bytes that is not a chunk or a block hash")]
    Malformed(usize),
}

impl DataMessage {
    /// The bytes sent on the channel.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            DataMessage::Chunk {
                file,
                offset,
                bytes,
            } => {
                let mut out = Vec::with_capacity(HEADER + bytes.len());
                out.push(CHUNK_TAG);
                out.extend_from_slice(&file.to_be_bytes());
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
            DataMessage::BlockHash { file, block, hash } => {
                let mut out = Vec::with_capacity(HEADER + 32);
                out.push(HASH_TAG);
                out.extend_from_slice(&file.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(hash);
                out
            }
        }
    }

    /// Reads one channel message.
    pub fn decode(data: &[u8]) -> Result<Self, DataMessageError> {
        let malformed = || DataMessageError::Malformed(data.len());
        let (Some(&tag), Some(file), Some(position)) =
            (data.first(), data.get(1..5), data.get(5..HEADER))
        else {
            return Err(malformed());
        };
        let file = u32::from_be_bytes(file.try_into().map_err(|_| malformed())?);
        let position = u64::from_be_bytes(position.try_into().map_err(|_| malformed())?);
        let rest = &data[HEADER..];
        match tag {
            CHUNK_TAG => Ok(DataMessage::Chunk {
                file,
                offset: position,
                bytes: rest.to_vec(),
            }),
            HASH_TAG => Ok(DataMessage::BlockHash {
                file,
                block: position,
                hash: rest.try_into().map_err(|_| malformed())?,
            }),
            _ => Err(malformed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_messages_round_trip() {
        for message in [
            DataMessage::Chunk {
                file: 3,
                offset: 5 * BLOCK_SIZE + 7,
                bytes: vec![1, 2, 3],
            },
            DataMessage::BlockHash {
                file: 0,
                block: 9,
                hash: [7; 32],
            },
        ] {
            assert_eq!(DataMessage::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn short_or_unknown_data_messages_are_errors() {
        assert!(DataMessage::decode(&[]).is_err());
        assert!(DataMessage::decode(&[CHUNK_TAG, 0, 0]).is_err());
        assert!(DataMessage::decode(&[9; HEADER]).is_err());
        assert!(DataMessage::decode(&[HASH_TAG; HEADER + 31]).is_err());
    }

    #[test]
    fn a_channel_label_names_its_transfer() {
        let label = file_channel_label("abc");
        assert_eq!(transfer_of_label(&label), Some("abc"));
        assert_eq!(transfer_of_label("chat"), None);
    }
}
