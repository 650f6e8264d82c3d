//! The person's settings, persisted as JSON in the app's config directory
//! (or the `--profile` directory).
//!
//! Settings are validated when saved, so a bad server address is reported in
//! the settings view rather than later as a failed join.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use parlor_engine::{IceServer, ServerUrl};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::json_file;

/// The settings file's name inside the config directory.
const FILE_NAME: &str = "settings.json";

/// Longest display name accepted; names show in other people's peer lists.
const MAX_NAME_CHARS: usize = 64;

/// The window's colours: the system's choice unless the person picked one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Light or dark as the desktop is set.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// What the settings view edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    /// The name other members see; empty means none.
    pub display_name: String,
    /// The signaling server for new rooms, such as `wss://signal.example.org`.
    /// Empty means the server built into the app.
    pub signaling_server: String,
    /// STUN/TURN servers to use besides the ones the signaling server hands
    /// out, in the same form (`{"urls":[…],"username":…,"credential":…}`).
    pub ice_servers: Vec<IceServer>,
    /// Light, dark, or as the system is set.
    pub theme: Theme,
    /// Desktop notifications for messages in rooms not on screen (each room
    /// can also be muted on its own).
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            display_name: String::new(),
            signaling_server: String::new(),
            ice_servers: Vec::new(),
            theme: Theme::System,
            // A message nobody notices is as good as lost: on until turned off.
            notifications: true,
        }
    }
}

impl Settings {
    /// Checks what a person typed and returns it tidied (trimmed, empty ICE
    /// entries dropped), or says what is wrong.
    pub fn validated(mut self) -> Result<Self, AppError> {
        self.display_name = self.display_name.trim().to_owned();
        if self.display_name.chars().count() > MAX_NAME_CHARS {
            return Err(AppError::InvalidSettings(format!(
                "the display name is longer than {MAX_NAME_CHARS} characters"
            )));
        }
        self.signaling_server = self.signaling_server.trim().to_owned();
        if !self.signaling_server.is_empty() {
            ServerUrl::from_str(&self.signaling_server)
                .map_err(|e| AppError::InvalidSettings(format!("signaling server address: {e}")))?;
        }
        for server in &mut self.ice_servers {
            let blank_to_none = |field: &mut Option<String>| {
                *field = field.take().filter(|value| !value.trim().is_empty());
            };
            blank_to_none(&mut server.username);
            blank_to_none(&mut server.credential);
            server.urls.retain(|url| !url.trim().is_empty());
            for url in &mut server.urls {
                *url = url.trim().to_owned();
                if !["stun:", "turn:", "turns:"]
                    .iter()
                    .any(|p| url.starts_with(p))
                {
                    return Err(AppError::InvalidSettings(format!(
                        "ICE server {url:?} must start with stun:, turn: or turns:"
                    )));
                }
            }
        }
        self.ice_servers.retain(|server| !server.urls.is_empty());
        Ok(self)
    }

    /// The signaling server to create rooms on, or `None` for the embedded one.
    pub fn server(&self) -> Option<Result<ServerUrl, AppError>> {
        (!self.signaling_server.is_empty()).then(|| {
            ServerUrl::from_str(&self.signaling_server)
                .map_err(|e| AppError::InvalidSettings(format!("signaling server address: {e}")))
        })
    }

    /// The display name for the engine, `None` when left empty.
    pub fn name(&self) -> Option<String> {
        (!self.display_name.is_empty()).then(|| self.display_name.clone())
    }
}

/// Where settings live and how they are read and written.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    /// Settings kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    /// The saved settings; defaults when there is no file yet. A file that
    /// cannot be read is reported (and not overwritten behind the person's back).
    pub fn load(&self) -> Result<Settings, AppError> {
        json_file::read(&self.path)
            .map(Option::unwrap_or_default)
            .map_err(|reason| self.error(reason))
    }

    /// Writes `settings` atomically, so a crash never leaves half a file.
    pub fn save(&self, settings: &Settings) -> Result<(), AppError> {
        json_file::write(&self.path, settings).map_err(|reason| self.error(reason))
    }

    fn error(&self, reason: String) -> AppError {
        AppError::Settings {
            path: self.path.display().to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tidies_and_rejects() {
        let settings = Settings {
            display_name: "  Ada ".into(),
            signaling_server: " ws://10.0.0.2:1999 ".into(),
            ice_servers: vec![
                IceServer {
                    urls: vec![" stun:stun.example.org:3478".into(), " ".into()],
                    ..Default::default()
                },
                IceServer::default(),
            ],
            ..Default::default()
        };
        let tidy = settings.validated().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tidy.display_name, "Ada");
        assert_eq!(tidy.signaling_server, "ws://10.0.0.2:1999");
        assert_eq!(tidy.ice_servers.len(), 1);
        assert_eq!(tidy.ice_servers[0].urls, ["stun:stun.example.org:3478"]);

        let bad_server = Settings {
            signaling_server: "ftp://x".into(),
            ..Default::default()
        };
        assert!(matches!(
            bad_server.validated(),
            Err(AppError::InvalidSettings(_))
        ));
        let bad_ice = Settings {
            ice_servers: vec![IceServer {
                urls: vec!["http://x".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(matches!(
            bad_ice.validated(),
            Err(AppError::InvalidSettings(_))
        ));
    }

    #[test]
    fn settings_from_before_themes_and_notifications_read_with_notifications_on() {
        let old: Settings =
            serde_json::from_str(r#"{"displayName":"Ada"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.theme, Theme::System);
        assert!(old.notifications);
        let dark: Settings = serde_json::from_str(r#"{"theme":"dark","notifications":false}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dark.theme, Theme::Dark);
        assert!(!dark.notifications);
    }
}
