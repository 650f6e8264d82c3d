//! The window where the person left it: its size, position and whether it
//! was maximized, and the rooms that were open with the one on screen, kept
//! in `window.json` in the profile and put back on the next start (the
//! rooms are rejoined by the page, see `get_state`'s `restore`).
//!
//! Written on every change rather than at exit, so an app that is killed
//! or loses power still comes back where it was.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{Manager, Monitor, Runtime, Window, WindowEvent};
use tracing::{debug, warn};

use crate::json_file;
use crate::links::MAIN_WINDOW;
use crate::state::AppState;

/// The file's name inside the profile.
const FILE_NAME: &str = "window.json";

/// The smallest window the page is laid out for, in logical pixels.
pub const MIN_SIZE: (f64, f64) = (760.0, 540.0);

/// The first window's size, in logical pixels.
pub const DEFAULT_SIZE: (f64, f64) = (1080.0, 740.0);

/// Beyond any screen: a stored size larger than this is a damaged file.
const MAX_SIDE: f64 = 16_384.0;

/// Where the window was, in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    /// Inner width.
    pub width: f64,
    /// Inner height.
    pub height: f64,
    /// Outer position, when the window system told us one.
    pub x: Option<f64>,
    /// Outer position, when the window system told us one.
    pub y: Option<f64>,
    /// Maximized (the size above is the one it goes back to).
    pub maximized: bool,
}

impl Place {
    /// The size to open with: the stored one, within what the page needs
    /// and what any screen could show.
    pub fn size(&self) -> (f64, f64) {
        let side = |value: f64, min: f64, default: f64| {
            if value.is_finite() && value <= MAX_SIDE {
                value.max(min)
            } else {
                default
            }
        };
        (
            side(self.width, MIN_SIZE.0, DEFAULT_SIZE.0),
            side(self.height, MIN_SIZE.1, DEFAULT_SIZE.1),
        )
    }

    /// The position to open at, if the window's top left corner would be on
    /// one of `monitors` (a screen that was unplugged must not hide it).
    pub fn position_on(&self, monitors: &[Monitor]) -> Option<(f64, f64)> {
        let (x, y) = (self.x?, self.y?);
        monitors
            .iter()
            .any(|monitor| {
                let scale = monitor.scale_factor();
                let at = monitor.position().to_logical::<f64>(scale);
                let size = monitor.size().to_logical::<f64>(scale);
                x >= at.x
                    && y >= at.y
                    && x < at.x + size.width - 40.0
                    && y < at.y + size.height - 40.0
            })
            .then_some((x, y))
    }
}

/// What `window.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WindowState {
    /// The window's place, once it had one.
    pub place: Option<Place>,
    /// The links of the rooms that were open, in the order they were joined.
    pub rooms: Vec<String>,
    /// The link of the room that was on screen.
    pub shown: Option<String>,
}

/// The window state of this profile: what was saved by the last run, and
/// what this run saves.
#[derive(Debug)]
pub struct WindowStateStore {
    path: PathBuf,
    saved: WindowState,
    current: Mutex<WindowState>,
}

impl WindowStateStore {
    /// Reads the state kept in `dir`. A damaged file is not a reason to
    /// stop the app: it starts as a first run would, and the file is
    /// replaced at the first change.
    pub fn open(dir: &Path) -> Self {
        let path = dir.join(FILE_NAME);
        let saved = match json_file::read::<WindowState>(&path) {
            Ok(saved) => saved.unwrap_or_default(),
            Err(reason) => {
                warn!(path = %path.display(), %reason, "the window's saved place cannot be read");
                WindowState::default()
            }
        };
        Self {
            path,
            current: Mutex::new(saved.clone()),
            saved,
        }
    }

    /// What the last run left.
    pub fn saved(&self) -> &WindowState {
        &self.saved
    }

    /// The window's place as last kept, in this run or the last.
    pub fn place(&self) -> Option<Place> {
        self.current.lock().ok().and_then(|current| current.place)
    }

    /// The window moved, was resized, maximized or restored.
    pub fn set_place(&self, place: Place) {
        self.change(|state| state.place = Some(place));
    }

    /// The rooms open now (links, in join order) and the one on screen.
    pub fn set_rooms(&self, rooms: Vec<String>, shown: Option<String>) {
        self.change(|state| {
            state.rooms = rooms;
            state.shown = shown;
        });
    }

    fn change(&self, f: impl FnOnce(&mut WindowState)) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let before = current.clone();
        f(&mut current);
        if *current == before {
            return;
        }
        if let Err(reason) = json_file::write(&self.path, &*current) {
            debug!(path = %self.path.display(), %reason, "cannot keep the window's place");
        }
    }
}

/// The app's window event handler for the main window's place: keeps its
/// size and position as they change.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if window.label() != MAIN_WINDOW
        || !matches!(event, WindowEvent::Moved(_) | WindowEvent::Resized(_))
    {
        return;
    }
    let Some(state) = window.try_state::<AppState>() else {
        return;
    };
    let Some(place) = place_of(window, state.window.place()) else {
        return;
    };
    state.window.set_place(place);
}

/// The window's place now (see [`kept_place`]).
fn place_of<R: Runtime>(window: &Window<R>, before: Option<Place>) -> Option<Place> {
    let scale = window.scale_factor().ok()?;
    let size = window.inner_size().ok()?.to_logical::<f64>(scale);
    if size.width < 1.0 || size.height < 1.0 {
        return None;
    }
    let position = window
        .outer_position()
        .ok()
        .map(|p| p.to_logical::<f64>(scale));
    let now = Place {
        width: size.width,
        height: size.height,
        x: position.map(|p| p.x),
        y: position.map(|p| p.y),
        maximized: window.is_maximized().unwrap_or(false),
    };
    Some(kept_place(now, before))
}

/// What to keep of the window's place `now`: while it is maximized, the
/// size and position it goes back to are the ones kept `before`.
fn kept_place(now: Place, before: Option<Place>) -> Place {
    match before {
        Some(before) if now.maximized => Place {
            maximized: true,
            ..before
        },
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_place_are_read_back_by_the_next_run() {
        let dir = std::env::temp_dir().join(format!("parlor-window-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = WindowStateStore::open(&dir);
        assert_eq!(first.saved(), &WindowState::default());
        let place = Place {
            width: 900.0,
            height: 600.0,
            x: Some(10.0),
            y: Some(20.0),
            maximized: false,
        };
        first.set_place(place);
        first.set_rooms(vec!["a".into(), "b".into()], Some("b".into()));
        let next = WindowStateStore::open(&dir);
        assert_eq!(
            next.saved(),
            &WindowState {
                place: Some(place),
                rooms: vec!["a".into(), "b".into()],
                shown: Some("b".into()),
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_maximized_window_keeps_the_size_it_goes_back_to() {
        let normal = Place {
            width: 900.0,
            height: 600.0,
            x: Some(10.0),
            y: Some(20.0),
            maximized: false,
        };
        let full = Place {
            width: 1280.0,
            height: 800.0,
            x: Some(0.0),
            y: Some(0.0),
            maximized: true,
        };
        assert_eq!(
            kept_place(full, Some(normal)),
            Place {
                maximized: true,
                ..normal
            }
        );
        assert_eq!(kept_place(full, None), full);
        assert_eq!(kept_place(normal, Some(full)), normal);
    }

    #[test]
    fn a_stored_size_is_kept_within_what_the_page_needs() {
        let place = |width, height| Place {
            width,
            height,
            x: None,
            y: None,
            maximized: false,
        };
        assert_eq!(place(900.0, 600.0).size(), (900.0, 600.0));
        assert_eq!(place(100.0, 100.0).size(), MIN_SIZE);
        assert_eq!(place(f64::NAN, 1e9).size(), DEFAULT_SIZE);
    }
}
