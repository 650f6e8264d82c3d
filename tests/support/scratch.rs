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

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
