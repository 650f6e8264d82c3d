//! Receiving one transfer into a directory: bytes go to hidden partial
//! files, each block is checked against its hash before it counts, what
//! was verified is written down beside them (so an interrupted transfer,
//! even across restarts, goes on from there), and a file gets its name
//! only once its whole hash matches.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parlor_protocol::{BLOCK_SIZE, DataMessage, FileOffer, MAX_FILES_PER_OFFER};
use serde::{Deserialize, Serialize};

use crate::FileError;
use crate::names::safe_relative_path;

/// What one data message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Bytes taken (or a stale message from before a resend ignored).
    Progress,
    /// A block did not match its hash: ask for file `file` again from
    /// `offset`.
    Resend {
        /// Index of the file.
        file: u32,
        /// The start of the damaged block.
        offset: u64,
    },
    /// File `file` is complete, verified and named.
    FileDone {
        /// Index of the file.
        file: u32,
        /// Where it is.
        path: PathBuf,
    },
}

/// What survives a restart: verified bytes per file.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    transfer: String,
    verified: Vec<u64>,
}

struct IncomingFile {
    relative: PathBuf,
    size: u64,
    hash: String,
    partial: PathBuf,
    handle: Option<File>,
    /// Bytes checked against their block hashes.
    verified: u64,
    /// Bytes of the block being received, past `verified`.
    pending: u64,
    hasher: blake3::Hasher,
    done: Option<PathBuf>,
}

/// One transfer being received.
pub struct Incoming {
    dir: PathBuf,
    transfer: String,
    files: Vec<IncomingFile>,
    state: PathBuf,
}

impl Incoming {
    /// Prepares to receive `offer` into `dir`, taking up what an earlier,
    /// interrupted attempt verified. Refuses an offer that could write
    /// outside `dir`, has too many files, or does not fit on the disk.
    pub fn open(dir: &Path, offer: &FileOffer) -> Result<Incoming, FileError> {
        if offer.files.len() > MAX_FILES_PER_OFFER {
            return Err(FileError::TooManyFiles(offer.files.len()));
        }
        if offer.transfer.is_empty() || !offer.transfer.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(FileError::BadOffer("the transfer id is not hex".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
        let state = state_file(dir, &offer.transfer);
        let saved: Option<Saved> = std::fs::read(&state)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|saved: &Saved| saved.transfer == offer.transfer);
        let mut files = Vec::new();
        for (index, offered) in offer.files.iter().enumerate() {
            let relative = safe_relative_path(&offered.name)?;
            if offered.hash.len() != 64 {
                return Err(FileError::BadOffer(format!(
                    "{:?} has no proper hash",
                    offered.name
                )));
            }
            let partial = dir.join(format!(".parlor-{}-{index}.part", offer.transfer));
            let on_disk = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            let claimed = saved
                .as_ref()
                .and_then(|s| s.verified.get(index).copied())
                .unwrap_or(0);
            let whole_blocks = claimed.min(offered.size) / BLOCK_SIZE * BLOCK_SIZE;
            let verified = if claimed == offered.size {
                claimed
            } else {
                whole_blocks
            };
            // Verified whole and no partial left: named in an earlier
            // attempt, before the connection broke.
            let named_before = claimed == offered.size && !partial.exists() && saved.is_some();
            let verified = if on_disk >= verified || named_before {
                verified
            } else {
                0
            };
            files.push(IncomingFile {
                relative,
                size: offered.size,
                hash: offered.hash.clone(),
                partial,
                handle: None,
                verified,
                pending: 0,
                hasher: blake3::Hasher::new(),
                done: named_before.then(PathBuf::new),
            });
        }
        let needed: u64 = files.iter().map(|f| f.size - f.verified).sum();
        if let Some(free) = crate::space::available(dir) {
            if needed > free {
                return Err(FileError::NoSpace { needed, free });
            }
        }
        Ok(Incoming {
            dir: dir.to_path_buf(),
            transfer: offer.transfer.clone(),
            files,
            state,
        })
    }

    /// Whether `dir` holds what an earlier, interrupted attempt at
    /// `transfer` verified: an offer the person already accepted, which
    /// may go on without asking again.
    pub fn in_progress(dir: &Path, transfer: &str) -> bool {
        transfer.chars().all(|c| c.is_ascii_hexdigit()) && state_file(dir, transfer).is_file()
    }

    /// Verified bytes per file: where the sender goes on from.
    pub fn have(&self) -> Vec<u64> {
        self.files.iter().map(|f| f.verified).collect()
    }

    /// Files named in an earlier attempt at this transfer.
    pub fn named_before(&self) -> Vec<u32> {
        (0u32..)
            .zip(&self.files)
            .filter(|(_, f)| f.done.is_some())
            .map(|(index, _)| index)
            .collect()
    }

    /// Bytes verified in all files.
    pub fn verified_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.verified).sum()
    }

    /// Files that need no bytes (empty, or verified whole before): named
    /// now. Returns them as [`Received::FileDone`].
    pub fn finish_complete(&mut self) -> Result<Vec<Received>, FileError> {
        let mut done = Vec::new();
        for index in 0..self.files.len() {
            let ready = self
                .files
                .get(index)
                .is_some_and(|f| f.done.is_none() && f.verified == f.size);
            if ready {
                done.push(self.finish(index)?);
            }
        }
        Ok(done)
    }

    /// Whether every file arrived.
    pub fn is_complete(&self) -> bool {
        self.files.iter().all(|f| f.done.is_some())
    }

    /// Takes one message from the file channel.
    pub fn receive(&mut self, message: DataMessage) -> Result<Received, FileError> {
        match message {
            DataMessage::Chunk {
                file,
                offset,
                bytes,
            } => {
                let index = self.index(file)?;
                let Some(entry) = self.files.get_mut(index) else {
                    return Err(FileError::NoSuchFile(index));
                };
                if entry.done.is_some() || offset != entry.verified + entry.pending {
                    // Left over from before a resend: the sender goes back.
                    return Ok(Received::Progress);
                }
                let end = offset.saturating_add(bytes.len() as u64);
                if end > entry.size || entry.pending + bytes.len() as u64 > BLOCK_SIZE {
                    return Err(FileError::BadData(format!(
                        "bytes past the end of {} or of its block",
                        entry.relative.display()
                    )));
                }
                let handle = open_partial(entry)?;
                handle
                    .seek(SeekFrom::Start(offset))
                    .and_then(|_| handle.write_all(&bytes))
                    .map_err(|e| FileError::io(&entry.partial, e))?;
                entry.hasher.update(&bytes);
                entry.pending += bytes.len() as u64;
                Ok(Received::Progress)
            }
            DataMessage::BlockHash { file, block, hash } => {
                let index = self.index(file)?;
                let Some(entry) = self.files.get_mut(index) else {
                    return Err(FileError::NoSuchFile(index));
                };
                if entry.done.is_some() || block.saturating_mul(BLOCK_SIZE) != entry.verified {
                    return Ok(Received::Progress);
                }
                let matches = entry.hasher.finalize().as_bytes() == &hash;
                entry.hasher.reset();
                if !matches {
                    let offset = entry.verified;
                    entry.pending = 0;
                    return Ok(Received::Resend { file, offset });
                }
                entry.verified += entry.pending;
                entry.pending = 0;
                self.save()?;
                let complete = self.files.get(index).is_some_and(|f| f.verified == f.size);
                if complete {
                    self.finish(index)
                } else {
                    Ok(Received::Progress)
                }
            }
        }
    }

    /// Removes what this transfer left on disk but finished files: the
    /// person cancelled it.
    pub fn discard(self) {
        for file in &self.files {
            let _ = std::fs::remove_file(&file.partial);
        }
        let _ = std::fs::remove_file(&self.state);
    }

    fn index(&self, file: u32) -> Result<usize, FileError> {
        usize::try_from(file)
            .ok()
            .filter(|i| *i < self.files.len())
            .ok_or(FileError::NoSuchFile(file as usize))
    }

    fn save(&self) -> Result<(), FileError> {
        let saved = Saved {
            transfer: self.transfer.clone(),
            verified: self.have(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| FileError::BadData(e.to_string()))?;
        let temporary = self.state.with_extension("json.new");
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &self.state))
            .map_err(|e| FileError::io(&self.state, e))
    }

    /// Checks file `index` whole and gives it its name: the offered one, or
    /// `name (2)` and so on if that is taken (nothing is overwritten).
    fn finish(&mut self, index: usize) -> Result<Received, FileError> {
        let Some(entry) = self.files.get_mut(index) else {
            return Err(FileError::NoSuchFile(index));
        };
        entry.handle = None;
        if entry.size == 0 {
            File::create(&entry.partial).map_err(|e| FileError::io(&entry.partial, e))?;
        }
        let actual = hash_of(&entry.partial)?;
        if actual != entry.hash {
            let _ = std::fs::remove_file(&entry.partial);
            entry.verified = 0;
            return Err(FileError::HashMismatch(entry.relative.clone()));
        }
        let target = free_name(&self.dir.join(&entry.relative));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| FileError::io(parent, e))?;
        }
        std::fs::rename(&entry.partial, &target).map_err(|e| FileError::io(&target, e))?;
        entry.done = Some(target.clone());
        let file = u32::try_from(index).unwrap_or(u32::MAX);
        if self.is_complete() {
            let _ = std::fs::remove_file(&self.state);
        }
        Ok(Received::FileDone { file, path: target })
    }
}

/// Where what was verified of `transfer` is kept in `dir`.
fn state_file(dir: &Path, transfer: &str) -> PathBuf {
    dir.join(format!(".parlor-{transfer}.json"))
}

fn open_partial(entry: &mut IncomingFile) -> Result<&mut File, FileError> {
    if entry.handle.is_none() {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&entry.partial)
            .map_err(|e| FileError::io(&entry.partial, e))?;
        // What was not verified goes: it is sent again.
        file.set_len(entry.verified)
            .map_err(|e| FileError::io(&entry.partial, e))?;
        entry.handle = Some(file);
    }
    entry
        .handle
        .as_mut()
        .ok_or_else(|| FileError::BadData("the partial file closed".into()))
}

/// BLAKE3 of a file on disk, as hex.
pub fn hash_of(path: &Path) -> Result<String, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(|e| FileError::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// `path`, or `stem (2).ext`, `stem (3).ext`… whichever does not exist.
fn free_name(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2..)
        .map(|n| path.with_file_name(format!("{stem} ({n}){extension}")))
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| path.to_path_buf())
}
