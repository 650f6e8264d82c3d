//! Names a peer sends are a stranger's input: a file name must never point
//! outside the directory the person chose, name a device, or hide what it
//! is.

use std::path::{Component, Path, PathBuf};

/// Longest name kept, in bytes, per path part: what every common file
/// system takes.
const MAX_PART_BYTES: usize = 200;
/// Most parts (folders deep) in one name.
const MAX_DEPTH: usize = 32;

/// Why a name offered by a peer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, or only separators and dots.
    #[error("an empty file name")]
    Empty,
    /// Starts at a root or a drive (`/etc/passwd`, `C:\…`).
    #[error("{0:?} is an absolute path")]
    Absolute(String),
    /// Climbs out of the target directory (`../`).
    #[error("{0:?} climbs out of the folder (..)")]
    Climbs(String),
    /// Contains a NUL or another control character.
    #[error("{0:?} contains control characters")]
    Control(String),
    /// Deeper than [`MAX_DEPTH`] folders.
    #[error("{0:?} is nested too deep")]
    TooDeep(String),
}

/// Windows device names, which open a device instead of a file there
/// whatever the extension (`CON.txt`).
const DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The relative path under which an offered file `name` is written:
/// `/`- or `\`-separated parts, each made safe (characters Windows refuses
/// replaced by `_`, device names prefixed with `_`, trailing dots and spaces
/// dropped, long parts cut). Absolute names, `..`, and control characters
/// are refused rather than repaired: such a name is an attack or a bug.
pub fn safe_relative_path(name: &str) -> Result<PathBuf, NameError> {
    if name.chars().any(char::is_control) {
        return Err(NameError::Control(name.to_owned()));
    }
    let absolute = name.starts_with('/')
        || name.starts_with('\\')
        || name.as_bytes().get(1) == Some(&b':')
        || Path::new(name).is_absolute();
    if absolute {
        return Err(NameError::Absolute(name.to_owned()));
    }
    let mut path = PathBuf::new();
    let mut depth = 0;
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => continue,
            ".." => return Err(NameError::Climbs(name.to_owned())),
            _ => {}
        }
        let part = safe_part(part);
        if part.is_empty() {
            continue;
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(NameError::TooDeep(name.to_owned()));
        }
        path.push(part);
    }
    // Whatever was pushed is plain names: nothing else can have slipped in.
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(NameError::Climbs(name.to_owned()));
    }
    if depth == 0 {
        return Err(NameError::Empty);
    }
    Ok(path)
}

/// One path part made safe on every platform.
fn safe_part(part: &str) -> String {
    let replaced: String = part
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = replaced.trim_end_matches(['.', ' ']).trim_start();
    let mut cut = String::new();
    for c in trimmed.chars() {
        if cut.len() + c.len_utf8() > MAX_PART_BYTES {
            break;
        }
        cut.push(c);
    }
    let stem = cut.split('.').next().unwrap_or_default();
    if DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        cut.insert(0, '_');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_nested_names_are_kept() {
        assert_eq!(safe_relative_path("a.txt"), Ok(PathBuf::from("a.txt")));
        assert_eq!(
            safe_relative_path("photos/2026/a.jpg"),
            Ok(PathBuf::from("photos").join("2026").join("a.jpg"))
        );
        assert_eq!(
            safe_relative_path("dir\\b.txt"),
            Ok(PathBuf::from("dir").join("b.txt"))
        );
    }

    #[test]
    fn names_that_escape_the_folder_are_refused() {
        assert!(matches!(
            safe_relative_path("../etc/passwd"),
            Err(NameError::Climbs(_))
        ));
        assert!(matches!(
            safe_relative_path("a/../../b"),
            Err(NameError::Climbs(_))
        ));
        assert!(matches!(
            safe_relative_path("/etc/passwd"),
            Err(NameError::Absolute(_))
        ));
        assert!(matches!(
            safe_relative_path("C:\\Windows\\x"),
            Err(NameError::Absolute(_))
        ));
        assert!(matches!(
            safe_relative_path("a\0b"),
            Err(NameError::Control(_))
        ));
        assert_eq!(safe_relative_path("./."), Err(NameError::Empty));
    }

    #[test]
    fn names_windows_would_misread_are_repaired() {
        assert_eq!(safe_relative_path("CON.txt"), Ok(PathBuf::from("_CON.txt")));
        assert_eq!(
            safe_relative_path("a?b*.txt"),
            Ok(PathBuf::from("a_b_.txt"))
        );
        assert_eq!(safe_relative_path("name. . "), Ok(PathBuf::from("name")));
        let long = "x".repeat(1000);
        assert_eq!(
            safe_relative_path(&long).map(|p| p.as_os_str().len()),
            Ok(MAX_PART_BYTES)
        );
    }
}
