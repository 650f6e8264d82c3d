//! The command line: `parlor [LINK] [--profile DIR]`, plus the switches tests
//! use to keep everything on loopback.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

/// How this instance was started.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "parlor", version, about = "Parlor: peer-to-peer chat rooms")]
pub struct Launch {
    /// A room link (`parlor://join/...`) to join at start. If Parlor is
    /// already running, the running window joins it instead.
    pub link: Option<String>,

    /// Keep settings and browser data in DIR and run independently of any
    /// other Parlor window (no single-instance hand-over), so several
    /// instances can run side by side.
    #[arg(long, value_name = "DIR", env = "PARLOR_PROFILE")]
    pub profile: Option<PathBuf>,

    /// Local addresses for WebRTC sockets, comma-separated. The default is
    /// every interface but loopback; tests on one machine use 127.0.0.1:0.
    #[arg(long, value_name = "ADDR", env = "PARLOR_BIND", value_delimiter = ',')]
    pub bind: Vec<SocketAddr>,

    /// Address the built-in signaling server listens on and puts in room
    /// links. The default listens everywhere and links the LAN address.
    #[arg(long, value_name = "IP", env = "PARLOR_EMBEDDED_HOST")]
    pub embedded_host: Option<IpAddr>,

    /// Receive accepted files into DIR instead of the Downloads folder
    /// (tests use a scratch folder, so they never write to the real one).
    #[arg(long, value_name = "DIR", env = "PARLOR_DOWNLOAD_DIR")]
    pub download_dir: Option<PathBuf>,
}

impl Launch {
    /// Whether this instance hands links to an already running one.
    pub fn single_instance(&self) -> bool {
        self.profile.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_profile_and_loopback_switches_parse() {
        let launch = Launch::try_parse_from([
            "parlor",
            "parlor://join/abc?server=ws%3A%2F%2F127.0.0.1%3A1",
            "--profile",
            "/tmp/p",
            "--bind",
            "127.0.0.1:0",
            "--embedded-host",
            "127.0.0.1",
            "--download-dir",
            "/tmp/dl",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(launch.link.is_some_and(|l| l.starts_with("parlor://")));
        assert!(
            !Launch {
                profile: Some("/tmp/p".into()),
                ..Default::default()
            }
            .single_instance()
        );
        assert_eq!(launch.bind, [SocketAddr::from(([127, 0, 0, 1], 0))]);
        assert_eq!(launch.embedded_host, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(launch.download_dir, Some(PathBuf::from("/tmp/dl")));
    }
}
