//! The small JSON files the app keeps in its profile (settings, room
//! preferences, the window's place), read and written one way: a missing
//! file is no file yet, and a write goes to a temporary file first and is
//! renamed over the old one, so a crash never leaves half a file.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The value in `path`; `None` when there is no file yet. The error says
/// what is wrong with the file, for a message that names it.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes `value` to `path` (making its folder), atomically.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, json).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_written_reads_back_and_a_missing_file_is_none() {
        let dir = std::env::temp_dir().join(format!("parlor-json-file-{}", std::process::id()));
        let path = dir.join("deep").join("value.json");
        assert_eq!(read::<Vec<u32>>(&path), Ok(None));
        write(&path, &vec![1u32, 2, 3]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read::<Vec<u32>>(&path), Ok(Some(vec![1, 2, 3])));
        std::fs::write(&path, b"{not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(read::<Vec<u32>>(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
