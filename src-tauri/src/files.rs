//! The app's side of file transfers: where received files go, what an
//! offer of ours looks like on its card, and which files the window may
//! open.
//!
//! The engine does the transfers (hashing, resuming, naming files safely).
//! The app decides the folder (the platform's Downloads, never chosen by a
//! peer) and guards the two commands that hand a path to the desktop
//! (`open_file`, `show_in_folder`): they only take paths that a
//! `file-received` event named, so a page that went wrong cannot open or
//! reveal anything else on the disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::AppError;

/// The folder under the profile that receives files when the platform has
/// no Downloads folder.
pub const FALLBACK_DIR: &str = "downloads";

/// How many files a folder may hold before its summary stops counting: a
/// summary is for a card, and a huge tree must not keep the command busy.
/// (The engine refuses offers beyond 1000 files anyway.)
const MAX_SUMMARY_ENTRIES: usize = 10_000;

/// Where received files go: `--download-dir` (tests point it at a scratch
/// folder), else the platform's Downloads folder, else `<profile>/downloads`.
pub fn download_dir(chosen: Option<&Path>, platform: Option<PathBuf>, profile: &Path) -> PathBuf {
    chosen
        .map(Path::to_path_buf)
        .or(platform)
        .unwrap_or_else(|| profile.join(FALLBACK_DIR))
}

/// The paths of the files received in this run, as `file-received` events
/// named them: the only ones `open_file` and `show_in_folder` take.
#[derive(Debug, Clone, Default)]
pub struct ReceivedFiles(Arc<Mutex<HashSet<PathBuf>>>);

impl ReceivedFiles {
    /// Remembers a file the engine received (before the window hears of it,
    /// so its buttons work at once).
    pub fn remember(&self, path: &str) {
        if let Ok(mut paths) = self.0.lock() {
            paths.insert(PathBuf::from(path));
        }
    }

    /// `path` if a `file-received` event named it exactly, else an error.
    pub fn check(&self, path: &str) -> Result<PathBuf, AppError> {
        let path = PathBuf::from(path);
        let known = self
            .0
            .lock()
            .map(|paths| paths.contains(&path))
            .unwrap_or(false);
        if known {
            Ok(path)
        } else {
            Err(AppError::NotReceived(path.display().to_string()))
        }
    }
}

/// An offer of ours, as its card in the log shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentOffer {
    /// The transfer's id, which the `file-*` events name.
    pub transfer: String,
    /// Each chosen file or folder: its name (a folder's ends in `/`) and size.
    pub files: Vec<(String, u64)>,
    /// Bytes in all.
    pub total_bytes: u64,
}

/// Names and sizes of `paths` for the card: a file's own size, a folder's
/// files added up. Reads metadata only (the engine already read and hashed
/// the files), so it is quick; call it off the async threads all the same.
pub fn summarize(transfer: String, paths: &[PathBuf]) -> SentOffer {
    let files: Vec<(String, u64)> = paths
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            if path.is_dir() {
                (format!("{name}/"), folder_size(path))
            } else {
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                (name, size)
            }
        })
        .collect();
    let total_bytes = files.iter().map(|(_, size)| size).sum();
    SentOffer {
        transfer,
        files,
        total_bytes,
    }
}

/// The bytes of the files under `dir` (links not followed, as the engine
/// does not follow them either).
fn folder_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_SUMMARY_ENTRIES {
                return total;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_that_were_received_are_let_through() {
        let received = ReceivedFiles::default();
        assert!(matches!(
            received.check("/etc/passwd"),
            Err(AppError::NotReceived(_))
        ));
        received.remember("/home/a/Downloads/report (2).pdf");
        assert_eq!(
            received.check("/home/a/Downloads/report (2).pdf").ok(),
            Some(PathBuf::from("/home/a/Downloads/report (2).pdf"))
        );
        // Only the exact path: not its folder, not a path that walks out of it.
        assert!(received.check("/home/a/Downloads").is_err());
        assert!(
            received
                .check("/home/a/Downloads/report (2).pdf/../../.ssh/id_ed25519")
                .is_err()
        );
    }

    #[test]
    fn the_download_dir_is_the_chosen_one_then_the_platform_one_then_the_profile() {
        let profile = Path::new("/p");
        assert_eq!(
            download_dir(
                Some(Path::new("/t/dl")),
                Some("/home/a/Downloads".into()),
                profile
            ),
            PathBuf::from("/t/dl")
        );
        assert_eq!(
            download_dir(None, Some("/home/a/Downloads".into()), profile),
            PathBuf::from("/home/a/Downloads")
        );
        assert_eq!(
            download_dir(None, None, profile),
            PathBuf::from("/p/downloads")
        );
    }

    #[test]
    fn a_summary_names_files_and_adds_up_folders() {
        let dir = std::env::temp_dir().join(format!("parlor-summary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("album/inner")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("a.txt"), b"12345").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("album/1.jpg"), b"123").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("album/inner/2.jpg"), b"1234").unwrap_or_else(|e| panic!("{e}"));
        let offer = summarize("t1".into(), &[dir.join("a.txt"), dir.join("album")]);
        assert_eq!(
            offer.files,
            vec![("a.txt".to_owned(), 5), ("album/".to_owned(), 7)]
        );
        assert_eq!(offer.total_bytes, 12);
        let json = serde_json::to_value(&offer).unwrap_or_default();
        assert_eq!(json["totalBytes"], 12);
        assert_eq!(json["files"][0], serde_json::json!(["a.txt", 5]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
