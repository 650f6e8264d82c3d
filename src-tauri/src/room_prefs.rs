//! What the person set for each room on this computer: a name of their own
//! for it (the link's name is a random string) and whether its messages
//! raise desktop notifications. Kept by room link in `rooms.json` in the
//! profile; nobody else sees either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::json_file;

/// The file's name inside the profile.
const FILE_NAME: &str = "rooms.json";

/// Longest room name accepted, in characters: it has to fit the sidebar.
pub const MAX_ROOM_NAME_CHARS: usize = 64;

/// One room's preferences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RoomPrefs {
    /// The name the person gave the room; `None` shows the link's.
    pub name: Option<String>,
    /// No notifications for this room (its unread count still shows).
    pub muted: bool,
}

/// The preferences of every room, read once and written on each change.
#[derive(Debug)]
pub struct RoomPrefsStore {
    path: PathBuf,
    rooms: Mutex<Option<BTreeMap<String, RoomPrefs>>>,
}

impl RoomPrefsStore {
    /// Preferences kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            rooms: Mutex::new(None),
        }
    }

    /// The preferences of the room `link` (defaults if none were set).
    pub fn get(&self, link: &str) -> Result<RoomPrefs, AppError> {
        self.with(|rooms| Ok(rooms.get(link).cloned().unwrap_or_default()))
    }

    /// Names the room `link` (an empty name goes back to the link's own);
    /// returns its preferences as kept.
    pub fn rename(&self, link: &str, name: &str) -> Result<RoomPrefs, AppError> {
        let name = tidy_name(name)?;
        self.update(link, |prefs| prefs.name = name)
    }

    /// Turns the room `link`'s notifications off (`muted`) or on.
    pub fn set_muted(&self, link: &str, muted: bool) -> Result<RoomPrefs, AppError> {
        self.update(link, |prefs| prefs.muted = muted)
    }

    fn update(
        &self,
        link: &str,
        change: impl FnOnce(&mut RoomPrefs),
    ) -> Result<RoomPrefs, AppError> {
        self.with(|rooms| {
            let mut prefs = rooms.get(link).cloned().unwrap_or_default();
            change(&mut prefs);
            let mut changed = rooms.clone();
            if prefs == RoomPrefs::default() {
                changed.remove(link);
            } else {
                changed.insert(link.to_owned(), prefs.clone());
            }
            json_file::write(&self.path, &changed).map_err(|reason| self.error(reason))?;
            *rooms = changed;
            Ok(prefs)
        })
    }

    /// Runs `f` on the preferences, reading the file the first time.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, RoomPrefs>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut rooms = self
            .rooms
            .lock()
            .map_err(|_| self.error("it is being written elsewhere".into()))?;
        if rooms.is_none() {
            let read = json_file::read(&self.path).map_err(|reason| self.error(reason))?;
            *rooms = Some(read.unwrap_or_default());
        }
        match rooms.as_mut() {
            Some(rooms) => f(rooms),
            None => Err(self.error("it could not be read".into())),
        }
    }

    fn error(&self, reason: String) -> AppError {
        AppError::Settings {
            path: self.path.display().to_string(),
            reason,
        }
    }
}

/// A room name as typed, trimmed, with control characters (line breaks
/// included) turned into spaces; `None` for an empty one.
fn tidy_name(name: &str) -> Result<Option<String>, AppError> {
    let name: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if name.chars().count() > MAX_ROOM_NAME_CHARS {
        return Err(AppError::InvalidSettings(format!(
            "a room name is at most {MAX_ROOM_NAME_CHARS} characters"
        )));
    }
    Ok((!name.is_empty()).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> (RoomPrefsStore, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("parlor-room-prefs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (RoomPrefsStore::new(&dir), dir)
    }

    #[test]
    fn a_room_renamed_and_muted_is_read_back_by_a_later_run() {
        let (prefs, dir) = store("kept");
        prefs
            .rename("parlor://join/a", "  Team\nchat ")
            .unwrap_or_else(|e| panic!("{e}"));
        prefs
            .set_muted("parlor://join/a", true)
            .unwrap_or_else(|e| panic!("{e}"));
        let later = RoomPrefsStore::new(&dir);
        assert_eq!(
            later
                .get("parlor://join/a")
                .unwrap_or_else(|e| panic!("{e}")),
            RoomPrefs {
                name: Some("Team chat".into()),
                muted: true
            }
        );
        assert_eq!(
            later
                .get("parlor://join/b")
                .unwrap_or_else(|e| panic!("{e}")),
            RoomPrefs::default()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_empty_name_goes_back_to_the_links_and_a_long_one_is_refused() {
        let (prefs, dir) = store("names");
        prefs.rename("l", "Mine").unwrap_or_else(|e| panic!("{e}"));
        let cleared = prefs.rename("l", "   ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cleared.name, None);
        assert!(matches!(
            prefs.rename("l", &"x".repeat(MAX_ROOM_NAME_CHARS + 1)),
            Err(AppError::InvalidSettings(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
