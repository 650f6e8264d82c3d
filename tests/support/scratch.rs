//! Scratch directories: one per test, for kept profiles, identities and
//! message stores, removed when the test ends.

use std::path::{Path, PathBuf};

/// A fresh directory named for the test, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes `<temp>/parlor-<name>-<pid>`, empty.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("parlor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it, as a string for command lines.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

/// Writes `len` pseudo-random bytes to `path`, 1 MiB at a time (xorshift:
/// fast, no two blocks alike, so a transfer cannot pass by luck).
pub fn write_random_file(path: &Path, len: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let take = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
        file.write_all(&block[..take])?;
        left -= take as u64;
    }
    file.flush()
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
