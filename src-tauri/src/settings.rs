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

/// The settings file's name inside the config directory.
const FILE_NAME: &str = "settings.json";

/// Longest display name accepted; names show in other people's peer lists.
const MAX_NAME_CHARS: usize = 64;

/// What the settings view edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AppError::Settings {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(AppError::Settings {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes `settings` atomically (temporary file, then rename), so a crash
    /// never leaves half a file.
    pub fn save(&self, settings: &Settings) -> Result<(), AppError> {
        let failed = |e: &dyn std::fmt::Display| AppError::Settings {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(&e))?;
        }
        let json = serde_json::to_vec_pretty(settings).map_err(|e| failed(&e))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(|e| failed(&e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| failed(&e))
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
}
