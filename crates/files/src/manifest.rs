//! What is offered: files and folders read once to hash them (the whole
//! file and each block), so the offer can name them by content and the
//! sender can tell a file that changed on disk before sending it wrong.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use parlor_protocol::{
    BLOCK_SIZE, CHUNK_SIZE, DataMessage, FileOffer, MAX_FILES_PER_OFFER, OfferedFile,
};

use crate::FileError;

/// Files to send: the offer, where each file is, and its block hashes.
#[derive(Debug)]
pub struct Manifest {
    /// What the other side is told.
    pub offer: FileOffer,
    sources: Vec<PathBuf>,
    blocks: Vec<Vec<[u8; 32]>>,
}

impl Manifest {
    /// Reads `paths` (files, and folders with everything in them; symbolic
    /// links are skipped, so a folder cannot lead elsewhere) and hashes
    /// them. Blocking: it reads every byte once.
    pub fn build(paths: &[PathBuf]) -> Result<Manifest, FileError> {
        let mut found = Vec::new();
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| FileError::NotAFile(path.clone()))?;
            collect(path, &name, &mut found)?;
        }
        if found.is_empty() {
            return Err(FileError::Empty);
        }
        if found.len() > MAX_FILES_PER_OFFER {
            return Err(FileError::TooManyFiles(found.len()));
        }
        let mut files = Vec::new();
        let mut sources = Vec::new();
        let mut blocks = Vec::new();
        for (name, source) in found {
            let (size, hash, block_hashes) = hash_file(&source)?;
            files.push(OfferedFile {
                name,
                size,
                hash: hash.to_hex().to_string(),
            });
            sources.push(source);
            blocks.push(block_hashes);
        }
        // The same files offered again get the same id: a receiver resumes
        // what it has, even after the sender restarted.
        let mut id = blake3::Hasher::new();
        for file in &files {
            id.update(file.name.as_bytes());
            id.update(&[0]);
            id.update(&file.size.to_be_bytes());
            id.update(file.hash.as_bytes());
        }
        let transfer = id.finalize().to_hex()[..32].to_owned();
        Ok(Manifest {
            offer: FileOffer { transfer, files },
            sources,
            blocks,
        })
    }

    /// The transfer's id.
    pub fn transfer(&self) -> &str {
        &self.offer.transfer
    }

    /// Opens file `index` for sending.
    pub fn reader(&self, index: usize) -> Result<BlockReader, FileError> {
        let (Some(source), Some(blocks), Some(offered)) = (
            self.sources.get(index),
            self.blocks.get(index),
            self.offer.files.get(index),
        ) else {
            return Err(FileError::NoSuchFile(index));
        };
        let file = File::open(source).map_err(|e| FileError::io(source, e))?;
        Ok(BlockReader {
            file,
            source: source.clone(),
            blocks: blocks.clone(),
            size: offered.size,
        })
    }
}

/// Adds `path` (a file, or a folder's files) under `name`.
fn collect(path: &Path, name: &str, found: &mut Vec<(String, PathBuf)>) -> Result<(), FileError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| FileError::io(path, e))?;
    if meta.is_file() {
        found.push((name.to_owned(), path.to_path_buf()));
    } else if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| FileError::io(path, e))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let child = format!("{name}/{}", entry.file_name().to_string_lossy());
            collect(&entry.path(), &child, found)?;
            if found.len() > MAX_FILES_PER_OFFER {
                return Err(FileError::TooManyFiles(found.len()));
            }
        }
    }
    Ok(())
}

/// Size, whole-file hash and block hashes of `path`.
fn hash_file(path: &Path) -> Result<(u64, blake3::Hash, Vec<[u8; 32]>), FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut whole = blake3::Hasher::new();
    let mut blocks = Vec::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; block_len()];
    loop {
        let read = read_full(&mut file, &mut buffer).map_err(|e| FileError::io(path, e))?;
        if read == 0 {
            break;
        }
        whole.update(&buffer[..read]);
        blocks.push(*blake3::hash(&buffer[..read]).as_bytes());
        size += read as u64;
        if read < buffer.len() {
            break;
        }
    }
    Ok((size, whole.finalize(), blocks))
}

fn block_len() -> usize {
    usize::try_from(BLOCK_SIZE).unwrap_or(1 << 20)
}

/// Reads until `buffer` is full or the file ends.
fn read_full(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// One block of a file, read and checked.
pub struct Block {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Their BLAKE3 hash, as offered.
    pub hash: [u8; 32],
}

/// Reads one offered file block by block, checking each against the hash
/// taken when it was offered.
pub struct BlockReader {
    file: File,
    source: PathBuf,
    blocks: Vec<[u8; 32]>,
    size: u64,
}

impl BlockReader {
    /// Block `block` of the file, with its hash; `None` past the end. A
    /// block that no longer matches what was offered is an error: the file
    /// changed on disk, and sending it would only fail at the other end.
    pub fn block(&mut self, block: u64) -> Result<Option<Block>, FileError> {
        let offset = block.saturating_mul(BLOCK_SIZE);
        if offset >= self.size {
            return Ok(None);
        }
        let Some(expected) = usize::try_from(block).ok().and_then(|b| self.blocks.get(b)) else {
            return Ok(None);
        };
        let len = usize::try_from((self.size - offset).min(BLOCK_SIZE)).unwrap_or(0);
        let mut buffer = vec![0u8; len];
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| FileError::io(&self.source, e))?;
        let read =
            read_full(&mut self.file, &mut buffer).map_err(|e| FileError::io(&self.source, e))?;
        if read != len || blake3::hash(&buffer).as_bytes() != expected {
            return Err(FileError::Changed(self.source.clone()));
        }
        Ok(Some(Block {
            bytes: buffer,
            hash: *expected,
        }))
    }
}

/// The data messages that carry one block: its bytes in chunks of
/// [`CHUNK_SIZE`](parlor_protocol::CHUNK_SIZE), then its hash.
pub fn block_messages(file: u32, block: u64, bytes: &[u8], hash: [u8; 32]) -> Vec<DataMessage> {
    let start = block.saturating_mul(BLOCK_SIZE);
    let mut messages: Vec<DataMessage> = bytes
        .chunks(CHUNK_SIZE)
        .enumerate()
        .map(|(n, chunk)| DataMessage::Chunk {
            file,
            offset: start + (n * CHUNK_SIZE) as u64,
            bytes: chunk.to_vec(),
        })
        .collect();
    messages.push(DataMessage::BlockHash { file, block, hash });
    messages
}
